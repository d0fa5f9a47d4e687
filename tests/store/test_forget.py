"""`threadline forget`'s store side on SQLite and PostgreSQL: nothing about the person is left in any table, the
other person keeps everything, a dry run changes nothing, a second run is a no-op, the CRM's own records are
listed, a replica's in-flight write is left to it, and the person is never mirrored, enrolled or mailed again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from tests.store.forget_world import (
    ADA,
    ADA_DUPLICATE,
    ADA_FORMS,
    ADA_ID,
    ADA_WORK,
    BOB,
    BOB_ID,
    NOW,
    POLICY,
    REP,
    Seeded,
    every_row,
    rows_about,
    seed,
)
from threadline.adapters.records import ContactPage, CrmContact
from threadline.rules.sequences import SequenceSettings, compile_sequences
from threadline.rules.sequences.runner import SendingMailbox, SequenceRunner
from threadline.sync.contacts.pull import sync_contacts
from threadline.sync.events.log import record_events
from threadline.sync.events.records import Event
from threadline.sync.outbox import rows as outbox
from threadline.sync.outbox.rows import Intent
from threadline.sync.privacy.findings import CrmRecord, find_all
from threadline.sync.privacy.forget import FORGET_RULE, erase, forget
from threadline.sync.privacy.person import REDACTED, find_person
from threadline.sync.privacy.suppression import address_digest, is_forgotten
from threadline.sync.store.database import Store
from threadline.sync.store.tables import AuditRow, ContactRow, EnrollmentRow, EventRow, MessageRow, OutboxRow

ADA_NEEDLES = (*ADA_FORMS, ADA_ID, ADA_DUPLICATE)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    store = Store(store_url)
    yield store
    store.dispose()


def forget_ada(store: Store, address: str = "Ada+Newsletter@ACME.io", **options: Any) -> Any:
    return forget(store, address, POLICY, crm="hubspot", now=NOW, who="test", **options)


def test_forgetting_a_person_leaves_nothing_about_them_and_the_other_person_keeps_everything(store: Store) -> None:
    seeded = seed(store)
    bob_before = rows_about(store, "bob")
    assert set(rows_about(store, *ADA_NEEDLES)) >= {"contacts", "contact_addresses", "created_contacts", "messages",
                                                    "deferred_mail", "events", "outbox", "audit", "enrollments",
                                                    "rule_due", "sync_errors"}

    report = forget_ada(store)          # any form of any of her addresses finds the whole person

    assert rows_about(store, *ADA_NEEDLES) == {}
    assert report.complete and sorted(report.contact_ids) == [ADA_ID, ADA_DUPLICATE]
    assert {"ada@acme.io", ADA_WORK, "ada.l@acme-alias.io"} <= set(report.addresses)
    assert report.removed == {"contacts": 2, "contact_addresses": 3, "messages": 3, "deferred_mail": 2, "events": 2,
                              "outbox": 6, "audit": 1, "enrollments": 1, "rule_due": 1, "sync_errors": 2,
                              "created_contacts": 1}
    assert report.redacted == {"messages": 1, "events": 1, "outbox": 2, "audit": 1}
    # Bob keeps every row; the ones that named Ada lost only her part.
    bob_after = rows_about(store, "bob")
    assert {t: len(r) for t, r in bob_after.items()} == {t: len(r) for t, r in bob_before.items()}
    with store.session() as session:
        shared = session.exec(select(MessageRow).where(MessageRow.provider_id == "p3")).one()
        assert json.loads(shared.contact_ids) == [BOB_ID] and shared.reply_text == "Bob writing, Ada in Cc"
        naming = session.exec(select(OutboxRow).where(OutboxRow.key == "le-bob-3")).one()
        payload = json.loads(naming.payload)
        assert (payload["cc_addresses"], payload["from_address"], naming.status) == ([REDACTED], BOB, "pending")
        assert session.get(EnrollmentRow, ("welcome", BOB_ID, 1)) is not None
        assert sorted(e.id for e in session.exec(select(EventRow).where(EventRow.contact_id == BOB_ID))) == ["e3", "e4"]
    assert "dave@delta.io" in " ".join(every_row(store)["deferred_mail"])
    _crm_records_are_listed(report.crm_records, seeded)


def _crm_records_are_listed(records: list[CrmRecord], seeded: Seeded) -> None:
    by_kind = {(r.kind, r.remote_id, r.contact_id) for r in records}
    assert by_kind == {("contact", ADA_ID, ADA_ID), ("lead", ADA_DUPLICATE, ADA_DUPLICATE),
                       ("email", seeded.ada_emails[0], ADA_ID), ("email", seeded.ada_emails[1], ADA_ID),
                       ("task", seeded.ada_task, ADA_ID),
                       ("email_naming", seeded.bob_email_naming_ada, BOB_ID)}


def test_a_dry_run_lists_the_same_and_changes_nothing(store: Store) -> None:
    seeded = seed(store)
    before = every_row(store)
    dry = forget_ada(store, ADA, dry_run=True)
    assert every_row(store) == before
    _crm_records_are_listed(dry.crm_records, seeded)
    with store.session() as session:
        assert not is_forgotten(session, ADA, POLICY)
    real = forget_ada(store, ADA)
    assert (real.removed, real.redacted, real.crm_records) == (dry.removed, dry.redacted, dry.crm_records)


def test_forgetting_again_changes_nothing_and_the_audit_never_holds_the_address(store: Store) -> None:
    seed(store)
    forget_ada(store)
    after_first = every_row(store)
    again = forget_ada(store, ADA_WORK)
    assert not again.removed and not again.redacted and again.crm_records == [] and again.complete
    second = every_row(store)
    assert {t: rows for t, rows in second.items() if t != "audit"} == \
           {t: rows for t, rows in after_first.items() if t != "audit"}
    with store.session() as session:
        lines = session.exec(select(AuditRow).where(AuditRow.rule == FORGET_RULE).order_by(col(AuditRow.id))).all()
    assert len(lines) == 2              # each request is recorded, the second as having found nothing
    assert "a***@a***.io" in lines[0].reason and "2 contacts" in lines[0].reason
    assert json.loads(lines[0].detail)["address_sha256"] == address_digest("ada+newsletter@acme.io")
    assert "nothing stored" in lines[1].reason
    assert not any(form in line.reason + line.detail for line in lines for form in ADA_FORMS)


def test_a_write_a_replica_is_performing_is_left_to_it_and_the_next_forget_finishes(store: Store) -> None:
    seed(store)
    with store.session() as session:       # another replica holds Ada's task write under a live lease
        row = session.exec(select(OutboxRow).where(OutboxRow.key == "ct-ada")).one()
        row.status, row.lease_owner, row.lease_until = "in_flight", "replica-b", NOW + timedelta(minutes=2)
        session.add(row)
    first = forget_ada(store)
    assert first.in_flight == ["ct-ada"] and not first.complete
    with store.session() as session:
        row = session.exec(select(OutboxRow).where(OutboxRow.key == "ct-ada")).one()
        assert row.status == "in_flight"
        # The replica finishes: the task exists in the CRM now, and it records an event for the contact.
        row.status, row.remote_id, row.lease_owner, row.lease_until = "done", "hs-task-9", None, None
        session.add(row)
        record_events(session, [Event(id="late", type="task.created", contact_id=ADA_ID, occurred_at=NOW,
                                      source="crm", data={})])
    second = forget_ada(store, ADA)    # the mirror has no trace of her any more: the suppression record remembers
    assert second.complete and ("task", "hs-task-9", ADA_ID) in {(r.kind, r.remote_id, r.contact_id)
                                                                  for r in second.crm_records}
    assert rows_about(store, *ADA_NEEDLES) == {}


def test_the_newest_event_becomes_a_placeholder_so_event_cursors_never_go_back(store: Store) -> None:
    seed(store)
    with store.session() as session:
        record_events(session, [Event(id="newest", type="reply.received", contact_id=ADA_ID, occurred_at=NOW,
                                      source="x", data={"text": "hi"})])
        newest = session.exec(select(EventRow.seq).order_by(col(EventRow.seq).desc())).first()
    forget_ada(store)
    with store.session() as session:
        record_events(session, [Event(id="after", type="reply.received", contact_id=BOB_ID, occurred_at=NOW,
                                      source="x", data={})])
        after = session.exec(select(EventRow).where(EventRow.id == "after")).one()
    assert newest is not None and after.seq is not None and after.seq > newest


class OneContactPage:
    """A CRM whose contact pull returns the given contacts (the CRM still holds Ada: only the admin deletes her)."""

    name = "hubspot"

    def __init__(self, *contacts: CrmContact) -> None:
        self.contacts = contacts

    def pull_contacts(self, cursor: dict[str, Any] | None) -> Iterator[ContactPage]:
        yield ContactPage(contacts=self.contacts, cursor={"after": len(self.contacts)})


WELCOME = {"name": "welcome", "enroll_on": "form.submitted", "window": {"start": "00:00", "end": "23:59"},
           "steps": [{"kind": "email", "subject": "Hi {{ contact.firstname }}", "body": "Hello\n{{ unsubscribe_url }}"}]}


def test_a_forgotten_person_is_never_mirrored_enrolled_or_mailed_again(store: Store) -> None:
    seed(store)
    runner = SequenceRunner(store, compile_sequences([SequenceSettings.model_validate(WELCOME)]),
                            [SendingMailbox(REP, "o1")], public_url="https://tl.example", unsubscribe_secret="s")
    forget_ada(store)
    # The CRM still has her (touched since), and she fills in a form again; so does a new person.
    changed = NOW + timedelta(days=1)
    crm = OneContactPage(CrmContact(id=ADA_ID, emails=(ADA,), first_name="Ada", updated_at=changed),
                         CrmContact(id="ada-new-104", emails=("ADA+again@acme.io",), updated_at=changed),
                         CrmContact(id="cy-303", emails=("cy@gamma.io",), first_name="Cy", owner_id="o1",
                                    updated_at=changed))
    sync_contacts(store, crm, POLICY)  # type: ignore[arg-type]  # the pull needs only name and pull_contacts
    with store.session() as session:
        assert sorted(session.exec(select(ContactRow.crm_id)).all()) == [BOB_ID, "cy-303"]
        record_events(session, [Event(id=f"form-{cid}", type="form.submitted", contact_id=cid, occurred_at=changed,
                                      source="api", data={}) for cid in (ADA_ID, "ada-new-104", "cy-303")])
    runner.run(changed)
    runner.run(changed + timedelta(minutes=5))
    with store.session() as session:
        enrolled = sorted(session.exec(select(EnrollmentRow.contact_id)).all())
        sends = session.exec(select(OutboxRow).where(OutboxRow.kind == "send_email",
                                                     OutboxRow.status == "pending")).all()
    assert enrolled == [BOB_ID, "cy-303"]
    assert [s.contact_id for s in sends] == ["cy-303"]
    assert not any(form in s.payload.lower() for s in sends for form in ADA_FORMS)


def test_while_a_forget_runs_no_replica_can_claim_the_rows_it_is_removing(postgres_url: str) -> None:
    """PostgreSQL (replicas share it): the forget's transaction holds the person's outbox rows, and a replica's
    claim (FOR UPDATE SKIP LOCKED) passes over them and takes the rest; after the commit they are gone."""
    store = Store(postgres_url)
    seed(store)
    with store.session() as session:
        outbox.intend(session, [Intent("le-cy", "log_email", "cy-303", {"from_address": "cy@gamma.io"})])
    with store.session() as forgetting:
        found = find_all(forgetting, find_person(forgetting, ADA, POLICY), NOW, lock=True)
        with store.session() as replica:
            claimed = [row.key for kind in ("log_email", "send_email", "update_contact")
                       for row in outbox.claim_due(replica, kind, "replica-b", timedelta(minutes=2), 10)]
        assert claimed == ["le-cy"]            # not Ada's rows, nor Bob's row that names her (being redacted)
        erase(forgetting, found)
    with store.session() as session:
        left = {row.key: row.status for row in session.exec(select(OutboxRow))}
    assert "se-ada-2" not in left and "uc-ada" not in left and left["le-bob-3"] == "pending"
    store.dispose()
