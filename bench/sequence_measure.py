"""Measuring helpers for the sequence benchmarks: SQL statement counts, CPU/wall samples, percentiles."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine


class QueryCounter:
    """Counts SQL statements sent on one engine (every execute, including those inside executemany batches
    counted once)."""

    def __init__(self, engine: Engine) -> None:
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *_args: Any) -> None:
        self.count += 1


@dataclass
class Sample:
    """One measured call: wall and CPU seconds (this process), SQL statements, and what it reported."""

    wall: float
    cpu: float
    queries: int
    result: Any = None


@dataclass
class Meter:
    """Accumulates samples of one kind of call."""

    samples: list[Sample] = field(default_factory=list)

    @contextmanager
    def measure(self, queries: QueryCounter | None = None) -> Iterator[Sample]:
        sample = Sample(0.0, 0.0, 0)
        q0 = queries.count if queries else 0
        wall0, cpu0 = time.perf_counter(), time.process_time()
        yield sample
        sample.cpu = time.process_time() - cpu0
        sample.wall = time.perf_counter() - wall0
        sample.queries = (queries.count if queries else 0) - q0
        self.samples.append(sample)

    @property
    def cpu(self) -> float:
        return sum(s.cpu for s in self.samples)

    @property
    def wall(self) -> float:
        return sum(s.wall for s in self.samples)


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (share in 0..1); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(share * len(ordered))))
    return ordered[rank - 1]


def spread(values: Sequence[float], scale: float = 1000.0, digits: int = 2) -> dict[str, float]:
    """p50 / p99 / max of `values` times `scale` (default: seconds -> ms)."""
    def scaled(value: float) -> float:
        return round(value * scale, digits)

    return {"p50": scaled(percentile(values, 0.50)), "p99": scaled(percentile(values, 0.99)),
            "max": scaled(max(values, default=0.0))}
