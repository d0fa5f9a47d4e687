"""Fixtures shared by the adapter tests."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from threadline.sandbox.server import SandboxServer


@pytest.fixture
def http(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    """An httpx client aimed at the (reset) sandbox; absolute URLs (Salesforce's instance URL) pass as they are."""
    with httpx.Client(base_url=sandbox.url, timeout=10) as client:
        yield client
