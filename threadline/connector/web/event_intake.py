"""POST /events: custom events (form submitted, pricing page visited...) from a website or forms tool.

Bearer-token authenticated; the JSON body (one event or a list of up to 100) is validated;
the contact is named by CRM id or by email (matched against the mirror like mail is);
each event gets a stable id (the client's `id`, else a hash of its content), so a retried
POST stores nothing twice. Accepted events wake the rule layer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from threadline.connector.web.push.wakeups import Wakeups
from threadline.connector.web.secret_checks import KnownSecret, bearer_credentials
from threadline.sync.contacts.mirror import contacts_for_address
from threadline.sync.events.log import record_events
from threadline.sync.events.records import Event, event_id
from threadline.sync.mail.matching import AddressPolicy
from threadline.sync.store.database import Store
from threadline.sync.store.tables import ContactRow

log = structlog.get_logger("threadline.events")
MAX_BATCH = 100
#: An event's `data` is a few form fields or page facts (well under 1 KiB): 16 KiB and 8 levels are far more than
#: any forms tool sends, and bound what one stored event costs every rules pass that reads it. The whole request
#: is bounded before this by server.limits.events_bytes (1 MiB, 413).
MAX_DATA_BYTES = 16 * 1024
MAX_DATA_DEPTH = 8
RULES_SOURCE = "rules"


class ContactRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # No NUL and the store's column sizes: PostgreSQL refuses NUL even in a lookup, which was a 500
    # (found by tests/reliability/test_fuzz_payloads.py).
    id: str | None = Field(None, max_length=64, pattern=r"^[^\x00]*$")
    email: str | None = Field(None, max_length=320, pattern=r"^[^\x00]*$")

    @model_validator(mode="after")
    def _one(self) -> ContactRef:
        if not self.id and not self.email:
            raise ValueError("contact needs an id or an email")
        return self


class IncomingEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str = Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$", max_length=100)
    contact: ContactRef
    occurred_at: datetime | None = None
    id: str | None = Field(None, max_length=200, description="Your id for this event: a retry with it is ignored")
    data: dict[str, Any] = Field(default_factory=dict)

    @field_validator("data")
    @classmethod
    def _bounded_data(cls, data: dict[str, Any]) -> dict[str, Any]:
        """Stored with the event and read by rules at every evaluation: bounded in size and nesting, so one
        accepted batch (at most 100 of these) costs a known amount to keep and to score."""
        depth = _depth(data)
        if depth > MAX_DATA_DEPTH:
            raise ValueError(f"data is nested {depth} levels deep; at most {MAX_DATA_DEPTH}")
        size = len(json.dumps(data, ensure_ascii=False, default=str).encode())
        if size > MAX_DATA_BYTES:
            raise ValueError(f"data is {size} bytes as JSON; at most {MAX_DATA_BYTES}")
        return data

    @field_validator("occurred_at")
    @classmethod
    def _in_utc(cls, at: datetime | None) -> datetime | None:
        """Stored in UTC: "0001-01-01T00:00:00+14:00" has no UTC value and was a 500 at insert
        (found by tests/reliability/test_fuzz_payloads.py)."""
        if at is None:
            return None
        try:
            return at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)
        except OverflowError:
            raise ValueError("occurred_at is out of range") from None


def events_endpoint(store: Store, token: str, policy: AddressPolicy, wakeups: Wakeups,
                    allowed_types: frozenset[str] | None) -> Callable[[Request], Awaitable[Response]]:
    expected = KnownSecret(token)

    async def endpoint(request: Request) -> Response:
        presented = bearer_credentials(request.headers.get("authorization", ""))
        if presented is None or not expected.matches(presented):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        try:
            body = json.loads(await request.body())
            items = [IncomingEvent.model_validate(i) for i in (body if isinstance(body, list) else [body])]
        except (ValueError, ValidationError, RecursionError) as exc:  # RecursionError: '[' * 10_000 was a 500
            return JSONResponse({"error": "invalid", "detail": _problems(exc)}, status_code=422)
        if not 1 <= len(items) <= MAX_BATCH:
            return JSONResponse({"error": "invalid", "detail": [f"send 1 to {MAX_BATCH} events"]}, status_code=422)
        unknown = [i.type for i in items if allowed_types is not None and i.type not in allowed_types]
        if unknown:
            declared = ", ".join(sorted(allowed_types or ()))
            return JSONResponse({"error": "invalid", "detail": [
                f"event type {t!r} is not declared: declare it in rules.scoring.custom_events (declared: {declared})"
                for t in dict.fromkeys(unknown)]}, status_code=422)
        events, missing = _resolve(store, policy, items)
        if missing:
            return JSONResponse({"error": "unknown contact", "detail": missing}, status_code=422)
        with store.session() as session:
            stored = record_events(session, events)
        wakeups.wake(RULES_SOURCE)
        log.info("events.accepted", received=len(events), new=stored)
        return JSONResponse({"accepted": len(events), "new": stored}, status_code=202)

    return endpoint


def _resolve(store: Store, policy: AddressPolicy, items: list[IncomingEvent]) -> tuple[list[Event], list[str]]:
    events, missing = [], []
    now = datetime.now(UTC)
    with store.session() as session:
        for n, item in enumerate(items):
            if item.contact.id:
                ids = [item.contact.id] if session.get(ContactRow, item.contact.id) else []
            else:
                ids = contacts_for_address(session, policy.normalize(item.contact.email or ""))
            if not ids:
                missing.append(f"[{n}].contact: no contact with {item.contact.model_dump(exclude_none=True)}")
                continue
            at = item.occurred_at or now
            at = at if at.tzinfo else at.replace(tzinfo=UTC)
            identity = item.id or hashlib.sha256(item.model_dump_json().encode()).hexdigest()
            events += [Event(id=event_id(item.type, identity, cid), type=item.type, contact_id=cid, occurred_at=at,
                             source="api", data=item.data) for cid in ids]
    return events, missing


def _problems(exc: Exception) -> list[str]:
    if isinstance(exc, ValidationError):
        return [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
    return [f"body is not JSON: {exc}"]


def _depth(value: object) -> int:
    """How deeply `value` nests lists and objects (iterative: a hostile body must not recurse the stack)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            stack += [(child, level + 1) for child in item.values()]
        elif isinstance(item, list):
            stack += [(child, level + 1) for child in item]
        else:
            continue
        deepest = max(deepest, level + 1)
        if deepest > MAX_DATA_DEPTH:
            return deepest
    return deepest
