"""Backtesting a scoring change: replay stored events through two rule sets, side by side. Pure.

``replay.py`` replays one contact (final score, the moment it would have become an MQL), ``outcomes.py`` says
what happened to it afterwards, ``bands.py`` and ``counters.py`` keep fixed-size counts per rule set,
``tier_changes.py`` the contacts whose tier differs, and ``comparison.py`` folds contacts into all of them.
Reading the store and rendering live in the application (``threadline backtest``).
"""

from threadline.rules.scoring.backtest.bands import Bands
from threadline.rules.scoring.backtest.comparison import Backtest
from threadline.rules.scoring.backtest.counters import BandCounts, SideTally
from threadline.rules.scoring.backtest.outcomes import OUTCOMES, SALES_STAGES, OutcomeRules
from threadline.rules.scoring.backtest.replay import ContactReplay, Window, replay_contact
from threadline.rules.scoring.backtest.tier_changes import TierChange, TierChanges

__all__ = ["OUTCOMES", "SALES_STAGES", "Backtest", "BandCounts", "Bands", "ContactReplay", "OutcomeRules",
           "SideTally", "TierChange", "TierChanges", "Window", "replay_contact"]
