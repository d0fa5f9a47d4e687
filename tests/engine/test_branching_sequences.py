"""Branches and A/B variants end to end, as `threadline sync --once` processes: through SMTP (Dovecot), the Gmail
API and Microsoft Graph (sandbox), with HubSpot (sandbox) as the CRM.

Three contacts take a sequence whose first step is an A/B test of the subject line and whose second step
branches: Buyer0 goes to a call task for the owner and ends, the others get step 2 and step 3 in one thread.
Killed between deciding a branch and committing it (or right after), a restart decides the same way once:
every email is delivered once, the branch is recorded once, the variant delivered is the one recorded.
"""

from __future__ import annotations

import json
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from tests.engine.sequence_world import (
    SEND_PATHS,
    SequenceWorld,
    build_world,
    email_step,
    header_of,
    message_id_of,
    path_named,
    sequence_config,
)
from threadline.sandbox.server import SandboxServer
from threadline.sync.store.database import Store
from threadline.sync.store.tables import EventRow

SUBJECTS = {"benefit": "Cut onboarding time in half, {{ contact.firstname }}",
            "question": "{{ contact.firstname }}, how long does onboarding take you?"}


def branching_sequence() -> dict[str, Any]:
    intro = {**email_step(1), "name": "intro",
             "variants": [{"name": name, "subject": subject} for name, subject in SUBJECTS.items()]}
    follow_up = {**email_step(2), "name": "follow-up",
                 "branches": [{"when": {"contact.firstname": "Buyer0"}, "goto": "call-owner"}]}
    wrap_up = {**email_step(3), "name": "wrap-up", "then": "end"}
    call = {"kind": "task", "name": "call-owner", "subject": "Call {{ contact.firstname }}", "task_type": "call"}
    return {**sequence_config(), "steps": [intro, follow_up, wrap_up, call]}


@pytest.fixture(params=SEND_PATHS)
def world(request: pytest.FixtureRequest, tmp_path: Path, tls_sandbox: SandboxServer) -> Iterator[SequenceWorld]:
    yield build_world(tmp_path, tls_sandbox, path_named(request.param, request, tls_sandbox, tmp_path),
                      contacts=3, sequence=branching_sequence())


def branch_events(world: SequenceWorld) -> list[dict[str, Any]]:
    store = Store(world.store_url, migrate=False)
    try:
        with store.session() as session:
            rows = session.exec(select(EventRow).where(EventRow.type == "sequence.branched")).all()
            return [{"contact_id": row.contact_id, **json.loads(row.data)} for row in rows]
    finally:
        store.dispose()


def assert_paths_taken_once(world: SequenceWorld) -> None:
    delivered = world.path.delivered()
    assert all(count == 1 for count in delivered.values()), delivered
    enrollments = world.enrollments()
    assert {row.status for row in enrollments.values()} == {"completed"}
    raw_by_id = {message_id_of(raw): raw for raw in world.path.received()}
    for index, contact_id in enumerate(world.contact_ids):
        ids = world.message_ids_of(contact_id)
        assert set(ids.values()) <= set(delivered)
        variant = json.loads(enrollments[contact_id].variants)["0"]
        intro = raw_by_id[ids[0]]
        expected = SUBJECTS[variant].replace("{{ contact.firstname }}", f"Buyer{index}")
        assert header_of(intro, "Subject") == expected
        assert json.loads(world.send_rows_of(contact_id)[0].payload)["variant"] == variant
        if index == 0:                     # the branch: a call task instead of steps 2 and 3
            assert sorted(ids) == [0]
            assert [t["hs_task_subject"] for t in world.tasks(contact_id)] == ["Call Buyer0"]
        else:
            assert sorted(ids) == [0, 1, 2]
            assert header_of(raw_by_id[ids[2]], "In-Reply-To").strip() == ids[1]      # step 3 in step 2's thread
            assert world.tasks(contact_id) == []
    decisions = branch_events(world)
    assert Counter((d["contact_id"], d["branch"], d["goto"]) for d in decisions) == Counter({
        (world.contact_ids[0], 1, "call-owner"): 1,
        (world.contact_ids[1], 0, "follow-up"): 1, (world.contact_ids[2], 0, "follow-up"): 1})


def test_variants_and_branches_go_out_once_per_contact(world: SequenceWorld) -> None:
    world.run_until_settled()
    assert_paths_taken_once(world)
    before = sorted((r.key, r.status) for r in world.rows())
    world.run_until_settled()                                      # again: nothing new
    assert sorted((r.key, r.status) for r in world.rows()) == before


@pytest.mark.parametrize("crash_at", ["sequences.before_batch_commit", "sequences.after_batch_commit"])
def test_a_kill_around_the_branch_decision_decides_once(tmp_path: Path, tls_sandbox: SandboxServer,
                                                        crash_at: str) -> None:
    world = build_world(tmp_path, tls_sandbox, path_named("gmail", None, tls_sandbox, tmp_path), contacts=3,
                        sequence=branching_sequence())
    for _ in range(4):                     # cycles until step 1 is out for everyone
        assert world.sync().returncode == 0
        if sum(json.loads(r.payload)["step_index"] == 0 and r.status == "done" for r in world.rows()) == 3:
            break
    assert not branch_events(world)
    run = world.sync(crash_at)             # the first due batch now decides the three branches
    assert run.returncode == -signal.SIGKILL, f"{crash_at} never reached: " + run.stdout[-2000:]
    assert not branch_events(world) if crash_at.startswith("sequences.before") else len(branch_events(world)) == 3
    world.run_until_settled()
    assert_paths_taken_once(world)
