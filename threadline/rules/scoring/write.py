"""From a score to the CRM write: one SetFields with only the fields whose value would change."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from threadline.rules.contact_facts import ContactFacts
from threadline.rules.effects import SetFields, effect_key
from threadline.rules.scoring.config import ScoringSettings
from threadline.rules.scoring.results import ScoreResult


def scoring_effects(contact: ContactFacts, result: ScoreResult, settings: ScoringSettings,
                    stage_order: Sequence[str] | None = None) -> list[SetFields]:
    """The write that brings the CRM in line with ``result``: [] when the contact already holds these values.

    Writes total, tier (empty text when no tier), fit and intent (when ``fit_and_intent``), and the
    stage only when it moves forward in ``stage_order`` (default: the order of ``settings.stages``).
    A contact whose current stage is not in that order (e.g. "customer") keeps it. The key is
    derived from the values written, so evaluating the same result twice yields the same effect.
    """
    names = settings.fields
    wanted = {names.total: str(result.total), names.tier: result.tier or ""}
    if settings.fit_and_intent:
        wanted |= {names.fit: str(result.fit), names.intent: str(result.intent)}
    order = list(stage_order) if stage_order is not None else [stage.value for stage in settings.stages]
    stage = forward_stage(contact.fields.get(names.stage), result.stage, order)
    if stage is not None:
        wanted[names.stage] = stage
    changed = {name: value for name, value in wanted.items() if not same_value(contact.fields.get(name), value)}
    if not changed:
        return []
    return [SetFields(
        key=effect_key("set_fields", contact.id, *sorted(f"{name}={value}" for name, value in changed.items())),
        contact_id=contact.id,
        rule="scoring",
        reason=_reason(contact, result, names.total, stage),
        fields=changed,
        previous={name: _as_text(contact.fields.get(name)) for name in changed},
    )]


def forward_stage(current: Any, target: str | None, order: Sequence[str]) -> str | None:
    """``target`` if it is further along ``order`` than ``current`` (or nothing is set); else None.
    An unknown current stage is left alone: we cannot tell whether the move would be backward."""
    if target is None or target not in order:
        return None
    if current is None or current == "":
        return target
    if current not in order:
        return None
    return target if order.index(target) > order.index(current) else None


def _reason(contact: ContactFacts, result: ScoreResult, total_field: str, stage: str | None) -> str:
    before = _as_text(contact.fields.get(total_field)) or "unset"
    reason = f"score {before} -> {result.total}"
    if result.tier:
        reason += f" (tier {result.tier})"
    if stage is not None:
        reason += f", stage -> {stage}"
    return reason


def _as_text(value: Any) -> str | None:
    return None if value is None else str(value)


def same_value(current: Any, wanted: str) -> bool:
    """Whether the CRM's value already equals ``wanted`` ("62" == 62 == "62.0"; unset == "")."""
    if current is None or current == "":
        return wanted == ""
    if str(current) == wanted:
        return True
    try:
        return float(current) == float(wanted)
    except (TypeError, ValueError):
        return False
