"""Fixtures of the web tests: a secret key in the environment, the rep's httpx browser, headless chromium."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser as Chromium

from tests.fixtures.chromium import launched_chromium
from tests.web.connect_world import Browser, secret_key
from threadline.sandbox.server import SandboxServer


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh THREADLINE_SECRET_KEY: connect links keep the rep's tokens encrypted."""
    value = secret_key()
    monkeypatch.setenv("THREADLINE_SECRET_KEY", value)
    return value


@pytest.fixture
def browser(tls_sandbox: SandboxServer) -> Iterator[Browser]:
    """The rep's browser over httpx, trusting the sandbox's CA."""
    rep = Browser(tls_sandbox)
    yield rep
    rep.close()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Chromium]:
    with launched_chromium() as launched:
        yield launched
