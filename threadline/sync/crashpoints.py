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


def crashpoint(name: str) -> None:
    """Kill the process here if the environment asks for it; otherwise do nothing."""
    wanted = os.environ.get("THREADLINE_CRASH_AT")
    if not wanted:
        return
    point, _, count = wanted.partition(":")
    if point != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] >= int(count or 1):
        os.kill(os.getpid(), signal.SIGKILL)


class InjectedFault(RuntimeError):
    """An unexpected exception a test asked for with THREADLINE_FAIL_AT."""


def failpoint(name: str, data: bytes | str = b"") -> None:
    """Raise InjectedFault here if the environment names this point and `data` holds its marker."""
    wanted = os.environ.get("THREADLINE_FAIL_AT")
    if not wanted:
        return
    point, _, marker = wanted.partition("=")
    if point != name:
        return
    found = marker.encode() in data if isinstance(data, bytes) else marker in data
    if found:
        raise InjectedFault(f"injected fault at {name}")
