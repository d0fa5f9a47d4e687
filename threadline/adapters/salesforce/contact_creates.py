"""People created from mail (sync.create_contacts) as Leads: looked up by Email first, created only when absent.

Why a Lead, not a Contact: Salesforce's own convention for a person not qualified yet is a Lead, and a Contact
needs an Account (one without AccountId is a "private contact", visible only to its owner and admins), which an
address alone cannot say. A Lead requires LastName and Company; when the mail gives no last name or the domain no
company, the value is "[not provided]", as Salesforce's Web-to-Lead fills it. A rep converts the Lead when it is
qualified; the contact pull then follows the conversion (contacts.py) like any other.

The look-up is SOQL (consistent: a record created a moment ago is found) on Contact and on unconverted Lead,
`Email IN (...)` (case-insensitive, as SOQL compares strings); a Contact with the address wins over a Lead. A
record an org's duplicate rule blocks (DUPLICATES_DETECTED) is read again and counted as found when it is there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import structlog

from threadline.adapters.errors import PermanentError
from threadline.adapters.records import ContactCreated, CrmContact, NewContact
from threadline.adapters.salesforce.contacts import COMMON, PER_OBJECT, to_contact
from threadline.adapters.salesforce.tasks import reason, soql_string

log = structlog.get_logger("threadline.salesforce")
Query = Callable[[str], Iterable[list[dict[str, Any]]]]       # SOQL -> pages of records (deleted ones left out)
Create = Callable[[list[dict[str, Any]]], list[dict[str, Any]]]   # sObject Collections create -> results in order
EMAIL_CHUNK = 200                 # addresses per query: well inside SOQL's 100,000-character statement limit
NOT_PROVIDED = "[not provided]"   # Web-to-Lead's value for a required field the form did not give
USER_PREFIX = "005"


class LeadsRejected(PermanentError):
    """Salesforce created none of the Leads asked for; `rejected`: address -> Salesforce's reason."""

    def __init__(self, rejected: dict[str, str]) -> None:
        super().__init__("salesforce refused the leads: " + "; ".join(list(rejected.values())[:3]),
                         provider="salesforce", status=400)
        self.rejected = rejected


def lookup_soql(object_name: str, emails: Sequence[str]) -> str:
    fields = ", ".join(dict.fromkeys([*COMMON, *PER_OBJECT[object_name]]))
    where = f"Email IN ({', '.join(soql_string(e) for e in emails)})"
    if object_name == "Lead":
        where += " AND IsConverted = false"       # a converted Lead's person is its Contact now
    return f"SELECT {fields} FROM {object_name} WHERE {where}"


def find_by_email(query: Query, emails: Sequence[str]) -> dict[str, CrmContact]:
    """Lower-cased address -> the Contact that has it, else the unconverted Lead."""
    wanted = list(dict.fromkeys(e.lower() for e in emails if e))
    found: dict[str, CrmContact] = {}
    for start in range(0, len(wanted), EMAIL_CHUNK):
        chunk = wanted[start:start + EMAIL_CHUNK]
        for object_name in ("Contact", "Lead"):
            for page in query(lookup_soql(object_name, chunk)):
                for record in page:
                    address = str(record.get("Email") or "").lower()
                    if address in chunk:
                        found.setdefault(address, to_contact(record, object_name, (), ()))
    return found


def lead_record(contact: NewContact) -> dict[str, Any]:
    """One sObject Collections record: the Lead, its required LastName and Company always set."""
    record: dict[str, Any] = {"attributes": {"type": "Lead"}, "Email": contact.email,
                              "LastName": contact.last_name or NOT_PROVIDED, "Company": contact.company or NOT_PROVIDED}
    if contact.first_name:
        record["FirstName"] = contact.first_name
    if contact.owner_id and contact.owner_id.startswith(USER_PREFIX):
        record["OwnerId"] = contact.owner_id      # only user ids: a queue or another id would be refused
    return record


def create_leads(query: Query, create: Create, contacts: Sequence[NewContact]) -> list[ContactCreated]:
    """Look every address up, create Leads for the missing ones, and read duplicates-rule refusals again."""
    todo = list({c.email.lower(): c for c in contacts}.values())
    found = find_by_email(query, [c.email for c in todo])
    done = [ContactCreated(key=c.key, contact=found[c.email.lower()], created=False)
            for c in todo if c.email.lower() in found]
    todo = [c for c in todo if c.email.lower() not in found]
    rejected: dict[str, str] = {}
    duplicates: list[NewContact] = []
    if todo:
        now = datetime.now(UTC)
        for contact, result in zip(todo, create([lead_record(c) for c in todo]), strict=True):
            if result.get("success"):
                record = {**lead_record(contact), "Id": result["id"], "SystemModstamp": now.isoformat()}
                done.append(ContactCreated(key=contact.key, created=True,
                                           contact=to_contact(record, "Lead", (), ())))
            elif any(e.get("statusCode") == "DUPLICATES_DETECTED" for e in result.get("errors") or []):
                duplicates.append(contact)
            else:
                rejected[contact.email] = reason(result)
    if duplicates:
        again = find_by_email(query, [c.email for c in duplicates])
        for contact in duplicates:
            if contact.email.lower() in again:
                done.append(ContactCreated(key=contact.key, contact=again[contact.email.lower()], created=False))
            else:
                rejected[contact.email] = "DUPLICATES_DETECTED: a duplicate rule matched a record not readable here"
    for address, why in rejected.items():
        log.warning("salesforce.lead_rejected", reason=why, domain=address.rpartition("@")[2])
    if rejected and not done:
        raise LeadsRejected(rejected)
    return done
