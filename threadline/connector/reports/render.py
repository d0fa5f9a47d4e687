"""Terminal rendering of summaries and reports (rich tables)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from threadline.adapters.records import CheckResult
from threadline.connector.monitoring.status import StatusReport
from threadline.sync.engine import SyncSummary


def checks_table(results: Sequence[CheckResult]) -> Table:
    table = Table(title="threadline check")
    for column in ("target", "item", "result", "detail"):
        table.add_column(column)
    for r in results:
        table.add_row(r.target, r.item, "[green]ok[/]" if r.ok else "[red]FAIL[/]", r.detail)
    return table


def print_sync_summary(console: Console, summary: SyncSummary) -> None:
    table = Table(title="sync summary")
    for column in ("source", "pulled", "matched", "intended", "duplicates", "note"):
        table.add_column(column)
    table.add_row("contacts", str(summary.contacts.pulled), "", "", "", summary.contacts.error or "")
    for m in summary.mailboxes:
        note = m.error or (f"resync: {m.resync_reason}" if m.resync_reason else "")
        table.add_row(m.mailbox, str(m.pulled), str(m.matched), str(m.intended), str(m.duplicates), note)
    console.print(table)
    performed = summary.outbox.performed
    console.print(f"CRM writes: {performed.get('log_email', 0)} email activities logged, "
                  f"{performed.get('update_contact', 0)} contact updates, "
                  f"{performed.get('set_fields', 0)} rule field writes, {performed.get('create_task', 0)} tasks "
                  f"created, {summary.outbox.reconciled} reconciled, {summary.outbox.retried} to retry, "
                  f"{summary.outbox.failed} failed" + (" (see `threadline outbox --failed`)" if summary.outbox.failed
                                                       else ""), soft_wrap=True)
    if performed.get("delete_email"):
        console.print(f"opt-out labels: {performed['delete_email']} email activities withdrawn (removed from the "
                      "CRM, or cancelled before they were written; see `threadline audit`)", soft_wrap=True)
    sending = summary.sending
    if sending.sent or sending.cancelled or sending.confirmed_from_sent or sending.unconfirmed or sending.retried \
            or sending.failed:
        console.print(f"sequence email: {sending.sent} sent, {sending.cancelled} cancelled, "
                      f"{sending.confirmed_from_sent} found in Sent, {sending.unconfirmed} unconfirmed, "
                      f"{sending.retried} to retry, {sending.failed} failed")
    if summary.skipped:
        reasons = ", ".join(f"{reason}: {n}" for reason, n in summary.skipped.most_common())
        console.print(f"skipped: {reasons}")
    for error in summary.errors:
        console.print(f"[red]error[/] {error}")


def print_status(console: Console, report: StatusReport, reauthorize: Mapping[str, str] | None = None) -> None:
    """The status report; `reauthorize` (source -> what to do) lists sources whose credentials were refused."""
    table = Table(title="sources")
    for column in ("source", "last success", "lag", "resyncs", "last resync reason", "API budget"):
        table.add_column(column)
    for s in report.sources:
        lag = f"{s.lag_seconds:.0f}s" if s.lag_seconds is not None else "never synced"
        table.add_row(s.source, s.last_success_at.isoformat(timespec="seconds") if s.last_success_at else "-",
                      lag, str(s.resyncs), s.last_resync_reason or "", s.budget or "")
    console.print(table)
    for source, remedy in (reauthorize or {}).items():
        console.print(f"[bold red]{source}: credentials refused[/]: {remedy}", soft_wrap=True)
    for hold in report.holds:
        console.print(f"[bold yellow]{hold.source}: writes held until {hold.until:%Y-%m-%d %H:%M:%S} UTC[/] "
                      f"(a throttle longer than a lease; every replica waits for it): {escape(hold.reason[:200])}",
                      soft_wrap=True, markup=True, highlight=False)
    depth = ", ".join(f"{k}: {v}" for k, v in sorted(report.outbox.items())) or "empty"
    console.print(f"outbox: {depth}" + (f" (oldest unfinished since {report.oldest_unfinished:%Y-%m-%d %H:%M:%S})"
                                        if report.oldest_unfinished else ""))
    console.print("messages: " + (", ".join(f"{k}: {v}" for k, v in sorted(report.decisions.items())) or "none yet"))
    if report.contacts_created:
        console.print(f"contacts created: {report.contacts_created.get('created', 0)}"
                      f" (found already in the CRM: {report.contacts_created.get('found', 0)};"
                      " `threadline audit --rule sync.create_contacts` lists them)")
    if report.enrollments or report.sends:
        console.print("sequences: " + (", ".join(f"{k}: {v}" for k, v in sorted(report.enrollments.items())) or "none"))
        sends = ", ".join(f"{k}: {v}" for k, v in sorted(report.sends.items())) or "none"
        console.print(f"sequence email: {sends}" + (f" ({report.unconfirmed_sends} sent unconfirmed: submission "
                                                     "started, outcome unknown, never resent)"
                                                     if report.unconfirmed_sends else ""))
    if report.work:
        console.print(work_table(report))
    if report.recent_errors:
        errors = Table(title="recent errors")
        for column in ("when", "source", "kind", "message"):
            errors.add_column(column)
        for e in report.recent_errors:
            errors.add_row(f"{e.at:%Y-%m-%d %H:%M:%S}", e.source, e.kind, e.message[:160])
        console.print(errors)


def work_table(report: StatusReport) -> Table:
    """Which replica holds each unit of shared work: with several replicas, who is reading which mailbox."""
    table = Table(title="work")
    for column in ("unit", "held by", "lease until", "next due"):
        table.add_column(column)
    for w in report.work:
        held = (f"{w.holder} (expired)" if w.expired else w.holder) if w.holder else "free"
        until = f"{w.lease_until:%H:%M:%S}" if w.lease_until else "-"
        due = f"{w.next_due_at:%H:%M:%S}" if w.next_due_at else "-"
        table.add_row(w.unit, held, until, due)
    return table


def duration_text(value: timedelta | None) -> str:
    """A human duration: minutes under an hour, hours under two days, else days."""
    if value is None:
        return "-"
    hours = value.total_seconds() / 3600
    if value < timedelta(minutes=1):
        return "< 1 min"
    if hours < 1:
        return f"{hours * 60:.0f} min"
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"
