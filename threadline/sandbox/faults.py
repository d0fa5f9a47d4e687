"""Switchable fault injection for the sandbox, per test.

A fault applies to the next `count` requests of one provider whose path starts
with `path_prefix`. Generic kinds (throttle, error, slow, drop, expired_token)
are applied by the sandbox middleware in the provider's own error shape;
provider-specific kinds (e.g. Gmail "expired_history") are taken by that
provider's handlers with `take()`.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Literal

FaultKind = Literal["throttle", "error", "slow", "drop", "drop_after", "expired_token", "expired_history"]
# drop: the connection dies before the provider acts; drop_after: the provider acts, then the
# connection dies before the response arrives (the ambiguous case a create must reconcile).
GENERIC_KINDS = ("throttle", "error", "slow", "drop", "drop_after", "expired_token")


@dataclass
class Fault:
    provider: str                       # "hubspot" | "gmail" | ... | "*"
    kind: FaultKind
    count: int = 1                      # how many matching requests it affects
    path_prefix: str = ""
    status: int = 500                   # for kind="error"
    delay: float = 0.0                  # for kind="slow" (seconds) and "throttle" (Retry-After)
    method: str | None = None

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
