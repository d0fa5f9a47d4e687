"""The image builds on a machine with no Docker engine (scripts/image-build.sh: podman + buildah over a Debian base)
and runs Threadline from nothing but a config and secret files: the daemon starts, answers its own HEALTHCHECK
command (alive, then ready), and stops cleanly on SIGTERM, as a non-root user with no installer or compiler in the image."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.engine.world import reply, seed_contacts
from tests.fixtures.availability import server_missing
from threadline import __version__
from threadline.connector.demo.run import demo_config
from threadline.connector.demo.world import REP
from threadline.sandbox.server import SandboxServer, free_port

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "threadline:ci"
NO_TOOLS = 3   # image-build.sh: podman/buildah/debootstrap missing and not installable here

# Runs inside the image (its python3 is the venv's). argv: config (JSON is YAML), secrets {NAME: value}.
PROBE = r"""
import contextlib, json, os, shutil, signal, sqlite3, subprocess, sys, time
config, secrets = sys.argv[1], json.loads(sys.argv[2])
os.makedirs("/tmp/probe", exist_ok=True)
env = dict(os.environ, THREADLINE_CONFIG="/tmp/probe/threadline.yaml")
open(env["THREADLINE_CONFIG"], "w").write(config)
for name, value in secrets.items():   # one file per secret, as compose/Kubernetes mount them
    path = f"/tmp/probe/{name.lower()}"
    open(path, "w").write(value + "\n")
    env[f"{name}_FILE"] = path
run = lambda *args: subprocess.run(args, env=env, capture_output=True, text=True)
facts = {
    "version": run("threadline", "--version").stdout.strip(),
    "uid": os.getuid(), "gid": os.getgid(), "cwd": os.getcwd(),
    "installers": [p for p in ("pip", "pip3", "gcc", "cc") if shutil.which(p)],
    "pip_importable": [py for py in ("/opt/threadline/bin/python3", "/usr/bin/python3", "/usr/local/bin/python3")
                       if os.path.exists(py) and run(py, "-c", "import pip").returncode == 0],
    "code_writable": os.access("/opt/threadline/bin", os.W_OK),
}
daemon = subprocess.Popen(["threadline", "run"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
started, health = time.monotonic(), None
while time.monotonic() - started < 60 and daemon.poll() is None:
    health = run("threadline", "health")
    if health.returncode == 0:
        break
    time.sleep(0.5)
facts["health"] = health and (health.returncode, health.stdout.strip())
facts["seconds_to_healthy"] = round(time.monotonic() - started, 1)
synced = "SELECT count(*) FROM cursors WHERE source LIKE 'mailbox:%' AND last_success_at IS NOT NULL"
while time.monotonic() - started < 60 and daemon.poll() is None:   # the first cycle has read the mailbox
    with contextlib.suppress(sqlite3.Error), contextlib.closing(sqlite3.connect("threadline.db")) as db:
        if db.execute(synced).fetchone()[0]:
            break
    time.sleep(0.5)
facts["seconds_to_mailbox_synced"] = round(time.monotonic() - started, 1)
facts["ready"] = run("threadline", "health", "--ready").returncode
daemon.send_signal(signal.SIGTERM)
try:
    facts["exit_on_sigterm"] = daemon.wait(timeout=30)
except subprocess.TimeoutExpired:
    daemon.kill()
    facts["exit_on_sigterm"] = "still running 30 s after SIGTERM"
output = daemon.stdout.read()
facts["secret_in_output"] = any(value in output for value in secrets.values())
facts["output_tail"] = output[-3000:]
facts["store_files"] = sorted(os.listdir(os.getcwd()))
print("PROBE " + json.dumps(facts))
"""


def build_and_run(*command: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["bash", str(ROOT / "scripts/image-build.sh"), "--", *command],
                            env=dict(os.environ, IMAGE=IMAGE),
                            capture_output=True, text=True, timeout=900)
    if result.returncode == NO_TOOLS:
        server_missing("podman, buildah and debootstrap (scripts/image-build.sh installs them as root with apt)")
    return result


def secrets_to_files(config: dict[str, Any]) -> dict[str, str]:
    """Move the config's secrets out into ${NAME} references; returns {NAME: value}."""
    crm, box = config["crm"], config["mailboxes"][0]
    secrets = {"HUBSPOT_TOKEN": crm["token"], "GMAIL_CLIENT_SECRET": box["client_secret"],
               "GMAIL_REFRESH_TOKEN": box["refresh_token"]}
    crm["token"] = "${HUBSPOT_TOKEN}"
    box["client_secret"], box["refresh_token"] = "${GMAIL_CLIENT_SECRET}", "${GMAIL_REFRESH_TOKEN}"
    return secrets


@pytest.mark.timeout(900)   # a machine's first build also installs podman and makes the Debian base (~3 min)
def test_image_runs_threadline_from_only_a_config_and_secret_files(sandbox: SandboxServer) -> None:
    # The image's network is the host's: the daemon inside reaches the sandbox on loopback.
    contact_ids, addresses = seed_contacts(sandbox, 1)
    sandbox.gmail.deliver(REP, reply(addresses[0], REP, 1))
    config = demo_config(sandbox, "sqlite:///threadline.db",
                         {"refresh_token": sandbox.gmail.oauth.issue_refresh_token(REP), "owner_id": "1"})
    config.pop("store")                     # the image's default: threadline.db in its WORKDIR, the /data volume
    config["server"] = {"host": "127.0.0.1", "port": free_port()}
    secrets = secrets_to_files(config)
    result = build_and_run("python3", "-c", PROBE, json.dumps(config), json.dumps(secrets))
    assert result.returncode == 0, result.stderr[-4000:]
    facts = json.loads(result.stdout.split("PROBE ", 1)[1])

    assert facts["version"] == f"threadline {__version__}"
    assert (facts["uid"], facts["gid"], facts["cwd"]) == (10001, 10001, "/data")
    assert facts["installers"] == [] and facts["pip_importable"] == []
    assert facts["code_writable"] is False
    assert facts["health"] and facts["health"][0] == 0, facts["output_tail"]
    assert facts["ready"] == 0, facts["output_tail"]
    assert facts["exit_on_sigterm"] == 0, facts["output_tail"]
    # The containerised daemon did the job: the reply is on the contact, once (SIGTERM let the cycle finish).
    assert [e["properties"]["hs_email_subject"] for e in sandbox.hubspot.emails_for(contact_ids[0])] == [
        "Re: Proposal 1"], facts["output_tail"]
    assert facts["secret_in_output"] is False
    assert "threadline.db" in facts["store_files"]
    assert_image_metadata()



def assert_image_metadata() -> None:
    """What the runtime reads from the image: user, port, stop signal, HEALTHCHECK, volume, labels."""
    inspected = subprocess.run(["podman", "--storage-driver", "vfs", "image", "inspect", f"localhost/{IMAGE}"],
                               capture_output=True, text=True, check=True)
    image = json.loads(inspected.stdout)[0]
    config = image["Config"]
    assert config["User"] == "10001:10001"
    assert "8080/tcp" in config["ExposedPorts"]
    assert config["StopSignal"] == "SIGTERM"
    assert config["Entrypoint"] == ["threadline"] and config["Cmd"] == ["run"]
    assert "/data" in config["Volumes"]
    assert image["Healthcheck"]["Test"] == ["CMD", "threadline", "health"]
    assert config["Labels"]["org.opencontainers.image.version"] == __version__
