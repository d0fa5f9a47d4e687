"""`threadline mailboxes`: every mailbox of the team, where it came from (the config, or found from the CRM's
owners), its CRM owner, and its state (syncing, waiting, reauthorize, failing with the reason, stopped).

The reading itself is connector/monitoring/team_mailboxes.py (the status page shows the same table), imported
on first use so the CLI starts without the engine.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer
from rich.table import Table

from threadline.connector.cli.consoles import output_console
from threadline.connector.cli.secrets import ConfigOption, load_config

console = output_console()


def mailboxes_command(as_json: Annotated[bool, typer.Option("--json", help="A JSON list instead of a table")] = False,
                      config: ConfigOption = None) -> None:
    """List every mailbox: address, source (config, crm_owners or connected), CRM owner id, state, last success."""
    from threadline.connector.monitoring.team_mailboxes import mailbox_lines

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

