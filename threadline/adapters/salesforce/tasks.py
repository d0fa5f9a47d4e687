"""Replies as completed Tasks: the sObject Collections records, results mapped back to keys,
and the SOQL that finds Tasks by idempotency key.

Every Task carries its activity's key in the external-id field (Threadline_Key__c).
Collections answer one result per record, in request order, so results map to
keys by position. With the field marked Unique, a retried create that already
happened fails with DUPLICATE_VALUE instead of doubling the Task.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from threadline.adapters import errors
from threadline.adapters.records import EmailActivity

SUBJECT_MAX = 255
DESCRIPTION_MAX = 32_000
USER_PREFIX = "005"


class ActivitiesRejected(errors.ActivitiesRejected):
    """Salesforce refused every Task of a `log_emails` call. `rejected`: key -> Salesforce's reason."""

    def __init__(self, rejected: dict[str, str]) -> None:
        super().__init__(rejected, provider="salesforce", noun="tasks")


def soql_string(value: str) -> str:
    """A SOQL string literal (quotes and backslashes escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def description(activity: EmailActivity) -> str:
    """The reply text under who/when header lines, so the Task reads on its own."""
    lines = [f"From: {activity.from_address}", f"To: {', '.join(activity.to_addresses)}"]
    if activity.cc_addresses:
        lines.append(f"Cc: {', '.join(activity.cc_addresses)}")
    lines.append(f"Date: {activity.occurred_at.isoformat()}")
    lines.append(f"Direction: {activity.direction}")
    return ("\n".join(lines) + "\n\n" + activity.text)[:DESCRIPTION_MAX]


def task_record(activity: EmailActivity, key_field: str, what_id: str | None = None) -> dict[str, Any]:
    """One sObject Collections record: a completed email Task on the Contact/Lead (WhoId), related to
    `what_id` (an Opportunity or Account; never given for a Lead)."""
    record: dict[str, Any] = {
        "attributes": {"type": "Task"}, "WhoId": activity.contact_id,
        "Subject": (f"Email: {activity.subject}" if activity.subject else "Email")[:SUBJECT_MAX],
        "Description": description(activity), "Status": "Completed", "TaskSubtype": "Email",
        "ActivityDate": activity.occurred_at.date().isoformat(), key_field: activity.key}
    if what_id:
        record["WhatId"] = what_id
    if activity.owner_id and activity.owner_id.startswith(USER_PREFIX):
        record["OwnerId"] = activity.owner_id   # only Salesforce user ids; others would be refused
    return record


def reason(result: dict[str, Any]) -> str:
    errors = result.get("errors") or [{}]
    return "; ".join(f"{e.get('statusCode', '')}: {e.get('message', '')}" for e in errors)[:300]


def is_duplicate_key(result: dict[str, Any], key_field: str) -> bool:
    return any(e.get("statusCode") == "DUPLICATE_VALUE" and key_field.lower() in
               [f.lower() for f in e.get("fields") or []] for e in result.get("errors") or [])


def find_soql(keys: Sequence[str], key_field: str) -> str:
    return f"SELECT Id, {key_field} FROM Task WHERE {key_field} IN ({', '.join(soql_string(k) for k in keys)})"
