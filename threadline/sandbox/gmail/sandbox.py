"""The Gmail API v1 simulator: routes for the sandbox app plus Python helpers for tests, demo and bench."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from threadline.sandbox.base import SandboxContext
from threadline.sandbox.gmail.errors import GoogleError, unauthenticated
from threadline.sandbox.gmail.gateway import Gateway, Mailboxes
from threadline.sandbox.gmail.mailbox import Mailbox, StoredMessage
from threadline.sandbox.gmail.quota import WINDOW_SECONDS, UserQuota
from threadline.sandbox.gmail.seeding import seed_messages
from threadline.sandbox.gmail.web import gmail_routes
from threadline.sandbox.google_oauth import DEFAULT_USER, GoogleOAuth
from threadline.sandbox.pubsub import PubSubSandbox
from threadline.sandbox.settings import SandboxSettings


class GmailSandbox:
    """Gmail under `/gmail/v1/...`, `/upload/gmail/v1/...`, `/batch/gmail/v1`, with Google's `POST /token`.

    In memory and thread-safe; `reset()` empties every mailbox and forgets every token.
    """

    name = "gmail"
    prefixes = ("/gmail/", "/upload/gmail/", "/batch/gmail/")
    default_user = DEFAULT_USER

    def __init__(self, settings: SandboxSettings, ctx: SandboxContext, oauth: GoogleOAuth | None = None,
                 pubsub: PubSubSandbox | None = None) -> None:
        self.settings = settings
        self.ctx = ctx
        self.oauth = oauth or GoogleOAuth(settings, ctx)
        self.pubsub = pubsub
        self.mailboxes = Mailboxes(settings, self._push)
        self.quota = UserQuota(settings.gmail_user_units_per_minute)
        self.project_quota = UserQuota(settings.gmail_project_units_per_minute)
        self.gateway = Gateway(self.oauth, self.mailboxes, self.quota, ctx, self.project_quota)

    def routes(self) -> list[BaseRoute]:
        return [*self.oauth.routes(), *gmail_routes(self.gateway)]

    def reset(self) -> None:
        self.mailboxes.clear()
        self.quota.reset()
        self.quota.units_per_minute = self.settings.gmail_user_units_per_minute
        self.quota.window_seconds = WINDOW_SECONDS
        self.project_quota.reset()
        self.project_quota.units_per_minute = self.settings.gmail_project_units_per_minute
        self.project_quota.window_seconds = WINDOW_SECONDS
        self.gateway.in_flight.reset()
        self.gateway.serve_delay = 0.0
        self.oauth.reset()

    def _push(self, mailbox: Mailbox, message: StoredMessage) -> None:
        """users.watch: publish {emailAddress, historyId} to the watch's topic for watched labels."""
        watch = mailbox.watch
        if self.pubsub is None or watch is None:
            return
        labels = set(watch.get("labelIds") or [])
        excluded = watch.get("labelFilterBehavior", watch.get("labelFilterAction", "include")).lower() == "exclude"
        if labels and (bool(labels & message.labels) == excluded):
            return
        self.pubsub.publish(watch["topicName"], {"emailAddress": mailbox.address,
                                                 "historyId": message.history_id})

    # -- shapes the fault middleware uses ---------------------------------------------------------

    def error_response(self, status: int, message: str) -> Response:
        exc = GoogleError(status, message)
        return JSONResponse(exc.body(), status_code=status)

    def throttled_response(self, retry_after: float) -> Response:
        exc = GoogleError(429, "User-rate limit exceeded.  Retry after a few seconds.", "rateLimitExceeded",
                          domain="usageLimits")
        return JSONResponse(exc.body(), status_code=429, headers={"Retry-After": str(max(0, round(retry_after)))})

    def unauthorized_response(self) -> Response:
        exc = unauthenticated()
        return JSONResponse(exc.body(), status_code=401, headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'})

    # -- Python-side helpers ------------------------------------------------------------------------

    def deliver(self, user: str, raw: bytes, labels: Iterable[str] = ("INBOX",), thread_id: str | None = None,
                internal_date: datetime | None = None) -> str:
        """Put a message in `user`'s mailbox as Gmail would on receipt; returns its Gmail id.

        Threads by References/In-Reply-To + subject (or joins `thread_id`), records history.
        """
        at = int(internal_date.timestamp() * 1000) if internal_date else None
        return self.mailboxes.of(user).add(raw, list(labels), thread_id=thread_id, internal_date=at).id

    def messages(self, user: str) -> list[StoredMessage]:
        """Every message in the mailbox, oldest first."""
        return sorted(self.mailboxes.of(user).snapshot(), key=lambda m: (m.internal_date, m.id))

    def label(self, user: str, message_id: str, add: Iterable[str] = (), remove: Iterable[str] = ()) -> None:
        self.mailboxes.of(user).modify(message_id, list(add), list(remove))

    def create_label(self, user: str, name: str) -> str:
        """A user label in `user`'s mailbox (as labels.create does); returns its id."""
        return str(self.mailboxes.of(user).create_label(name)["id"])

    def delete(self, user: str, message_id: str) -> None:
        self.mailboxes.of(user).delete(message_id)

    def history_id(self, user: str) -> int:
        return self.mailboxes.of(user).history_id

    def expire_history_before(self, user: str, history_id: int) -> None:
        """From now on, history.list with a startHistoryId below `history_id` answers 404."""
        self.mailboxes.of(user).expire_history_before(history_id)

    def seed(self, user: str, n: int, *, days: float = 20.0, sent_every: int = 10,
             now: float | None = None) -> list[str]:
        """Bulk-load `n` messages spread over the last `days` (every `sent_every`-th is SENT). Fast: no parsing."""
        mailbox = self.mailboxes.of(user)
        ids = []
        for raw, labels, at_ms, env in seed_messages(user, n, days=days, sent_every=sent_every,
                                                     now=time.time() if now is None else now):
            ids.append(mailbox.add(raw, labels, internal_date=at_ms, env=env).id)
        return ids

    def register_service_account(self, base_url: str, **kwargs: Any) -> dict[str, Any]:
        """Service-account JSON (private key included) whose token_uri is `base_url`/token."""
        return self.oauth.register_service_account(base_url, **kwargs)



