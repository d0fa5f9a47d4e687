"""What the secrets-at-rest tests share: demo configs with a key file, raw store dumps, token-call counts."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from threadline.config.loading import parse_settings
from threadline.config.models import Settings
from threadline.connector.demo.run import demo_config, seed_demo
from threadline.connector.demo.world import REP
from threadline.sandbox.server import SandboxServer
from threadline.sync.store.sealed import new_key

#: What every issued token looks like in the sandbox (Google, Microsoft, Salesforce sessions, refresh tokens).
TOKEN_SHAPES = re.compile(rb"ya29\.sandbox-|EwB-sandbox\.|M\.sandbox-refresh\.|1//sandbox-|!AQ[A-Za-z0-9_-]{20}"
                          rb"|sandbox-sf-refresh")
TOKEN_ROUTES = ("google-oauth token", "salesforce POST oauth2/token", "microsoft-identity token")


def key_file(path: Path, *keys: str) -> Path:
    path.write_text("# Threadline secret keys: the first encrypts\n" + "\n".join(keys) + "\n")
    return path


def settings_for(sandbox: SandboxServer, store_url: str, keys: Path | None, *, crm: str = "salesforce",
                 mailbox: str = "gmail", seeded: dict[str, str] | None = None,
                 write_to: Path | None = None, legacy_cache: Path | None = None, app_only: bool = False) -> Settings:
    """The demo's config for `crm` + `mailbox` on `store_url`, with `store.secret_key_file` = `keys`.

    An Outlook mailbox is delegated (`delegated: true`, or the older `token_cache_file: legacy_cache`)
    unless `app_only`.
    """
    seeded = seeded if seeded is not None else seed_demo(sandbox, crm, mailbox)
    config: dict[str, Any] = demo_config(sandbox, store_url, seeded, crm, mailbox)
    if keys is not None:
        config["store"]["secret_key_file"] = str(keys)
    if mailbox == "outlook" and not app_only:
        box = config["mailboxes"][0]
        del box["client_secret"]
        if legacy_cache is not None:
            box["token_cache_file"] = str(legacy_cache)
        else:
            box["delegated"] = True
    if write_to is not None:
        write_to.write_text(yaml.safe_dump(config))
    return parse_settings(config, write_to or Path("secrets-test.yaml"), env={})


def token_calls(sandbox: SandboxServer) -> int:
    """Requests to any token endpoint since the stats were last reset."""
    routes = sandbox.stats.snapshot()["by_route"]
    return sum(n for route, n in routes.items() if route.startswith(TOKEN_ROUTES))


def raw_store(store_url: str) -> bytes:
    """Everything the database holds, as bytes: SQLite's files, or every PostgreSQL row as text."""
    if store_url.startswith("sqlite"):
        path = Path(make_url(store_url).database or "")
        return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
    engine = create_engine(store_url)
    try:
        with engine.connect() as connection:
            tables = inspect(connection).get_table_names()
            values = [v for t in tables for row in connection.execute(text(f'SELECT * FROM "{t}"')) for v in row]
    finally:
        engine.dispose()
    # bytea comes back as bytes (compared raw, as stored); everything else as its text.
    return b"\n".join(bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode() for v in values)


def fresh_key() -> str:
    return new_key()


__all__ = ["REP", "TOKEN_SHAPES", "fresh_key", "key_file", "raw_store", "settings_for", "token_calls"]
