"""sync.create_contacts end to end (issue #19, part 5): a person the CRM does not have answers a rep, and the
contact (Salesforce: a Lead) is created once, with the name and company the mail gives, and the reply is logged on
it; through real HTTP to the HubSpot and Salesforce sandboxes and the rep's Gmail there."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from rich.console import Console
from sqlmodel import select

from tests.engine.create_contacts_world import REPS, STRANGER, World, answer, cold, outreach
from threadline.connector.monitoring.status import build_status
from threadline.connector.reports.render import print_status
from threadline.sandbox.server import SandboxServer
from threadline.sync.store.tables import AuditRow, CreatedContactRow, DeferredMailRow, MessageRow


@pytest.fixture(params=["hubspot", "salesforce"])
def world(request: pytest.FixtureRequest, sandbox: SandboxServer, tmp_path: Path) -> Iterator[World]:
    built = World(sandbox, tmp_path, request.param)
    yield built
    built.close()


@pytest.fixture
def hubspot(sandbox: SandboxServer, tmp_path: Path) -> Iterator[World]:
    built = World(sandbox, tmp_path, "hubspot")
    yield built
    built.close()


def test_a_reply_to_a_reps_mail_creates_one_contact_and_is_logged_on_it(world: World) -> None:
    world.deliver(REPS[0], outreach(), "sent")
    world.deliver(REPS[0], answer())
    engine = world.engine("rep_emailed")
    summary = engine.run_once()
    assert summary.errors == []
    [person] = world.people()
    expected_type = "Lead" if world.crm == "salesforce" else "contact"
    assert (person["type"], person["first"], person["last"], person["company"]) == (
        expected_type, "Quinn", "Hale", "Acme Corp")
    assert person["owner"] == world.owners[REPS[0]]            # the rep the person answered owns the record
    assert world.logged_on(person["id"]) == (["Email: Re: Pilot for Acme"] if world.crm == "salesforce"
                                             else ["Re: Pilot for Acme"])
    assert engine.run_once().outbox.performed == {}             # a settled cycle changes nothing
    assert len(world.people()) == 1 and len(world.logged_on(person["id"])) == 1
    with engine.store.session() as session:
        [created] = session.exec(select(CreatedContactRow)).all()
        [audit] = session.exec(select(AuditRow).where(AuditRow.rule == "sync.create_contacts")).all()
        assert session.exec(select(DeferredMailRow)).all() == []
        report = build_status(session)
    assert (created.crm_id, created.created, created.mode, created.mailbox) == (
        person["id"], True, "rep_emailed", REPS[0])
    assert report.contacts_created == {"created": 1}
    assert audit.contact_id == person["id"] and audit.kind == "create_contact"
    assert STRANGER not in audit.reason + audit.detail          # the audit names the record, not the address
    assert json.loads(audit.detail)["created"] is True
    console = Console(record=True, width=200)
    print_status(console, report)
    assert "contacts created: 1 (found already in the CRM: 0;" in console.export_text()


def test_rep_emailed_leaves_a_cold_message_alone_and_all_external_creates_it(hubspot: World) -> None:
    hubspot.deliver(REPS[0], cold())
    hubspot.engine("rep_emailed").run_once()
    assert hubspot.people() == []
    with hubspot.engines[0].store.session() as session:
        [row] = session.exec(select(MessageRow)).all()
    assert row.decision == "skipped"
    hubspot.deliver(REPS[0], cold("Robin Roe <robin@acme-corp.co.uk>"))
    hubspot.engine("all_external").run_once()
    [robin] = hubspot.people("robin@acme-corp.co.uk")
    assert (robin["first"], robin["last"]) == ("Robin", "Roe")
    assert hubspot.logged_on(robin["id"]) == ["Your product"]


def test_mode_none_creates_nothing(hubspot: World) -> None:
    hubspot.deliver(REPS[0], outreach(), "sent")
    hubspot.deliver(REPS[0], answer())
    summary = hubspot.engine("none").run_once()
    assert summary.errors == [] and hubspot.people() == []
    with hubspot.engines[0].store.session() as session:
        assert session.exec(select(CreatedContactRow)).all() == []
        [reply] = session.exec(select(MessageRow).where(MessageRow.folder == "inbox")).all()
    assert reply.reason == "no known contact among the outside parties"


def test_personal_providers_are_created_only_when_allowed(hubspot: World) -> None:
    hubspot.deliver(REPS[0], cold("Quinn Hale <quinn.hale@gmail.com>"))
    hubspot.engine("all_external").run_once()
    assert hubspot.people("quinn.hale@gmail.com") == []
    hubspot.engine("all_external", create_contacts_personal_domains=True).run_once()
    assert hubspot.people("quinn.hale@gmail.com") == []          # a message read once is not read again
    hubspot.deliver(REPS[0], cold("Quinn Hale <quinn.hale@gmail.com>").replace(b"cold-1@", b"cold-2@"))
    hubspot.engines[-1].run_once()
    [quinn] = hubspot.people("quinn.hale@gmail.com")
    assert quinn["company"] == "Gmail"


def test_the_same_person_in_two_mailboxes_and_two_engines_is_created_once(world: World) -> None:
    """Both reps get the answer (Cc); each mailbox is read by its own engine (replica) over one store, both pulls
    before either writes: one create intent, one contact, the reply logged once."""
    for rep in REPS:
        world.deliver(rep, outreach(rep), "sent")
    world.deliver(REPS[0], answer(REPS[0], cc=REPS[1]))
    world.deliver(REPS[1], answer(REPS[0], cc=REPS[1]))
    first = world.engine("rep_emailed", (REPS[0],))
    second = world.engine("rep_emailed", (REPS[1],))
    first.run_once(drain=False)
    second.run_once(drain=False)
    second.write_crm()
    first.write_crm()
    [person] = world.people()
    assert len(world.logged_on(person["id"])) == 1
    with first.store.session() as session:
        assert len(session.exec(select(CreatedContactRow)).all()) == 1
        assert session.exec(select(DeferredMailRow)).all() == []
        logged = session.exec(select(MessageRow).where(MessageRow.decision == "logged")).all()
    assert sorted(m.mailbox for m in logged) == sorted(REPS)


def test_two_replicas_on_postgresql_create_the_person_once(sandbox: SandboxServer, tmp_path: Path,
                                                           store_url: str) -> None:
    """As above on both stores (PostgreSQL is what replicas share): the two engines pull and write at once."""
    world = World(sandbox, tmp_path, "hubspot", store_url)
    try:
        for rep in REPS:
            world.deliver(rep, outreach(rep), "sent")
            world.deliver(rep, answer(REPS[0], cc=REPS[1]))
        engines = [world.engine("rep_emailed", (rep,)) for rep in REPS]
        with ThreadPoolExecutor(2) as pool:
            summaries = list(pool.map(lambda e: e.run_once(), engines))
        assert all(s.errors == [] for s in summaries)
        for engine in engines:           # whatever one replica's drain missed, the next drain does
            engine.write_crm()
        [person] = world.people()
        assert len(world.logged_on(person["id"])) == 1
        with engines[0].store.session() as session:
            assert len(session.exec(select(CreatedContactRow)).all()) == 1
            assert session.exec(select(DeferredMailRow)).all() == []
    finally:
        world.close()


def test_a_person_created_in_the_crm_meanwhile_is_found_not_created(world: World) -> None:
    world.deliver(REPS[0], outreach(), "sent")
    world.deliver(REPS[0], answer())
    engine = world.engine("rep_emailed")
    engine.run_once(drain=False)                                # intended, not performed yet
    if world.crm == "salesforce":
        existing = world.sandbox.salesforce.add_contact(STRANGER, first_name="Quinn", last_name="Hale")
    else:
        existing = world.sandbox.hubspot.add_contact(STRANGER, firstname="Quinn", lastname="Hale")
    engine.write_crm()
    [person] = world.people()
    assert person["id"] == existing
    assert len(world.logged_on(existing)) == 1
    with engine.store.session() as session:
        [row] = session.exec(select(CreatedContactRow)).all()
        report = build_status(session)
    assert (row.crm_id, row.created) == (existing, False)
    assert report.contacts_created == {"found": 1}


@pytest.mark.parametrize("first", ["outreach", "answer"])
def test_rep_emailed_does_not_depend_on_which_message_is_read_first(hubspot: World, first: str) -> None:
    """Gmail's backfill reads newest first: the answer can be read before the rep's message it answers."""
    engine = hubspot.engine("rep_emailed")
    deliveries = {"outreach": lambda: hubspot.deliver(REPS[0], outreach(), "sent"),
                  "answer": lambda: hubspot.deliver(REPS[0], answer())}
    for name in (first, *(n for n in deliveries if n != first)):
        deliveries[name]()
        assert engine.run_once().errors == []
    [person] = hubspot.people()
    assert hubspot.logged_on(person["id"]) == ["Re: Pilot for Acme"]
    with engine.store.session() as session:
        assert session.exec(select(DeferredMailRow)).all() == []


def test_a_forgotten_person_is_not_created_again_from_their_mail(hubspot: World) -> None:
    """After `threadline forget` (a data-subject request) their reply to a rep creates nothing and logs nothing."""
    from datetime import UTC, datetime

    from threadline.sync.privacy.forget import forget

    engine = hubspot.engine("rep_emailed")
    forget(engine.store, STRANGER, engine.policy, crm="hubspot", now=datetime.now(UTC), who="test")
    hubspot.deliver(REPS[0], outreach(), "sent")
    hubspot.deliver(REPS[0], answer())
    assert engine.run_once().errors == []
    assert hubspot.people() == []
    with engine.store.session() as session:
        assert session.exec(select(CreatedContactRow)).all() == []
        assert session.exec(select(DeferredMailRow).where(DeferredMailRow.kind == "contact")).all() == []
