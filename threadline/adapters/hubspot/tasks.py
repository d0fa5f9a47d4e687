"""Follow-up tasks for the rule layer: HubSpot task objects built from TaskRequest, and found again by key.

Every task carries its effect key in the custom task property `threadline_key`
(created by `ensure_schema`) and as the batch input's `objectWriteTraceId`, so
unordered batch results and per-input errors map back to keys. `hs_timestamp`
is the task's due time; `hs_task_status` is NOT_STARTED until the rep completes it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from threadline.adapters import errors
from threadline.adapters.hubspot.related import NOTHING, Related, associations
from threadline.adapters.records import TaskRequest, TaskState

TASK_TO_CONTACT = 204
STATE_PROPERTIES = ("hs_task_status", "hubspot_owner_id", "hs_timestamp")


class TasksRejected(errors.ActivitiesRejected):
    """HubSpot refused every task of a `create_tasks` call. `rejected`: key -> HubSpot's reason."""

    def __init__(self, rejected: dict[str, str]) -> None:
        super().__init__(rejected, provider="hubspot", noun="tasks")


def task_input(task: TaskRequest, key_property: str, related: Related = NOTHING) -> dict[str, Any]:
    """One batch-create input: an open to-do for the owner, due at `due_at`, linked to the contact and to
    the contact's `related` company and open deals."""
    properties = {
        "hs_timestamp": str(int(task.due_at.timestamp() * 1000)),
        "hs_task_subject": task.subject,
        "hs_task_body": task.body,
        "hs_task_status": "NOT_STARTED",
        "hs_task_priority": task.priority,
        "hs_task_type": "TODO",
        key_property: task.key,
    }
    if task.owner_id:
        properties["hubspot_owner_id"] = task.owner_id
    return {"properties": properties, "objectWriteTraceId": task.key,
            "associations": [{"to": {"id": task.contact_id},
                              "types": [{"associationCategory": "HUBSPOT_DEFINED",
                                         "associationTypeId": TASK_TO_CONTACT}]},
                             *associations("tasks", related)]}


def parse_time(value: str | None) -> datetime | None:
    """A HubSpot date-time property: ISO 8601 in responses, or epoch milliseconds as written."""
    if not value:
        return None
    if value.isdigit():
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def task_state(result: dict[str, Any], key_property: str) -> TaskState | None:
    """A search result as a TaskState, or None if it carries no key."""
    props = result.get("properties") or {}
    key = props.get(key_property)
    if not key:
        return None
    return TaskState(key=key, remote_id=str(result["id"]),
                     status="completed" if props.get("hs_task_status") == "COMPLETED" else "open",
                     owner_id=props.get("hubspot_owner_id") or None, due_at=parse_time(props.get("hs_timestamp")))
