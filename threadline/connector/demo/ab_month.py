"""The A/B part of `threadline demo`: a simulated month of the `guide-download-ab` example sequence in the sandbox.

40 prospects, owned by the rep, download the onboarding guide over two weeks (POST /events, each with the moment
it happened). The demo's engine schedules on a clock the demo moves (DemoClock): over the last 30 days it jumps
from one moment that matters to the next (a download, a step falling due, an answer written), so the month takes
seconds and nothing sleeps. Every step goes out through the rep's sandbox mailbox with the variant its enrolment
drew; some prospects answer, at rates that differ by variant, and their answers land in the rep's inbox stamped
with the time they were written, to be synced and logged like any reply. Then `threadline report` prints the
variant tables, and ab_checks.py checks them, the sends and the replies against the store and the sandbox.

The month lies in the past and ends before now: the outbox performs the rows that are due by the wall clock.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from rich.console import Console

from threadline.config.models import Settings
from threadline.connector.demo.ab_checks import SentStep, check_month, next_due, sent_steps
from threadline.connector.demo.sequence import AB_SEQUENCE, deliver_to_inbox, post_events
from threadline.connector.demo.world import REP, DemoContact, guide_answer, guide_prospects
from threadline.connector.reports.sequence_report import build_report, print_report
from threadline.sandbox.server import SandboxServer
from threadline.sync.engine import SyncEngine

PROSPECTS = 40
MONTH = timedelta(days=30)
DOWNLOAD_DAYS = 10                  # weekdays over which the prospects download the guide
DOWNLOAD_AT = timedelta(hours=10)   # UTC, inside the sequence's window (08:00-18:00 Berlin)
#: Who answers, in percent of each variant's sends: step 1 tests the subject line, step 2 the wait before it.
REPLY_PERCENT = {"benefit": 10, "question": 30, "two-days": 10, "three-days": 20}
ANSWER_AFTER_HOURS = (3, 9, 20, 30)
MAX_MOMENTS = 500                   # a bound that turns a scheduling bug into a stop, not a spinning demo


class DemoClock:
    """The time the demo's engine schedules sequences at: the wall clock, until the A/B month moves it."""

    def __init__(self) -> None:
        self.at: datetime | None = None

    def __call__(self) -> datetime:
        return self.at or datetime.now(UTC)


@dataclass(frozen=True)
class Answer:
    """A prospect's answer to one sequence email, written at ``at``."""

    at: datetime
    to: SentStep
    variation: int


class Answers:
    """Which sends get an answer: exactly REPLY_PERCENT of each variant's sends, spread evenly over them (the k-th
    send of a variant is answered when k x rate crosses a whole number), a few hours after the send."""

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()

    def answer(self, sent: SentStep) -> Answer | None:
        variant = sent.variant or ""
        percent, k = REPLY_PERCENT.get(variant, 0), self.seen[variant]
        self.seen[variant] += 1
        if (k + 1) * percent // 100 == k * percent // 100:
            return None
        return Answer(sent.sent_at + timedelta(hours=ANSWER_AFTER_HOURS[k % len(ANSWER_AFTER_HOURS)]), sent, k)


class ABMonth:
    """Runs the month on the demo's engine (its config holds the A/B example) against the demo's sandbox, and
    prints what happened week by week, the report and the checks."""

    def __init__(self, console: Console, server: SandboxServer, engine: SyncEngine, settings: Settings,
                 clock: DemoClock, crm: str, mailbox: str, owner_id: str) -> None:
        self.console, self.server, self.engine, self.settings = console, server, engine, settings
        self.clock, self.crm, self.mailbox, self.owner_id = clock, crm, mailbox, owner_id
        self.start = (datetime.now(UTC) - MONTH).replace(hour=0, minute=0, second=0, microsecond=0)
        self.prospects: dict[str, DemoContact] = {}          # CRM id -> prospect
        self.downloads: list[tuple[datetime, list[DemoContact]]] = []
        self.answers = Answers()
        self.pending: list[Answer] = []
        self.answered: list[Answer] = []
        self.seen_sends: set[str] = set()
        self.drained: date | None = None

    def run(self, cycle: Callable[[str], None]) -> bool:
        """The whole month, the report and the checks; True when every check passed. ``cycle(title)`` runs and
        prints one ordinary sync cycle (it mirrors the new prospects)."""
        started = time.monotonic()
        self.console.rule(f"a simulated month of an A/B test: {AB_SEQUENCE}")
        self._seed()
        cycle(f"sixth sync: {PROSPECTS} prospects arrive from {self.crm}")
        try:
            moments = self._simulate()
            self.engine.write_crm()
        finally:
            self.clock.at = None
        self._print_weeks()
        self.console.rule(f"threadline report --sequence {AB_SEQUENCE}")
        report = build_report(self.engine.store, self.settings.rules.sequences, sequence=AB_SEQUENCE)
        print_report(self.console, report)
        ok = check_month(self.console, self.server, self.engine.store, report, self.crm, self.mailbox,
                         self.prospects, len(self.answered))
        self.console.print(f"[dim]the month: {moments} moments in {time.monotonic() - started:.1f} s[/]",
                           highlight=False)
        return ok

    # -- the world: prospects, downloads, answers ---------------------------------------------------------
    def _seed(self) -> None:
        prospects = guide_prospects(PROSPECTS)
        for prospect in prospects:
            self.prospects[self._add_prospect(prospect)] = prospect
        days = _weekdays(self.start, DOWNLOAD_DAYS)
        self.downloads = [(day + DOWNLOAD_AT, prospects[n::len(days)]) for n, day in enumerate(days)]
        self.console.print(f"{PROSPECTS} prospects in {self.crm}, owned by {REP}, download the onboarding guide on "
                           f"{len(days)} weekdays from {days[0]:%b %d}. The engine's clock starts on {self.start:%b %d} "
                           "and jumps from one moment that matters to the next.", highlight=False)

    def _add_prospect(self, prospect: DemoContact) -> str:
        if self.crm == "salesforce":       # a download form makes Leads in Salesforce (Web-to-Lead)
            return self.server.salesforce.add_lead(prospect.email, first_name=prospect.first, last_name=prospect.last,
                                                   company=prospect.company, OwnerId=self.owner_id)
        return self.server.hubspot.add_contact(prospect.email, firstname=prospect.first, lastname=prospect.last,
                                               company=prospect.company, owner_id=self.owner_id)

    def _post_downloads(self, now: datetime) -> None:
        """The guide downloads that happened by ``now``: POST /events to the daemon's own web app, each with the
        moment it happened."""
        due = [(at, people) for at, people in self.downloads if at <= now]
        self.downloads = [(at, people) for at, people in self.downloads if at > now]
        body = [{"type": "form.submitted", "id": f"guide-{p.email}", "contact": {"email": p.email},
                 "occurred_at": at.isoformat(), "data": {"form": "guide"}} for at, people in due for p in people]
        if body:
            post_events(self.settings, self.engine.store, body)

    def _deliver_answers(self, now: datetime) -> int:
        """Put the answers written by ``now`` in the rep's inbox; returns how many."""
        arrived = [a for a in self.pending if a.at <= now]
        for answer in arrived:
            prospect = self.prospects[answer.to.contact_id]
            raw = guide_answer(prospect, answer.to.message_id, answer.to.subject, answer.at, answer.variation)
            deliver_to_inbox(self.server, self.mailbox, raw, answer.at)
            self.pending.remove(answer)
            self.answered.append(answer)
        return len(arrived)

    def _plan_answers(self) -> None:
        for sent in sent_steps(self.engine.store):
            if sent.key not in self.seen_sends:
                self.seen_sends.add(sent.key)
                answer = self.answers.answer(sent)
                if answer is not None:
                    self.pending.append(answer)

    # -- the clock ----------------------------------------------------------------------------------------
    def _simulate(self) -> int:
        """Tick at each moment that matters until nothing is left to happen; returns how many moments ran."""
        now = self.start
        for moment in range(1, MAX_MOMENTS + 1):
            self._tick(now)
            upcoming = [m for m in (self.downloads[0][0] if self.downloads else None,
                                    min((a.at for a in self.pending), default=None), next_due(self.engine.store))
                        if m is not None]
            if not upcoming:
                return moment
            now = max(min(upcoming), now + timedelta(minutes=1))
            if now >= datetime.now(UTC):        # the outbox performs what is due by the wall clock
                self.console.print("[yellow]the month reached the present with steps still due[/]")
                return moment
        self.console.print(f"[yellow]stopped after {MAX_MOMENTS} moments[/]")
        return MAX_MOMENTS

    def _tick(self, now: datetime) -> None:
        """One moment: answers written by now arrive, downloads happen, then the daemon's work at ``now``: ingest
        the rep's mailbox when an answer arrived, schedule the sequences, send what is due, and on a new day write
        the CRM. Not a whole cycle: the CRM pull and the meeting and task look-ups have nothing to find here, and
        each CRM drain asks HubSpot's search (four a second) which activities exist already; at every moment they
        would make the month a minute long."""
        self.clock.at = now
        engine = self.engine
        if self._deliver_answers(now):
            engine.refresh(REP)         # (a send refreshes the mailbox too, right before it goes)
        self._post_downloads(now)
        assert engine.sequence_step is not None and engine.sender is not None     # a sequence, a sending mailbox
        engine.sequence_step()
        engine.sender.run(now)
        if now.date() != self.drained:
            engine.write_crm()
            self.drained = now.date()
        self._plan_answers()

    def _print_weeks(self) -> None:
        sends = sent_steps(self.engine.store)
        for week in range(5):
            begin, end = self.start + timedelta(days=7 * week), self.start + timedelta(days=7 * (week + 1))
            sent = Counter(s.step_index + 1 for s in sends if begin <= s.sent_at < end)
            answered = sum(begin <= a.at < end for a in self.answered)
            steps = ", ".join(f"step {step}: {n}" for step, n in sorted(sent.items()))
            happened = f"sent {sum(sent.values())} ({steps}), {answered} answered" if sent or answered \
                else "nothing left to send"
            self.console.print(f"week {week + 1} ({begin:%b %d}-{end - timedelta(days=1):%b %d}): {happened}",
                               highlight=False)


def _weekdays(start: datetime, count: int) -> list[datetime]:
    """The first ``count`` weekdays (midnight UTC) on or after ``start``."""
    days: list[datetime] = []
    day = start
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days
