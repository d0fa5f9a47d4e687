"""Email activities: HubSpot email engagements built from EmailActivity, and the results mapped back to keys.

Every engagement carries its idempotency key in a custom email property
(`threadline_key` by default) and as the batch input's `objectWriteTraceId`, so
results (which come back unordered) and per-input errors map back to keys.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from threadline.adapters import errors
from threadline.adapters.hubspot.related import NOTHING, Related, associations
from threadline.adapters.records import EmailActivity, LoggedActivity

EMAIL_TO_CONTACT = 198


class ActivitiesRejected(errors.ActivitiesRejected):
    """HubSpot refused every activity of a `log_emails` call. `rejected`: key -> HubSpot's reason."""

    def __init__(self, rejected: dict[str, str]) -> None:
        super().__init__(rejected, provider="hubspot", noun="email activities")


def email_input(activity: EmailActivity, key_property: str, related: Related = NOTHING) -> dict[str, Any]:
    """One batch-create input: the engagement's properties, its association to the contact and to the
    contact's `related` company and open deals (HubSpot's default association types)."""
    headers = {"from": {"email": activity.from_address},
               "to": [{"email": a} for a in activity.to_addresses],
               "cc": [{"email": a} for a in activity.cc_addresses]}
    properties = {
        "hs_timestamp": str(int(activity.occurred_at.timestamp() * 1000)),
        "hs_email_direction": "INCOMING_EMAIL" if activity.direction == "incoming" else "EMAIL",
        "hs_email_subject": activity.subject,
        "hs_email_text": activity.text,
        "hs_email_headers": json.dumps(headers),
        "hs_email_status": "SENT",
        key_property: activity.key,
    }
    if activity.owner_id:
        properties["hubspot_owner_id"] = activity.owner_id
    return {"properties": properties, "objectWriteTraceId": activity.key,
            "associations": [{"to": {"id": activity.contact_id},
                              "types": [{"associationCategory": "HUBSPOT_DEFINED",
                                         "associationTypeId": EMAIL_TO_CONTACT}]},
                             *associations("emails", related)]}


def logged_from(body: dict[str, Any], key_property: str) -> list[LoggedActivity]:
    """Successful results of a batch create, matched to keys by the key property."""
    out = []
    for result in body.get("results") or []:
        key = (result.get("properties") or {}).get(key_property) or result.get("objectWriteTraceId")
        if key:
            out.append(LoggedActivity(key=key, remote_id=str(result["id"])))
    return out


def rejected_from(body: dict[str, Any], sent: Sequence[str], logged: Sequence[LoggedActivity]) -> dict[str, str]:
    """Keys sent but not created, with HubSpot's per-input reason where the error names the input."""
    done = {item.key for item in logged}
    reasons: dict[str, str] = {}
    for error in body.get("errors") or []:
        for key in (error.get("context") or {}).get("objectWriteTraceId", []):
            reasons[key] = f"{error.get('category', '')}: {error.get('message', '')}"[:300]
    return {key: reasons.get(key, "not created") for key in sent if key not in done}
