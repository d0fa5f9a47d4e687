"""`threadline owners`: the CRM's owners (HubSpot owners, Salesforce users) with the id to put in a mailbox's
`owner_id`, and which of them already have a mailbox configured."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from threadline.adapters.records import CheckResult, CrmOwner
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


def owner_checks(settings: Settings, owners: list[CrmOwner]) -> list[CheckResult]:
    """`threadline check` lines for every configured owner id (mailboxes, assignment reps): known to the CRM and
    active, or failed with where it is configured and how to find the right one."""
    known = {o.id: o for o in owners}
    configured = [(f"mailboxes[{i}].owner_id", box.owner_id) for i, box in enumerate(settings.mailboxes)
                  if box.owner_id]
    assignment = settings.rules.assignment
    configured += [(f"rules.assignment.reps[{i}].owner_id", rep.owner_id)
                   for i, rep in enumerate(assignment.reps if assignment else [])]
    results = []
    for where, owner_id in configured:
        owner = known.get(owner_id)
        if owner is None:
            detail = f"{owner_id} is not an owner in {settings.crm.kind}; `threadline owners` lists the ids"
        elif not owner.active:
            detail = f"{owner_id} ({owner.name}) is deactivated in {settings.crm.kind}"
        else:
            detail = f"{owner_id}: {owner.name}"
        results.append(CheckResult(target=settings.crm.kind, item=where, ok=owner is not None and owner.active,
                                   detail=detail))
    return results


def written_field_checks(settings: Settings, schema: dict[str, set[str]]) -> list[CheckResult]:
    """`threadline check` lines for every CRM field the rules write: the score fields, the stage field (with
    stages) and the owner field (with assignment). HubSpot creates its missing custom score properties at start;
    anything else missing is named with the setting that writes it and what to do."""
    scoring, assignment = settings.rules.scoring, settings.rules.assignment
    wanted: list[tuple[str, str, bool]] = []          # (field, the setting that writes it, created at start)
    creates = settings.crm.kind == "hubspot"
    if scoring is not None:
        fields = scoring.fields
        names = [("total", fields.total), ("tier", fields.tier)]
        names += [("fit", fields.fit), ("intent", fields.intent)] if scoring.fit_and_intent else []
        wanted += [(name, f"rules.scoring.fields.{key}", creates) for key, name in names]
        if scoring.stages:
            wanted.append((fields.stage, "rules.scoring.fields.stage", False))
    if assignment is not None:
        wanted.append((assignment.owner_field, "rules.assignment.owner_field", False))
    results = []
    for field, setting, created in wanted:
        missing = [record for record, names in schema.items() if field.lower() not in names]
        if not missing:
            results.append(CheckResult(target=settings.crm.kind, item=f"field {field}", ok=True,
                                       detail=f"written by {setting}"))
        elif created:
            results.append(CheckResult(target=settings.crm.kind, item=f"field {field}", ok=True,
                                       detail=f"missing; created at start (written by {setting})"))
        else:
            results.append(CheckResult(target=settings.crm.kind, item=f"field {field}", ok=False, detail=(
                f"{settings.crm.kind} {' and '.join(missing)} have no field {field!r}, which {setting} writes: "
                f"create it in {settings.crm.kind}, or set {setting} to a field it has")))
    return results
