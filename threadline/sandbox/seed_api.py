"""`POST /_sandbox/seed`: an admin loads owners, users, contacts, fields and mail into the running sandbox.

The body's shape is checked whole first (seed_body.py). Then, under both CRMs' locks, what it asks is checked
against the CRMs' state: the properties and fields they have, the owners they know, records that would clash.
A refusal (400, or 409 for a clash) names every problem's path and seeds nothing. Salesforce, whose org may
still refuse a record for reasons only it checks (a reference, a unique field), is written first and taken
back if it does. The answer lists what was created, with its ids, and a refresh token per Gmail mailbox.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from threadline.sandbox.salesforce.responses import SfError
from threadline.sandbox.salesforce.schema import FieldSpec
from threadline.sandbox.salesforce.values import coerce
from threadline.sandbox.seed_body import (
    GmailSeed,
    GraphSeed,
    HubSpotSeed,
    MailMessage,
    SalesforceField,
    SalesforcePerson,
    SalesforceSeed,
    SalesforceUser,
    SeedBody,
    SeedRejected,
    read_seed_body,
)

if TYPE_CHECKING:
    from threadline.sandbox.base import SandboxProvider
    from threadline.sandbox.gmail import GmailSandbox
    from threadline.sandbox.graph import GraphSandbox
    from threadline.sandbox.hubspot import HubSpotSandbox
    from threadline.sandbox.salesforce import SalesforceSandbox

# The body's own keys for what Salesforce calls these fields; `fields` may not name them again.
SALESFORCE_NAMED = {"email": "Email", "first_name": "FirstName", "last_name": "LastName", "company": "Company",
                    "owner": "OwnerId"}


@dataclass(frozen=True)
class SeedTargets:
    """The simulators a seed body writes to."""

    hubspot: HubSpotSandbox
    salesforce: SalesforceSandbox
    gmail: GmailSandbox
    graph: GraphSandbox


def seed_routes(providers: Sequence[SandboxProvider]) -> list[Route]:
    """The `/_sandbox/seed` route, when every provider it writes to is served (none otherwise)."""
    named: dict[str, Any] = {p.name: p for p in providers}
    if not {"hubspot", "salesforce", "gmail", "graph"} <= set(named):
        return []
    targets = SeedTargets(named["hubspot"], named["salesforce"], named["gmail"], named["graph"])

    async def seed(request: Request) -> Response:
        try:
            body = read_seed_body(await request.body())
            # The simulators' locks are threading locks and Graph notifies subscribers synchronously.
            created = await run_in_threadpool(load_seed, body, targets)
        except SeedRejected as exc:
            return JSONResponse({"error": exc.problems[0], "problems": exc.problems}, status_code=exc.status)
        return JSONResponse(created)

    return [Route("/_sandbox/seed", seed, methods=["POST"])]


def load_seed(body: SeedBody, targets: SeedTargets) -> dict[str, Any]:
    """Seed every section of `body`; all or nothing. Returns what was created, per provider.
    Raises SeedRejected (nothing seeded) when a CRM would refuse a record or a record clashes with one."""
    hubspot, salesforce = targets.hubspot, targets.salesforce
    created: dict[str, Any] = {}
    with hubspot.crm.lock, salesforce.org.lock:
        problems, clashes = Problems(), Problems()
        if body.hubspot is not None:
            check_hubspot(body.hubspot, hubspot, problems, clashes)
        if body.salesforce is not None:
            check_salesforce(body.salesforce, salesforce, problems, clashes)
        if problems or clashes:
            raise SeedRejected(problems + clashes, status=400 if problems else 409)
        # Salesforce first: it is the one that may still refuse (and take back) a record.
        seeded_salesforce = seed_salesforce(body.salesforce, salesforce) if body.salesforce is not None else None
        if body.hubspot is not None:
            created["hubspot"] = seed_hubspot(body.hubspot, hubspot)
        if seeded_salesforce is not None:
            created["salesforce"] = seeded_salesforce
    if body.gmail is not None:
        created["gmail"] = seed_gmail(body.gmail, targets.gmail)
    if body.graph is not None:
        created["graph"] = seed_graph(body.graph, targets.graph)
    return created


class Problems(list[str]):
    """`path: what is wrong` lines."""

    def add(self, path: str, what: str) -> None:
        self.append(f"{path}: {what}")


# HubSpot ------------------------------------------------------------------------------------------------------


def check_hubspot(seed: HubSpotSeed, sandbox: HubSpotSandbox, problems: Problems, clashes: Problems) -> None:
    """What HubSpot would refuse: unknown or read-only properties, an email a contact or owner already has, an
    owner nobody has. Call holding the CRM lock."""
    crm = sandbox.crm
    owners = {str(o["email"]).lower(): o["id"] for o in crm.owners}
    _unique([o.email for o in seed.owners], "hubspot.owners", owners, "an owner", problems, clashes)
    known_owners = set(owners) | {o.email.lower() for o in seed.owners}
    contacts = crm.tables["contacts"].by_email
    _unique([c.email for c in seed.contacts], "hubspot.contacts", contacts, "a contact", problems, clashes)
    for i, contact in enumerate(seed.contacts):
        path = f"hubspot.contacts[{i}]"
        for name, value in contact.properties.items():
            if value is None:                 # null: nothing to set (seeding skips it too)
                continue
            refused = crm.schema.value_problem("contacts", name, _hubspot_value(value))
            if refused is not None:           # what HubSpot itself would answer: unknown, read-only, not an option
                hint = (" (create it with POST /crm/v3/properties/contacts first)"
                        if refused["error"] == "PROPERTY_DOESNT_EXIST" else "")
                problems.add(f"{path}.properties.{name}", f"{refused['message']}{hint}")
        if contact.owner and contact.owner.lower() not in known_owners:
            problems.add(f"{path}.owner", f"HubSpot has no owner {contact.owner} (add it under hubspot.owners)")


def _unique(emails: list[str], path: str, existing: dict[str, Any], what: str, problems: Problems,
            clashes: Problems) -> None:
    """Each address once in the body, and not already taken in the CRM."""
    seen: set[str] = set()
    for i, email in enumerate(emails):
        key = email.lower()
        if key in existing:
            clashes.add(f"{path}[{i}].email", f"the sandbox already has {what} {email} (id {existing[key]})")
        elif key in seen:
            problems.add(f"{path}[{i}].email", f"{email} is listed twice")
        seen.add(key)


def seed_hubspot(seed: HubSpotSeed, sandbox: HubSpotSandbox) -> dict[str, Any]:
    """Owners, then contacts (whose `owner` may be one of them). Call after check_hubspot, holding the lock."""
    owners = [{"email": o.email, "id": sandbox.add_owner(o.email, first_name=o.first_name, last_name=o.last_name,
                                                          archived=o.archived)} for o in seed.owners]
    owner_ids = {str(o["email"]).lower(): str(o["id"]) for o in sandbox.crm.owners}
    contacts = []
    for contact in seed.contacts:
        properties: dict[str, Any] = {name: _hubspot_value(value) for name, value in contact.properties.items()
                                      if value is not None}
        owner_id = owner_ids[contact.owner.lower()] if contact.owner else None
        contact_id = sandbox.add_contact(contact.email, additional_emails=contact.additional_emails,
                                         owner_id=owner_id, **properties)
        contacts.append({"email": contact.email, "id": contact_id})
    return {"owners": owners, "contacts": contacts}


def _hubspot_value(value: str | int | float | bool) -> str:
    """HubSpot stores every property value as a string; booleans as "true"/"false"."""
    return str(value).lower() if isinstance(value, bool) else str(value)


# Salesforce ---------------------------------------------------------------------------------------------------


def check_salesforce(seed: SalesforceSeed, sandbox: SalesforceSandbox, problems: Problems,
                     clashes: Problems) -> None:
    """What the org would refuse: unknown or read-only fields, values that do not fit a field, a username taken, an
    owner no User has. Call holding the org lock."""
    users = [r for r in sandbox.org.rows("User") if not r["IsDeleted"]]
    usernames = {str(r["Username"]).lower(): r["Id"] for r in users}
    _unique([u.username or u.email for u in seed.users], "salesforce.users", usernames, "a User", problems,
            clashes)
    owners = {str(r["Email"]).lower() for r in users if r["Email"]} | {u.email.lower() for u in seed.users}
    pending = {(f.object, f.name.lower()): FieldSpec(f.name, f.type, custom=True) for f in seed.fields}
    for kind, section in (("Contact", seed.contacts), ("Lead", seed.leads)):
        for i, person in enumerate(section):
            path = f"salesforce.{kind.lower()}s[{i}]"
            if person.owner and person.owner.lower() not in owners:
                problems.add(f"{path}.owner", f"Salesforce has no User {person.owner} (add it under "
                             "salesforce.users)")
            for name, value in person.fields.items():
                problem = _field_problem(sandbox, pending, kind, person, name, value)
                if problem:
                    problems.add(f"{path}.fields.{name}", problem)


def _field_problem(sandbox: SalesforceSandbox, pending: dict[tuple[str, str], FieldSpec], kind: str,
                   person: SalesforcePerson, name: str, value: Any) -> str | None:
    """Why the org would refuse `name: value` on a new `kind` record, or None."""
    own_key = next((key for key, field in SALESFORCE_NAMED.items() if field.lower() == name.lower()), None)
    if own_key is not None and getattr(person, own_key, None) is not None:
        return f"given twice: here and as {own_key}"
    spec = sandbox.org.schema.object(kind).fields.get(name.lower()) or pending.get((kind, name.lower()))
    if spec is None:
        return f"the org has no {kind} field {name} (add it under salesforce.fields)"
    if not spec.updateable:                  # read-only, or made so by field-level security
        return "read-only in Salesforce"
    try:
        coerce(spec, value)
    except SfError as exc:
        return exc.message
    return None


class SalesforceWrites:
    """Writes to the org that can be taken back, for a seed that must seed all of Salesforce or nothing."""

    def __init__(self, sandbox: SalesforceSandbox) -> None:
        self.sandbox = sandbox
        self.undo: list[Callable[[], object]] = []

    def add_field(self, field: SalesforceField) -> dict[str, str]:
        fields = self.sandbox.org.schema.object(field.object).fields
        key, before = field.name.lower(), fields.get(field.name.lower())
        self.sandbox.add_custom_field(field.object, field.name, field.type, external_id=field.external_id,
                                      unique=field.unique, values=field.values, restricted=field.restricted)

        def revert() -> None:
            if before is None:
                fields.pop(key, None)
            else:
                fields[key] = before
        self.undo.append(revert)
        return {"object": field.object, "name": field.name}

    def add_user(self, user: SalesforceUser) -> dict[str, str]:
        record_id = self.sandbox.add_user(user.username or user.email, first_name=user.first_name,
                                          last_name=user.last_name, email=user.email, active=user.active)
        return self._created("User", user.email, record_id)

    def add_person(self, kind: str, person: SalesforcePerson) -> dict[str, str]:
        values: dict[str, Any] = {"first_name": person.first_name, "last_name": person.last_name,
                                  "company": getattr(person, "company", None), **person.fields}
        if person.owner:
            values["OwnerId"] = self._user_with_email(person.owner)
        add = self.sandbox.add_contact if kind == "Contact" else self.sandbox.add_lead
        record_id = add(person.email, **{k: v for k, v in values.items() if v is not None})
        return self._created(kind, person.email, record_id)

    def take_back(self) -> None:
        for revert in reversed(self.undo):
            revert()

    def _user_with_email(self, email: str) -> str:
        return next(str(r["Id"]) for r in self.sandbox.org.rows("User")
                    if not r["IsDeleted"] and str(r["Email"] or "").lower() == email.lower())

    def _created(self, kind: str, email: str, record_id: str) -> dict[str, str]:
        self.undo.append(partial(self.sandbox.org.tables[kind].pop, record_id, None))
        return {"email": email, "id": record_id}


def seed_salesforce(seed: SalesforceSeed, sandbox: SalesforceSandbox) -> dict[str, Any]:
    """Fields, users, contacts, then leads. If the org refuses one, everything written here is taken back and
    SeedRejected names it. Call after check_salesforce, holding the org lock."""
    writes = SalesforceWrites(sandbox)
    created: dict[str, list[dict[str, str]]] = {"fields": [], "users": [], "contacts": [], "leads": []}
    steps: list[tuple[str, str, Callable[[], dict[str, str]]]] = [
        *(("fields", f"salesforce.fields[{i}]", partial(writes.add_field, f)) for i, f in enumerate(seed.fields)),
        *(("users", f"salesforce.users[{i}]", partial(writes.add_user, u)) for i, u in enumerate(seed.users)),
        *(("contacts", f"salesforce.contacts[{i}]", partial(writes.add_person, "Contact", c))
          for i, c in enumerate(seed.contacts)),
        *(("leads", f"salesforce.leads[{i}]", partial(writes.add_person, "Lead", lead))
          for i, lead in enumerate(seed.leads))]
    for section, path, write in steps:
        try:
            created[section].append(write())
        except (SfError, ValueError) as exc:
            writes.take_back()
            raise SeedRejected([f"{path}: {getattr(exc, 'message', exc)}"]) from None
    return created


# Mail ---------------------------------------------------------------------------------------------------------


def gmail_refresh_token(sandbox: GmailSandbox, address: str) -> str:
    """The refresh token the seed issues for a Gmail mailbox: derived from the address (and the sandbox's client
    secret), so a config written against it keeps working when the sandbox is restarted and seeded again."""
    key = sandbox.settings.google_client_secret.encode()
    digest = hmac.new(key, address.lower().encode(), hashlib.sha256).hexdigest()[:32]
    return f"1//sandbox-seed-{digest}"


def seed_gmail(seed: GmailSeed, sandbox: GmailSandbox) -> dict[str, Any]:
    """Deliver each message (INBOX and UNREAD, or SENT) and issue a refresh token per mailbox."""
    messages = []
    for message in seed.messages:
        message_id, raw = message.compose()
        labels = ["SENT"] if message.sent else ["INBOX", "UNREAD"]
        gmail_id = sandbox.deliver(message.mailbox, raw, labels, internal_date=message.at)
        messages.append(_delivered(message, gmail_id, message_id))
    mailboxes = _ordered([*seed.users, *(m.mailbox for m in seed.messages)])
    tokens = {address: sandbox.oauth.issue_refresh_token(address, token=gmail_refresh_token(sandbox, address))
              for address in mailboxes}
    return {"messages": messages, "refresh_tokens": tokens}


def seed_graph(seed: GraphSeed, sandbox: GraphSandbox) -> dict[str, Any]:
    """Register each user (and each message's mailbox), then file each message in inbox or sentitems."""
    users = [{"address": address, "id": sandbox.register_user(address).id}
             for address in _ordered([*seed.users, *(m.mailbox for m in seed.messages)])]
    messages = []
    for message in seed.messages:
        message_id, raw = message.compose()
        graph_id = sandbox.deliver(message.mailbox, raw, "sentitems" if message.sent else "inbox",
                                   received=message.at)
        messages.append(_delivered(message, graph_id, message_id))
    return {"users": users, "messages": messages}


def _delivered(message: MailMessage, provider_id: str, message_id: str) -> dict[str, str]:
    return {"mailbox": message.mailbox, "id": provider_id, "message_id": message_id,
            "folder": "sent" if message.sent else "inbox"}


def _ordered(addresses: Iterable[str]) -> list[str]:
    """Each address once (any case), in first-seen order."""
    seen: dict[str, str] = {}
    for address in addresses:
        seen.setdefault(address.lower(), address)
    return list(seen.values())
