"""Make sure a PostgreSQL server answers for the tests; start the machine's cluster or a throwaway one if not.

Order: $THREADLINE_TEST_PG if set and reachable; 127.0.0.1:5432 (the machine's server); start the
machine's cluster (pg_ctlcluster); else initdb a throwaway cluster under .threadline/pg on port 55432
(as user postgres: PostgreSQL refuses to run as root) and print its URL.
Prints the admin URL to use (THREADLINE_TEST_PG); exit 0 when a server answers, 1 otherwise.
"""

from __future__ import annotations

import glob
import os
import socket
import subprocess
import sys
import time
from pathlib import Path


def answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def wait_for(port: int, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if answers("127.0.0.1", port):
            return True
        time.sleep(0.3)
    return False


def start_machine_cluster() -> bool:
    versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
    if not versions:
        return False
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"],
                   capture_output=True, check=False)
    return wait_for(5432)


def start_throwaway(port: int = 55432) -> bool:
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not bins or os.geteuid() != 0:
        return False
    root = Path(".threadline/pg").resolve()
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run(["id", "postgres"], capture_output=True, check=False).returncode == 0 or subprocess.run(
        ["useradd", "-r", "-m", "-s", "/bin/sh", "postgres"], check=True)
    subprocess.run(["chown", "-R", "postgres", str(root)], check=True)
    run = lambda cmd: subprocess.run(["su", "postgres", "-s", "/bin/sh", "-c", cmd], capture_output=True, check=False)  # noqa: E731
    if not (root / "data").exists():
        run(f"{bins[-1]}/initdb -D '{root}/data' -U postgres -A trust")
    run(f"{bins[-1]}/pg_ctl -D '{root}/data' -o '-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off' "
        f"-l '{root}/pg.log' -w start")
    return wait_for(port)


MACHINE = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
THROWAWAY = "postgresql+psycopg://postgres@127.0.0.1:55432/postgres"


def main() -> int:
    """Print the admin URL of a running server on stdout."""
    if os.environ.get("THREADLINE_TEST_PG"):
        print(os.environ["THREADLINE_TEST_PG"])
        return 0
    if answers("127.0.0.1", 5432) or start_machine_cluster():
        print(MACHINE)
        return 0
    if start_throwaway():
        print(THROWAWAY)
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
