"""threadline.yaml: interpolation, validation messages, and the CLI's exit code 2 that changes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from threadline.config.loading import ConfigError, load_settings
from threadline.config.schema import SCHEMA_PATH, schema_text

MINIMAL = """
store:
  url: sqlite:///{db}
crm:
  kind: hubspot
  base_url: http://127.0.0.1:9
  token: ${{HUBSPOT_TOKEN}}
mailboxes:
  - kind: imap
    address: Rep@Example.com
    host: imap.example.com
    port: 993
    security: tls
    username: rep@example.com
    password: ${{IMAP_PASSWORD}}
sync:
  internal_domains: [example.com]
  poll_interval: 60s
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "threadline.yaml"
    path.write_text(text)
    return path


def test_minimal_config_from_the_design_loads_with_secrets_from_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.format(db=tmp_path / "t.db"))
    settings = load_settings(path, env={"HUBSPOT_TOKEN": "pat-123", "IMAP_PASSWORD": "pw"})
    assert settings.crm.token.get_secret_value() == "pat-123"
    assert settings.mailboxes[0].address == "rep@example.com"
    assert settings.sync.poll_interval.total_seconds() == 60
    assert "pat-123" not in repr(settings)


def test_missing_environment_variable_names_the_key_and_variable(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.format(db=tmp_path / "t.db"))
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={"IMAP_PASSWORD": "pw"})
    assert caught.value.problems == ["crm.token: environment variable HUBSPOT_TOKEN is not set"]


@pytest.mark.parametrize(("edit", "expected"), [
    (("port: 993", "port: nine"), "mailboxes[0].port: expected a valid integer"),
    (("security: tls", "security: ssl"), "mailboxes[0].security: expected 'tls', 'starttls' or 'none'"),
    (("poll_interval: 60s", "poll_interval: soon"), "sync.poll_interval: expected a duration like 60s"),
    (("kind: hubspot", "kind: pipedrive"), "crm: expected kind one of 'hubspot', 'salesforce' (got 'pipedrive')"),
    (("address: Rep@Example.com", "address: not-an-address"), "mailboxes[0].address: expected an email address"),
    (("internal_domains:", "internal_domainz:"), "sync.internal_domainz: is not a known setting"),
    (("poll_interval: 60s", "poll_interval: 60s\n  backfill_days: 400"),
     "(top level): store.retention_days (365) must be longer than sync.backfill_days (400)"),
])
def test_invalid_values_name_the_key_path_and_what_was_expected(tmp_path: Path, edit: tuple[str, str], expected: str) -> None:
    path = write(tmp_path, MINIMAL.format(db=tmp_path / "t.db").replace(*edit))
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={"HUBSPOT_TOKEN": "x", "IMAP_PASSWORD": "y"})
    assert any(p.startswith(expected) for p in caught.value.problems), caught.value.problems


def test_yaml_syntax_error_says_where(tmp_path: Path) -> None:
    path = write(tmp_path, "crm:\n  kind: hubspot\n token: [unclosed\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    assert "line" in caught.value.problems[0]


def test_bad_config_exits_2_names_file_and_key_and_writes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "never.db"
    path = write(tmp_path, MINIMAL.format(db=db).replace("port: 993", "port: nine"))
    env = {"HUBSPOT_TOKEN": "secret-token-value", "IMAP_PASSWORD": "pw", "PATH": "/usr/bin:/bin"}
    for command in (["sync", "--once"], ["status"], ["check"], ["db", "upgrade"]):
        result = subprocess.run([sys.executable, "-m", "threadline", *command, "--config", str(path)],
                                capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
        assert result.returncode == 2, (command, result.stderr)
        assert str(path) in result.stderr and "mailboxes[0].port" in result.stderr
        assert "secret-token-value" not in result.stderr + result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["threadline.yaml"]   # no store, no files


def test_missing_config_file_exits_2_and_suggests_init(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "threadline", "status", "--config", str(tmp_path / "nope.yaml")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "nope.yaml" in result.stderr and "threadline init" in result.stderr


def test_init_writes_a_starter_that_validates_once_secrets_are_set(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "threadline", "init", "--path", str(tmp_path / "t.yaml")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    settings = load_settings(tmp_path / "t.yaml", env={"HUBSPOT_TOKEN": "t", "IMAP_PASSWORD": "p"})
    assert settings.crm.kind == "hubspot" and settings.mailboxes[0].kind == "imap"
    again = subprocess.run([sys.executable, "-m", "threadline", "init", "--path", str(tmp_path / "t.yaml")],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 2   # never overwrites silently


def test_committed_json_schema_is_current() -> None:
    assert json.loads(SCHEMA_PATH.read_text()) == json.loads(schema_text()), "run: threadline config-schema --path config/threadline.schema.json"


def test_numeric_ids_in_yaml_are_the_strings_they_stand_for(tmp_path: Path) -> None:
    text = MINIMAL.format(db=tmp_path / "t.db").replace("    password: ${IMAP_PASSWORD}\n",
                                                         "    password: ${IMAP_PASSWORD}\n    owner_id: 90001\n")
    text += "rules:\n  assignment:\n    reps:\n      - owner_id: 90002\n        name: Sam\n"
    settings = load_settings(write(tmp_path, text), env={"HUBSPOT_TOKEN": "t", "IMAP_PASSWORD": "p"})
    assert settings.mailboxes[0].owner_id == "90001"
    assert settings.rules.assignment is not None and settings.rules.assignment.reps[0].owner_id == "90002"


def test_a_rules_file_pasted_at_the_top_level_says_where_it_belongs(tmp_path: Path) -> None:
    rules_file = Path(__file__).resolve().parents[2] / "config" / "rules" / "points-model.yaml"
    text = MINIMAL.format(db=tmp_path / "t.db") + rules_file.read_text()
    result = subprocess.run([sys.executable, "-m", "threadline", "check", "--config", str(write(tmp_path, text))],
                            capture_output=True, text=True, timeout=60,
                            env={"HUBSPOT_TOKEN": "t", "IMAP_PASSWORD": "p", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 2
    assert "scoring: is not a known setting ('scoring' belongs under 'rules:'; indent it there)" in result.stderr
    assert "max_share: is not a known setting ('max_share' belongs under 'rules:'; indent it there)" in result.stderr


def test_a_misspelled_key_gets_the_key_it_was_meant_to_be(tmp_path: Path) -> None:
    text = (MINIMAL.format(db=tmp_path / "t.db").replace("  token: ${HUBSPOT_TOKEN}", "  tokn: ${HUBSPOT_TOKEN}")
            .replace("    security: tls", "    securty: tls").replace("  poll_interval: 60s", "  pol_interval: 60s"))
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text), env={"HUBSPOT_TOKEN": "t", "IMAP_PASSWORD": "p"})
    problems = caught.value.problems
    for wrong, right in (("crm.tokn", "token"), ("mailboxes[0].securty", "security"), ("sync.pol_interval",
                                                                                    "poll_interval")):
        assert f"{wrong}: is not a known setting (did you mean '{right}'?)" in problems, problems
