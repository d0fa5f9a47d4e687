"""End to end over the Gmail API sandbox: a reply synced by the engine lands on the contact's company and open
deal (HubSpot) or is related to the contact's open Opportunity (Salesforce), as `sync.associate` says."""

from __future__ import annotations

from pathlib import Path

import pytest

from threadline.adapters.hubspot import HubSpotCrm
from threadline.config.loading import ConfigError, parse_settings
from threadline.connector.demo.related import CLOSED_DEAL, OPEN_DEAL
from threadline.connector.demo.run import demo_config, seed_demo
from threadline.connector.wiring.build import build_crm, build_engine
from threadline.sandbox.server import SandboxServer


def test_a_synced_reply_lands_on_the_company_and_the_open_deal_in_hubspot(sandbox: SandboxServer,
                                                                          tmp_path: Path) -> None:
    seeded = seed_demo(sandbox)
    hs = sandbox.hubspot
    deals = {}
    for contact in hs.contacts:
        linked = hs.associated("contacts", str(contact.id), "deals")
        if linked:          # Jane: the demo seeds Acme Corp, its open pilot and a closed-won renewal
            [company] = hs.associated("contacts", str(contact.id), "companies")
            by_name = {hs.crm.tables["deals"].live(int(d)).properties["dealname"]: d for d in linked}  # type: ignore[union-attr]
            deals[str(contact.id)] = (company, by_name[OPEN_DEAL], by_name[CLOSED_DEAL])
            continue
        company = hs.add_company(f"{contact.properties['email']} Inc", contacts=[str(contact.id)])
        deals[str(contact.id)] = (company, hs.add_deal("Pilot", contacts=[str(contact.id)], company=company),
                                  hs.add_deal("Last year", stage="closedlost", contacts=[str(contact.id)]))
    settings = parse_settings(demo_config(sandbox, f"sqlite:///{tmp_path / 's.db'}", seeded), tmp_path / "t.yaml",
                              env={})
    engine = build_engine(settings)
    summary = engine.run_once()
    engine.close()
    assert summary.outbox.performed["log_email"] == 3
    landed = 0
    for contact_id, (company, open_deal, lost_deal) in deals.items():
        for email in hs.emails_for(contact_id):
            assert hs.associated("emails", email["id"], "companies") == {company: [186]}
            assert hs.associated("emails", email["id"], "deals") == {open_deal: [210]}
            landed += 1
        assert hs.associated("deals", lost_deal, "emails") == {}
    assert landed == 3


def test_a_synced_reply_is_related_to_the_open_opportunity_in_salesforce(sandbox: SandboxServer,
                                                                         tmp_path: Path) -> None:
    seeded = seed_demo(sandbox, crm="salesforce")
    org = sandbox.salesforce
    opportunities = {}
    names = {r["Id"]: r["Name"] for r in org.org.rows("Opportunity")}
    for contact in org.org.rows("Contact"):
        roles = [r["OpportunityId"] for r in org.org.rows("OpportunityContactRole") if r["ContactId"] == contact["Id"]]
        if roles:           # Jane: the demo seeds her Account, an open pilot and a Closed Won renewal
            [opportunities[contact["Id"]]] = [o for o in roles if names[o] == OPEN_DEAL]
            continue
        account = org.add_account(f"{contact['Email']} Inc", contacts=[contact["Id"]])
        opportunities[contact["Id"]] = org.add_opportunity("Pilot", account_id=account, contacts=[contact["Id"]])
    config = demo_config(sandbox, f"sqlite:///{tmp_path / 's.db'}", seeded, crm="salesforce")
    engine = build_engine(parse_settings(config, tmp_path / "t.yaml", env={}))
    summary = engine.run_once()
    engine.close()
    assert summary.outbox.performed["log_email"] == 3
    on_contacts = [t for who in opportunities for t in org.tasks_for(who)]
    on_leads = [t for row in org.org.rows("Lead") for t in org.tasks_for(row["Id"])]   # a contact's 2nd address
    assert (len(on_contacts), len(on_leads)) == (2, 1)          # the demo's replies: two Contacts and one Lead
    assert all(t["WhatId"] == opportunities[t["WhoId"]] for t in on_contacts)
    assert all(t["WhatId"] is None for t in on_leads)


def test_the_settings_reach_the_adapters_and_refuse_an_unknown_target(sandbox: SandboxServer, tmp_path: Path) -> None:
    seeded = seed_demo(sandbox)
    config = demo_config(sandbox, f"sqlite:///{tmp_path / 's.db'}", seeded)
    config["sync"].update(associate=["company"], associate_max_deals=2)
    crm = build_crm(parse_settings(config, tmp_path / "t.yaml", env={}))
    assert isinstance(crm, HubSpotCrm)
    assert (crm.related.company, crm.related.open_deals, crm.related.max_deals) == (True, False, 2)
    crm.close()
    config["sync"]["associate"] = ["company", "tickets"]
    with pytest.raises(ConfigError, match="associate"):
        parse_settings(config, tmp_path / "t.yaml", env={})
