"""The path every Gmail call takes, alone or inside a batch: auth, user, scopes, quotas (user, then project),
handler."""

from __future__ import annotations

import threading
from typing import Any

from threadline.sandbox.base import SandboxContext
from threadline.sandbox.gmail.calls import ApiCall, ApiReply
from threadline.sandbox.gmail.errors import (
    GoogleError,
    not_found,
    project_rate_limited,
    rate_limited,
    unauthenticated,
)
from threadline.sandbox.gmail.invocation import Invocation
from threadline.sandbox.gmail.mailbox import Mailbox
from threadline.sandbox.gmail.quota import PROJECT, InFlight, UserQuota, retry_after_header
from threadline.sandbox.gmail.routes_table import GmailRoute, find_route
from threadline.sandbox.google_oauth import GoogleOAuth, Grant
from threadline.sandbox.settings import SandboxSettings


class Mailboxes:
    """Every user's mailbox, created on first use (any delegated user of the domain has one)."""

    def __init__(self, settings: SandboxSettings, notify: Any = None) -> None:
        self.settings = settings
        self.notify = notify            # passed to every mailbox: Gmail push (users.watch) delivery
        self._boxes: dict[str, Mailbox] = {}
        self._lock = threading.Lock()

    def of(self, user: str) -> Mailbox:
        with self._lock:
            key = user.lower()
            if key not in self._boxes:
                self._boxes[key] = Mailbox(user, self.settings.gmail_history_retention, self.notify)
            return self._boxes[key]

    def addresses(self) -> list[str]:
        """The address of every mailbox created so far (delivered to, seeded or read)."""
        with self._lock:
            return [box.address for box in self._boxes.values()]

    def clear(self) -> None:
        with self._lock:
            self._boxes.clear()


class Gateway:
    """Turns one ApiCall into one ApiReply; records stats and spends quota on the way."""

    def __init__(self, oauth: GoogleOAuth, mailboxes: Mailboxes, quota: UserQuota, ctx: SandboxContext,
                 project_quota: UserQuota | None = None) -> None:
        self.oauth, self.mailboxes, self.quota, self.ctx = oauth, mailboxes, quota, ctx
        self.project_quota = project_quota or UserQuota(1_200_000)
        self.in_flight = InFlight()
        self.serve_delay = 0.0     # seconds each lone call takes inside the server (tests: concurrency visible)

    def handle(self, call: ApiCall) -> ApiReply:
        found = find_route(call.method, call.path)
        if found is None:
            self.ctx.stats.record("gmail", f"unknown {call.method}")
            return _error(not_found(f"Method not found: {call.method} {call.path}"))
        route, args = found
        units, throttled = 0, False
        try:
            user = self._user(self.oauth.authenticate(call.headers.get("authorization")), args["userId"], route)
            wait = self.quota.spend(user, route.cost)
            if wait > 0:
                throttled = True
                raise rate_limited(retry_after_header(wait))
            wait = self.project_quota.spend(PROJECT, route.cost)
            if wait > 0:
                self.quota.refund(user, route.cost)
                throttled = True
                raise project_rate_limited(retry_after_header(wait))
            units = route.cost
            invocation = Invocation(call, self.mailboxes.of(user), args, self.ctx.faults, route.name)
            body = route.handler(invocation)
            return ApiReply(200, body) if body is not None else ApiReply(204, None)
        except GoogleError as exc:
            return _error(exc)
        finally:
            self.ctx.stats.record("gmail", route.name, units=units, throttled=throttled)

    def _user(self, grant: Grant | None, user_id: str, route: GmailRoute) -> str:
        if grant is None:
            raise unauthenticated()
        if grant.user is None:
            raise GoogleError(400, "Precondition check failed.", "failedPrecondition", status="FAILED_PRECONDITION")
        if user_id != "me" and user_id.lower() != grant.user.lower():
            raise GoogleError(403, f"Delegation denied for {grant.user}", "forbidden")
        if not grant.scopes & route.scopes():
            raise GoogleError(403, "Request had insufficient authentication scopes.", "insufficientPermissions",
                              status="PERMISSION_DENIED")
        return grant.user


def _error(exc: GoogleError) -> ApiReply:
    return ApiReply(exc.code, exc.body(), dict(exc.headers))
