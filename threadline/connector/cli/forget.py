"""`threadline forget EMAIL`: a data-subject erasure request. Threadline deletes what it stores about the person,
stops their sequences, keeps them from being mirrored, enrolled or mailed again, and lists what only the CRM
(and the reps' mailboxes) can delete.

Like every destructive command it says what it will do first: without `--yes` it shows the dry run and asks
(`--json` cannot ask, so it needs `--yes` or `--dry-run`). Exit codes: 0 done (or a dry run), 1 declined or not
complete (a replica was performing a write for the person: run it again after the lease), 2 bad arguments or
config. The audit keeps the request with the address masked and as a digest, never in clear.
"""

from __future__ import annotations

import getpass
import json
import re
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from threadline.connector.cli.consoles import error_console, output_console
from threadline.connector.cli.secrets import ConfigOption, load_config

if TYPE_CHECKING:
    from threadline.sync.privacy.forget import ForgetReport

console = output_console()
err = error_console()
ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
CRM_NAMES = {"hubspot": "HubSpot", "salesforce": "Salesforce"}


def _who() -> str:
    try:
        return f"{getpass.getuser()} (threadline forget)"
    except (KeyError, OSError):      # no name for this uid (containers)
        return "threadline forget"


def forget_command(email: Annotated[str, typer.Argument(help="The person's email address")],
                   dry_run: Annotated[bool, typer.Option("--dry-run", help="Print what would go; change nothing")]
                   = False,
                   yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation")] = False,
                   as_json: Annotated[bool, typer.Option("--json", help="The report as JSON")] = False,
                   config: ConfigOption = None) -> None:
    """Forget a person (data-subject request): delete what Threadline stores about EMAIL, stop their sequences,
    never mirror, enrol or mail them again; print the CRM records only the CRM can delete."""
    if not ADDRESS.match(email.strip()):
        err.print(f"threadline forget: {email!r} is not an email address", markup=False, highlight=False)
        raise typer.Exit(2)
    if as_json and not (yes or dry_run):
        err.print("threadline forget: --json cannot ask for confirmation: add --yes (or --dry-run)")
        raise typer.Exit(2)
    settings = load_config(config)
    from threadline.connector.wiring.build import address_policy
    from threadline.sync.privacy.forget import forget
    from threadline.sync.store.database import Store

    store = Store(settings.store.url)
    try:
        def run(dry: bool) -> ForgetReport:
            return forget(store, email, address_policy(settings), crm=settings.crm.kind, now=datetime.now(UTC),
                          who=_who(), dry_run=dry)

        if not (dry_run or yes):
            _print(run(True))
            if not _confirmed(f"Forget {email.strip().lower()} as listed above?"):
                err.print("nothing changed")
                raise typer.Exit(1)
        report = run(dry_run)
    finally:
        store.dispose()
    if as_json:
        sys.stdout.write(json.dumps(report.as_json(), indent=1) + "\n")
    else:
        _print(report)
    if not report.complete:
        err.print(f"not complete: {len(report.in_flight)} write(s) for this person are being performed by a "
                  "replica right now; run `threadline forget` again in a few minutes", markup=False)
        raise typer.Exit(1)


def _confirmed(question: str) -> bool:
    """The admin's answer; no answer (stdin closed, Ctrl-C) is a no."""
    try:
        return typer.confirm(question, default=False, err=True)
    except typer.Abort:
        return False


def _print(report: ForgetReport) -> None:
    crm = CRM_NAMES.get(report.crm, report.crm)
    verb = "would remove" if report.dry_run else "removed"
    others = [a for a in report.addresses if a != report.address]
    console.print(f"{'dry run: ' if report.dry_run else ''}forget {escape(report.address)}"
                  + (f" (also {escape(', '.join(others))})" if others else "")
                  + (f"; {crm} record(s) {', '.join(report.contact_ids)}" if report.contact_ids else ""),
                  highlight=False)
    removed = ", ".join(f"{n} {table}" for table, n in sorted(report.removed.items()))
    console.print(f"{verb}: {removed or 'nothing (Threadline stores nothing about them)'}", highlight=False)
    if report.redacted:
        console.print(f"{'would take' if report.dry_run else 'took'} the address out of other people's rows: "
                      + ", ".join(f"{n} {table}" for table, n in sorted(report.redacted.items())), highlight=False)
    if not report.dry_run:
        console.print("their sequences are stopped; they will not be mirrored, enrolled or mailed again",
                      highlight=False)
    _print_outside(report, crm)


def _print_outside(report: ForgetReport, crm: str) -> None:
    if report.crm_records:
        console.print(f"Threadline cannot delete these; delete them in {crm}:", highlight=False)
        for record in report.crm_records:
            console.print("  " + escape(_describe(record.kind, record.remote_id, record.contact_id,
                                                   record.outbox_key)), highlight=False)
    if report.mailbox_copies:
        console.print("in the reps' mailboxes (not Threadline's to delete):", highlight=False)
        for copy in report.mailbox_copies:
            console.print(f"  {escape(copy.mailbox)}: {escape(copy.what)} {escape(copy.provider_id)}",
                          highlight=False)
    for key in report.in_flight:
        console.print(f"  in flight at a replica now (left to it): {escape(key)}", highlight=False)


def _describe(kind: str, remote_id: str | None, contact_id: str, key: str | None) -> str:
    if kind in ("contact", "lead"):
        return f"{kind} {remote_id}"
    activity, _, naming = kind.partition("_")
    if remote_id is None:
        return (f"{activity} on {contact_id}: outcome unknown (it may exist; look on the record) - key {key}")
    if naming:
        return f"{activity} {remote_id} on record {contact_id} (someone else's) names the address in To/Cc or text"
    return f"{activity} {remote_id} logged on {contact_id}"
