"""`threadline run` on a busy server.port: one line naming the address and the config key to change, exit 2,
no traceback, nothing left running."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import yaml

from threadline.connector.demo.run import demo_config
from threadline.sandbox.server import SandboxServer


def test_a_busy_server_port_is_one_line_and_exit_2(sandbox: SandboxServer, sqlite_url: str, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = demo_config(sandbox, sqlite_url, {"refresh_token": "unused", "owner_id": "1"})
        config["server"] = {"host": "127.0.0.1", "port": port}
        path = tmp_path / "threadline.yaml"
        path.write_text(yaml.safe_dump(config))
        done = subprocess.run([sys.executable, "-m", "threadline", "run", "--config", str(path)],
                              capture_output=True, text=True, timeout=60)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2, done.stderr
    assert lines == [f"threadline: 127.0.0.1:{port} is already in use: stop the other process, or set "
                     "server.port (or server.host) in the config to a free one"], done.stderr
    assert "Traceback" not in done.stderr + done.stdout
