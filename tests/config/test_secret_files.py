"""${NAME} also resolves from the file named by NAME_FILE: the Docker/Kubernetes secrets convention."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.config.test_config import MINIMAL
from threadline.config.loading import ConfigError, load_settings
from threadline.connector.monitoring.logs import secret_values

# The same minimal config as the interpolation tests: only where the secrets come from differs.
CONFIG = MINIMAL


def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "threadline.yaml"
    path.write_text(CONFIG.format(db=tmp_path / "t.db"))
    return path


def secret_file(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / "secrets" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(content)
    return path


def test_secret_is_read_from_the_file_named_by_name_file_without_its_trailing_newline(tmp_path: Path) -> None:
    token = secret_file(tmp_path, "hubspot_token", "pat-from-file\n")
    password = secret_file(tmp_path, "imap_password", "pw with spaces \r\n")
    settings = load_settings(config_file(tmp_path),
                             env={"HUBSPOT_TOKEN_FILE": str(token), "IMAP_PASSWORD_FILE": str(password)})
    assert settings.crm.token.get_secret_value() == "pat-from-file"
    assert settings.mailboxes[0].password.get_secret_value() == "pw with spaces "
    # A file-borne secret is a secret like any other: the log redaction list knows it.
    assert "pat-from-file" in secret_values(settings)


def test_the_environment_variable_wins_over_the_file(tmp_path: Path) -> None:
    token = secret_file(tmp_path, "hubspot_token", "pat-from-file\n")
    settings = load_settings(config_file(tmp_path), env={
        "HUBSPOT_TOKEN": "pat-from-env", "HUBSPOT_TOKEN_FILE": str(token), "IMAP_PASSWORD": "pw"})
    assert settings.crm.token.get_secret_value() == "pat-from-env"


def test_unreadable_secret_file_names_key_variable_and_file(tmp_path: Path) -> None:
    missing = tmp_path / "secrets" / "nope"
    with pytest.raises(ConfigError) as caught:
        load_settings(config_file(tmp_path), env={"HUBSPOT_TOKEN_FILE": str(missing), "IMAP_PASSWORD": "pw"})
    assert caught.value.problems == [
        f"crm.token: HUBSPOT_TOKEN_FILE names {missing}, which cannot be read (No such file or directory)"]


def test_neither_variable_nor_file_is_the_usual_missing_variable_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(config_file(tmp_path), env={"IMAP_PASSWORD": "pw", "HUBSPOT_TOKEN_FILE": ""})
    assert caught.value.problems == ["crm.token: environment variable HUBSPOT_TOKEN is not set"]


def test_cli_exits_2_on_a_bad_secret_file_and_never_prints_a_readable_secret(tmp_path: Path) -> None:
    password = secret_file(tmp_path, "imap_password", "hunter2-secret\n")
    directory = tmp_path / "secrets"   # a directory, not a file: cannot be read
    env = {k: v for k, v in os.environ.items() if k not in {"HUBSPOT_TOKEN", "IMAP_PASSWORD"}}
    env |= {"HUBSPOT_TOKEN_FILE": str(directory), "IMAP_PASSWORD_FILE": str(password)}
    result = subprocess.run([sys.executable, "-m", "threadline", "db", "upgrade", "--config", str(config_file(tmp_path))],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    said = " ".join(result.stderr.split())   # rich wraps long lines at the terminal width
    assert f"crm.token: HUBSPOT_TOKEN_FILE names {directory}, which cannot be read (Is a directory)" in said
    assert "hunter2-secret" not in result.stdout + result.stderr
    assert not (tmp_path / "t.db").exists()   # exit 2 happens before the store is opened
