"""SIGKILL at every point of the send path, then restart: each sequence step is delivered exactly once.

`threadline sync --once` runs as a real process; THREADLINE_CRASH_AT makes it kill itself (SIGKILL, no
cleanup) at a named point of the send path; plain cycles then run until nothing changes any more. Three
contacts take a two-step sequence whose steps are due at once, sent through each of the three paths:
SMTP (aiosmtpd, a Sent copy filed on Dovecot), the Gmail API and Microsoft Graph (both in the sandbox),
with HubSpot (sandbox) as the CRM. Delivered mail is counted per Message-ID at the far end: the SMTP
server's received messages, the Gmail sandbox's SENT messages, the Graph sandbox's Sent Items.

The one honest exception is SMTP killed after the submission started (`send.submitting`: submitted_at
committed, the server not yet called; `smtp.after_accept`: the server said 250, no Sent copy yet). The
outcome is unknown and the Sent folder cannot tell (the copy is ours to file), so the step is recorded as
sent *unconfirmed*, never sent again, and `threadline status` says so: at most one delivery. Gmail and
Graph file the copy themselves, so after `sent_copy_delay` (1s here) without a copy the step is sent once.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.engine.sequence_world import (
    SEND_PATHS,
    SequenceWorld,
    build_world,
    header_of,
    message_id_of,
    path_named,
)
from tests.engine.world import run_threadline
from threadline.sandbox.server import SandboxServer

CONTACTS = 3
STEPS = 2


@pytest.fixture(params=SEND_PATHS)
def world(request: pytest.FixtureRequest, tmp_path: Path, tls_sandbox: SandboxServer) -> Iterator[SequenceWorld]:
    yield build_world(tmp_path, tls_sandbox, path_named(request.param, request, tls_sandbox, tmp_path),
                      contacts=CONTACTS)


def crash(world: SequenceWorld, crash_at: str) -> None:
    killed = world.sync(crash_at)
    assert killed.returncode == -signal.SIGKILL, f"{crash_at} was never reached:\n" + killed.stdout[-2000:] \
        + killed.stderr[-2000:]


def unconfirmed_rows(world: SequenceWorld) -> list[Any]:
    return [r for r in world.rows() if r.status == "done" and not json.loads(r.payload)["sent"]["confirmed"]]


def assert_each_step_delivered_once(world: SequenceWorld, *, unconfirmed: int = 0) -> None:
    """Every step of every contact delivered exactly once (an unconfirmed SMTP send: at most once), with
    our Message-ID; nothing else delivered; each send on the CRM once; every enrollment completed."""
    delivered = world.path.delivered()
    limbo = {json.loads(r.payload)["email"]["message_id"] for r in unconfirmed_rows(world)}
    assert len(limbo) == unconfirmed, f"unconfirmed sends: {sorted(limbo)}"
    expected: set[str] = set()
    for contact_id in world.contact_ids:
        rows = world.send_rows_of(contact_id)
        assert sorted(rows) == list(range(STEPS)), f"{contact_id}: steps intended {sorted(rows)}"
        assert {r.status for r in rows.values()} == {"done"}, {s: (r.status, r.last_error) for s, r in rows.items()}
        ids = world.message_ids_of(contact_id)
        expected |= set(ids.values())
        for step, message_id in ids.items():
            allowed = (0, 1) if message_id in limbo else (1,)
            assert delivered[message_id] in allowed, f"{contact_id} step {step + 1}: {delivered[message_id]} copies"
        outgoing = sorted(a["hs_email_subject"] for a in world.activities(contact_id, "outgoing"))
        assert outgoing == sorted(f"Step {n} for {first_name(world, contact_id)}" for n in range(1, STEPS + 1))
    assert set(delivered) <= expected, f"delivered mail that was never intended: {set(delivered) - expected}"
    enrollments = world.enrollments()
    assert {(e.status, e.step) for e in enrollments.values()} == {("completed", STEPS)}
    assert len(enrollments) == CONTACTS


def first_name(world: SequenceWorld, contact_id: str) -> str:
    return f"Buyer{world.contact_ids.index(contact_id)}"


def assert_step_two_threads_on_step_one(world: SequenceWorld) -> None:
    received = {message_id_of(raw): raw for raw in world.path.received()}
    for contact_id in world.contact_ids:
        ids = world.message_ids_of(contact_id)
        if ids[1] in received and ids[0] in received:
            assert header_of(received[ids[1]], "In-Reply-To").strip() == ids[0]


#: Crashpoints every path has, each hit while the first cycle sends step 1 to the three contacts
#: (":2" = the second contact, so one send is complete and recorded before the kill).
CRASH_POINTS = [
    "send.before_submit:2",          # stop check passed, nothing marked
    "send.after_accept:2",           # the provider has it, nothing recorded
    "outbox.after_claim:1",          # the CRM executor claimed the outgoing activities, CRM not called
    "outbox.after_remote_create:1",  # the CRM created them, ids not recorded
]


@pytest.mark.parametrize("crash_at", CRASH_POINTS)
def test_sigkill_in_the_send_path_then_restart_delivers_each_step_exactly_once(world: SequenceWorld,
                                                                                crash_at: str) -> None:
    crash(world, crash_at)
    world.run_until_settled()
    assert_each_step_delivered_once(world)
    assert_step_two_threads_on_step_one(world)


@pytest.mark.parametrize("world", ["gmail", "graph"], indirect=True)
def test_gmail_or_graph_killed_while_submitting_sends_once_after_the_copy_delay(world: SequenceWorld) -> None:
    """submitted_at committed, the provider never called: no copy appears in Sent within sent_copy_delay,
    so the step goes out then, once. (SMTP's expectation differs: see the next test.)"""
    crash(world, "send.submitting:2")
    world.run_until_settled()
    assert_each_step_delivered_once(world)


@pytest.mark.parametrize("world", [pytest.param("smtp", marks=pytest.mark.dovecot)], indirect=True)
@pytest.mark.parametrize("crash_at, copies", [("send.submitting:2", 0), ("smtp.after_accept:2", 1)])
def test_smtp_killed_after_submission_started_is_recorded_unconfirmed_and_never_resent(
        world: SequenceWorld, crash_at: str, copies: int) -> None:
    """The expected honest exception: submission started and the outcome is unknown (killed before the
    server was called, or after its 250 but before our Sent copy). Sent has no copy either way, so the step
    is recorded as sent, unconfirmed, and never sent again: at most one delivery, and status says so."""
    crash(world, crash_at)
    world.run_until_settled()
    assert_each_step_delivered_once(world, unconfirmed=1)
    [limbo] = unconfirmed_rows(world)
    assert world.path.delivered()[json.loads(limbo.payload)["email"]["message_id"]] == copies
    status = run_threadline(world.config, "status")
    assert status.returncode == 0, status.stderr[-2000:]
    assert "unconfirmed" in status.stdout.lower(), status.stdout


def test_killed_three_times_at_different_points_still_converges(world: SequenceWorld) -> None:
    for crash_at in ("send.after_accept:2", "send.before_submit:1", "outbox.after_remote_create:1"):
        crash(world, crash_at)
    world.run_until_settled()
    assert_each_step_delivered_once(world)
    assert_step_two_threads_on_step_one(world)
