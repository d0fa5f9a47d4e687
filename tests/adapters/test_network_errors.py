"""A provider that cannot be reached is named with its host and port, why, and the setting to check."""

from __future__ import annotations

import socket

import httpx
import pytest

from threadline.adapters.errors import TransientError
from threadline.adapters.hubspot import HubSpotCrm
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
