"""The demo's deals: Jane Doe's company and deals in the CRM, and where her logged reply landed (issue #19).

A rep works the deal, not only the contact: the reply must show on Acme Corp and its open pilot deal (HubSpot), or
on the open Opportunity (Salesforce `WhatId`), and never on the renewal that closed last year.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from threadline.connector.demo.world import CONTACTS
from threadline.sandbox.server import SandboxServer

JANE = CONTACTS[0]
COMPANY = JANE.company
OPEN_DEAL, CLOSED_DEAL = f"{COMPANY}: pilot", f"{COMPANY}: 2025 renewal"


def seed_hubspot_deals(server: SandboxServer, jane_id: str) -> None:
    """Acme Corp (Jane's primary company), an open pilot deal and a closed-won renewal, both with Jane."""
    crm = server.hubspot
    company = crm.add_company(COMPANY, domain=JANE.email.rpartition("@")[2], contacts=[jane_id])
    crm.add_deal(OPEN_DEAL, stage="appointmentscheduled", contacts=[jane_id], company=company)
    crm.add_deal(CLOSED_DEAL, stage="closedwon", contacts=[jane_id], company=company)


def seed_salesforce_deals(server: SandboxServer, jane_id: str) -> None:
    """Acme Corp as Jane's Account, an open pilot Opportunity and a Closed Won renewal with her contact role."""
    org = server.salesforce
    account = org.add_account(COMPANY, contacts=[jane_id])
    org.add_opportunity(CLOSED_DEAL, account_id=account, stage="Closed Won", contacts=[jane_id])
    org.add_opportunity(OPEN_DEAL, account_id=account, stage="Prospecting", contacts=[jane_id])


def show_related(console: Console, server: SandboxServer, crm: str) -> bool:
    """Print which company and deals Jane's logged replies are on; True when each is on the open deal (and,
    on HubSpot, the company) and none is on the closed one."""
    landed = _hubspot(server) if crm == "hubspot" else _salesforce(server)
    table = Table(title=f"Where {JANE.first} {JANE.last}'s replies landed besides her contact record")
    for column in ("activity", "also on"):
        table.add_column(column, overflow="fold")
    for subject, names in landed:
        table.add_row(subject, ", ".join(names) or "[dim]nothing[/]")
    console.print(table)
    wanted = {COMPANY, OPEN_DEAL} if crm == "hubspot" else {OPEN_DEAL}
    ok = bool(landed) and all(wanted <= set(names) and CLOSED_DEAL not in names for _, names in landed)
    console.print(f"[green]on {' and '.join(sorted(wanted))}, not on the closed renewal[/]" if ok
                  else "[red]the reply did not land on the company and open deal[/]")
    return ok


def _hubspot(server: SandboxServer) -> list[tuple[str, list[str]]]:
    crm = server.hubspot
    jane = next(c for c in crm.crm.tables["contacts"].live_objects() if c.properties.get("email") == JANE.email)
    landed = []
    for email in crm.emails_for(str(jane.id)):
        names = []
        for kind, field in (("companies", "name"), ("deals", "dealname")):
            for record_id in crm.associated("emails", email["id"], kind):
                record = crm.crm.tables[kind].live(int(record_id))
                if record is not None:
                    names.append(str(record.properties.get(field)))
        landed.append((str(email["properties"].get("hs_email_subject", "")), names))
    return landed


def _salesforce(server: SandboxServer) -> list[tuple[str, list[str]]]:
    org = server.salesforce
    [jane] = [r for r in org.org.rows("Contact") if r["Email"] == JANE.email]
    landed = []
    for task in org.tasks_for(jane["Id"]):
        names = []
        if task.get("WhatId"):
            what = next((r for r in org.org.rows("Opportunity") if r["Id"] == task["WhatId"]), None) or next(
                (r for r in org.org.rows("Account") if r["Id"] == task["WhatId"]), None)
            names.append(str(what["Name"]) if what else str(task["WhatId"]))
        landed.append((str(task["Subject"]), names))
    return landed
