"""A provider that cannot be reached is named with its host and port, why, and the setting to check."""

from __future__ import annotations

import socket

import httpx
import pytest
import requests

from threadline.adapters.errors import TransientError
from threadline.adapters.gmail import GmailAdapter, from_refresh_token
from threadline.adapters.hubspot import HubSpotCrm
from threadline.adapters.outlook import ClientCredentials, OutlookAdapter
from threadline.sandbox.server import SandboxServer


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def reach(base_url: str, **client: object) -> str:
    with httpx.Client(base_url=base_url, timeout=5, **client) as http:    # type: ignore[arg-type]
        with pytest.raises(TransientError) as caught:
            HubSpotCrm(http, token="pat-sandbox-0000", attempts=1).find_logged(["k"])
    return str(caught.value)


def test_a_refused_connection_names_host_port_and_the_setting() -> None:
    port = closed_port()
    assert reach(f"http://127.0.0.1:{port}").endswith(
        f"cannot reach 127.0.0.1:{port} (connection refused): check the base_url (and ca_file) in the config")


def test_a_name_that_does_not_resolve_says_so() -> None:
    assert "cannot reach no-such-host.invalid:80 (the name does not resolve)" in reach("http://no-such-host.invalid")


def test_an_untrusted_certificate_says_set_ca_file(tls_sandbox: SandboxServer) -> None:
    message = reach(tls_sandbox.url)           # the sandbox's test CA is not trusted by default
    assert message.endswith("certificate verify failed for 127.0.0.1: set ca_file or fix the server's certificate")


def test_outlook_sign_in_with_an_untrusted_certificate_says_set_ca_file(tls_sandbox: SandboxServer) -> None:
    s = tls_sandbox.settings
    tokens = ClientCredentials(s.graph_tenant_id, s.graph_client_id, s.graph_client_secret,
                               authority_host=tls_sandbox.url, http_client=requests.Session())
    with httpx.Client(timeout=5) as http:
        outlook = OutlookAdapter("rep@contoso.example", tokens, base_url=f"{tls_sandbox.url}/v1.0", http=http,
                                 attempts=1)
        results = outlook.check()                 # what `threadline check` prints
    failed = [r.detail for r in results if not r.ok]
    assert any("certificate verify failed for 127.0.0.1: set ca_file or fix the server's certificate" in d
               for d in failed), results


def test_gmail_with_an_untrusted_certificate_says_set_ca_file(tls_sandbox: SandboxServer) -> None:
    s = tls_sandbox.settings
    creds = from_refresh_token(s.google_client_id, s.google_client_secret, s.google_refresh_token,
                               token_uri=f"{tls_sandbox.url}/token")
    gmail = GmailAdapter("rep@example.com", creds, base_url=tls_sandbox.url, attempts=1)
    try:
        with pytest.raises(TransientError) as caught:
            list(gmail.pull(None))
    finally:
        gmail.close()
    assert "certificate verify failed for 127.0.0.1: set ca_file or fix the server's certificate" in str(caught.value)
