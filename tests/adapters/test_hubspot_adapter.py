"""The HubSpot adapter against the HubSpot simulator, through real HTTP."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from threadline.adapters.errors import AuthExpired
from threadline.adapters.hubspot import ActivitiesRejected, HubSpotCrm, HubSpotCursor
from threadline.adapters.records import ContactPage, ContactUpdate, EmailActivity
from threadline.sandbox.faults import Fault
from threadline.sandbox.server import SandboxServer

BASE_MS = 1_700_000_000_000
SEARCH = "POST search"


@pytest.fixture
def crm(sandbox: SandboxServer, http: httpx.Client) -> HubSpotCrm:
    """An adapter with fast search limits (the sandbox's are raised to match) so paging tests stay quick."""
    sandbox.hubspot.settings.hubspot_search_per_second = 100
    return HubSpotCrm(http, token=sandbox.settings.hubspot_token, searches_per_second=80)


def searches(sandbox: SandboxServer) -> int:
    return sandbox.stats.snapshot()["by_route"].get(f"hubspot {SEARCH}", 0)


def pull_all(crm: HubSpotCrm, cursor: dict | None = None) -> list[ContactPage]:
    return list(crm.pull_contacts(cursor))


def ids_in(pages: list[ContactPage]) -> set[str]:
    return {c.id for page in pages for c in page.contacts if c.merged_into is None}


def activity(key: str, contact_id: str, text: str = "Sounds good") -> EmailActivity:
    return EmailActivity(key=key, contact_id=contact_id, direction="incoming",
                         occurred_at=datetime(2024, 5, 1, 12, tzinfo=UTC), subject="Re: pricing", text=text,
                         from_address="lead@client.com", to_addresses=("rep@example.com",))


#: Where an incremental pull over everything starts (the backfill itself is tested in test_hubspot_backfill.py).
FROM_THE_START = HubSpotCursor(0, None).to_dict()


def test_an_incremental_pull_over_everything_reads_every_contact_in_pages_of_200(
        sandbox: SandboxServer, crm: HubSpotCrm) -> None:
    seeded = sandbox.hubspot.seed_contacts(1200, start_ms=BASE_MS)
    pages = pull_all(crm, FROM_THE_START)
    assert ids_in(pages) == set(seeded)
    assert all(len(page.contacts) <= 200 for page in pages)
    assert searches(sandbox) == 7  # 6 full pages + the page that shows the end (boundary re-read: 1 per page)
    assert pages[-1].cursor == HubSpotCursor(BASE_MS + 1199 * 1000, None).to_dict()


def test_incremental_pass_reads_only_changes_and_an_idle_pass_costs_one_search(
        sandbox: SandboxServer, crm: HubSpotCrm) -> None:
    seeded = sandbox.hubspot.seed_contacts(500, start_ms=BASE_MS)
    crm.search_lag_seconds = 0   # the backfill hands over at the newest date (less no index lag)
    cursor = pull_all(crm)[-1].cursor
    sandbox.hubspot.update_contact(seeded[10], company="Changed Co")
    sandbox.hubspot.update_contact(seeded[20], firstname="Renamed")
    changed = pull_all(crm, cursor)
    contacts = {c.id: c for page in changed for c in page.contacts}
    assert set(contacts) == {seeded[-1], seeded[10], seeded[20]}  # seeded[-1]: the boundary, re-read by GTE
    assert contacts[seeded[10]].company == "Changed Co"
    before = searches(sandbox)
    pull_all(crm, changed[-1].cursor)
    assert searches(sandbox) - before == 1


def test_more_contacts_than_the_search_cap_with_few_timestamps_are_all_read(
        sandbox: SandboxServer, crm: HubSpotCrm) -> None:
    sandbox.hubspot.settings.hubspot_search_result_cap = 1000  # HubSpot's is 10,000; same rule, smaller data
    seeded = sandbox.hubspot.seed_contacts(2500, timestamps=[BASE_MS + k * 60_000 for k in range(7)])
    assert ids_in(pull_all(crm, FROM_THE_START)) == set(seeded)


def test_a_bulk_import_instant_larger_than_the_cap_is_walked_by_id_and_resumable(
        sandbox: SandboxServer, crm: HubSpotCrm) -> None:
    sandbox.hubspot.settings.hubspot_search_result_cap = 1000
    bulk = sandbox.hubspot.seed_contacts(1500, timestamps=[BASE_MS])
    later = sandbox.hubspot.seed_contacts(50, start_ms=BASE_MS + 5000)
    pages = pull_all(crm, FROM_THE_START)
    assert ids_in(pages) == set(bulk + later)
    walking = [p.cursor for p in pages if p.cursor["after_id"] is not None]
    assert walking and walking[0]["modified_after"] == BASE_MS
    resumed = pull_all(crm, walking[2])  # a crash mid-walk resumes after the last id it saved
    assert ids_in(resumed) == {i for i in bulk if int(i) > walking[2]["after_id"]} | set(later)


def test_additional_emails_are_split_and_merged_ids_point_at_the_winner(
        sandbox: SandboxServer, crm: HubSpotCrm) -> None:
    winner = sandbox.hubspot.add_contact("ann@client.com", additional_emails=["ann@old-client.com"])
    loser = sandbox.hubspot.add_contact("ann.b@client.com")
    sandbox.hubspot.merge(winner, loser)
    contacts = [c for page in pull_all(crm) for c in page.contacts]
    merged = [c for c in contacts if c.id == loser]
    assert merged and merged[-1].merged_into == winner
    ann = [c for c in contacts if c.id == winner][-1]
    assert ann.emails == ("ann@client.com", "ann@old-client.com", "ann.b@client.com")


def test_logged_emails_are_associated_with_their_contacts_and_found_by_key(
        sandbox: SandboxServer, crm: HubSpotCrm) -> None:
    assert all(r.ok for r in crm.ensure_schema())
    ann, bob = sandbox.hubspot.add_contact("ann@client.com"), sandbox.hubspot.add_contact("bob@client.com")
    logged = crm.log_emails([activity("k1", ann), activity("k2", ann), activity("k3", bob, "Call me")])
    assert {item.key for item in logged} == {"k1", "k2", "k3"}
    bobs = sandbox.hubspot.emails_for(bob)
    assert [e["properties"]["hs_email_text"] for e in bobs] == ["Call me"]
    assert bobs[0]["properties"]["hs_email_direction"] == "INCOMING_EMAIL"
    assert bobs[0]["properties"]["hs_email_headers"]["from"] == {"email": "lead@client.com"}
    assert len(sandbox.hubspot.emails_for(ann)) == 2
    assert crm.find_logged(["k1", "k3", "unknown"]) == {i.key: i.remote_id for i in logged if i.key != "k2"}


def test_ensure_schema_is_idempotent_and_check_reports_the_properties(crm: HubSpotCrm) -> None:
    before = [r for r in crm.check() if r.item.startswith("property")]
    assert len(before) == 4 and all(r.ok and r.detail.startswith("missing: the first sync creates it") for r in before)
    first, second = crm.ensure_schema(), crm.ensure_schema()
    assert {r.detail for r in first} == {"created"} and {r.detail for r in second} == {"present"}
    assert all(r.ok and not r.detail for r in crm.check() if r.item.startswith("property"))


def test_emails_rejected_as_a_whole_raise_with_each_key(sandbox: SandboxServer, crm: HubSpotCrm) -> None:
    contact = sandbox.hubspot.add_contact("ann@client.com")
    with pytest.raises(ActivitiesRejected) as caught:  # no ensure_schema: threadline_key does not exist
        crm.log_emails([activity("k1", contact)])
    assert set(caught.value.rejected) == {"k1"}


def test_a_partial_batch_failure_returns_the_created_activities(sandbox: SandboxServer, crm: HubSpotCrm) -> None:
    crm.ensure_schema()
    contact = sandbox.hubspot.add_contact("ann@client.com")
    logged = crm.log_emails([activity("ok", contact), activity("gone", "987654")])
    assert [item.key for item in logged] == ["ok"]
    assert len(sandbox.hubspot.emails_for(contact)) == 1


def test_a_throttle_burst_is_retried_and_logs_each_email_once(sandbox: SandboxServer, crm: HubSpotCrm) -> None:
    crm.ensure_schema()
    contact = sandbox.hubspot.add_contact("ann@client.com")
    throttles_before = sandbox.ctx.faults.fired.get("throttle", 0)
    sandbox.faults.add(Fault(provider="hubspot", kind="throttle", count=2, delay=0.2,
                             path_prefix="/crm/v3/objects/emails/batch/create"))
    logged = crm.log_emails([activity(f"k{i}", contact) for i in range(5)])
    assert len(logged) == 5 and len(sandbox.hubspot.emails_for(contact)) == 5
    assert sandbox.ctx.faults.fired["throttle"] - throttles_before == 2


def test_server_errors_are_retried(sandbox: SandboxServer, crm: HubSpotCrm) -> None:
    seeded = sandbox.hubspot.seed_contacts(10, start_ms=BASE_MS)
    sandbox.faults.add(Fault(provider="hubspot", kind="error", status=502, path_prefix="/crm/v3/objects/contacts"))
    assert ids_in(pull_all(crm)) == set(seeded)


def test_a_rejected_token_raises_auth_expired_without_leaking_it(sandbox: SandboxServer, http: httpx.Client) -> None:
    crm = HubSpotCrm(http, token="pat-revoked-secret")
    with pytest.raises(AuthExpired) as caught:
        pull_all(crm)
    assert "pat-revoked-secret" not in str(caught.value) and "pat-revoked-secret" not in repr(crm)
    assert [r.item for r in crm.check() if not r.ok] == ["token"]


def test_update_contacts_writes_absolute_values(sandbox: SandboxServer, crm: HubSpotCrm) -> None:
    crm.ensure_schema()
    ids = sandbox.hubspot.seed_contacts(150, start_ms=BASE_MS)
    crm.update_contacts([ContactUpdate(contact_id=i, properties={"threadline_reply_count": "2"}) for i in ids])
    crm.update_contacts([ContactUpdate(contact_id=ids[0], properties={"threadline_reply_count": "2"})])
    assert {sandbox.hubspot.object("contacts", i).properties["threadline_reply_count"] for i in ids} == {"2"}
    assert sandbox.stats.snapshot()["by_route"]["hubspot POST batch/update"] == 3


def test_the_proactive_limiter_keeps_a_long_run_free_of_429s(sandbox: SandboxServer, http: httpx.Client) -> None:
    sandbox.hubspot.settings.hubspot_requests_per_10s = 20  # the 190/10 s rule, scaled to 20/1 s
    sandbox.hubspot.settings.hubspot_rate_window_seconds = 1.0
    crm = HubSpotCrm(http, token=sandbox.settings.hubspot_token, requests_per_window=20, window_seconds=1.0)
    contact = sandbox.hubspot.add_contact("ann@client.com")
    for _ in range(60):
        crm.update_contacts([ContactUpdate(contact_id=contact, properties={"company": "Acme"})])
    stats = sandbox.stats.snapshot()
    assert stats["by_route"]["hubspot POST batch/update"] == 60
    assert stats["throttled"].get("hubspot", 0) == 0
