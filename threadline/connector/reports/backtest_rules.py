"""`threadline backtest --rules FILE`: the proposed scoring, read from a `rules:` section file (the shape of
config/rules/points-model.yaml) or from a whole threadline.yaml (its `rules`). Problems name the file, the key
path as written in that file and what was expected (ConfigError, as for threadline.yaml itself)."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from threadline.config.loading import ConfigError, problem_line, read_yaml
from threadline.rules.conditions import RuleError
from threadline.rules.scoring import Scorer, compile_scoring
from threadline.rules.settings import RulesSettings

#: Top-level keys that only a whole threadline.yaml has: with one of them, the file's `rules` are used.
CONFIG_KEYS = frozenset({"store", "crm", "mailboxes", "sync", "server"})


def load_proposed(path: Path) -> Scorer:
    """The compiled proposed scoring. Raises ConfigError listing every problem (never anything else)."""
    data = read_yaml(path)
    whole = isinstance(data, dict) and bool(CONFIG_KEYS & data.keys())
    prefix = "rules." if whole else ""           # key paths as written in the file
    section = data.get("rules") if whole else data
    if not isinstance(section, dict):
        where = "rules" if whole else "(top level)"
        raise ConfigError(path, [f"{where}: expected a mapping with a scoring section (rules.scoring)"])
    try:
        rules = RulesSettings.model_validate(section)
    except ValidationError as exc:
        raise ConfigError(path, [problem_line(error, ("rules",), show_within=whole) for error in exc.errors()]) from None
    if rules.scoring is None:
        raise ConfigError(path, [f"{prefix}scoring: is required (the proposed scoring rules to replay)"])
    try:
        return compile_scoring(rules.scoring, path=f"{prefix}scoring")
    except RuleError as exc:
        raise ConfigError(path, list(exc.problems)) from None

