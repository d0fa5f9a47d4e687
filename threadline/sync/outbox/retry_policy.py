"""How long a failed outbox row waits before its next attempt, and when it gives up.

Only provider attempts count: a claim that made no provider call (a contact update waiting for its reply's
activity, a row whose lease moved, a source parked by a long throttle) is given back without counting.
Giving up is a time horizon from the first attempt's failure (`sync.give_up_after`, a day by default), not a
number of attempts, so a row retried quickly at first still has its day. A row that gives up is `failed`:
visible in `threadline status`, and retried by command.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from threadline.sync.store.tables import as_utc


@dataclass(frozen=True)
class RetryPolicy:
    """Back-off doubling from `first_delay` up to `max_delay`; give up `give_up_after` past the first failure."""

    first_delay: timedelta = timedelta(seconds=2)
    max_delay: timedelta = timedelta(hours=1)
    give_up_after: timedelta = timedelta(days=1)

    def delay(self, attempts: int) -> timedelta:
        """The wait after the `attempts`-th failed provider attempt: 2 s, 4 s, 8 s ... up to `max_delay`."""
        doubled = self.first_delay * (2 ** min(max(attempts, 1) - 1, 30))
        return min(doubled, self.max_delay)

    def gives_up(self, first_failure_at: datetime | None, now: datetime) -> bool:
        """Whether a row whose first attempt failed at `first_failure_at` has run out of time at `now`."""
        return first_failure_at is not None and now - as_utc(first_failure_at) >= self.give_up_after
