"""The adapters follow the CRMs' daily budgets from their answers, and a daily refusal waits for the day to
turn, never in a tight retry loop. Real HTTP against the sandbox, on a clock the test controls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from threadline.adapters.daily_budget import BudgetMeter
from threadline.adapters.errors import RateLimited
from threadline.adapters.hubspot import HubSpotCrm
from threadline.adapters.salesforce import ApiLimitExceeded, JwtBearerGrant, SalesforceCrm
from threadline.sandbox.server import SandboxServer

MORNING = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def _hubspot(sandbox: SandboxServer, http: httpx.Client, timezone: str = "UTC") -> HubSpotCrm:
    sandbox.hubspot.limits.today = lambda: MORNING
    sandbox.hubspot.settings.hubspot_search_per_second = 100
    return HubSpotCrm(http, token=sandbox.settings.hubspot_token, searches_per_second=80, page_size=10,
                      daily_budget=BudgetMeter.for_hubspot(timezone, clock=lambda: MORNING))


def test_hubspot_budget_comes_from_headers_and_counts_the_searches_that_carry_none(
        sandbox: SandboxServer, http: httpx.Client) -> None:
    sandbox.hubspot.settings.hubspot_daily_limit = 500
    crm = _hubspot(sandbox, http)
    sandbox.hubspot.seed_contacts(30)
    assert crm.daily_budget.current() is None
    stated = crm.daily_budget.refresh()                     # one GET /crm/v3/owners
    assert stated is not None and (stated.limit, stated.remaining, stated.unconfirmed) == (500, 499, 0)
    assert stated.resets_at == datetime(2026, 3, 3, tzinfo=UTC)
    searched = sandbox.stats.snapshot()["requests"]["hubspot"]
    list(crm.pull_contacts({"modified_after": 0}))           # an incremental pull: search pages only
    searched = sandbox.stats.snapshot()["requests"]["hubspot"] - searched
    estimate = crm.daily_budget.current()
    assert estimate is not None and estimate.unconfirmed == searched and estimate.remaining == 499 - searched
    confirmed = crm.daily_budget.refresh()
    assert confirmed is not None and confirmed.remaining == estimate.remaining - 1 and confirmed.unconfirmed == 0


def test_hubspot_daily_429_waits_until_midnight_in_the_portals_zone(sandbox: SandboxServer,
                                                                   http: httpx.Client) -> None:
    sandbox.hubspot.settings.hubspot_daily_limit = 0
    crm = _hubspot(sandbox, http, timezone="Europe/Berlin")
    with pytest.raises(RateLimited, match="DAILY") as raised:
        crm.list_owners()
    midnight_in_berlin = datetime(2026, 3, 2, 23, 0, tzinfo=UTC)
    assert raised.value.retry_after == pytest.approx((midnight_in_berlin - MORNING).total_seconds())
    assert sandbox.stats.snapshot()["throttled"]["hubspot"] == 1             # raised at once, not retried
    budget = crm.daily_budget.current()
    assert budget is not None and budget.remaining == 0


def test_salesforce_request_limit_exceeded_is_raised_at_once_for_an_hour_of_the_rolling_window(
        sandbox: SandboxServer, http: httpx.Client) -> None:
    app = sandbox.salesforce.default_app
    crm = SalesforceCrm(http, JwtBearerGrant(app.consumer_key, app.username, app.private_key_pem,
                                             login_url=sandbox.url),
                        daily_budget=None)
    stated = crm.daily_budget.refresh()                    # GET /limits
    limit = sandbox.settings.salesforce_daily_api_limit
    assert stated is not None and (stated.limit, stated.remaining, stated.resets_at) == (limit, limit - 1, None)
    sandbox.salesforce.set_daily_limit(1)
    with pytest.raises(ApiLimitExceeded) as raised:
        crm.list_owners()
    assert raised.value.retry_after == pytest.approx(timedelta(hours=1).total_seconds())
    assert sandbox.salesforce.stats_for("GET query") == 1   # raised at once, not retried
