"""The opt-out part of `threadline demo`: the rep labels a reply that was already logged `Private`
(`sync.never_labelled` in the demo's config), and the next cycle takes its activity off the CRM record and says so
in the audit. What is shown is read back from the CRM (through the sandbox) and the store."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console
from rich.markup import escape
from sqlmodel import col, select

from threadline.connector.demo.world import REP
from threadline.sandbox.server import SandboxServer
from threadline.sync.engine import SyncEngine
from threadline.sync.store.tables import AuditRow

PRIVATE = "Private"


def label_private(server: SandboxServer, mailbox: str, message_id: str) -> None:
    """What the rep does in their mail client: a Gmail label, or an Outlook category, named Private."""
    if mailbox == "outlook":
        server.graph.categorize(REP, message_id, [PRIVATE])
        return
    label = next((lb["id"] for lb in server.gmail.mailboxes.of(REP).user_labels.values() if lb["name"] == PRIVATE),
                 None) or server.gmail.create_label(REP, PRIVATE)
    server.gmail.label(REP, message_id, add=[label])


def opt_out_step(console: Console, server: SandboxServer, engine: SyncEngine, mailbox: str, message_id: str,
                 contact: str, activities: Callable[[], int], cycle: Callable[[str], None]) -> bool:
    """Label the logged reply Private, sync, and show that `contact`'s activity is gone and why. True when it is."""
    if mailbox not in ("gmail", "outlook"):
        console.print("[dim]opt-out part skipped: the demo's IMAP server is not the sandbox's[/]")
        return True
    before = activities()
    label_private(server, mailbox, message_id)
    what = "category" if mailbox == "outlook" else "label"
    console.print(f"\n{REP} gives {contact}'s reply the {what} {PRIVATE!r} (sync.never_labelled: {PRIVATE})...")
    cycle("third sync: an opt-out label on logged mail")
    after = activities()
    with engine.store.session() as session:
        audits = session.exec(select(AuditRow).where(AuditRow.kind == "delete_email")
                              .order_by(col(AuditRow.id).desc())).all()
    for audit in audits:
        console.print(f"audit: {audit.rule} on contact {audit.contact_id}: {escape(audit.reason)}")
    ok = before == 1 and after == 0 and len(audits) == 1
    console.print(f"[green]{contact}'s reply is off the CRM record[/]" if ok
                  else f"[red]unexpected result[/] activities {before} -> {after}, {len(audits)} audit rows")
    return ok
