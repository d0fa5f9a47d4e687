"""Per-message CPU cost of the ingest path: parse_message + classify + extract_reply + a contact lookup.

Run: .venv/bin/python bench/message_cpu.py [--repeat N]   (prints JSON)

Every corpus email becomes a whole RFC 5322 message (.eml as is; .txt/.html bodies wrapped
in a text/plain or text/html message), is processed REPEAT times, and each run's CPU time
(time.process_time_ns) and wall time (perf_counter_ns) is one sample. The lookup of the
sender in a 10,000-address dict stands in for contact matching.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from email.message import EmailMessage
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.corpus import Fixture, load_fixtures, require_corpus  # noqa: E402
from threadline.sync.mail.classify import classify  # noqa: E402
from threadline.sync.mail.message import MalformedMessage, parse_message  # noqa: E402
from threadline.sync.mail.reply_text import extract_reply  # noqa: E402

CONTACTS = {f"contact{i}@client{i % 97}.example": f"contact-{i}" for i in range(10_000)}


def as_message(fixture: Fixture) -> bytes:
    raw = fixture.raw()
    if fixture.form == "eml":
        return raw
    msg = EmailMessage()
    msg["From"] = "Dana Reyes <contact42@client42.example>"
    msg["To"] = "rep@example.com"
    msg["Subject"] = "Re: Pricing"
    msg["Date"] = "Mon, 03 Mar 2025 09:00:00 +0000"
    msg["In-Reply-To"] = "<step-1@example.com>"
    msg["Message-ID"] = f"<{abs(hash(fixture.key))}@client42.example>"
    msg.set_content(raw.decode("utf-8", "replace"), subtype="html" if fixture.form == "html" else "plain")
    return msg.as_bytes()


def ingest(raw: bytes) -> None:
    try:
        parsed = parse_message(raw)
    except MalformedMessage:
        return
    classify(parsed)
    extract_reply(parsed.text, parsed.html)
    CONTACTS.get(parsed.from_address)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(ns: list[int]) -> dict[str, float]:
    us = [n / 1000 for n in ns]
    return {"median_us": round(statistics.median(us), 1), "p99_us": round(percentile(us, 0.99), 1),
            "max_ms": round(max(us) / 1000, 2), "mean_us": round(statistics.fmean(us), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    messages = [as_message(f) for f in load_fixtures(require_corpus())]
    for raw in messages:        # warm-up: imports, regex compilation, selectolax init
        ingest(raw)
    cpu: list[int] = []
    wall: list[int] = []
    for _ in range(args.repeat):
        for raw in messages:
            cpu_start, wall_start = time.process_time_ns(), time.perf_counter_ns()
            ingest(raw)
            cpu.append(time.process_time_ns() - cpu_start)
            wall.append(time.perf_counter_ns() - wall_start)
    sizes = [len(m) for m in messages]
    print(json.dumps({
        "messages": len(messages), "repeat": args.repeat, "samples": len(cpu),
        "message_bytes": {"median": int(statistics.median(sizes)), "max": max(sizes)},
        "pipeline": "parse_message + classify + extract_reply + dict lookup of the sender",
        "cpu_per_message": summary(cpu), "wall_per_message": summary(wall),
        "messages_per_cpu_second": round(len(cpu) / (sum(cpu) / 1e9)),
    }, indent=1))


if __name__ == "__main__":
    main()
