"""Named points where a test can kill this process (SIGKILL) to prove crash safety.

Off unless THREADLINE_CRASH_AT names a point ("outbox.after_remote_create") or
a point and a hit count ("mailbox.after_page_commit:3" = on the third hit).
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
