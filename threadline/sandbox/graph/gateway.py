"""The path every Graph call takes, alone or inside a `$batch`: auth, user, permission, limits, handler."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import getaddresses
from urllib.parse import unquote

from threadline.sandbox.base import SandboxContext
from threadline.sandbox.graph.calls import ApiCall, ApiReply
from threadline.sandbox.graph.errors import (
    GraphError,
    access_denied,
    bad_request,
    mailbox_not_enabled,
    throttled,
    unauthenticated,
)
from threadline.sandbox.graph.invocation import Invocation
from threadline.sandbox.graph.limits import MailboxLimits
from threadline.sandbox.graph.mailbox import Mailbox, Mailboxes, StoredMessage
from threadline.sandbox.graph.mime import parse_envelope
from threadline.sandbox.graph.routes_table import GraphRoute, find_route
from threadline.sandbox.graph.subscriptions import Subscriptions
from threadline.sandbox.microsoft_oauth import DirectoryUser, MicrosoftIdentity, MsGrant
from threadline.sandbox.settings import SandboxSettings

_SUBSCRIPTION_OPS = {"subscriptions.create": "create", "subscriptions.get": "get",
                     "subscriptions.update": "update", "subscriptions.delete": "delete"}


class Gateway:
    """Turns one ApiCall into one ApiReply; records stats and spends the mailbox's limits on the way."""

    def __init__(self, identity: MicrosoftIdentity, settings: SandboxSettings, ctx: SandboxContext) -> None:
        self.identity, self.settings, self.ctx = identity, settings, ctx
        self.mailboxes = Mailboxes()
        self.subscriptions = Subscriptions()
        self.limits = MailboxLimits(settings.graph_requests_per_window, settings.graph_window_seconds,
                                    settings.graph_mailbox_concurrency,
                                    app_requests=settings.graph_app_requests_per_window,
                                    app_window=settings.graph_app_window_seconds)

    def handle(self, call: ApiCall, *, inner: bool = False) -> ApiReply:
        found = find_route(call.method, call.path)
        if found is None:
            self.ctx.stats.record("graph", f"unknown {call.method}")
            segment = call.path.strip("/").split("/")[-1]
            return _error(bad_request(f"Resource not found for the segment '{segment}'."))
        route, args = found
        limited = False
        try:
            return self._run(route, args, call, inner)
        except GraphError as exc:
            limited = exc.status == 429
            return _error(exc)
        finally:
            self.ctx.stats.record("graph", route.name, throttled=limited)

    def _run(self, route: GraphRoute, args: dict[str, str], call: ApiCall, inner: bool) -> ApiReply:
        header = call.headers.get("authorization")
        grant = self.identity.authenticate(header)
        if grant is None:
            raise unauthenticated("Lifetime validation failed, the token is expired." if header else
                                  "Access token is empty.")
        if inner:
            self._inner_fault(call)
        if route.handler is None:
            invocation = Invocation(call, grant, None, args, self.ctx.faults, self.settings, self)
            return getattr(self.subscriptions, _SUBSCRIPTION_OPS[route.name])(invocation)
        user = self.resolve_user(unquote(args.get("user", "me")), grant)
        if not self.may(grant, user, *route.permissions):
            raise access_denied()
        if not self.mailboxes.enabled(user.id):
            raise mailbox_not_enabled()
        box = self.mailbox_of(user)
        with self.limits.slot(grant.client_id, user.id):
            return route.handler(Invocation(call, grant, box, args, self.ctx.faults, self.settings, self))

    def _inner_fault(self, call: ApiCall) -> None:
        """Generic faults aimed at a path inside a batch (the middleware only sees `/v1.0/$batch`)."""
        fault = self.ctx.faults.take("graph", call.method, "/v1.0" + call.path,
                                     kinds=("throttle", "error", "expired_token"))
        if fault is None:
            return
        if fault.kind == "throttle":
            raise throttled(max(1, round(fault.delay or 1)))
        if fault.kind == "expired_token":
            raise unauthenticated("Lifetime validation failed, the token is expired.")
        raise GraphError(fault.status, "UnknownError" if fault.status >= 500 else "BadRequest", "injected fault")

    # -- what handlers and helpers share -------------------------------------------------------------

    def resolve_user(self, ref: str, grant: MsGrant) -> DirectoryUser:
        if ref.lower() == "me":
            if grant.user is None:
                raise bad_request("/me request is only valid with delegated authentication flow.")
            ref = grant.user
        user = self.identity.user(ref)
        if user is None:
            raise GraphError(404, "ErrorInvalidUser", f"The requested user '{ref}' is invalid.")
        return user

    def may(self, grant: MsGrant, user: DirectoryUser, *permissions: str) -> bool:
        """App-only: a consented role in the user's tenant. Delegated: the user's own mailbox and a scope."""
        if grant.tenant != user.tenant:
            return False
        if grant.user is None:
            return bool(grant.roles & set(permissions))
        return grant.user == user.id and bool(grant.scopes & set(permissions))

    def mailbox_of(self, user: DirectoryUser) -> Mailbox:
        return self.mailboxes.of(user.id, user.upn)

    def store(self, user: DirectoryUser, raw: bytes, folder: str, received: datetime | None = None,
              notify: bool = True) -> StoredMessage:
        """Parse and file a message; tell the mailbox's subscribers."""
        box = self.mailbox_of(user)
        env = parse_envelope(raw)
        msg = box.add(raw, env, folder, received or datetime.now(UTC))
        if notify:
            self.subscriptions.notify(user.id, folder, msg.id)
        return msg

    def sent(self, box: Mailbox, raw: bytes, *, save: bool) -> None:
        """What Exchange does with sent mail: a copy in Sent Items, delivery to local recipients."""
        sender = self.identity.user(box.user_id)
        assert sender is not None
        if save:
            self.store(sender, raw, "sentitems")
        env = parse_envelope(raw)
        for _, address in getaddresses([", ".join(a for _, a in env.to + env.cc)]):
            local = self.identity.user(address)
            if local is not None and local.id != sender.id and self.mailboxes.enabled(local.id):
                self.store(local, raw, "inbox")


def _error(exc: GraphError) -> ApiReply:
    return ApiReply(exc.status, exc.body(), dict(exc.headers))
