"""Malformed provider answers (issue #7): a 200 whose body is not JSON, lacks a key or has the wrong types.

For HubSpot, Salesforce, Gmail and Graph in turn, the sandbox answers one request with a spoiled 200 over
real HTTP while the engine (built through the config wiring) syncs. The adapter must name it
(`<provider>.MalformedResponse` in status, naming the endpoint, never quoting the body), and once the
fault is gone the next cycles must log every reply exactly once: nothing lost, nothing duplicated.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from tests.reliability.provider_worlds import (
    CONTACTS,
    PROVIDERS,
    REP,
    FaultWorld,
    build_world,
    buyer,
)
from tests.reliability.test_provider_faults import assert_nothing_lost_or_doubled
from threadline.connector.web.status_page import status_view
from threadline.sandbox.faults import RETYPED, Fault, Malform
from threadline.sandbox.server import SandboxServer
from threadline.sync.store.tables import SyncErrorRow

#: The provider name the adapters put in status ("graph" is the Outlook adapter).
NAMED = {"hubspot": "hubspot", "salesforce": "salesforce", "gmail": "gmail", "graph": "outlook"}
#: Reads the first cycle makes, spoiled each way, for every provider: (world, path prefix, how it is spoiled,
#: what the error must name). The first four are checked at decoding; the last two by the adapter's guard
#: around code that reads the answer by shape (a missing key, a list that is an object).
READS = [
    pytest.param("hubspot", "/crm/v3/objects/contacts/search", "empty", "POST /crm/v3/objects/contacts/search",
                 id="hubspot-search-empty"),
    pytest.param("salesforce", "/services/data/v61.0/query", "retyped", "/query", id="salesforce-query-retyped"),
    pytest.param("gmail", "/gmail/v1/users/me/messages", "truncated", "messages.list", id="gmail-list-truncated"),
    pytest.param("graph", f"/v1.0/users/{REP}/mailFolders", "not_json", "/mailFolders/", id="graph-delta-not-json"),
    pytest.param("gmail", "/gmail/v1/users/me/profile", "empty", "getProfile: malformed answer: missing key",
                 id="gmail-profile-empty"),
    pytest.param("graph", "/v1.0/$batch", "retyped", "POST /v1.0/$batch", id="graph-batch-retyped"),
]


@pytest.fixture
def world(request: pytest.FixtureRequest, tls_sandbox: SandboxServer, tmp_path: Path) -> Iterator[FaultWorld]:
    built = build_world(str(request.param), tls_sandbox, tmp_path)
    yield built
    built.close()


def last_error(world: FaultWorld) -> dict[str, str]:
    """The source's last error as `threadline status` and the status page show it."""
    view = status_view(world.engine.store, world.settings, started_at=datetime.now(UTC) - timedelta(minutes=1))
    [source] = [s for s in view["sources"] if s["source"] == world.source]
    assert source["last_error"] is not None, f"{world.source} recorded no error"
    return dict(source["last_error"])


def malformed_recorded(world: FaultWorld) -> int:
    """How many MalformedResponse errors the source recorded."""
    with world.engine.store.session() as session:
        rows = session.exec(select(SyncErrorRow).where(SyncErrorRow.source == world.source)).all()
    return sum(1 for row in rows if row.kind.endswith(".MalformedResponse"))


def assert_named_without_the_body(world: FaultWorld, endpoint: str) -> None:
    error = last_error(world)
    assert error["kind"] == f"{NAMED[world.provider]}.MalformedResponse", error
    assert "malformed answer" in error["message"] and endpoint in error["message"], error
    # The body carries customer data (and could carry tokens): the message names keys and types only.
    leaked = [b for b in [*(buyer(i) for i in range(CONTACTS)), "Proposal", "<html", RETYPED, *world.secrets()]
              if b in error["message"]]
    assert not leaked, f"the error quotes the answer: {error['message']}"


@pytest.mark.parametrize(("world", "prefix", "malform", "endpoint"), READS, indirect=["world"])
def test_a_malformed_read_is_named_and_the_next_cycle_loses_and_doubles_nothing(
        world: FaultWorld, prefix: str, malform: Malform, endpoint: str) -> None:
    # Armed twice: a retry within the call would swallow the second one without a trace.
    world.server.faults.add(Fault(provider=world.paths.provider, kind="malformed", malform=malform, count=2,
                                  path_prefix=prefix))
    summary = world.cycle()
    assert any("MalformedResponse" in e for e in summary.errors), summary.errors
    assert_named_without_the_body(world, endpoint)
    world.settle()
    assert world.fired("malformed") == 2
    assert malformed_recorded(world) == 2, "each malformed answer ends its call, named (no retry within it)"
    assert_nothing_lost_or_doubled(world)


@pytest.mark.parametrize("world", PROVIDERS, indirect=True)
def test_an_unreadable_answer_to_a_create_is_reconciled_not_repeated(world: FaultWorld) -> None:
    # The provider creates (logs the reply, sends the email), then its answer arrives cut in half: the
    # outcome is unknown to us, so the key lookup must find the record instead of creating it again.
    world.server.faults.add(Fault(provider=world.paths.provider, kind="malformed", malform="truncated", count=1,
                                  path_prefix=world.paths.create))
    world.settle()
    assert world.fired("malformed") == 1
    assert_nothing_lost_or_doubled(world)
