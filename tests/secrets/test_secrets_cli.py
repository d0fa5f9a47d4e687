"""`threadline secrets` and the key rules as an admin meets them: new-key, status, rotate, a wrong or missing key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
import yaml
from typer.testing import CliRunner, Result

from tests.secrets.secrets_world import REP, fresh_key, key_file, raw_store, settings_for
from threadline.config.loading import parse_settings
from threadline.connector.cli.main import app
from threadline.connector.wiring.build import build_engine
from threadline.connector.wiring.secret_keys import SecretsUnusable, load_keys
from threadline.sandbox.server import SandboxServer
from threadline.sync.store.database import Store
from threadline.sync.store.sealed import KeyRing, WrongKey, fingerprint
from threadline.sync.store.secret_store import SecretStore

TOKENS = {"gmail/rep@example.com/access-token": '{"access_token": "ya29.sandbox-clear-text-token"}',
          "outlook/rep@example.com/delegated-tokens": '{"RefreshToken": "M.sandbox-refresh.clear-text"}'}


@pytest.fixture(autouse=True)
def _logging_back_to_defaults() -> Iterator[None]:
    yield
    structlog.reset_defaults()      # `sync` pointed logging at the CliRunner's (now closed) stderr


def cli(config: Path, *args: str, keys: str | None = None) -> Result:
    env = {"COLUMNS": "300", **({"THREADLINE_SECRET_KEY": keys} if keys is not None else {})}
    return CliRunner().invoke(app, [*args, "--config", str(config)], env=env, terminal_width=300)


def said(result: Result) -> str:
    """stderr as one line of words (rich draws errors in a wrapped box)."""
    return " ".join(word for word in result.stderr.split() if word not in {"│", "╭─", "╰"} and "──" not in word)


def write_store_config(path: Path, store_url: str) -> Path:
    config = {"store": {"url": store_url}, "crm": {"kind": "hubspot", "token": "pat-unused"}}
    path.write_text(yaml.safe_dump(config))
    return path


def test_new_key_prints_a_usable_key_and_its_fingerprint() -> None:
    result = CliRunner().invoke(app, ["secrets", "new-key"])
    assert result.exit_code == 0
    key = result.stdout.strip()
    assert KeyRing([key]).primary == fingerprint(key)
    assert f"fingerprint {fingerprint(key)}" in result.stderr


def test_rotate_moves_every_secret_to_the_new_key_then_the_old_key_can_go(store_url: str, tmp_path: Path) -> None:
    old, new, other = fresh_key(), fresh_key(), fresh_key()
    config = write_store_config(tmp_path / "threadline.yaml", store_url)
    store = Store(store_url)
    for name, value in TOKENS.items():
        SecretStore(store, KeyRing([old])).put(name, value)
    assert b"clear-text" not in raw_store(store_url)

    rotated = cli(config, "secrets", "rotate", keys=f"{new},{old}")
    assert rotated.exit_code == 0, rotated.output
    assert f"re-encrypted 2 of 2 secrets under key {fingerprint(new)}" in rotated.stdout
    again = cli(config, "secrets", "rotate", keys=f"{new},{old}")
    assert "re-encrypted 0 of 2" in again.stdout                               # idempotent
    status = cli(config, "secrets", "status", keys=new)
    assert f"key {fingerprint(new)} (primary): 2" in status.stdout
    assert all(SecretStore(store, KeyRing([new])).get(name) == value for name, value in TOKENS.items())

    wrong = cli(config, "secrets", "rotate", keys=other)
    assert wrong.exit_code == 2
    assert f"encrypted under key {fingerprint(new)}, which is not configured" in said(wrong)
    assert "Traceback" not in wrong.output and "clear-text" not in wrong.output and new not in wrong.output
    store.dispose()


def test_a_sync_with_the_wrong_key_stops_with_exit_2_naming_the_key_the_rows_need(
        sandbox: SandboxServer, sqlite_url: str, tmp_path: Path) -> None:
    right, wrong = fresh_key(), fresh_key()
    keys = key_file(tmp_path / "keys", right)
    settings = settings_for(sandbox, sqlite_url, keys, write_to=tmp_path / "threadline.yaml")
    build_engine(settings).run_once()
    key_file(keys, wrong)

    result = cli(tmp_path / "threadline.yaml", "sync", "--once")
    assert result.exit_code == 2, result.output
    assert f"encrypted under key {fingerprint(right)}" in said(result)
    assert "Traceback" not in result.output and right not in result.output and wrong not in result.output


def test_without_a_key_sync_keeps_tokens_in_memory_and_a_delegated_mailbox_asks_for_one(
        sandbox: SandboxServer, sqlite_url: str) -> None:
    engine = build_engine(settings_for(sandbox, sqlite_url, None))
    assert engine.run_once().outbox.performed["log_email"] == 3
    engine.close()
    assert SecretStore(Store(sqlite_url), KeyRing([fresh_key()])).names() == []     # nothing written at all

    delegated = settings_for(sandbox, sqlite_url, None, crm="hubspot", mailbox="outlook", seeded={"owner_id": "1"})
    with pytest.raises(SecretsUnusable) as refused:
        build_engine(delegated)
    assert refused.value.exit_code == 2
    assert "THREADLINE_SECRET_KEY" in str(refused.value) and "threadline secrets new-key" in str(refused.value)


def test_a_malformed_key_is_refused_without_echoing_it(sqlite_url: str) -> None:
    settings = parse_settings({"store": {"url": sqlite_url}, "crm": {"kind": "hubspot", "token": "x"}},
                              Path("t.yaml"), env={})
    with pytest.raises(SecretsUnusable) as refused:
        load_keys(settings, env={"THREADLINE_SECRET_KEY": f"{fresh_key()},not-a-fernet-key-but-a-secret"})
    assert str(refused.value) == ("key 2 in THREADLINE_SECRET_KEY is not a Fernet key (32 url-safe base64 bytes); "
                                  "make one with `threadline secrets new-key`")


def test_a_row_under_an_unknown_key_names_its_fingerprint(sqlite_url: str) -> None:
    first, second = fresh_key(), fresh_key()
    store = Store(sqlite_url)
    SecretStore(store, KeyRing([first])).put("salesforce/session", '{"access_token": "00D!AQ-secret"}')
    with pytest.raises(WrongKey) as refused:
        SecretStore(store, KeyRing([second])).get("salesforce/session")
    assert refused.value.needed == [fingerprint(first)] and "00D" not in str(refused.value)


def test_auth_outlook_needs_a_key_and_a_delegated_mailbox(sandbox: SandboxServer, sqlite_url: str,
                                                          tmp_path: Path) -> None:
    config = tmp_path / "threadline.yaml"
    settings_for(sandbox, sqlite_url, None, crm="hubspot", mailbox="outlook", seeded={"owner_id": "1"},
                 write_to=config)
    no_key = cli(config, "auth", "outlook", REP)
    assert no_key.exit_code == 2
    assert "set THREADLINE_SECRET_KEY" in said(no_key) and "make one with `threadline secrets new-key`" in said(no_key)
    unknown = cli(config, "auth", "outlook", "someone@else.example", keys=fresh_key())
    assert unknown.exit_code == 2 and "no Outlook mailbox someone@else.example" in said(unknown)
