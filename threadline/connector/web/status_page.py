"""The admin status page: what the daemon is doing, as HTML (/status) and JSON (/api/status).

One view (`status_view`, plain JSON-able data) feeds both, so the page and the API always
agree. It only reads; its one action, the connect-link button by each CRM owner with no
mailbox, posts to /status/connect-link (admin_routes.py), whose answer is `render_connect_link`.
Everything shown that came from outside (contact data, provider error text, owner names) is
escaped by Jinja2's autoescape; the page loads nothing external and runs no script (its
Content-Security-Policy says so).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import func
from sqlmodel import Session, col, select

from threadline.config.models import Settings
from threadline.connector.monitoring.readiness import (
    SourceBudget,
    SourceHealth,
    read_health,
    source_budgets,
    source_check,
)
from threadline.connector.monitoring.status import work_holders
from threadline.connector.monitoring.team_mailboxes import mailbox_lines
from threadline.connector.reports.sequence_report import build_report
from threadline.sync.mailboxes.owners import owners_without_mailbox
from threadline.sync.outbox import rows as outbox
from threadline.sync.store.database import Store
from threadline.sync.store.tables import CrmOwnerRow, CursorRow, OutboxRow, SyncErrorRow
from threadline.sync.work.cursors import BudgetState, read_budget

ERRORS_SHOWN = 20
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
templates = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                         autoescape=select_autoescape(default=True, default_for_string=True))
PROVIDER_LABELS = {"gmail": "Gmail", "outlook": "Outlook"}
#: The admin's page with a new connect link (or why there is none): the status page's look, no form, no script.
CONNECT_LINK_PAGE = """{% extends "_base.html" %}
{% block title %}Threadline · connect link{% endblock %}
{% block body %}
<header><h1>Threadline status</h1><span class="meta">connect link</span></header>
<main>
  <section style="max-width: 760px; margin: 40px auto;">
    {% if link %}
    <h2 id="title">Connect link for <span class="mono">{{ address }}</span> ({{ provider_name }})</h2>
    <p>Send this link to the rep, and only to them. It works once{% if lifetime %}, for {{ lifetime }}{% endif %};
       Threadline keeps only a digest of it, so copy it now: it is not shown again.</p>
    <p><input type="text" readonly id="connect-link" value="{{ link }}" aria-label="Connect link"
              class="mono" style="width: 100%; padding: 8px;"></p>
    {% else %}
    <h2 id="title">No connect link made</h2>
    <p class="error-text" id="problem">{{ problem }}</p>
    {% endif %}
    <p><a href="/status">Back to the status page</a></p>
  </section>
</main>
{% endblock %}"""


def status_view(store: Store, settings: Settings, *, started_at: datetime, now: datetime | None = None) -> dict[str, Any]:
    """Sources and their health, the team's mailboxes (as `threadline mailboxes` lists them), the CRM owners with
    no mailbox, the outbox queue, recent errors and the sequence funnel."""
    now = now or datetime.now(UTC)
    budgets = source_budgets(settings)
    health = read_health(store, [b.source for b in budgets])
    with store.session() as session:
        sources = [_source(session, b, health.get(b.source, SourceHealth()), now, started_at) for b in budgets]
        queue = _outbox(session, now)
        errors = [_error(row) for row in session.exec(select(SyncErrorRow).order_by(col(SyncErrorRow.id).desc())
                                                      .limit(ERRORS_SHOWN)).all()]
        work = [{"unit": w.unit, "holder": w.holder, "lease_until": _iso(w.lease_until),
                 "next_due_at": _iso(w.next_due_at), "expired": w.expired} for w in work_holders(session, now)]
        owners = [{"id": o.id, "email": o.email, "name": o.name}
                  for o in owners_without_mailbox(session, [box.address for box in settings.mailboxes])]
        owners_read = session.exec(select(func.count()).select_from(CrmOwnerRow)).one() > 0
    return {"generated_at": now.isoformat(timespec="seconds"), "ready": all(s["ok"] for s in sources),
            "sources": sources, "mailboxes": [asdict(line) for line in mailbox_lines(settings, store)],
            "owners_without_mailbox": owners, "owners_read": owners_read,
            "connect_providers": list(settings.connect.providers),
            "outbox": queue, "errors": errors, "work": work, "funnel": _funnel(store, settings)}


def render_status(view: dict[str, Any], *, csrf: str = "") -> str:
    """The page for `view`. `csrf`: what its connect-link forms carry (AdminAuth.csrf_token)."""
    return templates.get_template("status.html").render(view=view, ago=_ago, when=_when, csrf=csrf,
                                                        provider_names=PROVIDER_LABELS)


def render_connect_link(address: str, provider: str, *, link: str | None = None, problem: str | None = None,
                        lifetime: str | None = None) -> str:
    """The admin's page with the new connect link for `address`, or the reason none was made."""
    return templates.from_string(CONNECT_LINK_PAGE).render(
        address=address, provider_name=PROVIDER_LABELS.get(provider, provider), link=link, problem=problem,
        lifetime=lifetime)


def render_login(*, failed: bool = False, throttled: bool = False) -> str:
    return templates.get_template("login.html").render(failed=failed, throttled=throttled)


def _source(session: Session, budget: SourceBudget, health: SourceHealth, now: datetime,
            started_at: datetime) -> dict[str, Any]:
    check = source_check(budget, health, now=now, started_at=started_at)
    row = session.get(CursorRow, budget.source)
    last_error = session.exec(select(SyncErrorRow).where(SyncErrorRow.source == budget.source)
                              .order_by(col(SyncErrorRow.id).desc()).limit(1)).first()
    success = _aware(health.last_success_at)
    daily = read_budget(row.budget) if row else None
    return {"source": budget.source, "provider": budget.provider, "mailbox": budget.mailbox,
            "ok": check.ok, "state": check.state, "detail": check.detail,
            "last_success_at": _iso(success), "lag_seconds": (now - success).total_seconds() if success else None,
            "budget_seconds": budget.budget.total_seconds(), "api_budget": daily.describe() if daily else (row.budget if row else None),
            "daily_budget": _daily(daily) if daily else None,
            "last_error": _error(last_error) if last_error else None}


def _daily(state: BudgetState) -> dict[str, Any]:
    """The CRM's daily API budget, its reserve, and the contact pull's pause (if any)."""
    return {"limit": state.limit, "remaining": state.remaining, "reserve": state.reserve,
            "resets_at": _iso(state.resets_at), "paused_until": _iso(state.paused_until)}


def _outbox(session: Session, now: datetime) -> dict[str, Any]:
    rows = session.exec(select(OutboxRow.kind, OutboxRow.status, func.count())
                        .group_by(OutboxRow.kind, OutboxRow.status).order_by(OutboxRow.kind, OutboxRow.status)).all()
    oldest = _aware(outbox.oldest_pending(session))
    return {"rows": [{"kind": kind, "status": status, "count": int(n)} for kind, status, n in rows],
            "unfinished": sum(int(n) for _, status, n in rows if status in ("pending", "in_flight", "failed")),
            "oldest_unfinished_at": _iso(oldest),
            "oldest_unfinished_seconds": (now - oldest).total_seconds() if oldest else None}


def _funnel(store: Store, settings: Settings) -> list[dict[str, Any]]:
    report = build_report(store, settings.rules.sequences)
    return [{"sequence": s.name, "enrolled": s.enrolled, "reached": s.reached, "sent": s.sent, "replied": s.replied,
             "bounced": s.bounced, "unsubscribed": s.unsubscribed, "meetings": s.meetings, "active": s.active,
             "paused": s.paused, "completed": s.completed, "exited": sum(s.exited.values()),
             "reply_rate": s.reply_rate} for s in report.sequences]


def _error(row: SyncErrorRow) -> dict[str, Any]:
    return {"at": _iso(_aware(row.at)), "source": row.source, "kind": row.kind, "message": row.message}


def _ago(seconds: float | None) -> str:
    """"42s", "5m", "3h", "2d" (or "never")."""
    if seconds is None:
        return "never"
    s = max(0, int(seconds))
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m"
    return f"{s // 3600}h" if s < 172800 else f"{s // 86400}d"


def _when(iso: str | None) -> str:
    """"2026-11-23 17:48:45" from an ISO timestamp in UTC (or "never")."""
    return iso.replace("T", " ")[:19] if iso else "never"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value
