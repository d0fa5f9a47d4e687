"""Fixed-size counts for one rule set over a whole replay: a histogram, tiers, MQLs per week, calibration per band.

Nothing here grows with the number of contacts: every counter is keyed by a bin, tier, week or band.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from threadline.rules.scoring.backtest.bands import Bands, bin_of
from threadline.rules.scoring.backtest.replay import ContactReplay, Window


@dataclass
class BandCounts:
    """One score band: contacts in it at the window's end, how many of them became MQL in the window, and how
    many of those MQLs had each outcome (and any outcome) within the follow-up days."""

    contacts: int = 0
    mqls: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    any_outcome: int = 0

    def add(self, replay: ContactReplay, outcomes: frozenset[str]) -> None:
        self.contacts += 1
        if replay.mql_at is None:
            return
        self.mqls += 1
        self.outcomes.update(outcomes)
        self.any_outcome += bool(outcomes)

    def rate(self, outcome: str | None = None) -> float | None:
        """Share of this band's MQLs with ``outcome`` (None: any outcome); None when the band has no MQL."""
        if not self.mqls:
            return None
        return (self.any_outcome if outcome is None else self.outcomes[outcome]) / self.mqls


@dataclass
class SideTally:
    """Everything counted for one rule set ("current" or "proposed")."""

    label: str
    threshold: int | None
    bands: Bands
    histogram: Counter[int] = field(default_factory=Counter)      # total // 10 -> contacts
    tiers: Counter[str] = field(default_factory=Counter)          # final tier ("" for none) -> contacts
    mql_at_start: int = 0
    mqls_by_week: Counter[int] = field(default_factory=Counter)
    by_band: dict[str, BandCounts] = field(default_factory=dict)
    all_mqls: BandCounts = field(default_factory=BandCounts)     # the calibration table's total row

    @property
    def contacts(self) -> int:
        """Contacts counted: every one lands in the calibration table's total row."""
        return self.all_mqls.contacts

    @property
    def mqls(self) -> int:
        """Contacts that became an MQL inside the window."""
        return self.all_mqls.mqls

    def add(self, replay: ContactReplay, outcomes: frozenset[str], window: Window) -> None:
        """Count one contact's replay and (when it became an MQL) its outcomes."""
        self.histogram[bin_of(replay.total)] += 1
        self.tiers[replay.tier or ""] += 1
        self.mql_at_start += replay.mql_at_start
        band = self.bands.name_of(replay.total)
        self.by_band.setdefault(band, BandCounts()).add(replay, outcomes)
        self.all_mqls.add(replay, outcomes)
        if replay.mql_at is not None:
            self.mqls_by_week[window.week_of(replay.mql_at)] += 1

    def band_rows(self) -> list[tuple[str, BandCounts]]:
        """The calibration table, lowest band first (tier bands always, 10-point bands where seen)."""
        return [(name, self.by_band.get(name, BandCounts())) for name in self.bands.order(set(self.by_band))]
