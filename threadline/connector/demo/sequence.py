"""The sequence part of `threadline demo`: enrol -> step 1 from the rep's mailbox -> reply -> stop, task, logged.

A prospect (Mia Chen) submits the demo form: the event goes through the same endpoint as `POST /events`.
The next cycle enrols her in the `new-inbound-welcome` example sequence and sends step 1 from the rep's
sandbox mailbox. Step 2 is shown as planned rather than waited for. Mia answers in the thread, the next
cycle ingests the reply, stops the sequence, gives the owner a task and logs the reply on her record.
Everything shown is read back from the sandbox (sent mail, CRM records) and the store, not from our own
bookkeeping.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email import policy
from email.parser import BytesHeaderParser
from email.utils import getaddresses
from pathlib import Path
from typing import Any

import httpx
import yaml
from rich.console import Console
from sqlmodel import select

from threadline.config.models import Settings
from threadline.connector.demo.world import PROSPECT, REP, prospect_reply
from threadline.connector.reports.rule_plans import print_planned_steps, sequence_planner
from threadline.connector.reports.sequence_report import build_report, print_report, write_html
from threadline.connector.web.app import build_web_app
from threadline.connector.web.push.wakeups import Wakeups
from threadline.connector.wiring.build import address_policy
from threadline.examples import SEQUENCES
from threadline.sandbox.server import SandboxServer
from threadline.sync.engine import SyncEngine
from threadline.sync.store.database import Store
from threadline.sync.store.tables import EnrollmentRow

EXAMPLES = SEQUENCES   # packaged, so the demo has it in a non-editable install (the container) too
SEQUENCE = "new-inbound-welcome"
AB_SEQUENCE = "guide-download-ab"       # the A/B month's (ab_month.py)
EVENTS_TOKEN = "demo-events-token"
PLAN_HOURS = 72               # step 2 is two days after step 1: show it as planned instead of waiting
#: The demo's window is open around the clock, so step 1 (delay 0) is due the moment Mia enrols.
ALWAYS_OPEN = {"start": "00:00", "end": "23:59:59.999999", "days": [0, 1, 2, 3, 4, 5, 6], "default_timezone": "UTC"}


def demo_sequences() -> list[dict[str, Any]] | None:
    """From config/sequences/examples.yaml: the welcome with an always-open window, and the A/B example with no
    spacing between sends (the A/B month jumps from one due moment to the next, and two minutes between sends
    would turn each batch of downloads into a dozen moments). None when the examples are not there."""
    if not EXAMPLES.exists():
        return None
    examples = {s["name"]: s for s in yaml.safe_load(EXAMPLES.read_text(encoding="utf-8"))["sequences"]}
    return [{**examples[SEQUENCE], "window": ALWAYS_OPEN}, {**examples[AB_SEQUENCE], "spacing_minutes": 0}]


def with_sequences(config: dict[str, Any], sequences: list[dict[str, Any]]) -> dict[str, Any]:
    """The demo config plus the sequence, the server settings sequences need and the events token."""
    mailbox = {**config["mailboxes"][0], "display_name": "Alex Morgan"}
    server = {"public_url": "https://threadline.northwind.example", "unsubscribe_secret": "demo-unsubscribe-secret",
              "events_token": EVENTS_TOKEN}
    return {**config, "mailboxes": [mailbox], "rules": {"sequences": sequences}, "server": server}


def seed_prospect(server: SandboxServer, crm: str, owner_id: str) -> str:
    """Mia, owned by the rep (so step 1 goes from the rep's mailbox); returns her CRM id."""
    if crm == "salesforce":
        return server.salesforce.add_contact(PROSPECT.email, first_name=PROSPECT.first, last_name=PROSPECT.last,
                                             OwnerId=owner_id)
    return server.hubspot.add_contact(PROSPECT.email, firstname=PROSPECT.first, lastname=PROSPECT.last,
                                      company=PROSPECT.company, owner_id=owner_id)


def post_events(settings: Settings, store: Store, body: dict[str, Any] | list[dict[str, Any]]) -> httpx.Response:
    """POST one event or a list of them to the daemon's own web app (in process over ASGI, bearer token and all);
    raises on an error status."""
    app = build_web_app(settings, Wakeups(), store=store, policy=address_policy(settings))

    async def post() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://threadline") as client:
            return await client.post("/events", json=body, headers={"Authorization": f"Bearer {EVENTS_TOKEN}"})

    return asyncio.run(post()).raise_for_status()


def submit_form(settings: Settings, store: Store) -> dict[str, Any]:
    """POST Mia's form submission to the daemon's own web app; returns its answer."""
    body = {"type": "form.submitted", "id": "demo-form-mia", "contact": {"email": PROSPECT.email},
            "data": {"form": "demo"}}
    return dict(post_events(settings, store, body).json())


# -- reading back what happened ----------------------------------------------------------------------

SentCopy = dict[str, str]          # message_id, to, subject, provider_id, list_unsubscribe


def sequence_mail_sent(server: SandboxServer, mailbox: str) -> list[SentCopy]:
    """Mail in the rep's sandbox Sent folder that carries a Threadline Message-ID ("<tl-...>")."""
    if mailbox == "outlook":
        stored = [(m.id, m.raw) for m in server.graph.messages(REP, "sentitems")]
    else:
        stored = [(m.id, m.raw) for m in server.gmail.messages(REP) if "SENT" in m.labels]
    copies = []
    for provider_id, raw in stored:
        headers = BytesHeaderParser(policy=policy.default).parsebytes(raw)
        if str(headers.get("Message-ID", "")).startswith("<tl-"):
            to = ", ".join(address for _, address in getaddresses([str(headers.get("To", ""))]))
            copies.append({"message_id": str(headers["Message-ID"]), "to": to, "provider_id": provider_id,
                           "subject": str(headers.get("Subject", "")),
                           "list_unsubscribe": str(headers.get("List-Unsubscribe", ""))})
    return copies


def prospect_records(server: SandboxServer, crm: str, contact_id: str) -> dict[str, list[str]]:
    """On Mia's CRM record: follow-up tasks, and logged emails split by direction (their text)."""
    if crm == "salesforce":
        tasks = server.salesforce.tasks_for(contact_id)
        logged = [str(t["Description"]) for t in tasks if t.get("TaskSubtype") == "Email"]
        # A logged email's Description is who/when/direction header lines, a blank line, then the text.
        return {"tasks": [t["Subject"] for t in tasks if t.get("TaskSubtype") != "Email"],
                "incoming": [d.split("\n\n", 1)[-1] for d in logged if "\nDirection: incoming" in d],
                "outgoing": [d.split("\n\n", 1)[-1] for d in logged if "\nDirection: outgoing" in d]}
    emails = [e["properties"] for e in server.hubspot.emails_for(contact_id)]
    return {"tasks": [t["properties"].get("hs_task_subject", "") for t in server.hubspot.tasks_for(contact_id)],
            "incoming": [e.get("hs_email_text", "") for e in emails if e.get("hs_email_direction") == "INCOMING_EMAIL"],
            "outgoing": [e.get("hs_email_text", "") for e in emails if e.get("hs_email_direction") == "EMAIL"]}


def enrollment_state(store: Store, contact_id: str) -> tuple[str, str | None, int] | None:
    """(status, exit reason, next step) of Mia's enrollment in the demo sequence, from the store."""
    with store.session() as session:
        row = session.exec(select(EnrollmentRow).where(EnrollmentRow.sequence == SEQUENCE,
                                                       EnrollmentRow.contact_id == contact_id)).first()
    return None if row is None else (row.status, row.exit_reason, row.step)


def deliver_to_inbox(server: SandboxServer, mailbox: str, raw: bytes, at: datetime | None = None) -> None:
    """Put `raw` in the rep's sandbox inbox, unread, received at `at` (None: now)."""
    if mailbox == "outlook":
        server.graph.deliver(REP, raw, "inbox", received=at)
    else:
        server.gmail.deliver(REP, raw, ("INBOX", "UNREAD"), internal_date=at)


def deliver_reply(server: SandboxServer, mailbox: str, step: SentCopy) -> None:
    """Mia answers step 1: her reply lands in the rep's sandbox inbox, threaded to it."""
    deliver_to_inbox(server, mailbox, prospect_reply(step["message_id"], step["subject"], datetime.now(UTC)))


def print_checks(console: Console, checks: list[tuple[str, bool, str]]) -> bool:
    """Print each (label, ok, detail) as ok or FAILED; True when all passed. The detail is printed as is (no
    markup): it holds addresses and mail text."""
    for label, ok, detail in checks:
        mark = "[green]ok[/]" if ok else "[red]FAILED[/]"
        console.print(f"{mark} {label}: ", end="")
        console.print(detail, markup=False, highlight=False)
    return all(ok for _, ok, _ in checks)


class SequenceDemo:
    """Runs the sequence part against the demo's sandbox, engine and settings; prints each step as it
    happens and checks the outcome on the sandbox and in the store."""

    def __init__(self, console: Console, server: SandboxServer, engine: SyncEngine, settings: Settings, crm: str,
                 mailbox: str, prospect_id: str) -> None:
        self.console, self.server, self.engine, self.settings = console, server, engine, settings
        self.crm, self.mailbox, self.prospect_id = crm, mailbox, prospect_id

    def run(self, cycle: Callable[[str], None], html_path: Path) -> bool:
        """The whole story; True when every check passed. ``cycle(title)`` runs and prints one sync cycle."""
        self.console.rule(f"sequence {SEQUENCE}")
        accepted = submit_form(self.settings, self.engine.store)
        self.console.print(f"Mia Chen ({PROSPECT.email}) submits the demo form: POST /events -> {accepted}",
                           highlight=False)
        cycle("fourth sync: enrol Mia and send step 1")
        sent = sequence_mail_sent(self.server, self.mailbox)
        for copy in sent:
            self.console.print(f"in {REP}'s sent mail: {copy['subject']!r} to {copy['to']}, Message-ID "
                               f"{copy['message_id']}, {copy['list_unsubscribe']}", highlight=False)
        self._show_plan()
        if sent:
            deliver_reply(self.server, self.mailbox, sent[0])
            self.console.print("\nMia replies in the thread: 'Thursday at 10:00 works for a call'...")
            cycle("fifth sync: the reply arrives")
        ok = self._check(sent)
        self._report(html_path)
        return ok

    def _show_plan(self) -> None:
        planner = sequence_planner(self.settings, self.engine.store)
        assert planner is not None                      # the demo config has a sequence
        now = datetime.now(UTC)
        print_planned_steps(self.console, planner.upcoming(now, now + timedelta(hours=PLAN_HOURS)), PLAN_HOURS, 10)

    def _check(self, sent: list[SentCopy]) -> bool:
        state = enrollment_state(self.engine.store, self.prospect_id)
        records = prospect_records(self.server, self.crm, self.prospect_id)
        checks = [
            ("step 1 sent once from the rep's mailbox", len(sent) == 1 and sent[0]["to"] == PROSPECT.email,
             f"{len(sent)} sequence email(s) in {REP}'s sent mail"),
            ("sequence stopped by the reply", state is not None and state[1] == "replied",
             f"enrollment {state[0]} ({state[1]})" if state else "no enrollment"),
            (f"owner task in {self.crm}", len(records["tasks"]) == 1, "; ".join(records["tasks"]) or "none"),
            ("reply logged on Mia's record", len(records["incoming"]) == 1, _short(records["incoming"])),
            ("step 1 logged as an outgoing email", len(records["outgoing"]) == 1, _short(records["outgoing"])),
        ]
        return print_checks(self.console, checks)

    def _report(self, html_path: Path) -> None:
        self.console.rule(f"threadline report --sequence {SEQUENCE}")
        report = build_report(self.engine.store, self.settings.rules.sequences, sequence=SEQUENCE)
        print_report(self.console, report)
        write_html(report, html_path)
        self.console.print(f"HTML report: {html_path}", highlight=False)


def _short(texts: list[str]) -> str:
    return " | ".join(" ".join(text.split())[:90] for text in texts) or "none"
