"""Is this process ready to do its job? The store answers, its schema is current, every source syncs.

The decisions are pure functions over plain values (`source_check`, `migrations_check`,
`source_budgets`); `assess` gathers those values from the store. A source's budget is
`SOURCE_BUDGET_POLLS` poll intervals, never less than `server.readiness_floor`. A source
that has not succeeded since the process started is "starting", and that is ready only
within the budget after the start: a restart does not fail readiness for an old success.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, text
from sqlmodel import col, select

from threadline.config.models import Settings
from threadline.connector.monitoring.reauthorize import is_auth_error, remedy
from threadline.sync.store.database import Store, current_revision, head_revision
from threadline.sync.store.tables import CursorRow, OutboxRow, SyncErrorRow

#: How many missed polls make a source unready.
SOURCE_BUDGET_POLLS = 3


@dataclass(frozen=True)
class SourceBudget:
    """One configured provider source: its store name ("mailbox:rep@x"), provider kind and budget."""

    source: str
    provider: str
    mailbox: str            # the address; "" for the CRM
    budget: timedelta
    remedy: str = ""        # what the admin does when the credentials are refused (connector/monitoring/reauthorize.py)


@dataclass(frozen=True)
class Check:
    """One readiness check. `state` is "ok", "starting", "stale", "failing", "reauthorize", "degraded" (ready, but
    something needs the admin) or "down"."""

    name: str
    ok: bool
    state: str
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SourceHealth:
    """What the store knows about one source (every value may be missing)."""

    last_success_at: datetime | None = None
    last_error_at: datetime | None = None
    last_error_kind: str | None = None


@dataclass(frozen=True)
class Readiness:
    checks: list[Check]

    @property
    def ready(self) -> bool:
        return all(check.ok for check in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {"ready": self.ready, "checks": [check.as_dict() for check in self.checks]}


def source_budgets(settings: Settings) -> list[SourceBudget]:
    """The CRM source first, then every mailbox, each with its budget."""
    sync, floor = settings.sync, settings.server.readiness_floor
    crm_every = sync.crm_poll_interval or sync.poll_interval
    crm_source = f"crm:{settings.crm.kind}"
    budgets = [SourceBudget(crm_source, settings.crm.kind, "", max(crm_every * SOURCE_BUDGET_POLLS, floor),
                            remedy(crm_source, settings))]
    mail_budget = max(sync.poll_interval * SOURCE_BUDGET_POLLS, floor)
    budgets += [SourceBudget(f"mailbox:{box.address}", box.kind, box.address, mail_budget,
                             remedy(f"mailbox:{box.address}", settings))
                for box in settings.mailboxes]
    return budgets


def source_check(budget: SourceBudget, health: SourceHealth, *, now: datetime, started_at: datetime) -> Check:
    """Ready while the last success (or, before one in this process's life, the start) is within budget.

    Refused credentials are not ready at once, whatever the budget: retrying cannot fix them ("reauthorize").
    """
    success = _aware(health.last_success_at)
    since_start = success is None or success < started_at
    age = now - (started_at if success is None or since_start else success)
    within = age <= budget.budget
    failing = f"; last error {health.last_error_kind}" if health.last_error_kind and _failed_last(health) else ""
    limit = f"budget {_human(budget.budget)}"
    if refused_last(health):
        seen = f"last success {_human(now - success)} ago" if success else "no success yet"
        return Check(budget.source, False, "reauthorize",
                     f"{budget.remedy or 'reauthorize: renew the credentials'} ({seen}{failing})")
    if since_start:
        state = "starting" if within else "failing"
        seen = f"last success {_human(now - success)} ago" if success else "no success yet"
        return Check(budget.source, within, state, f"{seen}, started {_human(age)} ago ({limit}){failing}")
    return Check(budget.source, within, "ok" if within else "stale",
                 f"last success {_human(age)} ago ({limit}){failing}")


def migrations_check(current: str | None, head: str) -> Check:
    if current == head:
        return Check("migrations", True, "ok", f"at head {head}")
    return Check("migrations", False, "failing", f"store at {current or 'no revision'}, code expects {head}: "
                 "run `threadline db upgrade`")


def store_down(reason: str) -> Readiness:
    """What readiness says when the store cannot be asked at all."""
    return Readiness([Check("store", False, "down", reason)])


def assess(store: Store, budgets: list[SourceBudget], *, started_at: datetime,
           now: datetime | None = None) -> Readiness:
    """Ask the store (SELECT 1, revision, source health) and judge. Raises whatever the database raises."""
    now = now or datetime.now(UTC)
    with store.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    checks = [Check("store", True, "ok", f"{store.engine.dialect.name} answered"),
              migrations_check(current_revision(store.engine), head_revision())]
    health = read_health(store, [b.source for b in budgets])
    checks += [source_check(b, health.get(b.source, SourceHealth()), now=now, started_at=started_at)
               for b in budgets]
    checks.append(outbox_check(store))
    return Readiness(checks)


def outbox_check(store: Store) -> Check:
    """Failed CRM writes and sends: "degraded" (still ready: pulls and push go on) with how many and what to
    do, so a failure that keeps repeating is never silent."""
    with store.session() as session:
        failed = session.exec(select(func.count()).select_from(OutboxRow).where(OutboxRow.status == "failed")).one()
        newest = session.exec(select(OutboxRow).where(OutboxRow.status == "failed")
                              .order_by(col(OutboxRow.updated_at).desc()).limit(1)).first()
    if not failed or newest is None:
        return Check("outbox", True, "ok", "no failed CRM writes or sends")
    # /readyz is public: kinds and counts only; the reasons are in `threadline outbox` and the status page.
    return Check("outbox", True, "degraded",
                 f"{failed} failed (newest: a {newest.kind} row); see `threadline outbox --failed` for why, fix the "
                 "cause, then `threadline outbox retry`")


def read_health(store: Store, sources: list[str], *, error_kinds: bool = True) -> dict[str, SourceHealth]:
    """Last success, last error and (one query per source, so optional) its kind, per source.

    Sources without a row are left out.
    """
    found = {}
    with store.session() as session:
        for row in session.exec(select(CursorRow).where(col(CursorRow.source).in_(sources))).all():
            kind = session.exec(select(SyncErrorRow.kind).where(SyncErrorRow.source == row.source)
                                .order_by(col(SyncErrorRow.id).desc()).limit(1)).first() if error_kinds else None
            found[row.source] = SourceHealth(row.last_success_at, row.last_error_at, kind)
    return found


def refused_last(health: SourceHealth) -> bool:
    """The source's last attempt ended in refused credentials (and nothing succeeded since)."""
    return is_auth_error(health.last_error_kind) and _failed_last(health)


def _failed_last(health: SourceHealth) -> bool:
    error, success = _aware(health.last_error_at), _aware(health.last_success_at)
    return error is not None and (success is None or error >= success)


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _human(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h" if seconds < 172800 else f"{seconds // 86400}d"


def needing_reauthorization(store: Store, settings: Settings) -> dict[str, str]:
    """Source -> remedy, for every configured source whose last attempt ended in refused credentials."""
    sources = [b.source for b in source_budgets(settings)]
    return {source: remedy(source, settings) for source, health in read_health(store, sources).items()
            if refused_last(health)}
