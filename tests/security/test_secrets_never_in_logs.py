"""No configured secret ever shows up in what Threadline prints or stores in clear.

Every secret the config can hold is set, through the environment, to a distinctive value: the
HubSpot token and webhook app secret, Gmail's client secret and refresh token, an IMAP password,
the admin, events and unsubscribe secrets, and THREADLINE_SECRET_KEY. Then real processes run at
debug level: `sync --once`; the daemon (`run`) taking an event, sending a sequence email, serving
the admin pages, a webhook and a refused login, until SIGTERM; and `check` + `sync --once` with
every secret wrong, so that the error paths are read too. Their stdout and stderr, and the SQLite
store's bytes, must not contain any of the values, nor any access token the providers issued.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.engine.world import imap_mailbox_config, reply
from tests.secrets.secrets_world import TOKEN_SHAPES
from threadline.connector.web.push.hubspot_webhooks import signature_v3
from threadline.sandbox.google_oauth import DEFAULT_USER
from threadline.sandbox.server import SandboxServer, free_port
from threadline.sandbox.settings import SandboxSettings
from threadline.sync.store.sealed import new_key

pytestmark = pytest.mark.dovecot

REP = DEFAULT_USER
BUYER = "pat@customer.example"
IMAP_BUYER = "quinn@prospect.example"
PUBLIC_URL = "https://threadline.example.test"


def _secret(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


@pytest.fixture
def secrets() -> dict[str, str]:
    """Environment variable -> a value that appears nowhere else."""
    return {"HUBSPOT_TOKEN": _secret("pat-na1"), "HUBSPOT_APP_SECRET": _secret("hsapp"),
            "GMAIL_CLIENT_SECRET": _secret("GOCSPX"), "GMAIL_REFRESH_TOKEN": _secret("1//r4refresh"),
            "ADMIN_TOKEN": _secret("adm"), "EVENTS_TOKEN": _secret("evt"),
            "UNSUBSCRIBE_SECRET": _secret("uns"), "THREADLINE_SECRET_KEY": new_key()}


@pytest.fixture
def own_sandbox(secrets: dict[str, str]) -> Iterator[SandboxServer]:
    """A sandbox that accepts exactly these secrets (the shared one has well-known defaults)."""
    settings = SandboxSettings(hubspot_token=secrets["HUBSPOT_TOKEN"], hubspot_app_secret=secrets["HUBSPOT_APP_SECRET"],
                               google_client_secret=secrets["GMAIL_CLIENT_SECRET"],
                               google_refresh_token=secrets["GMAIL_REFRESH_TOKEN"])
    with SandboxServer(settings) as server:
        yield server


def write_config(path: Path, sandbox: SandboxServer, imap: dict[str, Any], owner: str, port: int) -> Path:
    s = sandbox.settings
    sequence = {"name": "welcome", "enroll_on": "form.submitted", "spacing_minutes": 0,
                "window": {"start": "00:00", "end": "23:59", "days": [0, 1, 2, 3, 4, 5, 6]},
                "steps": [{"kind": "email", "subject": "Hello {{ contact.firstname }}",
                           "body": "Hi {{ contact.firstname }}.\n{{ unsubscribe_url }}\n"}]}
    config = {
        "store": {"url": f"sqlite:///{path.parent / 'store.db'}"},
        "crm": {"kind": "hubspot", "base_url": sandbox.url, "token": "${HUBSPOT_TOKEN}", "search_index_lag": "0s"},
        "mailboxes": [
            {"kind": "gmail", "address": REP, "owner_id": owner, "base_url": sandbox.url,
             "token_uri": f"{sandbox.url}/token", "client_id": s.google_client_id,
             "client_secret": "${GMAIL_CLIENT_SECRET}", "refresh_token": "${GMAIL_REFRESH_TOKEN}"},
            {**imap, "password": "${IMAP_PASSWORD}", "owner_id": owner}],
        "sync": {"internal_domains": ["example.com"], "backfill_days": 30, "poll_interval": "1s"},
        "rules": {"sequences": [sequence]},
        "server": {"port": port, "admin_token": "${ADMIN_TOKEN}", "events_token": "${EVENTS_TOKEN}",
                   "unsubscribe_secret": "${UNSUBSCRIBE_SECRET}", "public_url": PUBLIC_URL},
        "push": {"hubspot": {"app_secret": "${HUBSPOT_APP_SECRET}"}},
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def threadline(config: Path, env: dict[str, str], *args: str) -> str:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "threadline", *args, "--config", str(config)], capture_output=True,
                          text=True, env=env, timeout=120)
    return (f"$ threadline {' '.join(args)} -> {done.returncode} ({time.monotonic() - started:.1f} s)\n"
            f"{done.stdout}\n{done.stderr}")


def wait_for(condition: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {seconds} s"
        time.sleep(0.2)


def exercise_daemon(config: Path, env: dict[str, str], sandbox: SandboxServer, secrets: dict[str, str],
                    port: int, log: Path) -> None:
    """`threadline run`: an event enrols the buyer, step 1 goes out, admin pages and a webhook are served."""
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        daemon = subprocess.Popen([sys.executable, "-m", "threadline", "run", "--config", str(config)],
                                  stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        wait_for(lambda: _up(url), 30, "the daemon's HTTP server")
        event = {"type": "form.submitted", "contact": {"email": BUYER}, "id": "form-1"}
        assert httpx.post(f"{url}/events", json=event,
                          headers={"Authorization": f"Bearer {secrets['EVENTS_TOKEN']}"}).status_code == 202
        wait_for(lambda: any("SENT" in m.labels and BUYER.encode() in m.raw for m in sandbox.gmail.messages(REP)),
                 30, "the sequence email")
        admin = {"Authorization": f"Bearer {secrets['ADMIN_TOKEN']}"}
        for path in ("/api/status", "/metrics", "/status", "/readyz"):
            assert httpx.get(f"{url}{path}", headers=admin).status_code in (200, 503), path
        # Credentials used where they do not belong, and a wrong login: refused, and not echoed in a log.
        assert httpx.post(f"{url}/events", json=event, headers=admin).status_code == 401
        assert httpx.post(f"{url}/login", data={"token": secrets["EVENTS_TOKEN"]}).status_code == 401
        assert httpx.post(f"{url}/login", data={"token": secrets["ADMIN_TOKEN"]}).status_code == 303
        body = json.dumps([{"subscriptionType": "contact.propertyChange", "objectId": 1}]).encode()
        stamp = str(int(time.time() * 1000))
        signature = signature_v3(secrets["HUBSPOT_APP_SECRET"], "POST", f"{PUBLIC_URL}/webhooks/hubspot", body, stamp)
        assert httpx.post(f"{url}/webhooks/hubspot", content=body, headers={
            "X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": stamp}).status_code == 204
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=30) == 0
    finally:
        daemon.kill()
        daemon.wait()


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_no_secret_appears_in_any_output_or_in_the_store(own_sandbox: SandboxServer, secrets: dict[str, str],
                                                         imap_account, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sandbox = own_sandbox
    owner = sandbox.hubspot.add_owner(REP, first_name="Rita", last_name="Rep")
    buyers = [sandbox.hubspot.add_contact(BUYER, owner_id=owner, firstname="Pat"),
              sandbox.hubspot.add_contact(IMAP_BUYER, owner_id=owner, firstname="Quinn")]
    sandbox.gmail.deliver(REP, reply(BUYER, REP, 1))
    imap_account.deliver(reply(IMAP_BUYER, imap_account.username, 2))
    secrets = {**secrets, "IMAP_PASSWORD": imap_account.password}
    port = free_port()
    config = write_config(tmp_path / "threadline.yaml", sandbox, imap_mailbox_config(imap_account), owner, port)
    base = {k: v for k, v in os.environ.items() if not k.startswith("THREADLINE_")}
    env = {**base, **secrets, "THREADLINE_LOG_LEVEL": "debug", "NO_COLOR": "1"}

    outputs = [threadline(config, env, "sync", "--once")]
    assert "-> 0" in outputs[0].splitlines()[0], outputs[0][-2000:]
    assert all(sandbox.hubspot.emails_for(b) for b in buyers), "both replies (Gmail and IMAP) were logged"
    exercise_daemon(config, env, sandbox, secrets, port, tmp_path / "daemon.log")
    outputs.append((tmp_path / "daemon.log").read_text(errors="replace"))
    assert "sequence" in outputs[-1] or "send" in outputs[-1], "the daemon logged its work at debug level"

    # Every secret wrong (each a new distinctive value): the refusals and error paths must not echo them either.
    # The store key stays right for these two, so the sync gets as far as each provider refusing it.
    wrong = {name: _secret(f"wrong-{name.lower()}") for name in secrets if name != "THREADLINE_SECRET_KEY"}
    bad_env = {**env, **wrong}
    outputs += [threadline(config, bad_env, "check"), threadline(config, bad_env, "sync", "--once")]
    assert all("-> 0" not in o.splitlines()[0] for o in outputs[-2:]), "the wrong secrets were refused"
    wrong["THREADLINE_SECRET_KEY"] = new_key()        # and a wrong store key: refused by fingerprint, never shown
    outputs.append(threadline(config, {**env, "THREADLINE_SECRET_KEY": wrong["THREADLINE_SECRET_KEY"]}, "status"))

    printed = "\n".join(outputs)
    (tmp_path / "outputs.txt").write_text(printed)          # to read when this fails
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("store.db*"))
    for name, value in {**secrets, **{f"wrong {k}": v for k, v in wrong.items()}}.items():
        assert value not in printed, f"{name} appears in the output"
        assert value.encode() not in stored, f"{name} is stored in clear"
    issued = TOKEN_SHAPES.findall(printed.encode()) + TOKEN_SHAPES.findall(stored)
    assert not issued, f"provider-issued tokens in the output or store: {issued[:3]}"
