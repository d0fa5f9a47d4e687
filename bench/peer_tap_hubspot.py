"""A public peer for the HubSpot backfill: MeltanoLabs' Singer tap (`meltano-tap-hubspot` on PyPI).

`extract(base_url, token)` installs the tap into bench/.peer-venv (once; the folder is gitignored),
runs it against the sandbox at `base_url` through bench/peer_tap_hubspot_launch.py, and counts the
contacts in the Singer RECORD messages it writes. The caller reads the sandbox's request counters
before and after, so the API calls are the sandbox's count, not the tap's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import venv
from collections.abc import Iterable
from pathlib import Path
from typing import Any

PACKAGE = "meltano-tap-hubspot==0.10.1"
HERE = Path(__file__).resolve().parent
VENV = HERE / ".peer-venv"
PYTHON = VENV / "bin" / "python"
LAUNCHER = HERE / "peer_tap_hubspot_launch.py"


class PeerUnavailable(RuntimeError):
    """The peer could not be installed or started; the message says why."""


def ensure_installed() -> str:
    """Create the peer venv and install the tap if needed; returns the installed version."""
    if not PYTHON.exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    probe = subprocess.run([str(PYTHON), "-c", "import importlib.metadata as m; "
                            "print(m.version('meltano-tap-hubspot'))"], capture_output=True, text=True)
    if probe.returncode == 0:
        return probe.stdout.strip()
    install = subprocess.run([str(PYTHON), "-m", "pip", "install", "-q", PACKAGE], capture_output=True, text=True)
    if install.returncode != 0:
        raise PeerUnavailable(f"pip install {PACKAGE} failed: {install.stderr.strip()[-300:]}")
    return PACKAGE.split("==")[1]


def count_contacts(singer_lines: Iterable[str]) -> tuple[int, int]:
    """(RECORD messages for `contacts`, distinct contact ids among them) in a tap's Singer output lines."""
    records, ids = 0, set()
    for line in singer_lines:
        if not line.startswith("{"):
            continue
        message = json.loads(line)
        if message.get("type") == "RECORD" and message.get("stream") == "contacts":
            records += 1
            ids.add(message["record"]["id"])
    return records, len(ids)


def extract(base_url: str, token: str, timeout: float = 1800) -> dict[str, Any]:
    """Run the tap's full contacts extract against `base_url`; raises PeerUnavailable if it cannot run."""
    version = ensure_installed()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.json"
        config.write_text(json.dumps({"access_token": token}))
        output = Path(tmp) / "singer.jsonl"       # a file, not a pipe: 100,000 records would sit in our memory
        with output.open("w") as sink:
            started = time.monotonic()
            done = subprocess.run([str(PYTHON), str(LAUNCHER), "--base-url", base_url, "--config", str(config)],
                                  stdout=sink, stderr=subprocess.PIPE, text=True, timeout=timeout,
                                  env={**os.environ, "PYTHONPATH": ""})
            wall = time.monotonic() - started
        if done.returncode != 0:
            raise PeerUnavailable(f"the tap exited {done.returncode}: {done.stderr.strip()[-400:]}")
        with output.open() as lines:
            records, distinct = count_contacts(lines)
    return {"peer": f"meltano-tap-hubspot {version} (singer-sdk)", "records": records, "contacts": distinct,
            "wall_seconds": round(wall, 2), "python": sys.version.split()[0]}
