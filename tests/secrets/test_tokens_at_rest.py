"""Tokens live encrypted in the store, are shared by every engine (replica) and survive restarts.

Real syncs against the sandbox over HTTP (Gmail refresh flow, Salesforce) and HTTPS (Outlook,
delegated by device code), on SQLite and on the real PostgreSQL.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from tests.secrets.secrets_world import (
    REP,
    TOKEN_SHAPES,
    fresh_key,
    key_file,
    raw_store,
    settings_for,
    token_calls,
)
from threadline.adapters.outlook import KEY_ENV, Delegated, EncryptedTokenCache
from threadline.connector.cli.auth import sign_in_outlook
from threadline.connector.demo.run import seed_demo
from threadline.connector.demo.world import late_reply
from threadline.connector.wiring.build import build_engine
from threadline.connector.wiring.secret_keys import load_keys
from threadline.sandbox.server import SandboxServer
from threadline.sync.store.database import Store
from threadline.sync.store.secret_store import SecretStore


def approve(sandbox: SandboxServer, message: str) -> None:
    """The rep opens the device-login page and enters the code shown."""
    sandbox.graph.identity.approve_device_code(re.search(r"code (\w+)", message).group(1), REP)  # type: ignore[union-attr]


def test_gmail_and_salesforce_tokens_are_stored_sealed_and_reused_by_a_second_engine(
        sandbox: SandboxServer, store_url: str, tmp_path: Path) -> None:
    settings = settings_for(sandbox, store_url, key_file(tmp_path / "keys", fresh_key()))
    first = build_engine(settings)
    assert first.run_once().outbox.performed["log_email"] == 3
    assert token_calls(sandbox) == 2                          # one Google, one Salesforce
    first.close()

    raw = raw_store(store_url)
    assert TOKEN_SHAPES.search(raw) is None, TOKEN_SHAPES.search(raw)
    names = SecretStore(Store(store_url), load_keys(settings)).names()   # type: ignore[arg-type]
    assert names == [f"gmail/{REP}/access-token",
                     f"salesforce/{sandbox.url}/{sandbox.settings.salesforce_consumer_key}/refresh-token/session"]

    sandbox.stats.reset()
    second = build_engine(settings)                           # a restart, or another replica
    sandbox.gmail.deliver(REP, late_reply())
    assert second.run_once().outbox.performed["log_email"] == 1
    second.close()
    assert token_calls(sandbox) == 0


def test_a_rejected_cached_token_is_refreshed_once_and_the_other_engine_adopts_the_refresh(
        sandbox: SandboxServer, sqlite_url: str, tmp_path: Path) -> None:
    settings = settings_for(sandbox, sqlite_url, key_file(tmp_path / "keys", fresh_key()))
    replica_a, replica_b = build_engine(settings), build_engine(settings)
    replica_a.run_once()
    sandbox.gmail.oauth.expire_access_tokens()                # revoked / expired before their time
    sandbox.salesforce.oauth.expire_sessions()
    sandbox.gmail.deliver(REP, late_reply())
    sandbox.stats.reset()

    assert replica_b.run_once().outbox.performed["log_email"] == 1   # 401, one refresh each, and on
    assert token_calls(sandbox) == 2
    sandbox.stats.reset()
    summary = replica_a.run_once()                            # its tokens were rejected too: it takes B's
    assert not summary.errors
    assert token_calls(sandbox) == 0
    replica_a.close()
    replica_b.close()


def test_delegated_outlook_signs_in_by_device_code_and_its_refresh_token_stays_sealed(
        tls_sandbox: SandboxServer, store_url: str, tmp_path: Path) -> None:
    seeded = seed_demo(tls_sandbox, "hubspot", "outlook")
    settings = settings_for(tls_sandbox, store_url, key_file(tmp_path / "keys", fresh_key()), crm="hubspot",
                            mailbox="outlook", seeded=seeded)

    assert sign_in_outlook(settings, REP, lambda message: approve(tls_sandbox, message)) == REP
    first = build_engine(settings)
    assert first.run_once().outbox.performed["log_email"] == 3
    first.close()
    raw = raw_store(store_url)
    assert TOKEN_SHAPES.search(raw) is None, TOKEN_SHAPES.search(raw)

    tls_sandbox.graph.identity.expire_access_tokens()
    tls_sandbox.stats.reset()
    second = build_engine(settings)                           # a restart: the refresh token comes from the store
    tls_sandbox.graph.deliver(REP, late_reply())
    assert second.run_once().outbox.performed["log_email"] == 1
    second.close()
    assert token_calls(tls_sandbox) == 1                      # one refresh_token grant
    assert TOKEN_SHAPES.search(raw_store(store_url)) is None


def test_the_app_only_outlook_token_is_shared_through_the_store(
        tls_sandbox: SandboxServer, sqlite_url: str, tmp_path: Path) -> None:
    seeded = seed_demo(tls_sandbox, "hubspot", "outlook")
    settings = settings_for(tls_sandbox, sqlite_url, key_file(tmp_path / "keys", fresh_key()), crm="hubspot",
                            mailbox="outlook", seeded=seeded, app_only=True)
    first = build_engine(settings)
    first.run_once()
    first.close()
    assert TOKEN_SHAPES.search(raw_store(sqlite_url)) is None
    tls_sandbox.stats.reset()
    second = build_engine(settings)
    assert not second.run_once().errors
    second.close()
    assert token_calls(tls_sandbox) == 0


def test_a_legacy_token_cache_file_is_imported_into_the_store_once(
        tls_sandbox: SandboxServer, sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    legacy_key, legacy_file = EncryptedTokenCache.generate_key(), tmp_path / "outlook-tokens.bin"
    monkeypatch.setenv(KEY_ENV, legacy_key)
    s, ca = tls_sandbox.settings, str(tls_sandbox.tls.ca_cert)  # type: ignore[union-attr]
    seeded = seed_demo(tls_sandbox, "hubspot", "outlook")
    older_install = Delegated(s.graph_tenant_id, s.graph_client_id, EncryptedTokenCache(legacy_file, legacy_key), REP,
                              authority_host=tls_sandbox.url, verify=ca)
    older_install.device_code_login(lambda message: approve(tls_sandbox, message))
    settings = settings_for(tls_sandbox, sqlite_url, key_file(tmp_path / "keys", fresh_key()), crm="hubspot",
                            mailbox="outlook", seeded=seeded, legacy_cache=legacy_file)

    with capture_logs() as logs:
        engine = build_engine(settings)
    assert [e["path"] for e in logs if e["event"] == "outlook.token_cache_imported"] == [str(legacy_file)]
    assert engine.run_once().outbox.performed["log_email"] == 3
    engine.close()
    assert SecretStore(Store(sqlite_url), load_keys(settings)).names() == [  # type: ignore[arg-type]
        f"outlook/{REP}/delegated-tokens"]
    with capture_logs() as logs:
        build_engine(settings).close()
    assert not [e for e in logs if e["event"] == "outlook.token_cache_imported"]
