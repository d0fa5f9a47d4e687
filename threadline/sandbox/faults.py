"""Switchable fault injection for the sandbox, per test.

A fault applies to the next `count` requests of one provider whose path starts
with `path_prefix`. Generic kinds (throttle, error, slow, drop, expired_token)
are applied by the sandbox middleware in the provider's own error shape;
provider-specific kinds (e.g. Gmail "expired_history") are taken by that
provider's handlers with `take()`. A "malformed" fault answers 200 with a body
the client cannot read as the provider documents it (see `Malform`).
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass
from typing import Any, Literal

from starlette.types import ASGIApp, Message, Receive, Scope, Send

FaultKind = Literal["throttle", "error", "slow", "drop", "drop_after", "expired_token", "expired_history",
                    "malformed"]
#: How a "malformed" fault spoils the answer. empty: `{}` instead of the answer (the provider did nothing);
#: not_json: an HTML error page a proxy put in its place (nothing done); truncated: the provider's real
#: answer cut in half (it acted); retyped: the real answer with each top-level value of the wrong type (it acted).
Malform = Literal["empty", "not_json", "truncated", "retyped"]
# drop: the connection dies before the provider acts; drop_after: the provider acts, then the
# connection dies before the response arrives (the ambiguous case a create must reconcile).
GENERIC_KINDS = ("throttle", "error", "slow", "drop", "drop_after", "expired_token", "malformed")


@dataclass
class Fault:
    provider: str                       # "hubspot" | "gmail" | ... | "*"
    kind: FaultKind
    count: int = 1                      # how many matching requests it affects
    path_prefix: str = ""
    status: int = 500                   # for kind="error"
    delay: float = 0.0                  # for kind="slow" (seconds) and "throttle" (Retry-After)
    method: str | None = None
    malform: Malform = "empty"          # for kind="malformed"

    def matches(self, provider: str, method: str, path: str) -> bool:
        return (self.provider in ("*", provider) and path.startswith(self.path_prefix)
                and (self.method is None or self.method.upper() == method.upper()))


class Faults:
    """The set of armed faults. Thread-safe; shared by every provider of one sandbox."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self.fired: dict[str, int] = {}

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def reset(self) -> None:
        """No armed faults and no counts: a reset sandbox starts each test from zero."""
        with self._lock:
            self._faults.clear()
            self.fired.clear()

    def take(self, provider: str, method: str, path: str,
             kinds: tuple[str, ...] = GENERIC_KINDS) -> Fault | None:
        """Consume one matching fault (first armed first), or None."""
        with self._lock:
            for fault in self._faults:
                if fault.kind in kinds and fault.matches(provider, method, path):
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                    self.fired[fault.kind] = self.fired.get(fault.kind, 0) + 1
                    return fault
        return None

    def armed(self) -> list[dict[str, object]]:
        with self._lock:
            return [asdict(f) for f in self._faults]


NOT_JSON = b"<html><body><h1>502 Bad Gateway</h1>upstream answered nonsense</body></html>"


def malformed_answer(fault: Fault, app: ASGIApp) -> ASGIApp:
    """An ASGI app answering 200 with a body spoiled as `fault.malform` says (the real `app` runs first for
    "truncated" and "retyped", so the provider acts as it would have)."""
    async def answer(scope: Scope, receive: Receive, send: Send) -> None:
        body = b"{}" if fault.malform == "empty" else NOT_JSON
        if fault.malform in ("truncated", "retyped"):
            body = _spoiled(await _run(app, scope, receive), fault.malform)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
    return answer


async def _run(app: ASGIApp, scope: Scope, receive: Receive) -> bytes:
    """The body `app` answers (whatever its status)."""
    parts: list[bytes] = []

    async def collect(message: Message) -> None:
        if message["type"] == "http.response.body":
            parts.append(message.get("body", b""))

    await app(scope, receive, collect)
    return b"".join(parts)


def _spoiled(body: bytes, how: str) -> bytes:
    if how == "retyped":
        try:
            value = json.loads(body)
        except ValueError:
            value = None
        if isinstance(value, dict) and value:
            return json.dumps({key: _wrong_type(item) for key, item in value.items()}).encode()
        if isinstance(value, list):
            return json.dumps({"records": value}).encode()      # an object where a list belongs
    return body[: max(1, len(body) // 2)]


RETYPED = "sandbox-retyped"                # marks the values a "retyped" fault put in (tests look for leaks)


def _wrong_type(value: Any) -> Any:
    """A value of another JSON type than `value`'s: what a provider bug or a schema change looks like."""
    if isinstance(value, bool | int | float):
        return RETYPED
    if isinstance(value, str):
        return 12345
    if isinstance(value, list):
        return {RETYPED: True}
    return [RETYPED]
