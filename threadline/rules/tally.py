"""What a streamed rules pass keeps of the contacts it evaluated: counters and a bounded sample, never the effects.

A pass over the whole mirror evaluates a few thousand contacts at a time and folds each batch into a `Tally`.
The `rules.max_share` guard judges the totals (contacts touched per rule out of every live contact), so it
holds exactly the rules a single evaluation of everyone would hold, whatever the batch size.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from threadline.rules.effects import Effect, SetFields
from threadline.rules.settings import RulesSettings


def rule_of(effect: Effect) -> str:
    """The rule an effect counts against for the share guard ("scoring", "assignment")."""
    return effect.rule.split(":")[0]


def touched_by_rule(effects: Iterable[Effect]) -> Counter[str]:
    """Contacts each rule changes (a contact with two effects of one rule counts once)."""
    return Counter(rule for rule, _ in {(rule_of(e), e.contact_id) for e in effects})


def change_counts(effects: Iterable[Effect]) -> Counter[str]:
    """Changes by kind as `plan` lists them: "set <field>" per field written, "create task" per task."""
    counts: Counter[str] = Counter()
    for e in effects:
        if isinstance(e, SetFields):
            for name in e.fields:
                counts[f"set {name}"] += 1
        else:
            counts["create task"] += 1
    return counts


def held_rules(touched: Mapping[str, int], total_contacts: int, settings: RulesSettings) -> list[str]:
    """Rules that would change more than `max_share` of all `total_contacts` (none below the check's minimum)."""
    if total_contacts < settings.min_contacts_for_share_check:
        return []
    limit = settings.max_share * total_contacts
    return sorted(rule for rule, n in touched.items() if n > limit)


@dataclass
class Tally:
    """Totals of a streamed pass: contacts evaluated, contacts touched per rule, changes by kind, the number of
    effects, and the first `sample_size` effects in contact-id order (what `plan` lists)."""

    sample_size: int = 0
    contacts: int = 0
    total_contacts: int = 0
    effects: int = 0
    touched: Counter[str] = field(default_factory=Counter)
    changes: Counter[str] = field(default_factory=Counter)
    sample: list[Effect] = field(default_factory=list)

    def add(self, effects: list[Effect], contacts: int) -> None:
        """Fold in one batch (its contacts are disjoint from every other batch's, so counts simply add)."""
        self.contacts += contacts
        self.effects += len(effects)
        self.touched.update(touched_by_rule(effects))
        self.changes.update(change_counts(effects))
        room = self.sample_size - len(self.sample)
        if room > 0:
            self.sample += effects[:room]

    def held(self, settings: RulesSettings) -> list[str]:
        """The rules the share guard holds, judged on the whole pass."""
        return held_rules(self.touched, self.total_contacts, settings)
