"""`threadline health` (the container's HEALTHCHECK) asks the running daemon's /healthz and /readyz."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from threadline.config.loading import parse_settings
from threadline.connector.cli.health import server_url
from threadline.connector.cli.main import app
from threadline.connector.demo.run import demo_config
from threadline.connector.runtime.daemon import Daemon
from threadline.sandbox.server import SandboxServer, free_port

runner = CliRunner()


def test_health_and_ready_are_0_while_the_daemon_serves_and_1_once_it_stopped(sandbox: SandboxServer, tmp_path: Path) -> None:
    config = demo_config(sandbox, f"sqlite:///{tmp_path / 's.db'}",
                         {"refresh_token": sandbox.gmail.oauth.issue_refresh_token("rep@example.com"), "owner_id": "1"})
    config["server"] = {"host": "127.0.0.1", "port": free_port()}
    path = tmp_path / "threadline.yaml"
    path.write_text(yaml.safe_dump(config))
    daemon = Daemon(parse_settings(config, path, env={})).start()
    try:
        alive = runner.invoke(app, ["health", "--config", str(path)])
        assert alive.exit_code == 0, alive.output
        assert f"http://127.0.0.1:{config['server']['port']}/healthz: 200 ok" in alive.output
        deadline = time.monotonic() + 15
        while daemon.stats.cycles < 1 and time.monotonic() < deadline:   # ready needs one full cycle
            time.sleep(0.05)
        ready = runner.invoke(app, ["health", "--ready", "--config", str(path)])
        assert ready.exit_code == 0, ready.output
        assert f"http://127.0.0.1:{config['server']['port']}/readyz: 200" in ready.output
    finally:
        daemon.stop()
    gone = runner.invoke(app, ["health", "--config", str(path)])
    assert gone.exit_code == 1
    assert "not reachable" in gone.output


def test_any_answer_but_200_is_unhealthy(sandbox: SandboxServer) -> None:
    # The sandbox is a real HTTP server that has no /readyz: a 404 must count as unhealthy, like a 503.
    result = runner.invoke(app, ["health", "--url", f"{sandbox.url}/readyz"])
    assert result.exit_code == 1
    assert ": 404" in result.output


def test_a_config_with_port_0_cannot_say_where_the_server_is(tmp_path: Path) -> None:
    path = tmp_path / "threadline.yaml"
    path.write_text(yaml.safe_dump({"crm": {"kind": "hubspot", "token": "t"}, "server": {"port": 0}}))
    result = runner.invoke(app, ["health", "--config", str(path)])
    assert result.exit_code == 2
    assert "pass --url" in result.output


@pytest.mark.parametrize(("host", "url"), [
    ("0.0.0.0", "http://127.0.0.1:8080/healthz"),     # every interface: ask loopback, next to the server
    ("::", "http://[::1]:8080/healthz"),
    ("10.1.2.3", "http://10.1.2.3:8080/healthz"),
    ("fd00::5", "http://[fd00::5]:8080/healthz"),
])
def test_server_url_asks_loopback_when_the_server_listens_everywhere(host: str, url: str) -> None:
    assert server_url(host, 8080, "/healthz") == url
