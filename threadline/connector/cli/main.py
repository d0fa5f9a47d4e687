"""The `threadline` command. Each command is a small function; bad config exits 2 with file, key and expectation."""

from __future__ import annotations

import json
import signal
import sys
import threading
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from threadline import __version__
from threadline.config.loading import ConfigError, load_settings
from threadline.config.models import Settings
from threadline.connector.cli.auth import auth_app
from threadline.connector.cli.checks import connect_checks, field_checks, label_checks, owner_checks
from threadline.connector.cli.connect import connect_app
from threadline.connector.cli.consoles import error_console, output_console
from threadline.connector.cli.forget import forget_command
from threadline.connector.cli.health import health
from threadline.connector.cli.init_command import init_command
from threadline.connector.cli.mailboxes import mailboxes_command
from threadline.connector.cli.outbox import outbox_app
from threadline.connector.cli.owners import owners_command
from threadline.connector.cli.sandbox_cli import SEEDED_GMAIL_TOKEN as SEEDED_GMAIL_TOKEN  # re-exported
from threadline.connector.cli.sandbox_cli import sandbox_app
from threadline.connector.cli.secrets import secrets_app

if TYPE_CHECKING:
    from threadline.rules.runner import RuleRunner

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_show_locals=False,
                  help="Threadline: replies from reps' mailboxes land on CRM contact records.")
db_app = typer.Typer(no_args_is_help=True, help="State store commands.")
app.add_typer(db_app, name="db")
sequence_app = typer.Typer(no_args_is_help=True, help="Stop or resume a contact's sequences by hand.")
app.add_typer(sequence_app, name="sequence")
app.add_typer(secrets_app, name="secrets")
app.add_typer(outbox_app, name="outbox")
app.command("init")(init_command)
app.command("owners")(owners_command)
app.command("mailboxes")(mailboxes_command)
app.add_typer(auth_app, name="auth")
app.add_typer(connect_app, name="connect")
app.command("health")(health)
app.command("forget")(forget_command)
app.add_typer(sandbox_app, name="sandbox")
console = output_console()
err = error_console()

ConfigOption = Annotated[
    str | None, typer.Option("--config", "-c", help="Config file (default: $THREADLINE_CONFIG or ./threadline.yaml)")
]


def _settings(config: str | None) -> Settings:
    try:
        settings = load_settings(config)
    except ConfigError as exc:
        err.print(exc.render(), markup=False, highlight=False)
        raise typer.Exit(2) from None
    from threadline.rules.conditions import RuleError
    from threadline.rules.runner import compile_rules
    try:
        compile_rules(settings.rules)
    except RuleError as exc:
        path = config or "threadline.yaml"
        err.print(f"Invalid rules in {path}:\n" + "\n".join(f"  {p}" for p in exc.problems), markup=False)
        raise typer.Exit(2) from None
    from threadline.connector.monitoring.logs import configure_logging, secret_values
    configure_logging(secret_values(settings))
    return settings


def _version(value: bool) -> None:
    if value:
        console.print(f"threadline {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True)] = False) -> None:
    """Threadline command line."""


@app.command()
def check(config: ConfigOption = None,
          as_json: Annotated[bool, typer.Option("--json", help="A JSON list of the checks instead of a table")] = False
          ) -> None:
    """Validate the config, reach every provider, verify access and properties; print a table."""
    settings = _settings(config)
    from threadline.adapters.errors import ProviderError
    from threadline.adapters.records import CheckResult
    from threadline.connector.reports.render import checks_table
    from threadline.connector.wiring.build import build_crm, build_mailbox

    crm = build_crm(settings)
    try:
        results = [*crm.check()]
        if any(r.item == "reach" and r.ok for r in results):        # reached, credentials accepted
            try:
                results += owner_checks(settings, crm.list_owners())
            except ProviderError as exc:
                results.append(CheckResult(target=settings.crm.kind, item="owners", ok=False, detail=str(exc)[:300]))
            try:
                results += field_checks(settings, crm.contact_fields())
            except ProviderError as exc:
                results.append(CheckResult(target=settings.crm.kind, item="fields", ok=False, detail=str(exc)[:300]))
    finally:
        crm.close()
    for box in settings.mailboxes:
        mailbox = build_mailbox(settings, box)
        try:
            results += mailbox.check()
            results += label_checks(settings, box, mailbox)
        finally:
            mailbox.close()
    from threadline.connector.wiring.secret_keys import load_keys

    results += connect_checks(settings, load_keys(settings) is not None)
    if as_json:
        sys.stdout.write(json.dumps([r.model_dump() for r in results], indent=1) + "\n")
    else:
        console.print(checks_table(results))
    if not all(r.ok for r in results):
        raise typer.Exit(1)


@app.command()
def sync(config: ConfigOption = None,
         once: Annotated[bool, typer.Option("--once", help="Run one cycle and exit")] = False) -> None:
    """Run one sync cycle (`--once`): contacts, mailboxes, then CRM writes; print a summary."""
    if not once:
        err.print("use `threadline sync --once` for one cycle, or `threadline run` for the daemon")
        raise typer.Exit(2)
    settings = _settings(config)
    from threadline.connector.reports.render import print_sync_summary
    from threadline.connector.wiring.build import build_engine

    engine = build_engine(settings)
    try:
        with console.status("syncing") as status:
            summary = engine.run_once(lambda message: status.update(message))
    finally:
        engine.close()
    print_sync_summary(console, summary)
    raise typer.Exit(1 if summary.errors else 0)


@app.command()
def run(config: ConfigOption = None) -> None:
    """The daemon: pull on push (Gmail Pub/Sub, HubSpot webhooks, IMAP IDLE), poll every sync.poll_interval.

    SIGTERM or SIGINT stops it within sync.shutdown_timeout: work in hand is finished and committed,
    leases are released, exit code 0. Several replicas may run against one PostgreSQL store."""
    settings = _settings(config)
    from threadline.connector.runtime.daemon import Daemon, ServerUnavailable, port_free

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        port_free(settings.server.host, settings.server.port)     # before anything is built or logged
        daemon = Daemon(settings).start()
    except ServerUnavailable as exc:
        err.print(f"threadline: {exc}", markup=False, highlight=False)
        raise typer.Exit(2) from None
    console.print(f"threadline running as {daemon.engine.owner}; push endpoints on {settings.server.host}:{daemon.port}")
    stop.wait()
    console.print("threadline stopping: finishing the work in hand")
    daemon.stop()
    console.print("threadline stopped")


@app.command()
def status(config: ConfigOption = None,
           as_json: Annotated[bool, typer.Option("--json", help="The same as JSON")] = False) -> None:
    """Cursors and lag per source, outbox depth, holds, work, recent errors."""
    settings = _settings(config)
    from threadline.connector.monitoring.readiness import needing_reauthorization
    from threadline.connector.monitoring.status import build_status, status_json
    from threadline.connector.monitoring.team_mailboxes import mailbox_lines
    from threadline.connector.reports.render import print_status
    from threadline.sync.store.database import Store

    store = Store(settings.store.url)
    with store.session() as session:
        report = build_status(session)
    reauthorize = needing_reauthorization(store, settings)
    team = mailbox_lines(settings, store=store)
    # Found and connected mailboxes are not in the config: their refused credentials are read from the store.
    reauthorize.update({f"mailbox:{line.address}": line.detail for line in team if line.state == "reauthorize"})
    trouble = [line for line in team if line.state in ("failing", "stopped") and line.source != "config"]
    if as_json:
        data = status_json(report, reauthorize)
        data["mailboxes"] = [asdict(line) for line in team]
        sys.stdout.write(json.dumps(data, indent=1) + "\n")
    else:
        print_status(console, report, reauthorize)
        for line in trouble:
            console.print(f"[bold yellow]mailbox:{line.address} ({line.source}) {line.state}[/]: {line.detail}",
                          soft_wrap=True, markup=True, highlight=False)


def _moment(at: str | None) -> datetime:
    """Now, or the moment `--at` names (exit 2 with the accepted forms when it names none)."""
    from threadline.connector.cli.time_arg import TimeArgError, parse_at

    now = datetime.now(UTC)
    if at is None:
        return now
    try:
        return parse_at(at, now)
    except TimeArgError as exc:
        err.print(str(exc), markup=False, highlight=False)
        raise typer.Exit(2) from None


def _runner(settings: Settings) -> RuleRunner:
    from threadline.rules.runner import RuleRunner, compile_rules
    from threadline.sync.store.database import Store

    rules = compile_rules(settings.rules)
    if rules.empty:
        err.print("no rules configured (rules.scoring / rules.assignment in the config)")
        raise typer.Exit(2)
    return RuleRunner(Store(settings.store.url), rules)


@app.command()
def plan(config: ConfigOption = None,
         as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
         apply: Annotated[bool, typer.Option("--apply", help="Record the changes; the next sync writes them")] = False,
         confirm: Annotated[bool, typer.Option("--confirm", help="Apply even rules over rules.max_share")] = False,
         detail: Annotated[int, typer.Option(help="How many individual changes to list")] = 20,
         hours: Annotated[float, typer.Option(min=0, help="List the sequence steps due this many hours ahead")] = 24,
         at: Annotated[str | None, typer.Option("--at", metavar="TIME", help="As of this moment, if no new events "
                                                 "arrive: 2027-01-15, +7d, friday")] = None
         ) -> None:
    """Evaluate the rules over the whole mirror and print the CRM changes they would make, and the sequence
    steps the next --hours would run (writes nothing). With --at: what they would write then (decay, SLAs)."""
    from threadline.connector.reports.rule_plans import (
        PlanChanges,
        ab_tests_json,
        contact_labels,
        plan_header,
        planned_steps_json,
        print_plan,
        print_planned_steps,
        sequence_planner,
    )

    settings = _settings(config)
    now = _moment(at)
    if apply and at is not None:
        err.print("--apply records what the rules write now; --at only shows another moment", markup=False)
        raise typer.Exit(2)
    runner = _runner(settings)
    # One streamed pass (bounded memory): totals, held rules and the first --detail changes; --json spools
    # every change to a temporary file instead of keeping them.
    changes = PlanChanges(runner.store) if as_json else None
    tally = runner.tally(now, sample=max(detail, 0), on_batch=changes.add if changes else None)
    blocked = tally.held(settings.rules)
    planner = sequence_planner(settings, runner.store)
    steps = planner.upcoming(now, now + timedelta(hours=hours)) if planner else []
    tests = planner.ab_tests() if planner else []
    if changes is not None:
        changes.write(sys.stdout, {**plan_header(tally, blocked), "sequence_hours": hours,
                                   "sequence_steps": planned_steps_json(steps), "ab_tests": ab_tests_json(tests)})
    else:
        if runner.rules.contact_rules:
            print_plan(console, tally, blocked, detail, applying=apply and (confirm or not blocked),
                       labels=contact_labels(runner.store, {e.contact_id for e in tally.sample}))
        if planner:
            print_planned_steps(console, steps, hours, detail)
            for test in tests:
                console.print(test.text(), highlight=False)
    if apply:
        if blocked and not confirm:
            err.print(f"held: {', '.join(blocked)} would change more than rules.max_share of the contacts; "
                      "re-run with --apply --confirm")
            raise typer.Exit(3)
        summary = runner.apply_all(now)          # nothing held: none is, or --confirm releases them
        console.print(f"recorded {summary.intended} changes; the next sync (or the running daemon) writes them")


@app.command()
def backtest(rules: Annotated[Path, typer.Option("--rules", help="Proposed rules: a `rules:` section file "
                                                 "(like config/rules/points-model.yaml) or a whole threadline.yaml")],
             config: ConfigOption = None,
             since: Annotated[str, typer.Option(help="Start of the window: 90d, 12w or an ISO date")] = "90d",
             as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
             html: Annotated[Path | None, typer.Option("--html", help="Also write a self-contained HTML report")] = None,
             detail: Annotated[int, typer.Option(min=0, help="How many contacts whose tier differs to list")] = 20,
             outcome_stage: Annotated[list[str] | None, typer.Option(
                 "--outcome-stage", help="A stage value that counts as reached (repeat; default: "
                 "salesqualifiedlead, opportunity, customer)")] = None,
             at: Annotated[str | None, typer.Option("--at", metavar="TIME", help="End of the window "
                                                     "(default: now): 2027-01-15, -7d")] = None) -> None:
    """Replay the window's stored events through the proposed scoring rules and the current ones, side by side:
    MQLs and when, score distribution, tier changes, and how each set's MQLs went on. Writes nothing."""
    from threadline.connector.cli.time_arg import TimeArgError, parse_since
    from threadline.connector.reports.backtest_report import BacktestOptions, run_backtest
    from threadline.rules.scoring.backtest import SALES_STAGES, Window

    settings = _settings(config)
    end = _moment(at)
    try:
        start = parse_since(since, end)
    except TimeArgError as exc:
        err.print(str(exc), markup=False, highlight=False)
        raise typer.Exit(2) from None
    if start >= end:
        err.print(f"--since {since!r} is not before the end of the window ({end.isoformat()})", markup=False)
        raise typer.Exit(2)
    options = BacktestOptions(rules, Window(start, end), as_json=as_json, html=html, detail=detail,
                              outcome_stages=tuple(outcome_stage or SALES_STAGES))
    raise typer.Exit(run_backtest(console, err, settings, options))


@app.command()
def explain(contact: Annotated[str, typer.Argument(help="CRM contact id or email address")],
            config: ConfigOption = None,
            at: Annotated[str | None, typer.Option("--at", metavar="TIME", help="As of this moment, if no new "
                                                    "events arrive: 2027-01-15, +7d, friday")] = None) -> None:
    """Why a contact has its score (each rule that fired, when, its points) and its assignment."""
    from threadline.connector.reports.rule_plans import explain_lines, resolve_contact

    settings = _settings(config)
    now = _moment(at)
    runner = _runner(settings)
    contact_id = resolve_contact(runner, contact)
    if contact_id is None:
        err.print(f"no contact {contact} in the mirror (run `threadline sync --once` first?)")
        raise typer.Exit(1)
    for line in explain_lines(runner, contact_id, now):
        console.print(line, markup=False, highlight=False)


@app.command()
def audit(config: ConfigOption = None,
          contact: Annotated[str | None, typer.Option(help="Only this contact id")] = None,
          rule: Annotated[str | None, typer.Option(help="Only rules starting with this name")] = None,
          limit: Annotated[int, typer.Option(help="How many entries")] = 50,
          as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every write the rule layer made, with the rule that caused it, and the contacts sync.create_contacts made
    (`--rule sync.create_contacts`)."""
    from threadline.connector.reports.rule_plans import audit_rows, contact_labels, print_audit
    from threadline.sync.store.database import Store

    store = Store(_settings(config).store.url)      # no rules needed: created contacts are audited too
    rows = audit_rows(store, contact, rule, limit)
    print_audit(console, rows, as_json, contact_labels(store, {r.contact_id for r in rows}))


@app.command()
def report(config: ConfigOption = None,
           html: Annotated[Path | None, typer.Option("--html", help="Also write a self-contained HTML report")] = None,
           sequence: Annotated[str | None, typer.Option(help="Only this sequence")] = None,
           since: Annotated[datetime | None, typer.Option(formats=["%Y-%m-%d"],
                                                          help="Only enrolments (and handoffs) on or after this date "
                                                               "(UTC); overrides --window")] = None,
           window: Annotated[str | None, typer.Option(help="Enrolments of the last N days, e.g. 30d or 4w "
                                                           "(default: rules.reporting.window_days, 30)")] = None,
           follow: Annotated[str | None, typer.Option(help="Follow each enrolment this long, e.g. 30d (default: "
                                                           "rules.reporting.follow_days, 30)")] = None,
           as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False) -> None:
    """Sequences per sequence and step: enrolled, sent, replied, bounced, unsubscribed, exits; outcome metrics
    (reply, meeting, completion, stage progression, MQL conversion, time to first reply), each A/B test's
    variants with a verdict, branch counts; then the handoff: MQL -> owner -> first touch per owner (median,
    p90) and the follow-up SLA kept/breached."""
    from threadline.connector.cli.time_arg import TimeArgError, parse_length
    from threadline.connector.reports.report_window import ReportWindow
    from threadline.connector.reports.sequence_report import run_report

    settings = _settings(config)
    try:
        span = ReportWindow.choose(settings, datetime.now(UTC), since=since.replace(tzinfo=UTC) if since else None,
                                   window=parse_length(window, "--window") if window else None,
                                   follow=parse_length(follow, "--follow") if follow else None)
    except TimeArgError as exc:
        raise typer.BadParameter(str(exc)) from exc
    raise typer.Exit(run_report(console, err, settings, html=html, sequence=sequence, as_json=as_json, window=span))


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = None) -> None:
    """Apply store migrations (also done on every start)."""
    settings = _settings(config)
    from threadline.sync.store.database import upgrade

    console.print(f"store at revision {upgrade(settings.store.url)}")


@app.command()
def demo(store: Annotated[str | None, typer.Option(help="Store URL (default: a fresh SQLite file in a temp dir)")] = None,
         crm: Annotated[str, typer.Option(help="hubspot | salesforce")] = "hubspot",
         mailbox: Annotated[str, typer.Option(help="gmail | outlook")] = "gmail") -> None:
    """Start the sandbox with seeded contacts and mail, run the loop, show what landed on which contact."""
    from threadline.connector.demo.run import CRMS, MAILBOXES, run_demo

    if crm not in CRMS or mailbox not in MAILBOXES:
        err.print(f"--crm takes {' | '.join(CRMS)} and --mailbox {' | '.join(MAILBOXES)}")
        raise typer.Exit(2)
    raise typer.Exit(run_demo(console, store_url=store, crm=crm, mailbox=mailbox))


@app.command("config-schema")
def config_schema(path: Annotated[Path | None, typer.Option(help="Write here instead of stdout")] = None) -> None:
    """Print (or write) the JSON Schema of threadline.yaml."""
    from threadline.config.schema import schema_text

    text = schema_text()
    if path:
        path.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


def main() -> None:
    from threadline.sync.store.disk_full import StoreFull

    try:
        app(prog_name="threadline")
    except StoreFull as exc:        # SQLite on a full disk: tell the operator where, without a traceback
        err.print(f"threadline: {exc.message}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(1)


SequenceOption = Annotated[str | None, typer.Option("--sequence", help="Only this sequence (default: all)")]
ContactArgument = Annotated[str, typer.Argument(help="CRM contact id or email address")]


@sequence_app.command("stop")
def sequence_stop(contact: ContactArgument, sequence: SequenceOption = None, config: ConfigOption = None) -> None:
    """Exit the contact's open enrollments (reason "manual"); nothing more is sent to them."""
    _manual(contact, "stop", sequence, config)


@sequence_app.command("resume")
def sequence_resume(contact: ContactArgument, sequence: SequenceOption = None, config: ConfigOption = None) -> None:
    """Resume enrollments paused by a reply (on_reply: pause); the next step is scheduled again."""
    _manual(contact, "resume", sequence, config)


def _manual(contact: str, action: str, sequence: str | None, config: str | None) -> None:
    from threadline.connector.reports.sequence_control import record_manual, resolve_contact
    from threadline.sync.store.database import Store

    settings = _settings(config)
    names = {s.name for s in settings.rules.sequences}
    if sequence is not None and sequence not in names:
        err.print(f"no sequence {sequence!r} in rules.sequences (configured: {', '.join(sorted(names)) or 'none'})")
        raise typer.Exit(2)
    store = Store(settings.store.url)
    contact_id = resolve_contact(store, contact)
    if contact_id is None:
        err.print(f"no contact {contact} in the mirror (run `threadline sync --once` first?)")
        raise typer.Exit(1)
    record_manual(store, contact_id, action, sequence)
    console.print(f"{action} recorded for contact {contact_id} ({sequence or 'all sequences'}); "
                  "the next sync cycle applies it")
