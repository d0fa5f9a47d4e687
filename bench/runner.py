"""Run benchmarks as child processes, turn the JSON each prints into a `RunRecord`, keep the latest per name.

A benchmark that exits non-zero, times out or prints no JSON becomes a record with status
"failed" or "skipped" and the reason, never invented figures. Records are kept in
bench/results.json, one per benchmark (the latest run), so a partial run updates only its own rows.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.catalog import BENCHMARKS, Benchmark
from bench.figures import RunRecord, machine

ROOT = Path(__file__).resolve().parent.parent
RESULTS_JSON = Path(__file__).resolve().parent / "results.json"


def parse_output(stdout: str) -> dict[str, Any] | None:
    """The JSON document a benchmark printed: from its first line that opens an object to the end."""
    lines = stdout.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("{")), None)
    if start is None:
        return None
    try:
        data = json.loads("\n".join(lines[start:]))
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def record(bench: Benchmark, mode: str, started: datetime, seconds: float, returncode: int | None,
           stdout: str, stderr: str, load: float | None = None) -> RunRecord:
    """Turn one finished (or timed-out, `returncode` None) child into a RunRecord."""
    command = "python " + shlex.join(bench.argv(mode))
    base = RunRecord(bench.name, bench.title, command, mode, started.strftime("%Y-%m-%d %H:%M UTC"), machine(),
                     "ok", round(seconds, 1), load)
    data = parse_output(stdout)
    if returncode is None:
        base.status, base.reason = "failed", f"timed out after {seconds:.0f} s"
    elif returncode != 0:
        base.status, base.reason = "failed", f"exit {returncode}: {last_line(stderr or stdout)}"
    elif data is None:
        base.status, base.reason = "skipped", last_line(stdout or stderr) or "printed no JSON"
    else:
        base.figures = bench.extract(data)
        base.reason = "; ".join(skipped_parts(data))
        if not base.figures:
            base.status, base.reason = "skipped", base.reason or "the run produced none of the expected figures"
    return base


def skipped_parts(data: dict[str, Any], path: str = "") -> list[str]:
    """The parts a benchmark reports it skipped ({"skipped": why} or "skipped: why"), two levels deep."""
    found = []
    for key, value in data.items():
        where = f"{path}{key}"
        if isinstance(value, dict) and isinstance(value.get("skipped"), str):
            found.append(f"{where} skipped: {value['skipped']}")
        elif isinstance(value, str) and value.startswith("skipped"):
            found.append(f"{where} {value}")
        elif isinstance(value, dict) and not path:
            found += skipped_parts(value, f"{where}.")
    return found


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def run(bench: Benchmark, mode: str, timeout: float, raw_dir: Path | None = None) -> RunRecord:
    """Run one benchmark from the repo root and return its record; its raw JSON goes to `raw_dir`."""
    started, clock, load = datetime.now(UTC), time.monotonic(), round(os.getloadavg()[0], 2)
    try:
        done = subprocess.run([sys.executable, *bench.argv(mode)], cwd=ROOT, capture_output=True, text=True,
                              timeout=timeout)
        returncode, stdout, stderr = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired as exc:
        returncode, stdout, stderr = None, _text(exc.stdout), _text(exc.stderr)
    if raw_dir is not None:
        raw_dir.mkdir(parents=True, exist_ok=True)
        (raw_dir / f"{bench.name}.json").write_text(stdout)
    return record(bench, mode, started, time.monotonic() - clock, returncode, stdout, stderr, load)


def _text(value: bytes | str | None) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else (value or "")


def load(path: Path = RESULTS_JSON) -> dict[str, RunRecord]:
    """The latest record per benchmark, as saved; empty when there is none yet."""
    if not path.exists():
        return {}
    return {name: RunRecord.from_json(data) for name, data in json.loads(path.read_text()).items()}


def save(records: dict[str, RunRecord], path: Path = RESULTS_JSON) -> None:
    path.write_text(json.dumps({name: r.to_json() for name, r in records.items()}, indent=1,
                               ensure_ascii=False) + "\n")


def reextract(records: dict[str, RunRecord], raw_dir: Path) -> dict[str, RunRecord]:
    """Records whose figures are read again from the JSON their own run printed (after an extractor changed);
    a record without its raw output is kept as it is."""
    known, out = {b.name: b for b in BENCHMARKS}, dict(records)
    for name, rec in records.items():
        raw = raw_dir / f"{name}.json"
        data = parse_output(raw.read_text()) if name in known and raw.exists() and rec.status == "ok" else None
        if data is not None:
            out[name] = RunRecord(**{**vars(rec), "figures": known[name].extract(data),
                                     "reason": "; ".join(skipped_parts(data))})
    return out
