"""`python -m bench`: run the benchmarks and regenerate bench/RESULTS.md.

    python -m bench list                      # the benchmarks and their commands
    python -m bench all [--quick]             # run every one, then rewrite the summary in RESULTS.md
    python -m bench run NAME [NAME...] [--quick]
    python -m bench render [--from-raw]       # rewrite RESULTS.md from bench/results.json only

Each run's record (figures, targets, ratios, machine, command, date) is kept in bench/results.json,
and the raw JSON each benchmark printed in bench/out/raw/. Run it under `nice` on a shared machine.
"""

from __future__ import annotations

import argparse
import sys

from bench import catalog, render, runner

RAW = runner.RESULTS_JSON.parent / "out" / "raw"


def list_benchmarks() -> None:
    for bench in catalog.BENCHMARKS:
        print(f"{bench.name:20} {bench.title}")
        print(f"{'':20} quick: python {' '.join(bench.argv('quick'))}")
        print(f"{'':20} full:  python {' '.join(bench.argv('full'))}")


def run(names: list[str], mode: str, timeout: float, skip: list[str]) -> int:
    try:
        chosen = [b for b in catalog.find(names) if b.name not in skip]
    except KeyError as exc:
        print(exc.args[0], file=sys.stderr)
        return 2
    records = runner.load()
    for bench in chosen:
        print(f"{bench.name}: running ({mode})...", file=sys.stderr, flush=True)
        rec = runner.run(bench, mode, timeout, RAW)
        records[bench.name] = rec
        runner.save(records)              # after each one, so an interrupted run keeps what it measured
        print(f"{bench.name}: {rec.status} in {rec.seconds:g} s {rec.reason}", file=sys.stderr, flush=True)
    render.write(list(catalog.BENCHMARKS), records)
    return 0 if all(records[b.name].status != "failed" for b in chosen) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the benchmarks")
    render_cmd = sub.add_parser("render", help="rewrite RESULTS.md from bench/results.json")
    render_cmd.add_argument("--from-raw", action="store_true",
                            help="first re-read each record's figures from the JSON its run left in bench/out/raw")
    for name in ("all", "run"):
        cmd = sub.add_parser(name, help="run every benchmark" if name == "all" else "run the named benchmarks")
        if name == "run":
            cmd.add_argument("names", nargs="+")
        cmd.add_argument("--quick", action="store_true", help="small sizes: the whole set in a few minutes")
        cmd.add_argument("--skip", default="", help="comma-separated names to leave out")
        cmd.add_argument("--timeout", type=float, default=3600, help="per benchmark, seconds")
    args = parser.parse_args(argv)
    if args.command == "list":
        list_benchmarks()
        return 0
    if args.command == "render":
        records = runner.load()
        if args.from_raw:
            records = runner.reextract(records, RAW)
            runner.save(records)
        render.write(list(catalog.BENCHMARKS), records)
        return 0
    skip = [s for s in args.skip.split(",") if s]
    return run(getattr(args, "names", []), "quick" if args.quick else "full", args.timeout, skip)


if __name__ == "__main__":
    sys.exit(main())
