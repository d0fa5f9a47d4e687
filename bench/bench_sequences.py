"""Sequence benchmark (issue #5): scheduler CPU per due step, and sends/s against the provider's limits.

Two parts, both printed as one JSON document:

* **scheduler**: 10,000 enrolled contacts, a 5-step email sequence, 20 mailboxes with a daily cap of 50,
  driven over simulated days (a runner call every 10 simulated minutes, around the clock) on SQLite and,
  when a PostgreSQL server answers, on PostgreSQL (see bench/sequence_scheduler.py);
* **sends**: the SendExecutor draining intended first steps through the Gmail sandbox (see
  bench/sequence_sends.py), twice: a whole day's cap for every mailbox at once under Gmail's real
  per-user quota (`daily_cap_burst`), and more mail than the quota lets through for a few mailboxes
  (`provider_bound`; quota window and units shrunk alike by `--time-scale`, same units per second).

    .venv/bin/python bench/bench_sequences.py                           # the issue's sizes, both parts
    .venv/bin/python bench/bench_sequences.py --part scheduler --stores sqlite --contacts 1000
    .venv/bin/python bench/bench_sequences.py --part sends --bound-mailboxes 2 --bound-per-mailbox 40

PostgreSQL: $THREADLINE_TEST_PG (an admin URL, as for the tests; scripts/ensure_postgres.py prints one)
or postgresql+psycopg://postgres@127.0.0.1:5432/postgres; a throwaway database is created and dropped.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench.child import peak_rss_mb  # noqa: E402
from bench.sequence_scheduler import SchedulerConfig, simulate  # noqa: E402
from bench.sequence_sends import SendsConfig  # noqa: E402
from bench.sequence_sends import run as run_sends  # noqa: E402
from bench.sequence_smtp import run_smtp  # noqa: E402
from threadline.connector.monitoring.logs import configure_logging  # noqa: E402

PG_ADMIN = os.environ.get("THREADLINE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@contextmanager
def sqlite_url() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as tmp:
        yield f"sqlite:///{tmp}/sequences.db"


@contextmanager
def postgres_url() -> Iterator[str | None]:
    """A fresh database on the PostgreSQL at PG_ADMIN, dropped afterwards; None when none answers."""
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    name = f"tl_bench_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception:  # noqa: BLE001 - no server here: the PostgreSQL figures are simply left out
        admin.dispose()
        yield None
        return
    try:
        yield make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def scheduler(config: SchedulerConfig, stores: list[str]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    if "sqlite" in stores:
        with sqlite_url() as url:
            results["sqlite"] = simulate(url, config)
    if "postgres" in stores:
        with postgres_url() as url:
            results["postgres"] = simulate(url, config) if url else {"skipped": f"no PostgreSQL at {PG_ADMIN}"}
    return results


def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    return {"cpu": cpu, "cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["scheduler", "sends", "all"], default="all")
    parser.add_argument("--stores", default="sqlite,postgres", help="scheduler stores, comma-separated")
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--mailboxes", type=int, default=20)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--daily-cap", type=int, default=50)
    parser.add_argument("--spacing-minutes", type=float, default=10)
    parser.add_argument("--run-every-minutes", type=float, default=10, help="simulated minutes between cycles")
    parser.add_argument("--max-days", type=int, default=7,
                        help="simulated days (78 run the issue's sizes to completion: about 22 minutes on SQLite)")
    parser.add_argument("--reply-rate", type=float, default=0.02, help="share of sent emails that get a reply")
    parser.add_argument("--deliver", choices=["record", "executor"], default="record",
                        help="scheduler part: record sends with record_sent, or run the whole SendExecutor")
    parser.add_argument("--units-per-minute", type=int, default=15_000, help="sends part: Gmail per-user quota")
    parser.add_argument("--bound-mailboxes", type=int, default=2,
                        help="sends part, provider-bound scenario: mailboxes (each sends --bound-per-mailbox)")
    parser.add_argument("--bound-per-mailbox", type=int, default=60)
    parser.add_argument("--smtp-mailboxes", type=int, default=20, help="sends part over SMTP + Dovecot (0: skip)")
    parser.add_argument("--smtp-per-mailbox", type=int, default=50)
    parser.add_argument("--time-scale", type=float, default=20.0,
                        help="provider-bound scenario: quota window and units shrunk alike (same units/s)")
    args = parser.parse_args()
    configure_logging(level="WARNING")      # the executor logs every send at INFO

    out: dict[str, Any] = {"benchmark": "sequences", "machine": machine()}
    if args.part in ("scheduler", "all"):
        config = SchedulerConfig(args.contacts, args.mailboxes, args.steps, args.daily_cap, args.spacing_minutes,
                                 args.run_every_minutes, args.max_days, args.reply_rate, args.deliver)
        out["scheduler"] = scheduler(config, [s.strip() for s in args.stores.split(",") if s.strip()])
    if args.part in ("sends", "all"):
        out["sends_gmail"] = {
            "daily_cap_burst": run_sends(SendsConfig(args.mailboxes, args.daily_cap, args.units_per_minute)),
            "provider_bound": run_sends(SendsConfig(args.bound_mailboxes, args.bound_per_mailbox,
                                                    args.units_per_minute, args.time_scale)),
        }
        if args.smtp_mailboxes:
            out["sends_smtp"] = run_smtp(SendsConfig(args.smtp_mailboxes, args.smtp_per_mailbox))
    out["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main()
