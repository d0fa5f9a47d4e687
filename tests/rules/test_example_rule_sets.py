"""The example rule sets in config/rules/ load and compile (they are documentation users copy)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from threadline.rules.runner import compile_rules
from threadline.rules.settings import RulesSettings

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "config" / "rules").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_rule_set_compiles(path: Path) -> None:
    rules = compile_rules(RulesSettings.model_validate(yaml.safe_load(path.read_text())))
    assert rules.scorer is not None


def test_there_are_example_rule_sets() -> None:
    assert {p.name for p in EXAMPLES} >= {"points-model.yaml", "tier-routing.yaml"}
