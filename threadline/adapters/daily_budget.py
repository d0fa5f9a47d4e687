"""A CRM account's daily API budget, as its responses report it.

HubSpot's daily limit (`X-HubSpot-RateLimit-Daily` / `-Daily-Remaining`, reset at midnight in the portal's time
zone) and Salesforce's allocation (`Sforce-Limit-Info: api-usage=used/limit`, a rolling 24 hours) are shared with
the customer's other integrations. `BudgetMeter` is fed every response through JsonApi's budget hook: it keeps
the last `DailyBudget` the provider stated, counts the calls made since when a response carries no headers
(HubSpot's search answers), and sets a daily refusal's `retry_after` (HubSpot's RateLimited, Salesforce's
ApiLimitExceeded) to the time to the reset, so no retry loop ever hammers a spent day. Inside `bulk_work` it
refuses a call that would spend from the reserve (ReserveReached); whether bulk work may spend is decided by the
contact pull (sync/contacts/reserve.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx

from threadline.adapters.errors import ProviderError

#: How long to wait after a daily refusal when the provider gives no reset time (Salesforce's rolling window).
ROLLING_RETRY = timedelta(hours=1)

Reader = Callable[[httpx.Response], tuple[int, int] | None]      # response -> (limit, remaining)
ResetRule = Callable[[datetime], datetime | None]                # when seen -> when the day turns (None: rolling)
IsDaily = Callable[[ProviderError, httpx.Response], bool]       # is this refusal the daily limit?
Allows = Callable[["DailyBudget"], bool]                          # may bulk work spend from this budget?

#: Set around bulk work (the contact pull): every call made in it, on any thread that copied the context (the
#: HubSpot backfill's walks read pages ahead), is checked first, so read-ahead cannot spend into the reserve.
_bulk: ContextVar[Allows | None] = ContextVar("threadline_bulk_budget", default=None)


@dataclass(frozen=True)
class DailyBudget:
    """The daily allocation as last stated by the provider, less the calls counted since (`unconfirmed`)."""

    limit: int
    remaining: int
    seen_at: datetime
    resets_at: datetime | None          # None: a rolling window (Salesforce), no fixed reset
    unconfirmed: int = 0                # calls made since the provider last stated `remaining`

    def reserve(self, fraction: float) -> int:
        """The calls to keep back: `fraction` of the day's limit, at least one (so bulk work never spends the last)."""
        return max(1, round(self.limit * fraction)) if self.limit > 0 else 0


class ReserveReached(ProviderError):
    """A call of bulk work would spend from the day's reserve: it was not sent. Not retried; the caller pauses."""

    def __init__(self, budget: DailyBudget, provider: str) -> None:
        super().__init__(f"{provider}: {budget.remaining} daily API requests left, within the reserve",
                         provider=provider)
        self.budget = budget


@contextmanager
def bulk_work(allows: Allows) -> Iterator[None]:
    """Within this block, a call is sent only if `allows` the budget as known; else ReserveReached."""
    token = _bulk.set(allows)
    try:
        yield
    finally:
        _bulk.reset(token)


def midnight_reset(timezone: str = "UTC") -> ResetRule:
    """HubSpot: the day turns at midnight in the portal's time zone."""
    zone = ZoneInfo(timezone)

    def next_midnight(seen: datetime) -> datetime:
        local = seen.astimezone(zone)
        return datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return next_midnight


def rolling_reset(_seen: datetime) -> None:
    """Salesforce: a rolling 24-hour window has no moment at which the whole day comes back."""
    return None


def hubspot_daily(response: httpx.Response) -> tuple[int, int] | None:
    """(limit, remaining) from X-HubSpot-RateLimit-Daily / -Daily-Remaining (absent on search answers)."""
    limit, remaining = (response.headers.get(f"X-HubSpot-RateLimit-Daily{s}") for s in ("", "-Remaining"))
    if limit is None or remaining is None or not limit.isdigit() or not remaining.isdigit():
        return None
    return int(limit), int(remaining)


def hubspot_is_daily(_error: ProviderError, response: httpx.Response) -> bool:
    """HubSpot's 429 with `policyName: DAILY`."""
    if response.status_code != 429:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("policyName") == "DAILY"


class BudgetMeter:
    """Follows one CRM account's daily budget from every response; thread-safe.

    `probe` (set by the adapter) is one cheap call that carries the budget headers, used to learn the budget
    when it is unknown or estimated for long. `clock` is the time the reset is computed from (tests move it).
    """

    def __init__(self, provider: str, read: Reader, reset: ResetRule, is_daily: IsDaily, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.provider = provider
        self.clock = clock
        self.probe: Callable[[], object] | None = None
        self._read, self._reset, self._is_daily = read, reset, is_daily
        self._budget: DailyBudget | None = None
        self._lock = threading.Lock()

    @classmethod
    def for_hubspot(cls, timezone: str = "UTC", **kw: Callable[[], datetime]) -> BudgetMeter:
        """HubSpot's meter: budget headers on non-search answers, the day turning at midnight in `timezone`."""
        return cls("hubspot", hubspot_daily, midnight_reset(timezone), hubspot_is_daily, **kw)


    def current(self) -> DailyBudget | None:
        """The budget as last stated less the calls counted since; None before any response said it."""
        with self._lock:
            return self._budget

    def refresh(self) -> DailyBudget | None:
        """Ask the provider (one cheap call through `probe`) and return what it says. May raise ProviderError."""
        if self.probe is not None:
            token = _bulk.set(None)        # asking what is left is how bulk work learns it may go on
            try:
                self.probe()
            finally:
                _bulk.reset(token)
        return self.current()

    def before_call(self) -> None:
        """JsonApi's hook, before a call leaves: inside bulk work, raise ReserveReached when the budget as
        known has no room for it (nothing is checked outside bulk work, or before the budget is known)."""
        allows = _bulk.get()
        budget = self.current()
        if allows is not None and budget is not None and not allows(budget):
            raise ReserveReached(budget, self.provider)

    def observe(self, response: httpx.Response) -> None:
        """JsonApi's hook: take the stated budget, or count an accepted call that did not state it."""
        stated = self._read(response)
        with self._lock:
            if stated is not None:
                now = self.clock()
                self._budget = DailyBudget(stated[0], stated[1], now, self._reset(now))
            elif self._budget is not None and response.status_code < 400:
                # HubSpot counts search calls against the day but says nothing in their answers.
                self._budget = replace(self._budget, remaining=max(0, self._budget.remaining - 1),
                                       unconfirmed=self._budget.unconfirmed + 1)

    def refine(self, error: ProviderError, response: httpx.Response) -> ProviderError:
        """JsonApi's hook: a daily refusal (a RateLimited, or Salesforce's ApiLimitExceeded) waits until the day
        turns (an hour for a rolling window)."""
        if not self._is_daily(error, response) or not hasattr(error, "retry_after"):
            return error
        now = self.clock()
        turn = self._reset(now)
        with self._lock:
            # A refusal that states the budget was taken by `observe`; one that does not says the day is spent.
            if self._budget is not None and self._read(response) is None:
                self._budget = replace(self._budget, remaining=0)
        error.retry_after = max(1.0, ((turn - now) if turn else ROLLING_RETRY).total_seconds())
        return error


def budget_meter(crm: object) -> BudgetMeter | None:
    """The adapter's meter, if it keeps one (CRM adapters do; a test double may not)."""
    meter = getattr(crm, "daily_budget", None)
    return meter if isinstance(meter, BudgetMeter) else None
