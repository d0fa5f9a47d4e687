"""`threadline mailboxes`: every mailbox of the team, where it came from (the config, or found from the CRM's
owners), its CRM owner, and its state (syncing, waiting, reauthorize, failing with the reason, stopped)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table
from sqlmodel import col, select

from threadline.config.models import Settings
from threadline.connector.cli.consoles import output_console
from threadline.connector.cli.secrets import ConfigOption, load_config

console = output_console()


@dataclass(frozen=True)
class MailboxLine:
    address: str
    kind: str
    source: str                    # config | crm_owners | connected
    owner_id: str | None
    state: str                     # syncing | waiting | reauthorize | failing | stopped
    detail: str
    last_success_at: str | None


def mailboxes_command(as_json: Annotated[bool, typer.Option("--json", help="A JSON list instead of a table")] = False,
                      config: ConfigOption = None) -> None:
    """List every mailbox: address, source (config, crm_owners or connected), CRM owner id, state, last success."""
    settings = load_config(config)
    lines = mailbox_lines(settings)
    if as_json:
        print(json.dumps([asdict(line) for line in lines], indent=1))
        return
    table = Table(title="mailboxes")
    for column in ("address", "kind", "source", "owner id", "state", "last success", "detail"):
        table.add_column(column)
    for line in lines:
        table.add_row(line.address, line.kind, line.source, line.owner_id or "", line.state,
                      line.last_success_at or "never", line.detail, style="dim" if line.state == "stopped" else None)
    console.print(table)


def mailbox_lines(settings: Settings) -> list[MailboxLine]:
    """The configured mailboxes, then those found from the CRM's owners, each with its state from the store."""
    from threadline.connector.monitoring.readiness import read_health, refused_last
    from threadline.connector.monitoring.reauthorize import remedy
    from threadline.sync.engine import mailbox_source
    from threadline.sync.mailboxes.found import CONNECTED, all_found
    from threadline.sync.store.database import Store
    from threadline.sync.store.tables import SyncErrorRow

    store = Store(settings.store.url)
    with store.session() as session:
        found = [row for row in all_found(session)
                 if row.address not in {box.address.lower() for box in settings.mailboxes}]
    entries: list[tuple[str, str, str, str | None, bool, str]] = [
        (box.address, box.kind, "config", box.owner_id, True, "") for box in settings.mailboxes]
    entries += [(row.address, row.kind, row.source if row.source == CONNECTED else "crm_owners", row.owner_id,
                 row.active, row.reason) for row in found]
    health = read_health(store, [mailbox_source(address) for address, *_ in entries])
    lines = []
    for address, kind, source, owner_id, active, reason in entries:
        unit = mailbox_source(address)
        seen = health.get(unit)
        success = _text(seen.last_success_at) if seen else None
        if not active:
            state, detail = "stopped", reason + (" (its cursor is kept: a new connect link resumes it)"
                                                 if source == CONNECTED else
                                                 " (its cursor is kept: it resumes if the owner comes back)")
        elif seen is None or (seen.last_success_at is None and seen.last_error_at is None):
            state, detail = "waiting", "not pulled yet"
        elif refused_last(seen):
            state, detail = "reauthorize", remedy(unit, settings, kind if source == CONNECTED else None)
        elif seen.last_error_at is not None and (seen.last_success_at is None
                                                 or seen.last_error_at > seen.last_success_at):
            with store.session() as session:
                last = session.exec(select(SyncErrorRow.message).where(SyncErrorRow.source == unit)
                                    .order_by(col(SyncErrorRow.id).desc()).limit(1)).first()
            state, detail = "failing", f"{last or 'an error'}; retried at the next poll, the others go on"
        else:
            state, detail = "syncing", ""
        lines.append(MailboxLine(address, kind, source, owner_id, state, detail, success))
    return lines


def _text(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None
