"""The demo's sequence part, checked on the sandbox and in the store rather than in its printed text:
one email with our Message-ID in the rep's sent mail, the owner's task and the logged reply in the CRM,
the enrollment stopped by the reply, and the report written."""

from __future__ import annotations

import io
import json
from email.utils import getaddresses
from pathlib import Path

import pytest
from rich.console import Console
from sqlmodel import select

from tests.engine.world import sent_headers
from threadline.connector.demo.run import demo_on
from threadline.connector.demo.sequence import SEQUENCE
from threadline.connector.demo.world import PROSPECT, REP
from threadline.sandbox.server import SandboxServer
from threadline.sync.store.database import Store
from threadline.sync.store.tables import EnrollmentRow, OutboxRow


def crm_records(server: SandboxServer, crm: str) -> tuple[list[str], list[str], list[str]]:
    """Mia's follow-up task subjects, and the text of her logged incoming and outgoing emails."""
    if crm == "salesforce":
        [mia] = server.salesforce.org.find_by("Contact", "Email", PROSPECT.email)
        tasks = server.salesforce.tasks_for(mia["Id"])
        emails = [t["Description"] for t in tasks if t["TaskSubtype"] == "Email"]
        return ([t["Subject"] for t in tasks if t["TaskSubtype"] != "Email"],
                [e for e in emails if "Direction: incoming" in e], [e for e in emails if "Direction: outgoing" in e])
    [mia] = [c for c in server.hubspot.contacts if c.properties.get("email") == PROSPECT.email]
    emails = [e["properties"] for e in server.hubspot.emails_for(str(mia.id))]
    return ([t["properties"]["hs_task_subject"] for t in server.hubspot.tasks_for(str(mia.id))],
            [e["hs_email_text"] for e in emails if e["hs_email_direction"] == "INCOMING_EMAIL"],
            [e["hs_email_text"] for e in emails if e["hs_email_direction"] == "EMAIL"])


def run(server: SandboxServer, tmp_path: Path, crm: str, mailbox: str) -> tuple[int, str, Store]:
    out = io.StringIO()
    url = f"sqlite:///{tmp_path / 'threadline.db'}"
    code = demo_on(Console(file=out, width=200), server, tmp_path, url, crm, mailbox)
    return code, out.getvalue(), Store(url)


@pytest.mark.parametrize(("crm", "mailbox"), [("hubspot", "gmail"), ("salesforce", "outlook")])
def test_demo_sequence_sends_once_then_the_reply_stops_it_with_a_task_and_the_reply_logged(
        request: pytest.FixtureRequest, tmp_path: Path, crm: str, mailbox: str) -> None:
    server: SandboxServer = request.getfixturevalue("tls_sandbox" if mailbox == "outlook" else "sandbox")
    code, printed, store = run(server, tmp_path, crm, mailbox)
    assert code == 0, printed[-4000:]

    ours = [h for h in sent_headers(server, mailbox) if str(h["Message-ID"]).startswith("<tl-")
            and PROSPECT.email in str(h["To"])]                     # (the A/B month sends to its own prospects)
    assert len(ours) == 1                                           # step 1, once; step 2 is only planned
    [step1] = ours
    assert [a for _, a in getaddresses([str(step1["To"])])] == [PROSPECT.email]
    assert str(step1["From"]) == f"Alex Morgan <{REP}>"
    assert "/unsubscribe/" in str(step1["List-Unsubscribe"])
    assert str(step1["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
    with store.session() as session:
        [enrollment] = session.exec(select(EnrollmentRow).where(EnrollmentRow.sequence == SEQUENCE)).all()
        [row] = session.exec(select(OutboxRow).where(OutboxRow.kind == "send_email",     # the A/B month's are not Mia's
                                                     OutboxRow.contact_id == enrollment.contact_id)).all()
    assert row.status == "done" and json.loads(row.payload)["email"]["message_id"] == str(step1["Message-ID"])
    assert (enrollment.status, enrollment.exit_reason, enrollment.step) == ("exited", "replied", 1)

    tasks, incoming, outgoing = crm_records(server, crm)
    assert len(tasks) == 1 and SEQUENCE in tasks[0]
    assert len(incoming) == 1 and "Thursday at 10:00 works for a call" in incoming[0]
    assert "On " not in incoming[0].split("Mia")[-1]               # the quoted history is not logged
    assert len(outgoing) == 1 and "I'm Alex Morgan" in outgoing[0]

    assert f"{SEQUENCE} / 2" in printed                              # step 2 shown as planned
    html = (tmp_path / "sequence-report.html").read_text()
    assert SEQUENCE in html and "<svg" in html
    store.dispose()
