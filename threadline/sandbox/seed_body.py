"""What `POST /_sandbox/seed` accepts: the body's shape, checked whole before anything is seeded.

Every section and key is optional except each record's address; unknown keys and wrong types are refused. A
refusal names the path of each problem the way an admin writes it: `hubspot.contacts[2].email: required`.
"""

from __future__ import annotations

import re
import types
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, getaddresses, make_msgid, parseaddr
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from threadline.sandbox.salesforce.schema import FIELD_TYPES, STANDARD


class SeedRejected(Exception):
    """The body (or what it asks for) was refused; `problems` are `path: what is wrong` lines."""

    def __init__(self, problems: list[str], status: int = 400) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems
        self.status = status


def _address(value: str) -> str:
    if "@" not in value or any(c.isspace() for c in value.strip()):
        raise ValueError("not an email address")
    return value.strip()


def _addresses(value: str) -> str:
    """One or more addresses, each may have a display name: `Li Wei <li@stark.example>, ann@acme.example`."""
    found = getaddresses([value])
    if not found or any("@" not in address for _, address in found):
        raise ValueError("not an email address (or a list of them)")
    return value.strip()


Address = Annotated[str, AfterValidator(_address)]
Addresses = Annotated[str, AfterValidator(_addresses)]
Value = str | int | float | bool | None     # a JSON scalar: what a CRM field holds


def _scalars(values: dict[str, Any]) -> dict[str, Any]:
    wrong = [name for name, value in values.items() if not isinstance(value, Value)]
    if wrong:
        raise ValueError(f"{', '.join(wrong)}: must be a string, number, boolean or null")
    return values


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class HubSpotOwner(Section):
    email: Address
    first_name: str = "Rep"
    last_name: str = "Owner"
    archived: bool = False


class HubSpotContact(Section):
    email: Address
    properties: Annotated[dict[str, Any], AfterValidator(_scalars)] = {}
    additional_emails: list[Address] = []
    owner: Address | None = None        # an owner's email: sets hubspot_owner_id

    @field_validator("properties")
    @classmethod
    def _not_the_address(cls, properties: dict[str, Any]) -> dict[str, Any]:
        for name, use in (("email", "email"), ("hs_additional_emails", "additional_emails")):
            if name in properties:
                raise ValueError(f"{name}: give it as {use}, next to properties")
        return properties

    @model_validator(mode="after")
    def _one_owner(self) -> HubSpotContact:
        if self.owner and "hubspot_owner_id" in self.properties:
            raise ValueError("give owner or properties.hubspot_owner_id, not both")
        return self


class HubSpotSeed(Section):
    owners: list[HubSpotOwner] = []
    contacts: list[HubSpotContact] = []


class SalesforceUser(Section):
    email: Address
    username: str | None = None         # default: the email
    first_name: str = "Rep"
    last_name: str = "User"
    active: bool = True


class SalesforcePerson(Section):
    email: Address
    first_name: str | None = None
    last_name: str | None = None        # default: the seeding helper's ("Contact", "Lead")
    owner: Address | None = None        # a User's email: sets OwnerId
    fields: Annotated[dict[str, Any], AfterValidator(_scalars)] = {}    # any other field, by API name


class SalesforceLead(SalesforcePerson):
    company: str | None = None


class SalesforceField(Section):
    object: str
    name: str
    type: str = "string"
    external_id: bool = False
    unique: bool = False
    values: list[str] = []              # a picklist's values
    restricted: bool = False            # a restricted picklist refuses other values

    @field_validator("object")
    @classmethod
    def _known_object(cls, value: str) -> str:
        known = {name.lower(): name for name in STANDARD}
        if value.lower() not in known:
            raise ValueError(f"no object {value!r} (one of: {', '.join(sorted(STANDARD))})")
        return known[value.lower()]

    @field_validator("name")
    @classmethod
    def _custom_name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*__c", value):
            raise ValueError("a custom field's API name ends in __c, e.g. Region__c")
        return value

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in FIELD_TYPES:
            raise ValueError(f"one of: {', '.join(sorted(FIELD_TYPES))}")
        return value


class SalesforceSeed(Section):
    users: list[SalesforceUser] = []
    contacts: list[SalesforcePerson] = []
    leads: list[SalesforceLead] = []
    fields: list[SalesforceField] = []


class MailMessage(Section):
    mailbox: Address
    sender: Addresses | None = Field(None, alias="from")  # default: the mailbox, for sent mail
    to: Addresses | None = None                             # default: the mailbox, for received mail
    subject: str = ""
    text: str = ""
    sent: bool = False
    date: datetime | None = None
    message_id: str | None = None
    in_reply_to: str | None = None

    @model_validator(mode="after")
    def _both_ends(self) -> MailMessage:
        if not self.sent and self.sender is None:
            raise ValueError("'from' is required for a received message (sent: false)")
        if self.sent and not self.to:
            raise ValueError("'to' is required for a sent message (sent: true)")
        return self

    @property
    def at(self) -> datetime | None:
        """`date` as an aware datetime (a date without a zone is UTC)."""
        if self.date is None:
            return None
        return self.date if self.date.tzinfo else self.date.replace(tzinfo=UTC)

    def compose(self) -> tuple[str, bytes]:
        """(Message-ID, RFC 822 bytes with CRLF): From, To, Subject, Date, a Message-ID (given, or a new one on
        the sender's domain), In-Reply-To and References for a reply, and the text as a text/plain body."""
        sender = self.sender or self.mailbox
        domain = parseaddr(sender)[1].rsplit("@", 1)[-1]
        message_id = _bracketed(self.message_id) if self.message_id else make_msgid(domain=domain)
        message = EmailMessage()
        message["From"] = sender
        message["To"] = self.to or self.mailbox
        message["Subject"] = self.subject
        message["Date"] = format_datetime(self.at or datetime.now(UTC))
        message["Message-ID"] = message_id
        if self.in_reply_to:
            message["In-Reply-To"] = _bracketed(self.in_reply_to)
            message["References"] = _bracketed(self.in_reply_to)
        message.set_content(self.text)
        return message_id, message.as_bytes(policy=SMTP)


def _bracketed(message_id: str) -> str:
    return message_id if message_id.startswith("<") else f"<{message_id}>"


class GmailSeed(Section):
    users: list[Address] = []          # mailboxes to issue a refresh token for, with or without mail
    messages: list[MailMessage] = []


class GraphSeed(Section):
    users: list[Address] = []
    messages: list[MailMessage] = []


class SeedBody(Section):
    hubspot: HubSpotSeed | None = None
    salesforce: SalesforceSeed | None = None
    gmail: GmailSeed | None = None
    graph: GraphSeed | None = None


def read_seed_body(raw: bytes) -> SeedBody:
    """The parsed body; SeedRejected naming every problem's path if it is not JSON of the right shape."""
    try:
        return SeedBody.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        problems: dict[str, str] = {}
        for error in exc.errors():
            path = error_path(error["loc"])
            problems.setdefault(path, _problem(error))
        raise SeedRejected([f"{path}: {what}" for path, what in problems.items()]) from None


def error_path(loc: tuple[int | str, ...]) -> str:
    """('hubspot', 'contacts', 2, 'email') -> 'hubspot.contacts[2].email'; the whole body is 'body'."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


def _problem(error: Any) -> str:
    kind = error["type"]
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        expected = _keys_at(error["loc"][:-1])
        return f"unknown key (expected one of: {', '.join(expected)})" if expected else "unknown key"
    if kind == "value_error":
        return str(error["ctx"]["error"])
    if kind == "json_invalid":
        return f"not valid JSON ({error['ctx']['error']})"
    return str(error["msg"]).replace("Input should be", "should be")


def _keys_at(loc: tuple[int | str, ...]) -> list[str]:
    """The keys the model at `loc` accepts (for a did-you-mean on an unknown key)."""
    current: Any = SeedBody
    for part in loc:
        current = _unwrap(current)
        if isinstance(part, int):
            current = get_args(current)[0] if get_origin(current) is list else None
        elif isinstance(current, type) and issubclass(current, BaseModel):
            field = next((f for n, f in current.model_fields.items() if (f.alias or n) == part), None)
            current = field.annotation if field else None
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or n for n, f in current.model_fields.items()]
    return []


def _unwrap(annotation: Any) -> Any:
    """`X | None` -> X."""
    if get_origin(annotation) in (Union, types.UnionType):
        options = [a for a in get_args(annotation) if a is not type(None)]
        return options[0] if len(options) == 1 else annotation
    return annotation
