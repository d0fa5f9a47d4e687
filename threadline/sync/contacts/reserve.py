"""The daily reserve: bulk CRM work stops where the part of the day kept for everything else starts.

The CRM's daily API budget is shared with the customer's other integrations and with our own reply logging,
which is what the product is for and is small. So the contact pull (a backfill, a large incremental) takes a
page only while more than the reserve (`crm.daily_reserve` of the day's limit) is left; below it, the pull
stores its cursor and pauses until the day turns, and the outbox keeps logging replies until the provider's own
limit. This is the one place that decides; adapters only report the budget (adapters/daily_budget.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlmodel import Session

from threadline.adapters.daily_budget import BudgetMeter, DailyBudget
from threadline.sync.work.cursors import BudgetState, clear_pause, load_budget, record_budget

log = structlog.get_logger("threadline.contacts")

#: How long a pause lasts when the provider names no reset (Salesforce's rolling 24 hours), or when the day
#: turned and the budget did not come back (a portal in another time zone than assumed, another integration).
RECHECK = timedelta(hours=1)
#: Ask the provider again after this many calls it did not confirm (HubSpot's search answers carry no budget,
#: and other integrations spend from the same day).
REPROBE_AFTER = 50


@dataclass
class DailyReserve:
    """Decides, before each page of the contact pull, whether the day has room for it. `clock` is the engine's."""

    meter: BudgetMeter
    fraction: float
    clock: Callable[[], datetime]
    source: str

    def held_until(self, session: Session) -> datetime | None:
        """The recorded pause, while it lasts: the pull makes no call before then."""
        state = load_budget(session, self.source)
        until = state.paused_until if state else None
        return until if until is not None and self.clock() < until else None

    def was_paused(self, session: Session) -> BudgetState | None:
        """The recorded budget if a pause is recorded (over or not)."""
        state = load_budget(session, self.source)
        return state if state is not None and state.paused_until is not None else None

    def budget(self) -> DailyBudget | None:
        """The budget now, asking the provider (one cheap call) when it is unknown, past its reset, an hour
        old, or an estimate for too long. May raise ProviderError from that call."""
        known, now = self.meter.current(), self.clock()
        # An hour-old figure of a rolling window (or one from before the reset) says little about now.
        stale = known is None or known.unconfirmed >= REPROBE_AFTER or now - known.seen_at >= RECHECK or (
            known.resets_at is not None and now >= known.resets_at)
        return self.meter.refresh() if stale else known

    def room(self, budget: DailyBudget | None) -> bool:
        """More than the reserve is left (or the provider has not said: nothing to keep back then)."""
        return budget is None or budget.remaining > budget.reserve(self.fraction)

    def pause(self, session: Session, budget: DailyBudget, *, resuming: bool) -> datetime:
        """Record the pause (in the caller's transaction) and say so; returns when the pull may try again.

        Until the reset the provider names; an hour when it names none, or when this pull came after a
        reset that did not bring the budget back (`resuming`)."""
        now = self.clock()
        turn = budget.resets_at
        until = turn if turn is not None and turn > now and not resuming else now + RECHECK
        until = until.replace(microsecond=0)      # as the store keeps it
        reserve = budget.reserve(self.fraction)
        record_budget(session, self.source, budget, reserve, paused_until=until)
        log.info("contacts.paused", source=self.source, remaining=budget.remaining, reserve=reserve,
                 until=until.isoformat(timespec="seconds"), reason="daily reserve reached")
        return until

    def resume(self, session: Session, budget: DailyBudget | None) -> None:
        """Clear a recorded pause now that the day has room again, and say so."""
        state = load_budget(session, self.source)
        if budget is not None:
            record_budget(session, self.source, budget, budget.reserve(self.fraction), paused_until=None)
        else:
            clear_pause(session, self.source)
        log.info("contacts.resumed", source=self.source, remaining=budget.remaining if budget else None,
                 paused_until=state.paused_until.isoformat(timespec="seconds") if state and state.paused_until
                 else None)
