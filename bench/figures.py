"""The structured record every benchmark run becomes: its figures, each against a target or floor.

A `Figure` is one number a run produced, with what it is measured against; a `RunRecord` is one
benchmark's run (or why it could not run). Both round-trip through JSON (bench/results.json).
"""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Bound = Literal["max", "min"]


@dataclass(frozen=True)
class Figure:
    """One measured number against a target or floor. `bound` says how it is judged: "max" passes when
    value <= target * allowed, "min" when value >= target * allowed; with no bound the ratio is shown
    without a verdict (a floor nobody set a tolerance for, or a peer's figure against ours).

    `ratio` is value / target. `headline` figures go into the summary table.
    """

    name: str
    value: float
    unit: str
    target: float | None = None
    bound: Bound | None = None
    target_note: str = ""
    allowed: float = 1.0
    headline: bool = False

    @property
    def ratio(self) -> float | None:
        if self.target is None or self.target == 0:
            return None
        return round(self.value / self.target, 3)

    @property
    def passed(self) -> bool | None:
        if self.target is None or self.bound is None:
            return None
        limit = self.target * self.allowed
        return self.value <= limit if self.bound == "max" else self.value >= limit

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio, "passed": self.passed}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Figure:
        return cls(**{k: v for k, v in data.items() if k not in ("ratio", "passed")})


@dataclass
class RunRecord:
    """One benchmark run: `status` is "ok", "failed" or "skipped"; `reason` says why when not ok."""

    name: str
    title: str
    command: str
    mode: str
    date: str
    machine: str
    status: str
    seconds: float = 0.0
    load: float | None = None           # 1-minute load average when it started: other work on the machine
    reason: str = ""
    figures: list[Figure] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "figures": [f.to_json() for f in self.figures]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunRecord:
        return cls(**{**data, "figures": [Figure.from_json(f) for f in data.get("figures", [])]})


def machine() -> str:
    """A one-line description of this machine: CPU model and count, memory, Python."""
    cpu, memory = platform.processor() or "unknown CPU", ""
    cpuinfo, meminfo = Path("/proc/cpuinfo"), Path("/proc/meminfo")
    if cpuinfo.exists():
        cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                    if line.startswith("model name")), cpu)
    if meminfo.exists():
        kib = int(meminfo.read_text().split()[1])
        memory = f", {kib / 2**20:.0f} GiB"
    return f"{os.cpu_count()} vCPU {cpu}{memory}, Python {platform.python_version()}"
