"""OutlookAdapter against the Graph sandbox over real HTTPS (MSAL needs an https authority)."""

from __future__ import annotations

import functools
import re
import ssl
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path

import httpx
import pytest
import requests

from threadline.adapters.errors import AuthExpired
from threadline.adapters.outlook import ClientCredentials, Delegated, EncryptedTokenCache, OutlookAdapter
from threadline.adapters.records import MailPage
from threadline.sandbox.faults import Fault
from threadline.sandbox.server import SandboxServer

REP = "rep@contoso.example"


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    server = SandboxServer(tls_dir=tmp_path_factory.mktemp("tls")).start()
    yield server
    server.stop()


#: Connections opened by a test, closed after it: an idle TLS keep-alive connection holds up server shutdown.
OPEN: list = []


@pytest.fixture
def sandbox(tls_server: SandboxServer) -> Iterator[SandboxServer]:
    tls_server.reset()
    yield tls_server
    tls_server.faults.clear()
    while OPEN:
        OPEN.pop().close()


def requests_session(ca: str) -> requests.Session:
    """MSAL's transport, trusting the sandbox CA (per request: REQUESTS_CA_BUNDLE would win otherwise)."""
    session = requests.Session()
    session.request = functools.partial(session.request, verify=ca)
    OPEN.append(session)
    return session


def ca(sandbox: SandboxServer) -> str:
    assert sandbox.tls is not None
    return str(sandbox.tls.ca_cert)


def app_tokens(sandbox: SandboxServer, secret: str | None = None) -> ClientCredentials:
    s = sandbox.settings
    return ClientCredentials(s.graph_tenant_id, s.graph_client_id, secret or s.graph_client_secret,
                             authority_host=sandbox.url, http_client=requests_session(ca(sandbox)))


def adapter_for(sandbox: SandboxServer, tokens=None, **kwargs) -> OutlookAdapter:
    http = httpx.Client(verify=ssl.create_default_context(cafile=ca(sandbox)), timeout=30)
    OPEN.append(http)
    return OutlookAdapter(REP, tokens or app_tokens(sandbox), base_url=f"{sandbox.url}/v1.0", http=http, **kwargs)


def mail(n: int, *, sender: str = "buyer@customer.example", to: str = REP) -> bytes:
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: Question {n}\r\nDate: {formatdate()}\r\n"
            f"Message-ID: <m{n}@customer.example>\r\n\r\nBody {n}\r\n").encode()


def ids_of(pages: list[MailPage]) -> list[str]:
    return [m.provider_id for page in pages for m in page.messages]


def graph_calls(sandbox: SandboxServer) -> dict[str, int]:
    return {route.removeprefix("graph "): n for route, n in sandbox.stats.snapshot()["by_route"].items()
            if route.startswith("graph ")}


def test_backfill_reads_inbox_and_sent_over_several_delta_pages(sandbox):
    inbox = [sandbox.graph.deliver(REP, mail(i)) for i in range(7)]
    sent = [sandbox.graph.deliver(REP, mail(100 + i, sender=REP, to="buyer@customer.example"), folder="sent")
            for i in range(3)]
    pages = list(adapter_for(sandbox, page_size=3).pull(None))
    assert sorted(m.provider_id for p in pages for m in p.messages if m.folder == "inbox") == sorted(inbox)
    assert sorted(m.provider_id for p in pages for m in p.messages if m.folder == "sent") == sorted(sent)
    stored = {m.id: m for m in sandbox.graph.messages(REP)}
    assert all(m.raw == stored[m.provider_id].raw and m.thread_id == stored[m.provider_id].conversation_id
               for p in pages for m in p.messages)
    final = pages[-1].cursor["folders"]
    assert final["inbox"]["delta_link"] and final["sent"]["delta_link"]
    assert final["inbox"]["next_link"] is None and final["sent"]["next_link"] is None
    assert graph_calls(sandbox)["messages.delta"] == 3 + 1     # 7 inbox at 3 a page, 3 sent in one page


def test_incremental_pull_yields_only_new_messages(sandbox):
    sandbox.graph.deliver(REP, mail(1))
    adapter = adapter_for(sandbox)
    cursor = list(adapter.pull(None))[-1].cursor
    later = sandbox.graph.deliver(REP, mail(2))
    reply = sandbox.graph.deliver(REP, mail(3, sender=REP, to="buyer@customer.example"), folder="sent")
    pages = list(adapter.pull(cursor))
    assert [(m.provider_id, m.folder) for p in pages for m in p.messages] == [(later, "inbox"), (reply, "sent")]


def test_idle_incremental_cycle_is_one_delta_call_per_folder(sandbox):
    sandbox.graph.deliver(REP, mail(1))
    adapter = adapter_for(sandbox)
    cursor = list(adapter.pull(None))[-1].cursor
    sandbox.stats.reset()
    assert [p for p in adapter.pull(cursor) if p.messages] == []
    assert graph_calls(sandbox) == {"messages.delta": 2}


def test_expired_delta_token_resyncs_that_folder_with_a_reason(sandbox):
    first = sandbox.graph.deliver(REP, mail(1))
    adapter = adapter_for(sandbox)
    cursor = list(adapter.pull(None))[-1].cursor
    second = sandbox.graph.deliver(REP, mail(2))
    sandbox.graph.expire_delta(REP)
    pages = list(adapter.pull(cursor))
    inbox_pages = [p for p in pages if any(m.folder == "inbox" for m in p.messages)]
    assert sorted(ids_of(inbox_pages)) == sorted([first, second])
    assert all(p.resync_reason and "410" in p.resync_reason for p in inbox_pages)
    assert pages[-1].cursor["folders"]["inbox"]["resync_reason"] is None


def test_injected_expired_history_fault_forces_a_resync(sandbox):
    only = sandbox.graph.deliver(REP, mail(1))
    adapter = adapter_for(sandbox)
    cursor = list(adapter.pull(None))[-1].cursor
    sandbox.faults.add(Fault(provider="graph", kind="expired_history", path_prefix="/v1.0/users/"))
    pages = list(adapter.pull(cursor))
    assert ids_of(pages) == [only] and pages[0].resync_reason


def test_throttling_429_with_retry_after_is_waited_out_and_retried(sandbox):
    ids = [sandbox.graph.deliver(REP, mail(i)) for i in range(6)]
    sandbox.graph.limits.requests, sandbox.graph.limits.window = 4, 1.0
    pages = list(adapter_for(sandbox).pull(None))
    assert sorted(ids_of(pages)) == sorted(ids)
    assert sandbox.stats.snapshot()["throttled"].get("graph", 0) >= 1


def test_a_429_from_the_fault_injector_is_retried(sandbox):
    only = sandbox.graph.deliver(REP, mail(1))
    sandbox.faults.add(Fault(provider="graph", kind="throttle", count=2, delay=1, path_prefix="/v1.0/users/"))
    assert ids_of(list(adapter_for(sandbox).pull(None))) == [only]


def test_mime_fetches_are_split_into_batches_of_at_most_20(sandbox):
    ids = [sandbox.graph.deliver(REP, mail(i)) for i in range(45)]
    pages = list(adapter_for(sandbox, page_size=50).pull(None))
    assert sorted(ids_of(pages)) == sorted(ids)
    calls = graph_calls(sandbox)
    assert calls["batch"] == 3 and calls["messages.value"] == 45


def test_backfill_resumes_after_a_crash_from_the_stored_next_link(sandbox):
    ids = [sandbox.graph.deliver(REP, mail(i)) for i in range(7)]
    first_page = next(iter(adapter_for(sandbox, page_size=3).pull(None)))   # then the process dies
    assert first_page.cursor["folders"]["inbox"]["next_link"]
    rest = list(adapter_for(sandbox, page_size=3).pull(first_page.cursor))
    seen = ids_of([first_page]) + ids_of(rest)
    assert sorted(seen) == sorted(ids) and len(seen) == len(set(seen))


def test_wrong_client_secret_is_auth_expired_and_check_says_so(sandbox):
    adapter = adapter_for(sandbox, tokens=app_tokens(sandbox, secret="not-the-secret-4711"))
    with pytest.raises(AuthExpired):
        list(adapter.pull(None))
    [result] = adapter.check()
    assert result.item == "auth" and not result.ok and "invalid_client" in result.detail
    assert "not-the-secret-4711" not in result.detail
    assert "Certificates & secrets > New client secret" in result.detail       # where to make a new one


def test_check_reports_token_and_both_folders(sandbox):
    results = adapter_for(sandbox).check()
    assert [(r.item, r.ok) for r in results] == [("auth", True), ("folder inbox", True), ("folder sent", True)]


def delegated(sandbox: SandboxServer, path: Path, key: str, **kwargs) -> Delegated:
    s = sandbox.settings
    return Delegated(s.graph_tenant_id, s.graph_client_id, EncryptedTokenCache(path, key), REP,
                     authority_host=sandbox.url, http_client=requests_session(ca(sandbox)), **kwargs)


def test_delegated_auth_code_then_silent_refresh_from_the_encrypted_cache(sandbox, tmp_path):
    key, path = EncryptedTokenCache.generate_key(), tmp_path / "tokens.bin"
    login = delegated(sandbox, path, key, client_secret=sandbox.settings.graph_client_secret)
    assert login.redeem_auth_code(sandbox.graph.issue_auth_code(REP), "http://localhost/callback") == REP
    content = path.read_bytes()
    assert b"refresh" not in content.lower() and b"EwB-sandbox" not in content and b"M.sandbox" not in content

    only = sandbox.graph.deliver(REP, mail(1))
    restarted = delegated(sandbox, path, key, client_secret=sandbox.settings.graph_client_secret)
    sandbox.graph.expire_access_tokens()          # the cached access token now answers 401: refresh
    assert ids_of(list(adapter_for(sandbox, tokens=restarted).pull(None))) == [only]
    assert sandbox.stats.snapshot()["by_route"]["microsoft-identity token refresh_token"] >= 1


def test_device_code_login_stores_a_refresh_token(sandbox, tmp_path):
    key, path = EncryptedTokenCache.generate_key(), tmp_path / "tokens.bin"
    shown: list[str] = []

    def show(message: str) -> None:             # the user types the code in a browser and signs in
        shown.append(message)
        sandbox.graph.approve_device_code(re.search(r"code (\w+)", message).group(1), REP)

    assert delegated(sandbox, path, key).device_code_login(show) == REP
    assert shown and delegated(sandbox, path, key).token()


def test_token_cache_with_the_wrong_key_is_refused(sandbox, tmp_path):
    path = tmp_path / "tokens.bin"
    login = delegated(sandbox, path, EncryptedTokenCache.generate_key(),
                      client_secret=sandbox.settings.graph_client_secret)
    login.redeem_auth_code(sandbox.graph.issue_auth_code(REP), "http://localhost/callback")
    with pytest.raises(AuthExpired):
        EncryptedTokenCache(path, EncryptedTokenCache.generate_key())
