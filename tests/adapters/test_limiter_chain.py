"""A call that counts against several limits spends from all of them at the moment it may leave."""

from __future__ import annotations

import pytest

from threadline.adapters.errors import RateLimited
from threadline.adapters.ratelimit import LimiterChain, RateLimiter


class Clock:
    """Time that moves only when a limiter sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def limiter(clock: Clock, capacity: float, window: float, name: str = "hubspot") -> RateLimiter:
    return RateLimiter(capacity=capacity, window=window, name=name, clock=clock, sleep=clock.sleep)


def test_a_call_held_by_one_limit_is_stamped_in_the_other_when_it_leaves() -> None:
    clock = Clock()
    search, window = limiter(clock, 5, 1.0), limiter(clock, 3, 10.0)
    chain = LimiterChain((search, window))
    for _ in range(3):
        chain.acquire()
    chain.acquire()                         # the ten-second window is full: this call waits ~10 s
    assert clock.now == pytest.approx(10.001)
    # The search limiter saw it leave at 10 s, not at 0 s when it asked: four more searches may not
    # follow within that second (stamping first and waiting after would have let them).
    stamps = [at for at, _ in search._spent]
    assert stamps[-1] == pytest.approx(10.001)


def test_the_chain_keeps_every_limit_over_many_calls() -> None:
    clock = Clock()
    search, window = limiter(clock, 5, 1.0), limiter(clock, 19, 10.0)
    chain = LimiterChain((search, window))
    sent = []
    for _ in range(100):
        chain.acquire()
        sent.append(clock.now)
    for i, at in enumerate(sent):
        assert sum(1 for t in sent[i:] if t < at + 1.0) <= 5
        assert sum(1 for t in sent[i:] if t < at + 10.0) <= 19


def test_a_long_pause_in_any_limit_goes_back_to_the_caller_with_the_time_left() -> None:
    clock = Clock()
    search, window = limiter(clock, 5, 1.0), limiter(clock, 190, 10.0)
    chain = LimiterChain((search, window))
    chain.pause(3600)                          # a DAILY 429 said an hour
    with pytest.raises(RateLimited) as caught:
        chain.acquire()
    assert caught.value.retry_after == pytest.approx(3600)
    assert clock.now == 0.0                    # nothing slept
