"""A world for sequence tests end to end: HubSpot contacts owned by a rep, the rep's mailbox on one of the
three send paths (SMTP + Dovecot, the Gmail sandbox, the Graph sandbox), a two-step sequence that is due at
once, and ways to count what was delivered and what the store recorded.

`threadline sync --once` runs as a real process (tests.engine.world.sync_once); this module only builds the
world and reads it back.
"""

from __future__ import annotations

import email
import email.policy
import json
import subprocess
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from tests.engine.world import email as build_email
from tests.engine.world import imap_mailbox_config, sync_once, write_config
from threadline.sandbox.server import SandboxServer
from threadline.sync.store.database import Store
from threadline.sync.store.tables import EnrollmentRow, OutboxRow

SEQUENCE = "outreach"
REP = "rita@northwind.example"            # the Gmail / Graph rep (the IMAP rep is the Dovecot user)
SERVER = {"public_url": "https://threadline.test", "unsubscribe_secret": "unsubscribe-secret-for-tests"}
#: Every send path as pytest params (SMTP needs Dovecot: marked so).
SEND_PATHS = [pytest.param("smtp", marks=pytest.mark.dovecot), "gmail", "graph"]
ALL_WEEK = {"start": "00:00", "end": "23:59:59", "days": [0, 1, 2, 3, 4, 5, 6]}


def email_step(n: int, **fields: Any) -> dict[str, Any]:
    """An email step due at once (no delay); step 2+ reply in the thread of step 1."""
    return {"kind": "email", "subject": f"Step {n} for {{{{ contact.firstname | default('you') }}}}",
            "body": f"Hello, this is step {n} from {{{{ owner.name }}}}.\nUnsubscribe: {{{{ unsubscribe_url }}}}\n",
            "delay": {"hours": 0}, **fields}


def sequence_config(steps: int = 2, **overrides: Any) -> dict[str, Any]:
    """A sequence every pulled contact enters (contact.created), steps due at once, any hour of any day,
    no spacing between sends (several contacts go out in one cycle)."""
    return {"name": SEQUENCE, "enroll_on": "contact.created", "on_reply": "exit",
            "window": dict(ALL_WEEK), "spacing_minutes": 0, "daily_cap_per_mailbox": 500,
            "steps": [email_step(n) for n in range(1, steps + 1)], **overrides}


def message_id_of(raw: bytes) -> str:
    return str(email.message_from_bytes(raw, policy=email.policy.default)["Message-ID"] or "").strip()


def header_of(raw: bytes, name: str) -> str:
    return str(email.message_from_bytes(raw, policy=email.policy.default)[name] or "")


@dataclass
class SendPath:
    """One way sequence mail leaves: the mailbox's config entry and what the far end received."""

    name: str                                  # "smtp" | "gmail" | "graph"
    address: str                               # the sending mailbox
    mailbox: dict[str, Any]                    # its threadline.yaml entry (owner_id set by the world)
    received: Callable[[], list[bytes]]        # raw bytes of every message the provider accepted from us
    deliver_to_inbox: Callable[[bytes], None]  # mail arriving in the rep's inbox (a reply, a bounce)

    def delivered(self) -> Counter[str]:
        """How often each Message-ID was delivered."""
        return Counter(message_id_of(raw) for raw in self.received())


def smtp_path(imap_account: Any, smtp_server: Any, workdir: Path) -> SendPath:
    """An IMAP mailbox on Dovecot sending through the aiosmtpd server with the same login."""
    smtp_server.clear()
    smtp_server.allow_login(imap_account.username, imap_account.password)
    box = {**imap_mailbox_config(imap_account), "smtp_host": smtp_server.host, "smtp_port": smtp_server.port,
           "smtp_security": "starttls"}
    # The SMTP server's CA must be trusted too: both test CAs go into one bundle for ca_file.
    bundle = workdir / "ca-bundle.pem"
    bundle.write_bytes(Path(imap_account.ca_file).read_bytes() + Path(smtp_server.ca_file).read_bytes())
    box["ca_file"] = str(bundle)
    return SendPath("smtp", imap_account.username, box, lambda: [m.raw for m in smtp_server.messages],
                    lambda raw: _ignore(imap_account.deliver(raw)))


def gmail_path(sandbox: SandboxServer, sent_copy_delay: str = "1s") -> SendPath:
    """The rep's Gmail in the sandbox; what Gmail accepted is what carries the SENT label."""
    s = sandbox.settings
    box = {"kind": "gmail", "address": REP, "base_url": sandbox.url, "token_uri": f"{sandbox.url}/token",
           "client_id": s.google_client_id, "client_secret": s.google_client_secret,
           "refresh_token": sandbox.gmail.oauth.issue_refresh_token(REP), "sent_copy_delay": sent_copy_delay,
           **({"ca_file": str(sandbox.tls.ca_cert)} if sandbox.tls else {})}
    return SendPath("gmail", REP, box, lambda: [m.raw for m in sandbox.gmail.messages(REP) if "SENT" in m.labels],
                    lambda raw: _ignore(sandbox.gmail.deliver(REP, raw, ["INBOX", "UNREAD"])))


def graph_path(sandbox: SandboxServer, sent_copy_delay: str = "1s") -> SendPath:
    """The rep's Microsoft 365 mailbox in the sandbox (https: MSAL insists); what it accepted is in Sent Items."""
    assert sandbox.tls is not None, "the Graph path needs the https sandbox (tls_sandbox)"
    s = sandbox.settings
    sandbox.graph.register_user(REP)
    box = {"kind": "outlook", "address": REP, "tenant": s.graph_tenant_id, "client_id": s.graph_client_id,
           "client_secret": s.graph_client_secret, "authority_host": sandbox.url,
           "base_url": f"{sandbox.url}/v1.0", "ca_file": str(sandbox.tls.ca_cert), "sent_copy_delay": sent_copy_delay}
    return SendPath("graph", REP, box, lambda: [m.raw for m in sandbox.graph.messages(REP, "sentitems")],
                    lambda raw: _ignore(sandbox.graph.deliver(REP, raw, "inbox")))


def path_named(name: str, request: Any, sandbox: SandboxServer, workdir: Path) -> SendPath:
    """The send path `name` ("smtp" | "gmail" | "graph"); SMTP asks `request` (a pytest FixtureRequest) for the
    Dovecot account and the SMTP server only when it is the one wanted."""
    if name == "smtp":
        return smtp_path(request.getfixturevalue("imap_account"), request.getfixturevalue("smtp_server"), workdir)
    return gmail_path(sandbox) if name == "gmail" else graph_path(sandbox)


def _ignore(_: object) -> None:
    return None


@dataclass
class SequenceWorld:
    """Contacts owned by the rep, enrolled in SEQUENCE on the first cycle, and the send path they get mail by."""

    sandbox: SandboxServer
    path: SendPath
    config: Path
    store_url: str
    owner_id: str
    contact_ids: list[str]
    contact_emails: list[str]

    def sync(self, crash_at: str | None = None) -> subprocess.CompletedProcess[str]:
        """One `threadline sync --once` (killed at `crash_at` if given)."""
        return sync_once(self.config, crash_at)

    # -- the store ------------------------------------------------------------------------------------------

    def _store(self) -> Store:
        return Store(self.store_url, migrate=False)

    def rows(self, kind: str = "send_email") -> list[OutboxRow]:
        store = self._store()
        try:
            with store.session() as session:
                return list(session.exec(select(OutboxRow).where(OutboxRow.kind == kind)).all())
        finally:
            store.dispose()

    def enrollments(self) -> dict[str, EnrollmentRow]:
        """The (single) enrollment of each contact in SEQUENCE, by contact id."""
        store = self._store()
        try:
            with store.session() as session:
                rows = session.exec(select(EnrollmentRow).where(EnrollmentRow.sequence == SEQUENCE)).all()
        finally:
            store.dispose()
        found = {row.contact_id: row for row in rows}
        assert len(found) == len(rows), "one enrollment per contact expected"
        return found

    def send_rows_of(self, contact_id: str) -> dict[int, OutboxRow]:
        """The contact's send_email rows by step index."""
        return {json.loads(r.payload)["step_index"]: r for r in self.rows() if r.contact_id == contact_id}

    def message_ids_of(self, contact_id: str) -> dict[int, str]:
        """Our Message-ID of each step intended for the contact, by step index."""
        return {step: json.loads(row.payload)["email"]["message_id"]
                for step, row in self.send_rows_of(contact_id).items()}

    # -- the CRM ------------------------------------------------------------------------------------------

    def activities(self, contact_id: str, direction: str) -> list[dict[str, Any]]:
        """Email activities on the HubSpot contact: direction "outgoing" (EMAIL) or "incoming"."""
        wanted = "INCOMING_EMAIL" if direction == "incoming" else "EMAIL"
        return [e["properties"] for e in self.sandbox.hubspot.emails_for(contact_id)
                if e["properties"].get("hs_email_direction") == wanted]

    def tasks(self, contact_id: str) -> list[dict[str, Any]]:
        return [t["properties"] for t in self.sandbox.hubspot.tasks_for(contact_id)]

    # -- driving it ---------------------------------------------------------------------------------------

    def run_until_settled(self, max_cycles: int = 8) -> int:
        """Plain cycles until one changes nothing any more and nothing is left to do (no active enrollment,
        no send row pending or in flight); returns how many ran. Fails if it never settles. Waiting for a
        sent copy to show (sent_copy_delay) is just more cycles, each a real process start."""
        before: tuple[Any, ...] | None = None
        for cycle in range(1, max_cycles + 1):
            done = self.sync()
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
            state = self._progress()
            if state == before and not self._work_left():
                return cycle
            before = state
        raise AssertionError(f"not settled after {max_cycles} cycles: {self._progress()}")

    def _progress(self) -> tuple[Any, ...]:
        rows = sorted((r.key, r.status) for r in self.rows())
        steps = sorted((e.contact_id, e.status, e.step) for e in self.enrollments().values())
        return tuple(rows), tuple(steps), sum(self.path.delivered().values())

    def _work_left(self) -> bool:
        open_rows = any(r.status in ("pending", "in_flight") for r in self.rows())
        open_enrollments = any(e.status == "active" for e in self.enrollments().values())
        return open_rows or open_enrollments


def build_world(tmp_path: Path, sandbox: SandboxServer, path: SendPath, *, contacts: int = 3,
                sequence: dict[str, Any] | None = None, store_url: str | None = None) -> SequenceWorld:
    """Seed `contacts` HubSpot contacts owned by the rep and write the config; nothing has run yet."""
    owner_id = sandbox.hubspot.add_owner(path.address, first_name="Rita", last_name="Rep")
    emails = [f"buyer{i}@customer{i}.example" for i in range(contacts)]
    ids = [sandbox.hubspot.add_contact(e, owner_id=owner_id, firstname=f"Buyer{i}") for i, e in enumerate(emails)]
    store_url = store_url or f"sqlite:///{tmp_path / 'store.db'}"
    mailbox = {**path.mailbox, "owner_id": owner_id, "display_name": "Rita Rep"}
    config = write_config(tmp_path / "threadline.yaml", store_url=store_url, sandbox=sandbox, mailboxes=[mailbox],
                          sections={"rules": {"sequences": [sequence or sequence_config()]}, "server": SERVER})
    return SequenceWorld(sandbox, path, config, store_url, owner_id, ids, emails)


def prospect_reply(world: SequenceWorld, contact_index: int, in_reply_to: str | None,
                   when: datetime | None = None) -> bytes:
    """The contact's reply to the rep, dated `when` (default: now; a Date header has whole seconds)."""
    return build_email(world.contact_emails[contact_index], world.path.address, "Re: Step 1",
                       "Thanks, please call me next week.\n", msg_id=f"<reply-{contact_index}@customer.example>",
                       when=when or datetime.now(UTC), in_reply_to=in_reply_to)


def bounce_for(world: SequenceWorld, contact_index: int) -> bytes:
    """A mailer-daemon failure naming the contact's address (X-Failed-Recipients)."""
    address = world.contact_emails[contact_index]
    return build_email("Mail Delivery Subsystem <mailer-daemon@northwind.example>", world.path.address,
                       "Delivery Status Notification (Failure)",
                       f"Delivery to the following recipient failed permanently:\n\n     {address}\n",
                       msg_id=f"<bounce-{contact_index}@northwind.example>", when=datetime.now(UTC),
                       headers={"X-Failed-Recipients": address, "Auto-Submitted": "auto-replied"})
