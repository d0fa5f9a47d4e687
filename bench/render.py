"""Write the generated part of bench/RESULTS.md: the summary table and each benchmark's latest figures.

Only the text between the two markers below is replaced; everything else in the file (the
findings each issue recorded in prose, sections other runs write) is left exactly as it is.
"""

from __future__ import annotations

from pathlib import Path

from bench.catalog import Benchmark
from bench.figures import Figure, RunRecord

BEGIN = "<!-- bench:generated:begin (python -m bench all rewrites this part; edit outside it) -->"
END = "<!-- bench:generated:end -->"
RESULTS_MD = Path(__file__).resolve().parent / "RESULTS.md"
VERDICT = {True: "pass", False: "**FAIL**", None: "—"}


def number(value: float) -> str:
    if value == int(value) and abs(value) >= 1:
        return f"{int(value):,}"
    return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.1f}"


def target_text(figure: Figure) -> str:
    if figure.target is None:
        return "—"
    unit = f" {figure.unit}" if figure.unit else ""
    note = f" ({figure.target_note})" if figure.target_note else ""
    return f"{number(figure.target)}{unit}{note}"


def figure_row(figure: Figure, *lead: str) -> str:
    unit = f" {figure.unit}" if figure.unit else ""
    ratio = "—" if figure.ratio is None else f"{figure.ratio:.2f}"
    cells = [*lead, figure.name, f"**{number(figure.value)}{unit}**", target_text(figure), ratio,
             VERDICT[figure.passed]]
    return "| " + " | ".join(cells) + " |"


def summary(benchmarks: list[Benchmark], records: dict[str, RunRecord]) -> list[str]:
    lines = ["| benchmark | figure | value | target / floor | ratio | verdict | mode, date | machine |",
             "|---|---|---|---|---|---|---|---|"]
    for bench in benchmarks:
        rec = records.get(bench.name)
        if rec is None:
            lines.append(f"| {bench.title} | not run by `python -m bench` yet | | | | | | |")
            continue
        if rec.status != "ok":
            lines.append(f"| {bench.title} | {rec.status}: {rec.reason} | | | | | {rec.mode}, {rec.date} | "
                         f"{rec.machine} |")
            continue
        for figure in [f for f in rec.figures if f.headline] or rec.figures[:1]:
            lines.append(figure_row(figure, bench.title) + f" {rec.mode}, {rec.date} | {rec.machine} |")
    return lines


def details(bench: Benchmark, rec: RunRecord | None) -> list[str]:
    lines = [f"### {bench.title}", ""]
    if bench.note:
        lines += [f"Note: {bench.note}.", ""]
    if rec is None:
        return lines + ["Not run by `python -m bench` yet.", ""]
    load = "" if rec.load is None else f" (load average {rec.load:g} when it started)"
    lines += [f"`{rec.command}` ({rec.mode} mode), {rec.date}, {rec.seconds:g} s, on {rec.machine}{load}.", ""]
    if rec.status != "ok":
        return lines + [f"**{rec.status}:** {rec.reason}", ""]
    if rec.reason:
        lines += [f"Not measured in this run: {rec.reason}", ""]
    lines += ["| figure | value | target / floor | ratio | verdict |", "|---|---|---|---|---|"]
    return lines + [figure_row(f) for f in rec.figures] + [""]


def generated(benchmarks: list[Benchmark], records: dict[str, RunRecord]) -> str:
    """The Markdown that goes between the markers."""
    lines = [BEGIN, "", "## Summary: latest run of each benchmark", "",
             "Regenerate with `python -m bench all` (full sizes, tens of minutes) or `python -m bench all --quick` "
             "(small sizes, a few minutes); `python -m bench list` names them. A ratio is value / target; "
             "a verdict is given only where the issue sets a bound. Quick-mode figures are from smaller runs than "
             "the issues' sizes: compare them with the full-size findings below, not with the targets' prose.",
             "", *summary(benchmarks, records), "", "## Latest figures per benchmark", ""]
    for bench in benchmarks:
        lines += details(bench, records.get(bench.name))
    return "\n".join([*lines, END])


def write(benchmarks: list[Benchmark], records: dict[str, RunRecord], path: Path = RESULTS_MD) -> str:
    """Replace the generated part of `path` (or put it after the first heading if it has none); returns the text."""
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    block = generated(benchmarks, records)
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        first, _, rest = text.partition("\n")
        text = f"{first}\n\n{block}\n{rest}"
    path.write_text(text)
    return text
