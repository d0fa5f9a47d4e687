"""`threadline plan`, `explain` and `audit`: see what the rules would do, why, and what they did.

`plan` also lists the sequence steps the next hours would run (SequenceRunner.upcoming: a dry run).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import IO, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlmodel import col, select

from threadline.config.models import ImapMailbox, Mailbox, Settings
from threadline.connector.reports.sequence_control import resolve_contact as resolve_store_contact
from threadline.rules.effects import CreateTask, Effect, SetFields
from threadline.rules.runner import Evaluation, RuleRunner, compile_rules
from threadline.rules.scoring import explain
from threadline.rules.sequences.ab_plan import TestPreview
from threadline.rules.sequences.runner import PlannedStep, SequenceRunner
from threadline.rules.store import contact_facts
from threadline.rules.tally import Tally
from threadline.sync.events.log import events_for
from threadline.sync.store.database import Store
from threadline.sync.store.tables import AuditRow, ContactRow


def contact_labels(store: Store, contact_ids: Collection[str]) -> dict[str, str]:
    """"Jane Doe <jane@acme.com>" (or just the email, or the name) per contact id, from the mirror."""
    if not contact_ids:
        return {}
    with store.session() as session:
        rows = session.exec(select(ContactRow).where(col(ContactRow.crm_id).in_(list(contact_ids)))).all()
    labels = {}
    for row in rows:
        name = " ".join(part for part in (row.first_name, row.last_name) if part)
        email = f"<{row.primary_email}>" if row.primary_email else ""
        labels[row.crm_id] = " ".join(part for part in (name, email) if part) or row.crm_id
    return labels


def change_json(e: Effect, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """One planned change as `plan --json` lists it."""
    item: dict[str, Any] = {"contact_id": e.contact_id, "contact": (labels or {}).get(e.contact_id),
                            "rule": e.rule, "kind": e.kind, "reason": e.reason}
    if isinstance(e, SetFields):
        item["fields"] = {k: {"from": e.previous.get(k), "to": v} for k, v in e.fields.items()}
    elif isinstance(e, CreateTask):
        item["task"] = {"owner_id": e.owner_id, "subject": e.subject, "due_at": e.due_at.isoformat()}
    return item


def plan_json(evaluation: Evaluation, blocked: list[str], labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The plan of one in-memory evaluation as a JSON object (the streamed `plan --json` prints the same)."""
    return {**plan_header(_as_tally(evaluation), blocked),
            "changes": [change_json(e, labels) for e in evaluation.effects]}


def plan_header(tally: Tally, blocked: list[str]) -> dict[str, Any]:
    """`plan --json` without its changes: counts, summary and held rules."""
    return {"contacts_evaluated": tally.contacts, "contacts_in_mirror": tally.total_contacts,
            "summary": dict(sorted(tally.changes.items())), "held_rules": blocked}


class PlanChanges:
    """The changes of a streamed `plan --json`, spooled to a temporary file batch by batch (with each batch's
    contact labels) so a plan of a million contacts never holds its changes in memory."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._spool: IO[str] = tempfile.TemporaryFile("w+", encoding="utf-8")

    def add(self, evaluation: Evaluation) -> None:
        """Spool one batch's changes (the `on_batch` of RuleRunner.tally)."""
        labels = contact_labels(self.store, {e.contact_id for e in evaluation.effects})
        for e in evaluation.effects:
            self._spool.write(json.dumps(change_json(e, labels), default=str) + "\n")

    def write(self, out: IO[str], header: dict[str, Any]) -> None:
        """Print `header` with the spooled changes after its `held_rules`, formatted exactly as
        `json.dumps({... "changes": [...]}, indent=2, default=str)` would."""
        planned = {**{k: header[k] for k in PLAN_HEAD if k in header}, "changes": CHANGES_MARK,
                   **{k: v for k, v in header.items() if k not in PLAN_HEAD}}
        text = json.dumps(planned, indent=2, default=str)
        head, _, tail = text.partition(json.dumps(CHANGES_MARK))
        out.write(head)
        self._spool.seek(0)
        first = True
        for line in self._spool:
            item = json.dumps(json.loads(line), indent=2, default=str).replace("\n", "\n    ")
            out.write(("[\n    " if first else ",\n    ") + item)
            first = False
        out.write("[]" if first else "\n  ]")
        out.write(tail + "\n")
        self._spool.close()


PLAN_HEAD = ("contacts_evaluated", "contacts_in_mirror", "summary", "held_rules")
CHANGES_MARK = "\x00changes\x00"          # stands in for the list while the header is formatted


def _as_tally(evaluation: Evaluation) -> Tally:
    tally = Tally(total_contacts=evaluation.total_contacts)
    tally.add(evaluation.effects, evaluation.contacts)
    return tally


def print_plan(console: Console, tally: Tally, blocked: list[str], detail: int, *,
               applying: bool = False, labels: Mapping[str, str] | None = None) -> None:
    """The plan as tables; the title says whether it is only shown (`plan`) or being recorded (`--apply`).
    Lists the first `detail` changes of `tally.sample` (the tally must have kept at least that many)."""
    console.print(f"evaluated {tally.contacts} of {tally.total_contacts} contacts")
    # On a line of its own: a table's title wraps to the table's (narrow) width.
    console.print("CRM changes the rules make, being recorded now: the next sync writes them" if applying
                  else "CRM changes the rules would make; nothing has been written (`plan --apply` records them)",
                  soft_wrap=True)
    table = Table(title="CRM changes")
    table.add_column("change")
    table.add_column("contacts", justify="right")
    for change, n in sorted(tally.changes.items()):
        table.add_row(change, str(n))
    console.print(table)
    by_rule = tally.touched
    for rule in sorted(by_rule):
        held = " [red](held: over rules.max_share; apply with --confirm)[/]" if rule in blocked else ""
        console.print(f"rule {rule}: {by_rule[rule]} contacts{held}")
    for e in tally.sample[:detail]:
        who = (labels or {}).get(e.contact_id)
        console.print(f"  {e.contact_id}{f' ({who})' if who else ''}: {e.reason}", markup=False, highlight=False)
    if tally.effects > detail:
        console.print(f"  ... and {tally.effects - detail} more (use --json for all)")


def sequence_planner(settings: Settings, store: Store) -> SequenceRunner | None:
    """A SequenceRunner for dry runs (`upcoming`), built from the config alone: no mailbox is connected,
    and the CRM is asked for owner names only if a template needs one and no mailbox has a display_name."""
    from threadline.connector.wiring.build import build_crm, owner_names, sequence_runner

    zones = {box.owner_id: box.timezone for box in settings.mailboxes if box.owner_id and box.timezone}
    sequencer = compile_rules(settings.rules, owner_timezones=zones).sequencer
    if sequencer is None:
        return None
    return sequence_runner(settings, store, sequencer, _can_send, owner_names(build_crm(settings)))


def _can_send(box: Mailbox) -> bool:
    return not isinstance(box, ImapMailbox) or box.smtp_host is not None


def planned_steps_json(steps: list[PlannedStep]) -> list[dict[str, Any]]:
    return [{"at": s.due_at.isoformat(), "sequence": s.sequence, "step": s.step_index + 1, "kind": s.kind,
             "contact_id": s.contact_id, "to": s.to, "mailbox": s.mailbox, "subject": s.subject, "note": s.note,
             "variant": s.variant, "branch": s.branch} for s in steps]


def ab_tests_json(tests: list[TestPreview]) -> list[dict[str, Any]]:
    """Each tested step: its split, its winner (null while running), and the open enrolments that can still run it by
    the variant they will run ("" for enrolments made before the test)."""
    return [{"sequence": t.sequence, "step": t.step_index + 1, "step_name": t.step, "split": t.split,
             "winner": t.winner, "waiting": dict(sorted(t.waiting.items())),
             "finishing_on_other_variants": t.finishing_elsewhere} for t in tests]


def print_planned_steps(console: Console, steps: list[PlannedStep], hours: float, detail: int) -> None:
    """The sequence steps due in the next ``hours``: when, from which mailbox, to whom, what, and any hold."""
    if not steps:
        console.print(f"sequences: no steps due in the next {hours:g} hours")
        return
    table = Table(title=f"sequence steps in the next {hours:g} hours (nothing has been sent)")
    for column in ("when (UTC)", "mailbox", "to", "sequence / step", "subject", "note"):
        table.add_column(column, overflow="fold")
    for s in steps[:detail]:
        what = f"{s.sequence} / {s.step_index + 1}" + ("" if s.kind == "email" else f" ({s.kind})") \
            + (f" variant {s.variant}" if s.variant else "")
        note = "; ".join(part for part in (s.note, f"branch: {s.branch}" if s.branch else "") if part)
        table.add_row(f"{s.due_at.astimezone(UTC):%Y-%m-%d %H:%M}", s.mailbox or "-", s.to or s.contact_id, what,
                      s.subject, note)
    console.print(table)
    if len(steps) > detail:
        console.print(f"  ... and {len(steps) - detail} more (use --json for all)")


def resolve_contact(runner: RuleRunner, who: str) -> str | None:
    """A contact id from an id or an email address."""
    return resolve_store_contact(runner.store, who)


def explain_lines(runner: RuleRunner, contact_id: str, now: datetime | None = None) -> list[str]:
    """Every rule that fired for this contact, when and its points; and the assignment decision."""
    now = now or datetime.now(UTC)
    with runner.store.session() as session:
        row = session.get(ContactRow, contact_id)
        history = events_for(session, [contact_id]).get(contact_id, [])
    if row is None:
        return [f"no contact {contact_id} in the mirror"]
    name = " ".join(part for part in (row.first_name, row.last_name) if part)
    lines = [f"contact {contact_id} ({' '.join(p for p in (name, f'<{row.primary_email}>') if p)}), "
             f"{len(history)} events"]
    facts = contact_facts(row)
    if runner.rules.scorer is not None:
        lines += explain(runner.rules.scorer.score(facts, history, now))
    evaluation = runner.evaluate([contact_id], now)      # one contact's rows (and the assignment state)
    if runner.rules.assigner is not None:
        assignment = evaluation.assignments.get(contact_id)
        if assignment is not None:
            lines.append(f"assignment: {assignment.reason}")
        else:
            score = evaluation.scores.get(contact_id)
            flat = {"total": score.total, "fit": score.fit, "intent": score.intent, "tier": score.tier} if score else {}
            lines.append(f"assignment: {runner.rules.assigner.decide(facts, flat, evaluation.state, now).reason}")
    upcoming = evaluation.next_changes.get(contact_id)
    lines.append(f"next change with no new events: {upcoming[0].isoformat()} ({upcoming[1]})" if upcoming
                 else "next change with no new events: none")
    return lines


def audit_rows(store: Store, contact: str | None, rule: str | None, limit: int) -> list[AuditRow]:
    """The audit, newest first: the rule layer's writes, admin actions, withdrawals and created contacts."""
    query = select(AuditRow)
    if contact:
        query = query.where(AuditRow.contact_id == contact)
    if rule:
        query = query.where(col(AuditRow.rule).startswith(rule))
    with store.session() as session:
        return list(session.exec(query.order_by(col(AuditRow.id).desc()).limit(limit)).all())


def print_audit(console: Console, rows: list[AuditRow], as_json: bool,
                labels: Mapping[str, str] | None = None) -> None:
    """The audit rows, newest first; `labels` names each contact next to its id."""
    labels = labels or {}
    if as_json:
        console.print_json(json.dumps([{"at": r.at.isoformat(), "rule": r.rule, "contact_id": r.contact_id,
                                        "contact": labels.get(r.contact_id), "kind": r.kind, "reason": r.reason,
                                        "effect": json.loads(r.detail)} for r in rows]))
        return
    table = Table(title="audited writes (newest first)")
    for column in ("when", "rule", "contact", "kind", "reason"):
        table.add_column(column)
    for r in rows:
        who = labels.get(r.contact_id)
        table.add_row(f"{r.at:%Y-%m-%d %H:%M:%S}", r.rule, f"{r.contact_id} {escape(who)}" if who else r.contact_id,
                      r.kind, escape(r.reason))
    console.print(table)
