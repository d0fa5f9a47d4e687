"""`threadline sandbox` as an admin starts it: the banner names every provider it serves, with the credentials
each one accepts and the CA to trust under --tls-dir, and those credentials really open each provider."""

from __future__ import annotations

import re
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from threadline.sandbox.settings import SandboxSettings

DEFAULTS = SandboxSettings()


@contextmanager
def sandbox_command(*args: str) -> Iterator[tuple[str, list[str]]]:
    """A real `threadline sandbox --port 0 ARGS` process: its URL and banner lines; stopped afterwards."""
    process = subprocess.Popen([sys.executable, "-m", "threadline", "sandbox", "--port", "0", *args],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines: list[str] = []
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
            if line.startswith("Sandbox controls"):
                break
        match = re.match(r"Threadline sandbox on (https?://127\.0\.0\.1:\d+)", lines[0] if lines else "")
        assert match, lines
        yield match.group(1), lines
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture(scope="module")
def started(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[str], Path]]:
    """`threadline sandbox --tls-dir D`: its URL, banner lines and the CA file."""
    tls_dir = tmp_path_factory.mktemp("sandbox-cli-tls")
    with sandbox_command("--tls-dir", str(tls_dir)) as (url, lines):
        yield url, lines, tls_dir / "ca.pem"


def _section(lines: list[str], header: str) -> list[str]:
    """The banner lines of one provider: its header line and the indented lines under it."""
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith("  ")), len(lines))
    return lines[start:end]


def _value(lines: list[str], header: str, label: str) -> str:
    """The word after `label` in the section of `header`."""
    for line in _section(lines, header):
        if label in line:
            return line.split(label, 1)[1].split()[0].rstrip(",")
    raise AssertionError(f"{label!r} not under {header!r}:\n" + "\n".join(lines))


def test_banner_names_every_provider_and_the_ca(started: tuple[str, list[str], Path]) -> None:
    url, lines, ca = started
    text = "\n".join(lines)
    assert "HubSpot, Salesforce, Gmail, Microsoft Graph" in lines[0]
    for section in ("HubSpot:", "Salesforce:", "Gmail:", "Microsoft Graph:"):
        assert any(line.startswith(section) for line in lines), section
    assert f"trust the test CA {ca}" in text and ca.exists()
    for secret in (DEFAULTS.salesforce_consumer_key, DEFAULTS.salesforce_consumer_secret,
                   DEFAULTS.salesforce_refresh_token, DEFAULTS.graph_tenant_id, DEFAULTS.graph_client_id,
                   DEFAULTS.graph_client_secret, DEFAULTS.hubspot_token, DEFAULTS.google_refresh_token):
        assert secret in text


def test_the_printed_credentials_open_every_provider(started: tuple[str, list[str], Path]) -> None:
    url, lines, ca = started
    with httpx.Client(base_url=url, verify=ssl.create_default_context(cafile=str(ca)), timeout=10) as http:
        token = _value(lines, "HubSpot:", "private-app token:")
        hubspot = http.get("/crm/v3/owners", headers={"Authorization": f"Bearer {token}"})
        assert hubspot.status_code == 200, hubspot.text

        salesforce = http.post("/services/oauth2/token", data={
            "grant_type": "refresh_token", "client_id": _value(lines, "Salesforce:", "consumer key"),
            "client_secret": _value(lines, "Salesforce:", "consumer secret"),
            "refresh_token": _value(lines, "Salesforce:", "refresh token:")})
        assert salesforce.status_code == 200, salesforce.text
        limits = http.get("/services/data/v61.0/limits",
                          headers={"Authorization": f"Bearer {salesforce.json()['access_token']}"})
        assert limits.status_code == 200, limits.text

        gmail = http.post("/token", data={
            "grant_type": "refresh_token", "client_id": _value(lines, "Gmail:", "OAuth client: id"),
            "client_secret": _value(lines, "Gmail:", ", secret"), "refresh_token": _value(lines, "Gmail:", "):")})
        assert gmail.status_code == 200, gmail.text

        tenant = _value(lines, "Microsoft Graph:", "tenant id")
        graph = http.post(f"/{tenant}/oauth2/v2.0/token", data={
            "grant_type": "client_credentials", "client_id": _value(lines, "Microsoft Graph:", "client id"),
            "client_secret": _value(lines, "Microsoft Graph:", "client secret"),
            "scope": "https://graph.microsoft.com/.default"})
        assert graph.status_code == 200, graph.text
        mailbox = _value(lines, "Microsoft Graph:", "mailbox:")
        messages = http.get(f"/v1.0/users/{mailbox}/messages",
                            headers={"Authorization": f"Bearer {graph.json()['access_token']}"})
        assert messages.status_code == 200, messages.text


def test_seeded_credentials_are_the_same_on_every_start_and_open_the_seeded_mailbox() -> None:
    tokens = []
    for _ in range(2):
        with sandbox_command("--seed") as (url, lines):
            token = _value(lines, "Gmail:", "):")
            rep = _value(lines, "Gmail:", "refresh token (opens").rstrip("):")
            tokens.append(token)
            with httpx.Client(base_url=url, timeout=10) as http:
                access = http.post("/token", data={
                    "grant_type": "refresh_token", "client_id": DEFAULTS.google_client_id,
                    "client_secret": DEFAULTS.google_client_secret, "refresh_token": token}).json()["access_token"]
                listed = http.get(f"/gmail/v1/users/{rep}/messages", headers={"Authorization": f"Bearer {access}"})
            assert listed.status_code == 200 and listed.json().get("messages"), listed.text
            assert any(line.startswith("Seeded: ") for line in lines)
            _every_provider_was_seeded(url, lines, rep)
    assert tokens[0] == tokens[1]


def _every_provider_was_seeded(url: str, lines: list[str], rep: str) -> None:
    """Salesforce holds the contacts (read with the printed refresh token); Outlook holds the rep's mail."""
    with httpx.Client(base_url=url, timeout=10) as http:
        session = http.post("/services/oauth2/token", data={
            "grant_type": "refresh_token", "client_id": _value(lines, "Salesforce:", "consumer key"),
            "client_secret": _value(lines, "Salesforce:", "consumer secret"),
            "refresh_token": _value(lines, "Salesforce:", "refresh token:")}).json()["access_token"]
        contacts = http.get("/services/data/v61.0/query", params={"q": "SELECT Id, Email FROM Contact"},
                            headers={"Authorization": f"Bearer {session}"})
        assert contacts.status_code == 200 and contacts.json()["totalSize"] >= 3, contacts.text
        fields = http.get("/services/data/v61.0/sobjects/Task/describe", headers={"Authorization": f"Bearer {session}"})
        assert any(f["name"] == "Threadline_Key__c" for f in fields.json()["fields"])
        tenant = _value(lines, "Microsoft Graph:", "tenant id")
        graph = http.post(f"/{tenant}/oauth2/v2.0/token", data={
            "grant_type": "client_credentials", "client_id": _value(lines, "Microsoft Graph:", "client id"),
            "client_secret": _value(lines, "Microsoft Graph:", "client secret"),
            "scope": "https://graph.microsoft.com/.default"}).json()["access_token"]
        mail = http.get(f"/v1.0/users/{rep}/messages", headers={"Authorization": f"Bearer {graph}"})
        assert mail.status_code == 200 and mail.json()["value"], mail.text
