"""A small world for end-to-end tests: HubSpot contacts in the sandbox, a rep's IMAP mailbox, a config file."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.utils import format_datetime
from pathlib import Path

import yaml

from threadline.connector.demo.world import REP
from threadline.sandbox.server import SandboxServer

REP_DOMAIN = "northwind.example"
SANDBOX_HUBSPOT_TOKEN = "pat-sandbox-0000"


def run_threadline(config: Path, *args: str, crash_at: str | None = None,
                   fail_at: str | None = None) -> subprocess.CompletedProcess[str]:
    """`threadline <args> --config <config>` as a real process; with `crash_at` it SIGKILLs itself at that
    crashpoint (THREADLINE_CRASH_AT, e.g. "send.submitting:2" = on the second hit); with `fail_at` it raises
    at that failpoint for data holding the marker (THREADLINE_FAIL_AT, e.g. "mailbox.message=X-Poison")."""
    env = {**os.environ, "HUBSPOT_TOKEN": SANDBOX_HUBSPOT_TOKEN}
    env.pop("THREADLINE_CRASH_AT", None)
    env.pop("THREADLINE_FAIL_AT", None)
    if crash_at:
        env["THREADLINE_CRASH_AT"] = crash_at
    if fail_at:
        env["THREADLINE_FAIL_AT"] = fail_at
    return subprocess.run([sys.executable, "-m", "threadline", *args, "--config", str(config)],
                          capture_output=True, text=True, env=env, timeout=240)


def sync_once(config: Path, crash_at: str | None = None,
              fail_at: str | None = None) -> subprocess.CompletedProcess[str]:
    """One `threadline sync --once` cycle (see run_threadline)."""
    return run_threadline(config, "sync", "--once", crash_at=crash_at, fail_at=fail_at)


def email(sender: str, to: str, subject: str, body: str, *, msg_id: str, when: datetime | None = None,
          in_reply_to: str | None = None, headers: dict[str, str] | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Date"] = format_datetime(when or datetime.now(UTC) - timedelta(hours=1))
    msg["Message-ID"] = msg_id
    if in_reply_to:
        msg["In-Reply-To"] = msg["References"] = in_reply_to
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    return msg.as_bytes()


def reply(contact_email: str, rep: str, n: int) -> bytes:
    """Reply number n from a contact: new text, a signature and the quoted original."""
    body = (f"Thanks, reply number {n} is the new text.\n\nBest,\nPat\n-- \nPat Example | Buyer\n\n"
            f"On Mon, Nov 2, 2026 at 9:00 AM Rep <{rep}> wrote:\n> Original outreach {n}\n> more quoted text\n")
    return email(contact_email, rep, f"Re: Proposal {n}", body, msg_id=f"<reply-{n}@customer.example>",
                 in_reply_to=f"<outreach-{n}@{REP_DOMAIN}>")


@dataclass
class ImapWorld:
    sandbox: SandboxServer
    config_path: Path
    store_url: str
    contact_ids: list[str]
    contact_emails: list[str]

    def email_count(self) -> int:
        return sum(len(self.sandbox.hubspot.emails_for(cid)) for cid in self.contact_ids)

    def subjects_per_contact(self) -> dict[str, list[str]]:
        return {cid: sorted(e["properties"]["hs_email_subject"] for e in self.sandbox.hubspot.emails_for(cid))
                for cid in self.contact_ids}


def write_config(path: Path, *, store_url: str, sandbox: SandboxServer, mailboxes: list[dict[str, object]],
                 sections: dict[str, object] | None = None, **sync: object) -> Path:
    """threadline.yaml for HubSpot on the sandbox (its CA trusted when it serves https); `sections` adds
    top-level sections such as `rules` and `server`."""
    crm: dict[str, object] = {"kind": "hubspot", "base_url": sandbox.url, "token": "${HUBSPOT_TOKEN}",
                              "search_index_lag": "0s"}   # the sandbox's search is immediate
    if sandbox.tls is not None:
        crm["ca_file"] = str(sandbox.tls.ca_cert)
    config = {
        "store": {"url": store_url},
        "crm": crm,
        "mailboxes": mailboxes,
        "sync": {"internal_domains": [REP_DOMAIN], "backfill_days": 30, **sync},
        **(sections or {}),
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def imap_mailbox_config(account: object) -> dict[str, object]:
    return {"kind": "imap", "address": account.username, "host": "127.0.0.1",  # type: ignore[attr-defined]
            "port": account.server.imap_port, "security": "starttls",  # type: ignore[attr-defined]
            "ca_file": str(account.ca_file), "username": account.username,  # type: ignore[attr-defined]
            "password": account.password}  # type: ignore[attr-defined]


def seed_contacts(sandbox: SandboxServer, n: int) -> tuple[list[str], list[str]]:
    emails = [f"buyer{i}@customer{i}.example" for i in range(n)]
    ids = [sandbox.hubspot.add_contact(e, firstname=f"Buyer{i}") for i, e in enumerate(emails)]
    return ids, emails


def sent_headers(server: SandboxServer, mailbox: str) -> list[EmailMessage]:
    """Headers of every message in the demo rep's sandbox Sent folder (Outlook's sentitems, or Gmail's SENT)."""
    if mailbox == "outlook":
        raws = [m.raw for m in server.graph.messages(REP, "sentitems")]
    else:
        raws = [m.raw for m in server.gmail.messages(REP) if "SENT" in m.labels]
    return [BytesHeaderParser(policy=policy.default).parsebytes(raw) for raw in raws]
