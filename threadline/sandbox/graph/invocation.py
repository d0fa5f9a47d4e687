"""What a Graph handler receives: the call, the caller's grant, the target mailbox and path arguments."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from threadline.sandbox.faults import Faults
from threadline.sandbox.graph.calls import ApiCall
from threadline.sandbox.graph.mailbox import Mailbox
from threadline.sandbox.microsoft_oauth import MsGrant
from threadline.sandbox.settings import SandboxSettings


@dataclass
class Invocation:
    call: ApiCall
    grant: MsGrant
    mailbox: Mailbox | None                   # None for routes not under /users/{id} (subscriptions)
    args: dict[str, str]
    faults: Faults
    settings: SandboxSettings
    services: Any                             # the GraphSandbox, for cross-mailbox effects (sendMail, subscriptions)

    @property
    def box(self) -> Mailbox:
        assert self.mailbox is not None
        return self.mailbox

    def select(self) -> list[str] | None:
        value = self.call.query.get("$select")
        return [s for s in value.split(",") if s] if value else None


Handler = Callable[[Invocation], Any]
