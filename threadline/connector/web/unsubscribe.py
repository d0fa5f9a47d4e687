"""Unsubscribe links for sequence emails: signed per contact, one-click (RFC 8058) and a confirmation page.

`POST /unsubscribe/<token>` (what mail clients send for `List-Unsubscribe-Post:
List-Unsubscribe=One-Click`, and what the page's button sends) records an `unsubscribed`
event at once — every sequence for the contact exits before its next send — and, when
`rules.unsubscribe_field` is set, writes the opt-out to the CRM through the outbox.
`GET` only shows a page with that button (link scanners must not unsubscribe anyone).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

import structlog
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from threadline.connector.web.push.wakeups import Wakeups
from threadline.rules.effects import effect_key
from threadline.rules.sequences.unsubscribe_links import read_token
from threadline.sync.events.log import record_events
from threadline.sync.events.records import Event, event_id
from threadline.sync.outbox.rows import Intent, intend
from threadline.sync.store.database import Store
from threadline.sync.store.tables import ContactRow

log = structlog.get_logger("threadline.unsubscribe")
RULES_SOURCE = "rules"


PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}}
button{{font-size:1rem;padding:.6rem 1.2rem}}</style></head><body><h1>{title}</h1>{body}</body></html>"""


def unsubscribe_endpoint(store: Store, secret: str, wakeups: Wakeups, unsubscribe_field: str | None,
                         previous_secrets: Sequence[str] = ()) -> Callable[[Request], Awaitable[Response]]:
    """The /unsubscribe/{token} endpoint: links signed with `secret` or any of `previous_secrets` are honoured."""
    previous = tuple(previous_secrets)

    async def endpoint(request: Request) -> Response:
        contact_id = read_token(secret, request.path_params["token"], previous)
        if contact_id is None:
            return HTMLResponse(PAGE.format(title="Link not recognised", body="<p>This unsubscribe link is not "
                                                                              "valid.</p>"), status_code=404)
        if request.method == "GET":
            form = '<form method="post"><button type="submit">Unsubscribe</button></form>'
            return HTMLResponse(PAGE.format(title="Unsubscribe", body=f"<p>Stop these emails?</p>{form}"))
        record_unsubscribe(store, contact_id, unsubscribe_field)
        wakeups.wake(RULES_SOURCE)
        return HTMLResponse(PAGE.format(title="You are unsubscribed", body="<p>You will not get these emails "
                                                                           "again.</p>"))

    return endpoint


def record_unsubscribe(store: Store, contact_id: str, unsubscribe_field: str | None) -> None:
    """Idempotent: the event and the CRM write are keyed by contact, so a second click adds nothing."""
    with store.session() as session:
        if session.get(ContactRow, contact_id) is None:
            return
        record_events(session, [Event(id=event_id("unsubscribed", contact_id, "link"), type="unsubscribed",
                                      contact_id=contact_id, occurred_at=datetime.now(UTC), source="api",
                                      data={"channel": "email", "via": "list-unsubscribe"})])
        if unsubscribe_field:
            intend(session, [Intent(effect_key("set_fields", contact_id, "unsubscribe"), "set_fields", contact_id,
                                    {"fields": {unsubscribe_field: "true"}})])
    log.info("contact.unsubscribed", contact_id=contact_id)
