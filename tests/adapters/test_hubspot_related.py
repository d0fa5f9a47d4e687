"""Logged emails and rule tasks land on the contact's primary company and open deals (HubSpot), through
real HTTP to the simulator; lookups are batched and the deal pipelines' closed stages are cached."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from threadline.adapters.errors import TransientError
from threadline.adapters.hubspot import HubSpotCrm
from threadline.adapters.records import EmailActivity, TaskRequest
from threadline.sandbox.faults import Fault
from threadline.sandbox.server import SandboxServer

BASE_MS = 1_700_000_000_000
EMAIL_TO_CONTACT, EMAIL_TO_COMPANY, EMAIL_TO_DEAL = 198, 186, 210
TASK_TO_COMPANY, TASK_TO_DEAL = 192, 216


class Clock:
    """Monotonic seconds the test moves by hand (the pipelines cache reads it)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_crm(sandbox: SandboxServer, http: httpx.Client, clock: Clock, **kw: object) -> HubSpotCrm:
    crm = HubSpotCrm(http, token=sandbox.settings.hubspot_token, clock=clock, **kw)  # type: ignore[arg-type]
    assert all(r.ok for r in crm.ensure_schema())
    return crm


@pytest.fixture
def crm(sandbox: SandboxServer, http: httpx.Client, clock: Clock) -> HubSpotCrm:
    return make_crm(sandbox, http, clock)


def activity(key: str, contact_id: str) -> EmailActivity:
    return EmailActivity(key=key, contact_id=contact_id, direction="incoming",
                         occurred_at=datetime(2024, 5, 1, 12, tzinfo=UTC), subject="Re: pricing", text="Sounds good",
                         from_address="lead@client.com", to_addresses=("rep@example.com",))


def calls(sandbox: SandboxServer, route: str) -> int:
    return sandbox.stats.snapshot()["by_route"].get(f"hubspot {route}", 0)


def links(sandbox: SandboxServer, email_id: str, to_type: str) -> dict[str, list[int]]:
    return sandbox.hubspot.associated("emails", email_id, to_type)


def test_an_email_lands_on_the_contact_its_primary_company_and_open_deals(
        sandbox: SandboxServer, crm: HubSpotCrm) -> None:
    hs = sandbox.hubspot
    ann = hs.add_contact("ann@client.com")
    company = hs.add_company("Client Inc", domain="client.com", contacts=[ann])
    hs.add_company("Old Employer", contacts=[ann], primary=False)         # linked, but not her primary company
    deal = hs.add_deal("Pilot", stage="qualifiedtobuy", contacts=[ann], company=company)
    won = hs.add_deal("Last year", stage="closedwon", contacts=[ann])
    lost = hs.add_deal("Lost one", stage="closedlost", contacts=[ann])
    [logged] = crm.log_emails([activity("k1", ann)])
    assert links(sandbox, logged.remote_id, "contacts") == {ann: [EMAIL_TO_CONTACT]}
    assert links(sandbox, logged.remote_id, "companies") == {company: [EMAIL_TO_COMPANY]}
    assert links(sandbox, logged.remote_id, "deals") == {deal: [EMAIL_TO_DEAL]}
    assert hs.associated("deals", won, "emails") == {} and hs.associated("deals", lost, "emails") == {}


def test_contacts_with_no_company_or_a_company_and_no_deals(sandbox: SandboxServer, crm: HubSpotCrm) -> None:
    hs = sandbox.hubspot
    alone, employed = hs.add_contact("alone@gmail.com"), hs.add_contact("bob@acme.com")
    acme = hs.add_company("Acme", domain="acme.com", contacts=[employed])
    first, second = crm.log_emails([activity("a", alone), activity("b", employed)])
    assert links(sandbox, first.remote_id, "contacts") == {alone: [EMAIL_TO_CONTACT]}
    assert links(sandbox, first.remote_id, "companies") == {} and links(sandbox, first.remote_id, "deals") == {}
    assert links(sandbox, second.remote_id, "companies") == {acme: [EMAIL_TO_COMPANY]}
    assert links(sandbox, second.remote_id, "deals") == {}
    assert calls(sandbox, "GET pipelines") == 0              # no deal to judge: the pipelines are not read


def test_at_most_max_deals_most_recently_modified_first(sandbox: SandboxServer, http: httpx.Client,
                                                        clock: Clock) -> None:
    hs = sandbox.hubspot
    crm = make_crm(sandbox, http, clock, associate_max_deals=3)
    ann = hs.add_contact("ann@client.com")
    deals = [hs.add_deal(f"Deal {n}", contacts=[ann], modified_ms=BASE_MS + n * 60_000) for n in range(6)]
    [logged] = crm.log_emails([activity("k", ann)])
    assert set(links(sandbox, logged.remote_id, "deals")) == {deals[5], deals[4], deals[3]}
    hs.move_deal(deals[0], "contractsent")                     # touched now: the most recently modified
    [again] = crm.log_emails([activity("k2", ann)])
    assert set(links(sandbox, again.remote_id, "deals")) == {deals[0], deals[5], deals[4]}


def test_a_deal_closed_between_the_pull_and_the_write_is_not_associated(
        sandbox: SandboxServer, crm: HubSpotCrm) -> None:
    hs = sandbox.hubspot
    ann = hs.add_contact("ann@client.com")
    open_deal = hs.add_deal("Renewal", contacts=[ann])
    closing = hs.add_deal("Pilot", stage="contractsent", contacts=[ann])
    crm.log_emails([activity("before", ann)])                  # warms the pipelines cache
    hs.move_deal(closing, "closedwon")                         # the rep closes it before the reply is written
    [logged] = crm.log_emails([activity("after", ann)])
    assert set(links(sandbox, logged.remote_id, "deals")) == {open_deal}


def test_lookups_are_batched_per_write_batch_and_pipelines_are_cached_until_they_expire(
        sandbox: SandboxServer, crm: HubSpotCrm, clock: Clock) -> None:
    hs = sandbox.hubspot
    contacts = [hs.add_contact(f"c{n}@client.com") for n in range(150)]
    company = hs.add_company("Client Inc", contacts=contacts)
    deal = hs.add_deal("Big deal", contacts=contacts[::2])
    logged = crm.log_emails([activity(f"k{n}", c) for n, c in enumerate(contacts)])
    assert len(logged) == 150
    # two write batches (100 + 50): one contacts->companies and one contacts->deals read each, one deals read each
    assert calls(sandbox, "POST associations/batch/read") == 4
    assert calls(sandbox, "POST batch/read") == 2 and calls(sandbox, "GET pipelines") == 1
    assert all(links(sandbox, item.remote_id, "companies") == {company: [EMAIL_TO_COMPANY]} for item in logged)
    assert sum(deal in links(sandbox, item.remote_id, "deals") for item in logged) == 75
    clock.now += 599
    crm.log_emails([activity("cached", contacts[0])])
    assert calls(sandbox, "GET pipelines") == 1
    clock.now += 1
    crm.log_emails([activity("expired", contacts[0])])
    assert calls(sandbox, "GET pipelines") == 2


def test_a_stage_of_a_pipeline_created_after_the_cache_was_filled_is_read_at_once(
        sandbox: SandboxServer, crm: HubSpotCrm) -> None:
    hs = sandbox.hubspot
    ann = hs.add_contact("ann@client.com")
    hs.add_deal("Renewal", contacts=[ann])
    crm.log_emails([activity("warm", ann)])
    hs.add_pipeline("renewals", "Renewals", [("r-open", "Open", 0.5, False), ("r-done", "Renewed", 1.0, True)])
    renewed = hs.add_deal("Renewed 2024", stage="r-done", pipeline="renewals", contacts=[ann])
    [logged] = crm.log_emails([activity("new-pipeline", ann)])
    assert renewed not in links(sandbox, logged.remote_id, "deals")
    assert calls(sandbox, "GET pipelines") == 2


@pytest.mark.parametrize(("associate", "company_linked", "deal_linked"),
                         [([], False, False), (["company"], True, False), (["open_deals"], False, True)])
def test_the_setting_turns_each_target_off(sandbox: SandboxServer, http: httpx.Client, clock: Clock,
                                           associate: list[str], company_linked: bool, deal_linked: bool) -> None:
    hs = sandbox.hubspot
    crm = make_crm(sandbox, http, clock, associate=associate)
    ann = hs.add_contact("ann@client.com")
    company = hs.add_company("Client Inc", contacts=[ann])
    deal = hs.add_deal("Pilot", contacts=[ann], company=company)
    [logged] = crm.log_emails([activity("k", ann)])
    assert (company in links(sandbox, logged.remote_id, "companies")) is company_linked
    assert (deal in links(sandbox, logged.remote_id, "deals")) is deal_linked
    assert links(sandbox, logged.remote_id, "contacts") == {ann: [EMAIL_TO_CONTACT]}
    if not associate:
        assert calls(sandbox, "POST associations/batch/read") == 0 and calls(sandbox, "GET pipelines") == 0


def test_rule_tasks_land_on_the_company_and_open_deals_too(sandbox: SandboxServer, crm: HubSpotCrm) -> None:
    hs = sandbox.hubspot
    ann = hs.add_contact("ann@client.com")
    company = hs.add_company("Client Inc", contacts=[ann])
    deal = hs.add_deal("Pilot", contacts=[ann])
    hs.add_deal("Done", stage="closedlost", contacts=[ann])
    [task] = crm.create_tasks([TaskRequest(key="t1", contact_id=ann, owner_id=None, subject="Call back",
                                           body="They asked for a call", due_at=datetime(2024, 5, 2, tzinfo=UTC))])
    assert hs.associated("tasks", task.remote_id, "companies") == {company: [TASK_TO_COMPANY]}
    assert hs.associated("tasks", task.remote_id, "deals") == {deal: [TASK_TO_DEAL]}


def test_a_refused_lookup_logs_the_batch_on_the_contacts_alone(sandbox: SandboxServer, crm: HubSpotCrm) -> None:
    hs = sandbox.hubspot
    ann = hs.add_contact("ann@client.com")
    hs.add_company("Client Inc", contacts=[ann])
    # A token without crm.objects.companies.read: HubSpot answers 403 MISSING_SCOPES on the association read.
    sandbox.faults.add(Fault(provider="hubspot", kind="error", status=403, path_prefix="/crm/v4/associations"))
    [logged] = crm.log_emails([activity("k", ann)])
    assert links(sandbox, logged.remote_id, "contacts") == {ann: [EMAIL_TO_CONTACT]}
    assert links(sandbox, logged.remote_id, "companies") == {}


def test_an_outage_during_the_lookup_fails_the_write_so_the_outbox_tries_it_again(
        sandbox: SandboxServer, http: httpx.Client, clock: Clock) -> None:
    crm = make_crm(sandbox, http, clock, attempts=1)
    ann = sandbox.hubspot.add_contact("ann@client.com")
    sandbox.faults.add(Fault(provider="hubspot", kind="error", status=502, path_prefix="/crm/v4/associations"))
    with pytest.raises(TransientError):
        crm.log_emails([activity("k", ann)])
    assert sandbox.hubspot.count("emails") == 0
