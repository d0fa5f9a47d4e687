"""The Microsoft Graph mail simulator: routes for the sandbox app plus Python helpers for tests, demo and bench."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from threadline.sandbox.base import SandboxContext
from threadline.sandbox.graph.errors import GraphError, throttled, unauthenticated
from threadline.sandbox.graph.gateway import Gateway
from threadline.sandbox.graph.mailbox import StoredMessage
from threadline.sandbox.graph.seeding import seed_messages
from threadline.sandbox.graph.web import graph_routes
from threadline.sandbox.microsoft_oauth import APP_ROLES, AppRegistration, DirectoryUser, MicrosoftIdentity
from threadline.sandbox.settings import SandboxSettings

FOLDER_NAMES = {"inbox": "inbox", "sent": "sentitems", "sentitems": "sentitems", "deleteditems": "deleteditems",
                "drafts": "drafts", "archive": "archive"}


class GraphSandbox:
    """Graph v1.0 mail under `/v1.0/...` with the identity platform under `/{tenant}/oauth2/v2.0/...`.

    In memory and thread-safe; `reset()` empties every mailbox, subscription and token.
    """

    name = "graph"
    prefixes = ("/v1.0/",)

    def __init__(self, settings: SandboxSettings, ctx: SandboxContext,
                 identity: MicrosoftIdentity | None = None) -> None:
        self.settings = settings
        self.ctx = ctx
        self.identity = identity or MicrosoftIdentity(settings, ctx)
        self.gateway = Gateway(self.identity, settings, ctx)
        self.default_user = settings.graph_default_user

    @property
    def limits(self) -> Any:
        """Requests/window/concurrency/delay, adjustable per test (restored by reset())."""
        return self.gateway.limits

    def routes(self) -> list[BaseRoute]:
        return [*self.identity.routes(), *graph_routes(self.gateway)]

    def reset(self) -> None:
        s, limits = self.settings, self.gateway.limits
        self.gateway.mailboxes.clear()
        self.gateway.subscriptions.clear()
        limits.reset()
        limits.requests, limits.window = s.graph_requests_per_window, s.graph_window_seconds
        limits.concurrency, limits.delay = s.graph_mailbox_concurrency, 0.0
        limits.app_requests, limits.app_window = s.graph_app_requests_per_window, s.graph_app_window_seconds
        self.identity.reset()

    # -- shapes the fault middleware uses ---------------------------------------------------------------

    def error_response(self, status: int, message: str) -> Response:
        exc = GraphError(status, "UnknownError" if status >= 500 else "BadRequest", message)
        return JSONResponse(exc.body(), status_code=status)

    def throttled_response(self, retry_after: float) -> Response:
        exc = throttled(max(1, round(retry_after)))
        return JSONResponse(exc.body(), status_code=429, headers=exc.headers)

    def unauthorized_response(self) -> Response:
        exc = unauthenticated("Lifetime validation failed, the token is expired.")
        return JSONResponse(exc.body(), status_code=401, headers=exc.headers)

    # -- Python-side helpers -----------------------------------------------------------------------------

    def register_user(self, upn: str, **kwargs: Any) -> DirectoryUser:
        """Add a user (and so a mailbox) to the directory; idempotent."""
        return self.identity.register_user(upn, **kwargs)

    def add_user_without_mailbox(self, upn: str, **kwargs: Any) -> DirectoryUser:
        """A directory user with no Exchange Online mailbox (no licence, inactive, soft-deleted or on-premises):
        every `/users/{id}/...` mail call for it answers 404 `MailboxNotEnabledForRESTAPI`. Idempotent; an
        existing user loses its mailbox (its mail is kept for `enable_mailbox`)."""
        user = self.register_user(upn, **kwargs)
        self.gateway.mailboxes.set_enabled(user.id, False)
        return user

    def enable_mailbox(self, upn: str) -> DirectoryUser:
        """Give the user an Exchange Online mailbox (an admin assigned a licence): its mail calls work again."""
        user = self.register_user(upn)
        self.gateway.mailboxes.set_enabled(user.id, True)
        return user

    def register_app(self, client_id: str, secret: str, *, roles: tuple[str, ...] = APP_ROLES,
                     **kwargs: Any) -> AppRegistration:
        return self.identity.register_app(client_id, secret, roles=roles, **kwargs)

    def deliver(self, user: str, raw_mime: bytes, folder: str = "inbox", received: datetime | None = None,
                notify: bool = True) -> str:
        """File RFC 822 bytes in `user`'s folder as Exchange would on receipt; returns the Graph id.

        Subscribers to the mailbox get a `created` notification unless `notify` is False.
        """
        target = self.register_user(user)
        return self.gateway.store(target, raw_mime, FOLDER_NAMES[folder], received, notify=notify).id

    def seed(self, user: str, n: int, *, days: float = 20.0, sent_every: int = 10,
             now: float | None = None) -> list[str]:
        """Bulk-load `n` messages over the last `days` (every `sent_every`-th in Sent Items). No parsing, no notifications."""
        box = self.gateway.mailbox_of(self.register_user(user))
        return [box.add(raw, env, folder, received).id for raw, env, folder, received
                in seed_messages(user, n, days=days, sent_every=sent_every, now=time.time() if now is None else now)]

    def messages(self, user: str, folder: str | None = None) -> list[StoredMessage]:
        """The mailbox's messages (in one folder if given: inbox, sent/sentitems, ...), oldest first."""
        box = self.gateway.mailbox_of(self.register_user(user))
        return box.snapshot(FOLDER_NAMES[folder] if folder else None)

    def delete(self, user: str, message_id: str) -> None:
        self.gateway.mailbox_of(self.register_user(user)).delete(message_id)

    def move(self, user: str, message_id: str, folder: str) -> None:
        self.gateway.mailbox_of(self.register_user(user)).move(message_id, FOLDER_NAMES[folder])

    def categorize(self, user: str, message_id: str, categories: list[str]) -> None:
        """Set a message's categories, as a user does in Outlook (it comes again in the next delta round)."""
        self.gateway.mailbox_of(self.register_user(user)).set_categories(message_id, categories)

    def add_category(self, user: str, display_name: str) -> None:
        """Add a category to the user's master list, as a user does in Outlook."""
        self.gateway.mailbox_of(self.register_user(user)).add_category(display_name)

    def mark_read(self, user: str, message_id: str) -> None:
        self.gateway.mailbox_of(self.register_user(user)).mark_read(message_id)

    def expire_delta(self, user: str) -> None:
        """Every delta/skip token issued for this mailbox answers 410 SyncStateNotFound from now on."""
        box = self.gateway.mailbox_of(self.register_user(user))
        with box.lock:
            box.epoch += 1

    def subscriptions(self) -> list[Any]:
        return self.gateway.subscriptions.all()

    def notify(self, user: str, message_id: str, folder: str = "inbox", change_type: str = "created") -> int:
        """POST a change notification for one message to the mailbox's subscribers; returns how many."""
        target = self.register_user(user)
        return self.gateway.subscriptions.notify(target.id, FOLDER_NAMES[folder], message_id, change_type)

    def expire_subscription(self, subscription_id: str) -> None:
        """Let a subscription expire unrenewed: Graph deletes it, and a renewal answers 404 ResourceNotFound."""
        self.gateway.subscriptions.expire(subscription_id)

    def lifecycle(self, subscription_id: str, event: str) -> int:
        """POST a lifecycle event (reauthorizationRequired | subscriptionRemoved | missed)."""
        return self.gateway.subscriptions.lifecycle(subscription_id, event)

    def issue_auth_code(self, upn: str, *, client_id: str | None = None,
                        scopes: tuple[str, ...] = ("Mail.Read", "Mail.Send", "offline_access")) -> str:
        """A one-time authorization code as /authorize would return after `upn` consented."""
        return self.identity.issue_auth_code(client_id or self.settings.graph_client_id, upn, scopes)

    def approve_device_code(self, user_code: str, upn: str) -> None:
        self.identity.approve_device_code(user_code, upn)

    def expire_access_tokens(self) -> None:
        self.identity.expire_access_tokens()

    def authority(self, base_url: str) -> str:
        """The MSAL authority URL for the settings' tenant on this sandbox."""
        return f"{base_url}/{self.settings.graph_tenant_id}"

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)
