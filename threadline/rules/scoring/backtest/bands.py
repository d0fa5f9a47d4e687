"""Score bands for the calibration table (the rule set's tiers, else 10-point bands) and histogram bins."""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass

from threadline.rules.scoring.config import ScoringSettings

#: Width of a histogram bin, and of a band when the rule set has no tiers.
BIN = 10
_LOWER = re.compile(r"-?\d+")          # the lower bound that starts a 10-point band's name


@dataclass(frozen=True)
class Bands:
    """Named bands of the total score, lowest first. ``mins`` empty: 10-point bands ("0-9", "10-19", ...)."""

    names: tuple[str, ...] = ()
    mins: tuple[int, ...] = ()

    @classmethod
    def of(cls, settings: ScoringSettings) -> Bands:
        """The tiers as bands (lowest first); a band "below <lowest tier>" when the lowest tier starts above 0."""
        tiers = sorted(settings.tiers, key=lambda tier: tier.min)
        if not tiers:
            return cls()
        names, mins = [tier.name for tier in tiers], [tier.min for tier in tiers]
        if mins[0] > 0:
            names.insert(0, f"below {names[0]}")
            mins.insert(0, 0)                 # name_of puts totals below 0 into the first band too
        return cls(tuple(names), tuple(mins))

    def name_of(self, total: int) -> str:
        """The band ``total`` falls in."""
        if not self.mins:
            return bin_label(bin_of(total))
        return self.names[max(0, bisect_right(self.mins, total) - 1)]

    def order(self, seen: set[str]) -> list[str]:
        """Band names in score order: every tier band, or the 10-point bands seen."""
        if self.mins:
            return list(self.names)
        return sorted(seen, key=lambda name: int(_LOWER.match(name).group()))  # type: ignore[union-attr]


def bin_of(total: int) -> int:
    """The histogram bin of a total: total // 10 (floor, so negative totals get negative bins)."""
    return total // BIN


def bin_label(index: int) -> str:
    """"20-29" for bin 2."""
    return f"{index * BIN}-{index * BIN + BIN - 1}"
