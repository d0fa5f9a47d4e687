"""Lead scoring: settings (config.py), compile + score (engine.py), CRM write (write.py), explain (explain.py).
Pure decisions; runner.py one level up reads the store and runs it. May use the shared rule language
(conditions, effects, contact facts) and event records; independent of assignment and sequences."""

from threadline.rules.scoring.config import (
    Decay,
    Reset,
    ScoreFields,
    ScoringRule,
    ScoringSettings,
    StageRule,
    Tier,
    Window,
)
from threadline.rules.scoring.engine import (
    Contribution,
    Scorer,
    ScoreResult,
    compile_scoring,
    explain,
    scoring_effects,
)

__all__ = [
    "Contribution", "Decay", "Reset", "ScoreFields", "ScoreResult", "Scorer", "ScoringRule", "ScoringSettings",
    "StageRule", "Tier", "Window", "compile_scoring", "explain", "scoring_effects",
]
