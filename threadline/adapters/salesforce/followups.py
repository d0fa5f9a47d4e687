"""The rule layer's follow-up Tasks: open Tasks for the owner, built from TaskRequest, found again by key.

They share the external-id field (Threadline_Key__c) with the email Tasks; the keys
never collide (effect keys and activity keys are different namespaces). Salesforce's
due date (`ActivityDate`) is a date only, so the exact due time rides in the Task's
reminder (`ReminderDateTime`, `IsReminderSet`), which also pops up for the rep when due.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time
from typing import Any

from threadline.adapters.records import TaskRequest, TaskState
from threadline.adapters.salesforce.contacts import parse_sf_time
from threadline.adapters.salesforce.tasks import DESCRIPTION_MAX, SUBJECT_MAX, USER_PREFIX, soql_string

PRIORITY = {"LOW": "Low", "MEDIUM": "Normal", "HIGH": "High"}


def followup_record(task: TaskRequest, key_field: str, what_id: str | None = None) -> dict[str, Any]:
    """One sObject Collections record: an open Task on the Contact/Lead, due at `due_at`, related to
    `what_id` (an Opportunity or Account; never given for a Lead)."""
    due = task.due_at.astimezone(UTC)
    record: dict[str, Any] = {
        "attributes": {"type": "Task"}, "WhoId": task.contact_id, "Subject": task.subject[:SUBJECT_MAX],
        "Description": task.body[:DESCRIPTION_MAX], "Status": "Not Started", "Priority": PRIORITY[task.priority],
        "TaskSubtype": "Task", "ActivityDate": due.date().isoformat(), "IsReminderSet": True,
        "ReminderDateTime": due.strftime("%Y-%m-%dT%H:%M:%S.000Z"), key_field: task.key}
    if what_id:
        record["WhatId"] = what_id
    if task.owner_id and task.owner_id.startswith(USER_PREFIX):
        record["OwnerId"] = task.owner_id   # only Salesforce user ids; others would be refused
    return record


def state_soql(keys: Sequence[str], key_field: str) -> str:
    return (f"SELECT Id, {key_field}, IsClosed, OwnerId, ActivityDate, ReminderDateTime FROM Task "
            f"WHERE {key_field} IN ({', '.join(soql_string(k) for k in keys)})")


def to_state(record: dict[str, Any], key_field: str) -> TaskState:
    return TaskState(key=record[key_field], remote_id=record["Id"],
                     status="completed" if record.get("IsClosed") else "open",
                     owner_id=record.get("OwnerId"), due_at=due_of(record))


def due_of(record: dict[str, Any]) -> datetime | None:
    """The exact due time from the reminder; else the end of the due date (UTC)."""
    if record.get("ReminderDateTime"):
        return parse_sf_time(record["ReminderDateTime"])
    if record.get("ActivityDate"):
        return datetime.combine(datetime.fromisoformat(record["ActivityDate"]).date(), time.max, UTC)
    return None
