"""Contacts created from mail (sync.create_contacts): looked up by address, created only when absent.

The look-up is `POST /crm/v3/objects/contacts/batch/read` with `idProperty: email`, not the search endpoint:
it reads the records themselves (no search-index lag, so a contact created a moment ago by another replica or a
person is found) and counts against the ordinary ten-second limit, not search's scarce four per second. It
answers 207 with an OBJECT_NOT_FOUND error for the addresses it does not know.

The create is `batch/create`. HubSpot keeps one contact per address and refuses a batch that holds an address it
already has with 409 CONFLICT ("Contact already exists. Existing ID: ...", naming only the first): nothing in
that batch was created, so the addresses are read again and only the still-missing ones are sent again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import structlog

from threadline.adapters.errors import PermanentError
from threadline.adapters.hubspot.contacts import CONTACT_PROPERTIES, to_contacts
from threadline.adapters.records import ContactCreated, CrmContact, NewContact

log = structlog.get_logger("threadline.hubspot")
Post = Callable[..., dict[str, Any]]          # the adapter's _post(path, body, *, idempotent=True)
READ_BATCH = 100                              # batch/read and batch/create take at most 100 inputs
#: Rounds of create -> 409 -> read again; each round settles at least the address the 409 named.
ROUNDS = 3


class ContactsRejected(PermanentError):
    """HubSpot created none of the contacts asked for; `rejected`: address -> HubSpot's reason."""

    def __init__(self, rejected: dict[str, str]) -> None:
        super().__init__(f"hubspot refused {len(rejected)} contacts: "
                         + "; ".join(f"{why}" for why in list(rejected.values())[:3]), provider="hubspot", status=400)
        self.rejected = rejected


def find_by_email(post: Post, emails: Sequence[str]) -> dict[str, CrmContact]:
    """Lower-cased address -> the live contact whose primary address it is."""
    wanted = list(dict.fromkeys(e.lower() for e in emails if e))
    found: dict[str, CrmContact] = {}
    for start in range(0, len(wanted), READ_BATCH):
        chunk = wanted[start:start + READ_BATCH]
        body = post("/crm/v3/objects/contacts/batch/read",
                    {"idProperty": "email", "inputs": [{"id": e} for e in chunk],
                     "properties": list(CONTACT_PROPERTIES)})
        for result in body.get("results") or []:
            contact = to_contacts(result, ())[0]
            for address in contact.emails:
                if address.lower() in chunk:
                    found.setdefault(address.lower(), contact)
    return found


def contact_input(contact: NewContact) -> dict[str, Any]:
    """One batch/create input: the address, name, company and (a numeric HubSpot owner id) the owner."""
    properties = {"email": contact.email, "firstname": contact.first_name, "lastname": contact.last_name,
                  "company": contact.company}
    if contact.owner_id and contact.owner_id.isdigit():
        properties["hubspot_owner_id"] = contact.owner_id
    return {"properties": {k: v for k, v in properties.items() if v}}


def create_contacts(post: Post, contacts: Sequence[NewContact]) -> list[ContactCreated]:
    """Look every address up, create the missing contacts, and settle a 409 by reading again (see above)."""
    done: list[ContactCreated] = []
    rejected: dict[str, str] = {}
    todo = list({c.email.lower(): c for c in contacts}.values())
    for _ in range(ROUNDS):
        found = find_by_email(post, [c.email for c in todo])
        done += [ContactCreated(key=c.key, contact=found[c.email.lower()], created=False)
                 for c in todo if c.email.lower() in found]
        todo = [c for c in todo if c.email.lower() not in found]
        if not todo:
            break
        try:
            done += _create_batches(post, todo, rejected)
            todo = []
            break
        except PermanentError as exc:
            if exc.status != 409:
                raise
            log.info("hubspot.contact_conflict", contacts=len(todo), detail=str(exc)[:200])
    if todo:            # still refused as duplicates after ROUNDS reads: say so rather than loop
        rejected.update({c.email: "409 CONFLICT persisted after reading the addresses again" for c in todo})
    for address, why in rejected.items():
        log.warning("hubspot.contact_rejected", reason=why, domain=address.rpartition("@")[2])
    if rejected and not done:
        raise ContactsRejected(rejected)
    return done


def _create_batches(post: Post, contacts: Sequence[NewContact], rejected: dict[str, str]) -> list[ContactCreated]:
    created: list[ContactCreated] = []
    for start in range(0, len(contacts), READ_BATCH):
        chunk = contacts[start:start + READ_BATCH]
        # Not idempotent: an ambiguous failure goes back to the outbox, whose next attempt reads the addresses first.
        body = post("/crm/v3/objects/contacts/batch/create", {"inputs": [contact_input(c) for c in chunk]},
                    idempotent=False)
        by_address = {}
        for result in body.get("results") or []:
            contact = to_contacts(result, ())[0]
            if contact.emails:
                by_address[contact.emails[0].lower()] = contact
        for c in chunk:
            if c.email.lower() in by_address:
                created.append(ContactCreated(key=c.key, contact=by_address[c.email.lower()], created=True))
            else:
                rejected[c.email] = _reason(body)
    return created


def _reason(body: dict[str, Any]) -> str:
    errors = body.get("errors") or [{}]
    return "; ".join(f"{e.get('category', '')}: {e.get('message', '')}" for e in errors)[:300]
