"""`threadline backtest --rules FILE`: the proposed scoring, read from a `rules:` section file (the shape of
config/rules/points-model.yaml) or from a whole threadline.yaml (its `rules`). Problems name the file, the key
path as written in that file and what was expected (ConfigError, as for threadline.yaml itself)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from threadline.config.loading import ConfigError
from threadline.rules.conditions import RuleError
from threadline.rules.scoring import Scorer, compile_scoring
from threadline.rules.settings import RulesSettings

#: Top-level keys that only a whole threadline.yaml has: with one of them, the file's `rules` are used.
CONFIG_KEYS = frozenset({"store", "crm", "mailboxes", "sync", "server"})


def load_proposed(path: Path) -> Scorer:
    """The compiled proposed scoring. Raises ConfigError listing every problem (never anything else)."""
    data = _read(path)
    whole = isinstance(data, dict) and bool(CONFIG_KEYS & data.keys())
    prefix = "rules." if whole else ""
    section = data.get("rules") if whole else data
    if not isinstance(section, dict):
        where = "rules" if whole else "(top level)"
        raise ConfigError(path, [f"{where}: expected a mapping with a scoring section (rules.scoring)"])
    try:
        rules = RulesSettings.model_validate(section)
    except ValidationError as exc:
        raise ConfigError(path, [_problem(prefix, error) for error in exc.errors()]) from None
    if rules.scoring is None:
        raise ConfigError(path, [f"{prefix}scoring: is required (the proposed scoring rules to replay)"])
    try:
        return compile_scoring(rules.scoring, path=f"{prefix}scoring")
    except RuleError as exc:
        raise ConfigError(path, list(exc.problems)) from None


def _read(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(path, ["file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, [f"cannot read the file: {getattr(exc, 'strerror', None) or exc}"]) from None
    except RecursionError:
        raise ConfigError(path, ["(YAML syntax): nested too deeply"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        raise ConfigError(path, [f"(YAML syntax) {where}: {getattr(exc, 'problem', exc)}"]) from None


def _problem(prefix: str, error: Mapping[str, Any]) -> str:
    """"scoring.rules[0].points: expected a valid integer (got 'ten')" for one pydantic error."""
    key = prefix.rstrip(".")
    for part in error.get("loc") or ():
        key += f"[{part}]" if isinstance(part, int) else f".{part}" if key else str(part)
    kind, message = error["type"], str(error["msg"]).removeprefix("Value error, ")
    if kind == "missing":
        return f"{key}: is required"
    if kind == "extra_forbidden":
        return f"{key}: is not a known setting (check the spelling)"
    got = error.get("input")
    shown = "" if isinstance(got, (dict, list)) or got is None else f" (got {got!r})"
    message = message.removeprefix("Input should be ")
    return f"{key or '(top level)'}: expected {message[0].lower() + message[1:]}{shown}"
