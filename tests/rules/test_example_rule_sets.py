"""The example rule sets in config/rules/ load and compile (they are documentation users copy)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from threadline.rules.conditions import RuleError
from threadline.rules.runner import compile_rules
from threadline.rules.settings import RulesSettings

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "config" / "rules").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_rule_set_compiles(path: Path) -> None:
    rules = compile_rules(RulesSettings.model_validate(yaml.safe_load(path.read_text())))
    assert rules.scorer is not None


def test_there_are_example_rule_sets() -> None:
    assert {p.name for p in EXAMPLES} >= {"points-model.yaml", "tier-routing.yaml"}


SEQUENCES = Path(__file__).resolve().parents[2] / "config" / "sequences"


@pytest.mark.parametrize("crm", ["", ".salesforce"])
def test_example_sequences_compile_with_their_crms_points_model(crm: str) -> None:
    """A custom type the scoring declares (meeting.completed) is no typo of a built-in one (task.completed)."""
    rules = yaml.safe_load((EXAMPLES[0].parent / f"points-model{crm}.yaml").read_text())
    rules["sequences"] = yaml.safe_load((SEQUENCES / f"examples{crm}.yaml").read_text())["sequences"]
    rules["scoring"]["custom_events"].append("meeting.completed")
    compiled = compile_rules(RulesSettings.model_validate(rules))
    assert compiled.sequencer is not None and len(compiled.sequencer.names) == 6

    rules["scoring"]["custom_events"].remove("meeting.completed")      # with scoring, the declared list is strict
    with pytest.raises(RuleError, match=r"rules.sequences\[1\].enroll_on: unknown event type 'meeting.completed'"):
        compile_rules(RulesSettings.model_validate(rules))
