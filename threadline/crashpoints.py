"""Named points where a test can kill this process (SIGKILL) or make it fail, to prove crash and fault safety.

Off unless THREADLINE_CRASH_AT names a point ("outbox.after_remote_create") or
a point and a hit count ("mailbox.after_page_commit:3" = on the third hit);
or THREADLINE_FAIL_AT names a point and a marker ("mailbox.message=X-Poison"):
there the code raises InjectedFault for the data that contains the marker,
standing in for a bug no input we know of triggers yet.
"""

from __future__ import annotations

import os
import signal

_hits: dict[str, int] = {}


def _armed(variable: str, name: str, separator: str) -> str | None:
    """What follows `name` in the environment variable ("3" of "point:3"), or None when it names another point."""
    wanted = os.environ.get(variable)
    if not wanted:
        return None
    point, _, rest = wanted.partition(separator)
    return rest if point == name else None


def crashpoint(name: str) -> None:
    """Kill the process here if the environment asks for it; otherwise do nothing."""
    count = _armed("THREADLINE_CRASH_AT", name, ":")
    if count is None:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] >= int(count or 1):
        os.kill(os.getpid(), signal.SIGKILL)


class InjectedFault(RuntimeError):
    """An unexpected exception a test asked for with THREADLINE_FAIL_AT."""


def failpoint(name: str, data: bytes | str = b"") -> None:
    """Raise InjectedFault here if the environment names this point and `data` holds its marker."""
    marker = _armed("THREADLINE_FAIL_AT", name, "=")
    if marker is None:
        return
    if (marker.encode() in data) if isinstance(data, bytes) else (marker in data):
        raise InjectedFault(f"injected fault at {name}")
