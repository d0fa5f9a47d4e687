"""A stop that lands between scheduling and sending cancels the send.

Step 2 is intended for every contact, then the process is killed right before the first send
(`send.before_submit`), so the rows wait in the outbox. The prospect's reply then lands in the rep's
mailbox (or they click the one-click unsubscribe link of step 1, or their address bounces), and sync
runs on: nothing more is sent to that contact, the row is cancelled with the reason, the other contacts
carry on. The tightest case (the reply lands after this cycle's pull) runs in one process.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.engine.sequence_world import (
    REP,
    SEND_PATHS,
    SequenceWorld,
    bounce_for,
    build_world,
    header_of,
    message_id_of,
    path_named,
    prospect_reply,
)
from tests.engine.world import SANDBOX_HUBSPOT_TOKEN
from threadline.config.loading import load_settings
from threadline.connector.web.app import build_web_app
from threadline.connector.web.push.wakeups import Wakeups
from threadline.connector.wiring.build import build_engine
from threadline.sandbox.server import SandboxServer
from threadline.sync.store.database import Store

TARGET = 0          # the contact whose reply / unsubscribe / bounce lands between scheduling and sending


@pytest.fixture
def world(request: pytest.FixtureRequest, tmp_path: Path, tls_sandbox: SandboxServer) -> Iterator[SequenceWorld]:
    yield build_world(tmp_path, tls_sandbox, path_named(request.param, request, tls_sandbox, tmp_path), contacts=3)


def step_two_waits_in_the_outbox(world: SequenceWorld) -> None:
    """Cycle 1 sends step 1 to everyone; cycle 2 intends step 2 for everyone and is killed before sending."""
    first = world.sync()
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    assert sum(world.path.delivered().values()) == len(world.contact_ids)
    killed = world.sync("send.before_submit:1")
    assert killed.returncode == -signal.SIGKILL, killed.stdout[-2000:] + killed.stderr[-2000:]
    waiting = {r.contact_id: r.status for r in world.rows() if json.loads(r.payload)["step_index"] == 1}
    assert sorted(waiting) == sorted(world.contact_ids)
    assert set(waiting.values()) <= {"pending", "in_flight"}
    assert sum(world.path.delivered().values()) == len(world.contact_ids)


def assert_stopped_for_target_only(world: SequenceWorld, reason: str) -> None:
    """The target got step 1 only and left the sequence for `reason`; its step-2 row is cancelled and says
    why; every other contact got both steps."""
    target = world.contact_ids[TARGET]
    delivered = world.path.delivered()
    for contact_id in world.contact_ids:
        ids = world.message_ids_of(contact_id)
        assert delivered[ids[0]] == 1
        assert delivered[ids[1]] == (0 if contact_id == target else 1), f"{contact_id}: step 2 delivery count"
    assert sum(delivered.values()) == 2 * len(world.contact_ids) - 1
    enrollments = world.enrollments()
    assert (enrollments[target].status, enrollments[target].exit_reason) == ("exited", reason)
    assert {e.status for cid, e in enrollments.items() if cid != target} == {"completed"}
    row = world.send_rows_of(target)[1]
    assert (row.status, row.last_error) == ("cancelled", reason)


@pytest.mark.parametrize("world", SEND_PATHS, indirect=True)
def test_reply_between_scheduling_and_sending_cancels_the_send(world: SequenceWorld) -> None:
    step_two_waits_in_the_outbox(world)
    target = world.contact_ids[TARGET]
    world.path.deliver_to_inbox(prospect_reply(world, TARGET, in_reply_to=world.message_ids_of(target)[0]))
    world.run_until_settled()
    tasks = [t for t in world.tasks(target) if "Reply to sequence" in t.get("hs_task_subject", "")]
    assert len(tasks) == 1 and tasks[0].get("hubspot_owner_id") == world.owner_id, tasks
    assert [a["hs_email_subject"] for a in world.activities(target, "incoming")] == ["Re: Step 1"]
    assert_stopped_for_target_only(world, "replied")


@pytest.mark.parametrize("world", [pytest.param("smtp", marks=pytest.mark.dovecot), "gmail"], indirect=True)
def test_reply_landing_after_the_pull_is_read_right_before_the_send_and_cancels_it(world: SequenceWorld) -> None:
    """The tightest race, in one process: this cycle's pull is over and step 2 is scheduled when the reply
    lands; the send executor reads the mailbox once more right before sending, so the reply still stops it."""
    engine = build_engine(load_settings(world.config, env={"HUBSPOT_TOKEN": SANDBOX_HUBSPOT_TOKEN}))
    try:
        engine.run_once()                       # step 1 to every contact
        assert engine.sequence_step is not None and engine.sender is not None
        engine.sequence_step()                  # the next cycle schedules step 2 for everyone ...
        target = world.contact_ids[TARGET]
        # Dated a second on: Date headers have whole seconds, and a reply in the very second of enrolment is
        # the subject of its own test below.
        later = datetime.now(UTC) + timedelta(seconds=1)
        world.path.deliver_to_inbox(prospect_reply(world, TARGET, world.message_ids_of(target)[0], later))
        sending = engine.sender.run()           # ... and sends: the refresh reads the reply first
        assert (sending.sent, sending.cancelled) == (len(world.contact_ids) - 1, 1)
        assert world.send_rows_of(target)[1].last_error == "replied"
    finally:
        engine.close()
    world.run_until_settled()
    assert len([t for t in world.tasks(target) if "Reply to sequence" in t.get("hs_task_subject", "")]) == 1
    assert_stopped_for_target_only(world, "replied")


@pytest.mark.parametrize("world", ["gmail"], indirect=True)
def test_reply_dated_in_the_second_of_enrolment_still_stops_the_sequence(world: SequenceWorld) -> None:
    """A Date header has whole seconds, so a reply written in the same second as the enrolment (a first step
    with no delay goes out at once) carries a time a fraction of a second *before* it. It is still a reply to
    our step 1 (In-Reply-To) and must stop step 2."""
    first = world.sync()
    assert first.returncode == 0, first.stderr[-2000:]
    target = world.contact_ids[TARGET]
    enrolled_at = world.enrollments()[target].enrolled_at
    assert enrolled_at.microsecond, "enrolled on a whole second: the case this test is about did not arise"
    same_second = enrolled_at.replace(microsecond=0, tzinfo=UTC)
    world.path.deliver_to_inbox(prospect_reply(world, TARGET, world.message_ids_of(target)[0], same_second))
    world.run_until_settled()
    delivered = world.path.delivered()
    assert delivered[world.message_ids_of(target).get(1, "(step 2 never intended)")] == 0, "step 2 went out"
    assert (world.enrollments()[target].status, world.enrollments()[target].exit_reason) == ("exited", "replied")


def deliver_received_at(request: pytest.FixtureRequest, world: SequenceWorld, raw: bytes, at: datetime) -> None:
    """Mail into the rep's inbox with the mailbox's own receipt time set to `at` (Gmail internalDate in ms,
    IMAP INTERNALDATE in whole seconds)."""
    if world.path.name == "gmail":
        world.sandbox.gmail.deliver(REP, raw, ["INBOX", "UNREAD"], internal_date=at)
    else:
        request.getfixturevalue("imap_account").deliver(raw, received_at=at)


@pytest.mark.parametrize("skew", [pytest.param(0, id="clocks-agree"), pytest.param(3, id="mailbox-clock-3s-ahead")])
@pytest.mark.parametrize("world", [pytest.param("smtp", marks=pytest.mark.dovecot), "gmail"], indirect=True)
def test_a_reply_already_in_the_inbox_at_enrolment_does_not_stop_the_new_sequence(
        request: pytest.FixtureRequest, world: SequenceWorld, skew: int) -> None:
    """The prospect wrote to the rep (another conversation) right before being enrolled. The reply is logged and
    the sequence runs in full. The first cycle starts at once, in this process, so the enrolment falls in the
    reply's second or before a mailbox clock running ahead: by its time alone the reply would look like an
    answer, and before the fix the outcome flipped from run to run with where in a second the enrolment fell."""
    target = world.contact_ids[TARGET]
    now = datetime.now(UTC)
    deliver_received_at(request, world, prospect_reply(world, TARGET, None, now), now + timedelta(seconds=skew))
    engine = build_engine(load_settings(world.config, env={"HUBSPOT_TOKEN": SANDBOX_HUBSPOT_TOKEN}))
    try:
        engine.run_once()                       # pulls the reply, enrols everyone, sends step 1
    finally:
        engine.close()
    world.run_until_settled()
    delivered = world.path.delivered()
    for contact_id in world.contact_ids:
        assert [delivered[m] for m in world.message_ids_of(contact_id).values()] == [1, 1], contact_id
    assert {(e.status, e.exit_reason) for e in world.enrollments().values()} == {("completed", None)}
    assert [t for t in world.tasks(target) if "Reply to sequence" in t.get("hs_task_subject", "")] == []
    assert [a["hs_email_subject"] for a in world.activities(target, "incoming")] == ["Re: Step 1"]


@pytest.mark.parametrize("world", [pytest.param("smtp", marks=pytest.mark.dovecot), "gmail"], indirect=True)
def test_a_reply_from_a_slow_clock_still_stops_the_sequence(request: pytest.FixtureRequest,
                                                            world: SequenceWorld) -> None:
    """The reply comes after the enrolment, but the sender's clock is an hour slow, so its Date header is before
    it: the mailbox's receipt time (later) makes it count."""
    step_two_waits_in_the_outbox(world)
    target = world.contact_ids[TARGET]
    enrolled_at = world.enrollments()[target].enrolled_at.replace(tzinfo=UTC)
    slow = prospect_reply(world, TARGET, world.message_ids_of(target)[0], enrolled_at - timedelta(hours=1))
    deliver_received_at(request, world, slow, datetime.now(UTC))
    world.run_until_settled()
    assert_stopped_for_target_only(world, "replied")


@pytest.mark.parametrize("world", ["gmail"], indirect=True)
def test_one_click_unsubscribe_between_scheduling_and_sending_cancels_the_send(world: SequenceWorld) -> None:
    step_two_waits_in_the_outbox(world)
    target = world.contact_ids[TARGET]
    step_one = next(raw for raw in world.path.received() if message_id_of(raw) == world.message_ids_of(target)[0])
    link = header_of(step_one, "List-Unsubscribe").strip().removeprefix("<").removesuffix(">")
    assert header_of(step_one, "List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"
    settings = load_settings(world.config, env={"HUBSPOT_TOKEN": SANDBOX_HUBSPOT_TOKEN})
    assert settings.server.public_url is not None
    store = Store(world.store_url, migrate=False)
    try:
        answer = asyncio.run(one_click(build_web_app(settings, Wakeups(), store=store), settings.server.public_url,
                                       link))
    finally:
        store.dispose()
    assert answer.status_code == 200, answer.text
    world.run_until_settled()
    assert_stopped_for_target_only(world, "unsubscribed")


async def one_click(app: Any, public_url: str, link: str) -> httpx.Response:
    """What a mail client sends for List-Unsubscribe-Post (RFC 8058), to the link in the mail, served by
    Threadline's own web app."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=public_url) as client:
        return await client.post(link, content="List-Unsubscribe=One-Click",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})


@pytest.mark.parametrize("world", [pytest.param("smtp", marks=pytest.mark.dovecot), "gmail"], indirect=True)
def test_bounce_between_scheduling_and_sending_cancels_the_send(world: SequenceWorld) -> None:
    step_two_waits_in_the_outbox(world)
    world.path.deliver_to_inbox(bounce_for(world, TARGET))
    world.run_until_settled()
    assert_stopped_for_target_only(world, "bounced")
