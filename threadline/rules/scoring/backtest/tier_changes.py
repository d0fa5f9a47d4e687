"""The contacts whose tier (or MQL status) differs between two rule sets: counts, and the first few."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from threadline.rules.scoring.backtest.replay import ContactReplay


@dataclass(frozen=True, slots=True)
class TierChange:
    """One contact scored differently: its total, tier and MQL moment under each rule set."""

    contact_id: str
    current_total: int
    current_tier: str | None
    proposed_total: int
    proposed_tier: str | None
    current_mql_at: datetime | None
    proposed_mql_at: datetime | None


@dataclass
class TierChanges:
    """Counts of tier moves ("warm -> mql") over every contact, the total, and the first ``keep`` contacts
    (in contact id order): memory stays fixed however many differ."""

    keep: int = 20
    total: int = 0
    moves: Counter[tuple[str, str]] = field(default_factory=Counter)
    first: list[TierChange] = field(default_factory=list)
    mql_both: int = 0
    mql_only_current: int = 0
    mql_only_proposed: int = 0

    def add(self, contact_id: str, current: ContactReplay, proposed: ContactReplay) -> None:
        """Compare one contact's two replays."""
        became = (current.mql_at is not None, proposed.mql_at is not None)
        self.mql_both += became == (True, True)
        self.mql_only_current += became == (True, False)
        self.mql_only_proposed += became == (False, True)
        if current.tier == proposed.tier:
            return
        self.total += 1
        self.moves[(current.tier or "", proposed.tier or "")] += 1
        if len(self.first) < self.keep:
            self.first.append(TierChange(contact_id, current.total, current.tier, proposed.total, proposed.tier,
                                         current.mql_at, proposed.mql_at))
