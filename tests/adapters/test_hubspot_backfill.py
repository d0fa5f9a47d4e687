"""The HubSpot backfill (list walk up, search walk down, meeting in the middle) against the simulator."""

from __future__ import annotations

import threading
from collections import Counter

import httpx
import pytest

from threadline.adapters.fencing import Fenced, fenced
from threadline.adapters.hubspot import HubSpotCrm, HubSpotCursor
from threadline.adapters.records import ContactPage
from threadline.sandbox.server import SandboxServer

BASE_MS = 1_700_000_000_000
LIST = "hubspot GET list"
SEARCH = "hubspot POST search"


@pytest.fixture
def crm(sandbox: SandboxServer, http: httpx.Client) -> HubSpotCrm:
    """Fast limits on both sides, so paging tests stay quick (the limits test below uses HubSpot's own)."""
    sandbox.hubspot.settings.hubspot_search_per_second = 100
    sandbox.hubspot.settings.hubspot_requests_per_10s = 5000
    return HubSpotCrm(http, token=sandbox.settings.hubspot_token, searches_per_second=80,
                      requests_per_window=4000)


def routes(sandbox: SandboxServer) -> Counter[str]:
    return Counter(sandbox.stats.snapshot()["by_route"])


def live_ids(pages: list[ContactPage]) -> list[str]:
    return [c.id for page in pages for c in page.contacts if c.merged_into is None]


def test_every_contact_is_read_once_from_both_ends_and_the_pull_hands_over_to_the_incremental(
        sandbox: SandboxServer, crm: HubSpotCrm) -> None:
    seeded = sandbox.hubspot.seed_contacts(3000, start_ms=BASE_MS)
    pages = list(crm.pull_contacts(None))
    read = live_ids(pages)
    assert set(read) == set(seeded)
    assert len(read) - len(set(read)) <= 300       # at most one page of each walk read twice where they meet
    calls = routes(sandbox)
    # Both walks took part (how the ~20 calls split depends on thread scheduling: a loaded machine skews it).
    assert calls[LIST] >= 2 and calls[SEARCH] >= 2, calls
    # Pages of 100 (list) and 200 (search). How many of each depends on scheduling (about 3000/150 calls when the
    # walks keep pace), but whatever the split the pages asked for add up to the 3000 contacts, plus the page
    # where the walks meet (300), each walk's short last page and the anchor search (200 each at most).
    assert calls[LIST] * 100 + calls[SEARCH] * 200 <= 3000 + 300 + 3 * 200
    assert calls[LIST] + calls[SEARCH] <= 3000 / 100 + 4                  # never worse than one walk alone
    # The last cursor is the incremental one: newest modification, less the search lag (30 s by default).
    assert pages[-1].cursor == HubSpotCursor(BASE_MS + 2999 * 1000 - 30_000, None).to_dict()
    assert all("backfill" in p.cursor for p in pages[:-1])


def test_a_stopped_backfill_resumes_from_both_ends_without_losing_a_contact(
        sandbox: SandboxServer, crm: HubSpotCrm) -> None:
    seeded = sandbox.hubspot.seed_contacts(2000, start_ms=BASE_MS)
    first = crm.pull_contacts(None)
    saved = [next(first) for _ in range(6)]
    first.close()                                   # a crash or shutdown after the sixth page was saved
    cursor = saved[-1].cursor["backfill"]
    assert cursor["low"] > 0 and cursor["high"] is not None    # both walks had pages saved
    rest = list(crm.pull_contacts(saved[-1].cursor))
    assert set(live_ids(saved)) | set(live_ids(rest)) == set(seeded)
    # The resumed pull starts where the saved pages end, at both ends.
    assert {c.id for p in rest for c in p.contacts} <= {i for i in seeded if cursor["low"] < int(i) < cursor["high"]}
    assert "backfill" not in rest[-1].cursor


def test_changes_made_while_the_backfill_runs_reach_the_incremental_pull(
        sandbox: SandboxServer, crm: HubSpotCrm) -> None:
    seeded = sandbox.hubspot.seed_contacts(1500, start_ms=BASE_MS)
    pages: list[ContactPage] = []
    created = ""
    for page in crm.pull_contacts(None):
        pages.append(page)
        if len(pages) == 3:     # both walks have passed their first contacts: change one each walk already read
            sandbox.hubspot.update_contact(seeded[0], company="Renamed while reading")
            sandbox.hubspot.update_contact(seeded[-1], company="Renamed too")
            created = sandbox.hubspot.add_contact("late@client.com")
    assert set(live_ids(pages)) >= set(seeded)
    after = list(crm.pull_contacts(pages[-1].cursor))
    latest = {c.id: c for p in after for c in p.contacts}
    assert latest[seeded[0]].company == "Renamed while reading"
    assert latest[seeded[-1]].company == "Renamed too"
    assert created in latest


def test_merged_and_archived_contacts_are_skipped_and_mergers_name_their_losers(
        sandbox: SandboxServer, crm: HubSpotCrm, http: httpx.Client) -> None:
    seeded = sandbox.hubspot.seed_contacts(900, start_ms=BASE_MS)
    sandbox.hubspot.merge(seeded[450], seeded[451])
    token = sandbox.settings.hubspot_token
    assert http.delete(f"/crm/v3/objects/contacts/{seeded[100]}",
                       headers={"Authorization": f"Bearer {token}"}).status_code == 204
    pages = list(crm.pull_contacts(None))
    assert set(live_ids(pages)) == set(seeded) - {seeded[451], seeded[100]}
    merged = [c for p in pages for c in p.contacts if c.merged_into]
    assert {(c.id, c.merged_into) for c in merged} == {(seeded[451], seeded[450])}


def test_an_empty_portal_backfills_to_the_start(crm: HubSpotCrm) -> None:
    pages = list(crm.pull_contacts(None))
    assert live_ids(pages) == [] and pages[-1].cursor == HubSpotCursor(0, None).to_dict()


def test_at_hubspots_own_limits_both_walks_stay_inside_them(sandbox: SandboxServer, http: httpx.Client) -> None:
    """190 per 10 s with searches counted in it, and 5 searches a second: the backfill is never throttled."""
    sandbox.hubspot.settings.hubspot_search_counts_in_window = True
    seeded = sandbox.hubspot.seed_contacts(6000, start_ms=BASE_MS)
    crm = HubSpotCrm(http, token=sandbox.settings.hubspot_token, searches_per_second=5)
    pages = list(crm.pull_contacts(None))
    assert set(live_ids(pages)) == set(seeded)
    assert sandbox.stats.snapshot()["throttled"].get("hubspot", 0) == 0


def test_a_fence_set_around_the_pull_holds_on_the_walks_threads(crm: HubSpotCrm, sandbox: SandboxServer) -> None:
    sandbox.hubspot.seed_contacts(1000, start_ms=BASE_MS)
    checked: set[str] = set()

    class Gone:
        max_wait = 60.0

        def check(self) -> None:
            checked.add(threading.current_thread().name)
            if len(checked) >= 2:          # both walk threads asked: the work moved to another replica
                raise Fenced("the CRM pull moved to another replica")

    with fenced(Gone()), pytest.raises(Fenced):
        list(crm.pull_contacts(None))
    assert {name for name in checked if name.startswith("hubspot-backfill")}


def test_a_consumer_that_stops_early_leaves_no_walk_running(sandbox: SandboxServer, crm: HubSpotCrm) -> None:
    sandbox.hubspot.seed_contacts(3000, start_ms=BASE_MS)
    pages = crm.pull_contacts(None)
    next(pages)
    before = routes(sandbox)
    pages.close()                   # a shutdown between pages: the engine drops the iterator
    assert not [t for t in threading.enumerate() if t.name.startswith("hubspot-backfill")]
    # Each walk finishes at most the one call it had in flight, then stops.
    assert sum(routes(sandbox).values()) - sum(before.values()) <= 2
