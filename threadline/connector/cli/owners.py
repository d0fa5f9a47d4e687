"""`threadline owners`: the CRM's owners (HubSpot owners, Salesforce users) with the id to put in a mailbox's
`owner_id`, and which of them already have a mailbox configured."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from threadline.adapters.records import CrmOwner
from threadline.config.models import Settings
from threadline.connector.cli.consoles import error_console, output_console
from threadline.connector.cli.secrets import ConfigOption, load_config

console = output_console()
err = error_console()


def owners_command(as_json: Annotated[bool, typer.Option("--json", help="A JSON list instead of a table")] = False,
                   config: ConfigOption = None) -> None:
    """List the CRM's owners (id, name, email, active) and the mailbox configured for each."""
    from threadline.adapters.errors import ProviderError
    from threadline.connector.wiring.build import build_crm

    settings = load_config(config)
    crm = build_crm(settings)
    try:
        owners = crm.list_owners()
    except ProviderError as exc:
        err.print(f"threadline: cannot list the CRM's owners: {exc}", markup=False, highlight=False)
        raise typer.Exit(1) from None
    finally:
        crm.close()
    listed = [(o, _mailbox_of(settings, o)) for o in sorted(owners, key=lambda o: (not o.active, o.name.lower()))]
    if as_json:
        print(json.dumps([{"id": o.id, "name": o.name, "email": o.email, "active": o.active, "mailbox": mailbox}
                          for o, mailbox in listed], indent=1))
        return
    table = Table(title=f"{settings.crm.kind} owners")
    for column in ("id", "name", "email", "active", "mailbox"):
        table.add_column(column)
    for owner, mailbox in listed:
        table.add_row(owner.id, owner.name, owner.email or "", "yes" if owner.active else "no",
                      mailbox or "[dim]none: add one with this owner_id[/]")
    console.print(table)


def _mailbox_of(settings: Settings, owner: CrmOwner) -> str | None:
    """The configured mailbox for this owner: by owner_id, else by address."""
    email = (owner.email or "").lower()
    for box in settings.mailboxes:
        if box.owner_id == owner.id:
            return box.address
    return next((box.address for box in settings.mailboxes if box.address.lower() == email and email), None)
