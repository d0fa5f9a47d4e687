"""Secrets checked without leaking, a rotated unsubscribe secret that breaks no link, a bounded Graph echo.

Over the real served app (every feature on): a wrong /events token of any length is refused the same way;
Graph's validationToken is echoed as text/plain only, and refused beyond 1,024 characters; after
`server.unsubscribe_secret` is rotated, links signed with a previous secret still unsubscribe (once), links
signed with a secret never configured do not, and new links are signed with the current secret.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlmodel import func, select

from tests.security.app_world import (
    CLIENT_STATE,
    EVENTS_TOKEN,
    GRAPH_SUBSCRIPTION,
    PUBLIC_URL,
    App,
    full_app,
    full_settings,
)
from tests.web.world import ADMIN_TOKEN
from threadline.config.loading import ConfigError, parse_settings
from threadline.config.models import Settings
from threadline.connector.demo.world import REP
from threadline.connector.monitoring.logs import secret_values
from threadline.connector.web.push.graph_notifications import MAX_VALIDATION_TOKEN
from threadline.connector.web.secret_checks import KnownSecret
from threadline.connector.wiring.build import sequence_runner
from threadline.rules.sequences.engine import compile_sequences
from threadline.rules.sequences.unsubscribe_links import make_token, read_token
from threadline.sandbox.server import SandboxServer
from threadline.sync.engine import mailbox_source
from threadline.sync.store.tables import ContactRow, EventRow

NEW_SECRET = "uns-new-6d8f0a2c4e6b8d0f-not-a-real-secret"
OLD_SECRET = "uns-old-1a3c5e7b9d1f3a5c-not-a-real-secret"
OLDER_SECRET = "uns-older-2b4d6f8a0c2e4b6d-not-a-real-secret"


def rotated_settings(sandbox: SandboxServer, store_url: str, tmp_path: Path) -> Settings:
    server = {"port": 0, "admin_token": ADMIN_TOKEN, "events_token": EVENTS_TOKEN, "public_url": PUBLIC_URL,
              "readiness_floor": "1s", "unsubscribe_secret": NEW_SECRET,
              "unsubscribe_previous_secrets": [OLD_SECRET, OLDER_SECRET]}
    return full_settings(sandbox, store_url, tmp_path, server=server)


@pytest.fixture
def app(sandbox: SandboxServer, sqlite_url: str, tmp_path: Path) -> Iterator[App]:
    with full_app(rotated_settings(sandbox, sqlite_url, tmp_path)) as served:
        with served.engine.store.session() as session:
            session.add_all([ContactRow(crm_id=cid, primary_email=f"{cid}@acme.example", updated_at=datetime.now(UTC))
                             for cid in ("c1", "c2", "c3", "c4")])
        yield served


def _unsubscribed(app: App) -> set[str]:
    with app.engine.store.session() as session:
        return set(session.exec(select(EventRow.contact_id).where(EventRow.type == "unsubscribed")).all())


# -- unsubscribe secret rotation ------------------------------------------------------------------------------

def test_links_signed_with_a_rotated_out_secret_still_unsubscribe_and_unknown_ones_do_not(app: App) -> None:
    for what, token in {"a secret never configured": make_token("uns-guess-not-configured", "c4"),
                        "the events token": make_token(EVENTS_TOKEN, "c4"),
                        "the old secret, then tampered": make_token(OLD_SECRET, "c4")[:-2] + "AA"}.items():
        refused = httpx.post(f"{app.url}/unsubscribe/{token}")
        assert refused.status_code == 404 and "not valid" in refused.text, what
    assert _unsubscribed(app) == set() and app.woken() == set()
    links = {"c1": make_token(NEW_SECRET, "c1"), "c2": make_token(OLD_SECRET, "c2"),
             "c3": make_token(OLDER_SECRET, "c3")}
    for contact, token in links.items():
        assert httpx.get(f"{app.url}/unsubscribe/{token}").status_code == 200, contact
        for _ in range(2):                          # a second click adds nothing
            assert httpx.post(f"{app.url}/unsubscribe/{token}").status_code == 200, contact
    assert _unsubscribed(app) == {"c1", "c2", "c3"}
    with app.engine.store.session() as session:
        events = session.exec(select(func.count()).select_from(EventRow)).one()
    assert events == 3, "one unsubscribe event per contact, however often the link is clicked"


def test_new_links_are_signed_with_the_current_secret_only(sandbox: SandboxServer, sqlite_url: str,
                                                           tmp_path: Path) -> None:
    settings = rotated_settings(sandbox, sqlite_url, tmp_path)
    with full_app(settings) as served:
        runner = sequence_runner(settings, served.engine.store, compile_sequences([]), lambda box: True, dict)
        token = runner._unsubscribe("c1").rsplit("/", 1)[1]
    assert token == make_token(NEW_SECRET, "c1")
    assert read_token(OLD_SECRET, token) is None, "a new link must not depend on a secret being retired"
    assert read_token(NEW_SECRET, make_token(OLD_SECRET, "c1"), [OLD_SECRET]) == "c1"
    assert read_token(NEW_SECRET, make_token(OLD_SECRET, "c1")) is None


def test_previous_unsubscribe_secrets_are_redacted_and_must_be_real_secrets(
        sandbox: SandboxServer, sqlite_url: str, tmp_path: Path) -> None:
    redacted = secret_values(rotated_settings(sandbox, sqlite_url, tmp_path))
    assert {NEW_SECRET, OLD_SECRET, OLDER_SECRET} <= set(redacted)
    base = {"crm": {"kind": "hubspot", "token": "pat-0000"}}
    for what, server in {
        "an empty previous secret (an unset ${VAR:-})": {"unsubscribe_secret": NEW_SECRET,
                                                         "unsubscribe_previous_secrets": [OLD_SECRET, ""]},
        "an empty current secret": {"unsubscribe_secret": ""},
        "previous secrets with no current one": {"unsubscribe_previous_secrets": [OLD_SECRET]},
    }.items():
        with pytest.raises(ConfigError) as refused:
            parse_settings({**base, "server": server}, tmp_path / "t.yaml", env={})
        assert "unsubscribe" in refused.value.render() and OLD_SECRET not in refused.value.render(), what


# -- Graph validationToken ------------------------------------------------------------------------------------

def test_graph_validation_token_is_echoed_as_plain_text_up_to_the_cap_and_refused_beyond(app: App) -> None:
    push = f"{app.url}/push/graph"
    real = "Validation: Testing client application reachability for subscription Request-Id: 0b1c2d3e"
    for token in (real, "x" * MAX_VALIDATION_TOKEN, "<script>alert(1)</script>"):
        echo = httpx.post(push, params={"validationToken": token})
        assert (echo.status_code, echo.text) == (200, token)
        assert echo.headers["content-type"].split(";")[0] == "text/plain"
        assert echo.headers["x-content-type-options"] == "nosniff"     # never sniffed and rendered as HTML
    for length in (MAX_VALIDATION_TOKEN + 1, 8000):
        refused = httpx.post(push, params={"validationToken": "x" * length})
        assert refused.status_code == 400 and "x" * 100 not in refused.text, length
    assert httpx.post(push, params={"validationToken": ""}).status_code == 400     # an empty echo validates nothing
    assert app.woken() == set()


def test_graph_client_state_of_any_length_or_encoding_is_refused(app: App) -> None:
    push = f"{app.url}/push/graph"
    for state in ("", "x", CLIENT_STATE[:-1], CLIENT_STATE + "x", CLIENT_STATE * 50, "\ud800", "ünïcode"):
        # json.dumps escapes to ASCII, so a lone surrogate goes over the wire as "\ud800" (valid JSON)
        body = json.dumps({"value": [{"subscriptionId": GRAPH_SUBSCRIPTION, "clientState": state}]})
        answer = httpx.post(push, content=body, headers={"Content-Type": "application/json"})
        assert answer.status_code == 403, repr(state[:20])
    assert app.woken() == set()
    accepted = httpx.post(push, json={"value": [{"subscriptionId": GRAPH_SUBSCRIPTION, "clientState": CLIENT_STATE}]})
    assert accepted.status_code == 202 and app.woken() == {mailbox_source(REP)}


# -- /events bearer token -------------------------------------------------------------------------------------

def test_a_wrong_events_token_of_any_length_is_refused_and_the_right_one_accepted(app: App) -> None:
    event = {"type": "form.submitted", "contact": {"id": "c1"}, "id": "e-1"}
    wrong = ["Bearer", "Bearer x", f"Bearer {EVENTS_TOKEN[:-1]}", f"Bearer {EVENTS_TOKEN[:-1]}?",
             f"Bearer {EVENTS_TOKEN}x", f"Bearer {EVENTS_TOKEN.upper()}",
             "Bearer " + "x" * len(EVENTS_TOKEN), "Bearer " + "x" * 4000, f"Bearer {EVENTS_TOKEN} x", "Bearer " + "é" * 10,
             f"Basic {EVENTS_TOKEN}", EVENTS_TOKEN, f"Bearer{EVENTS_TOKEN}"]
    for header in wrong:
        # bytes: httpx refuses a non-ASCII str header; the server reads these UTF-8 bytes as Latin-1
        answer = httpx.post(f"{app.url}/events", json=event, headers={"Authorization": header.encode()})
        assert answer.status_code == 401, f"{len(header)} characters"
    assert _events(app) == 0 and app.woken() == set()
    right = httpx.post(f"{app.url}/events", json=event, headers={"Authorization": f"Bearer {EVENTS_TOKEN}"})
    assert right.status_code == 202 and _events(app) == 1
    for scheme in ("bearer", "BEARER"):          # the scheme is case-insensitive (RFC 7235), as on the admin routes
        again = httpx.post(f"{app.url}/events", json={**event, "id": f"e-{scheme}"},
                           headers={"Authorization": f"{scheme} {EVENTS_TOKEN}"})
        assert again.status_code == 202, scheme
    assert _events(app) == 3


def _events(app: App) -> int:
    with app.engine.store.session() as session:
        return int(session.exec(select(func.count()).select_from(EventRow)).one())


def test_known_secret_compares_digests_of_any_str() -> None:
    secret = KnownSecret(CLIENT_STATE)
    assert secret.matches(CLIENT_STATE)
    assert not any(secret.matches(other) for other in ("", CLIENT_STATE[:-1], CLIENT_STATE + "\x00", "\ud800",
                                                       CLIENT_STATE.encode().decode("latin-1") + "é"))
