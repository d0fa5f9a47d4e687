"""Fencing and bounded waits, through real HTTP to the sandbox (and a real SMTP server for SMTP sends).

A provider call made for leased work checks its fence right before every request and after every slice
of a wait; a throttle longer than the call may wait is handed back at once, never slept.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest

from tests.fixtures.sandbox import gmail_on, outlook_on
from tests.fixtures.smtp import SmtpServer
from threadline.adapters.errors import RateLimited
from threadline.adapters.fencing import Fenced, fenced
from threadline.adapters.hubspot import HubSpotCrm
from threadline.adapters.imap import ImapMailbox
from threadline.adapters.records import EmailActivity
from threadline.adapters.sending import OutgoingEmail, new_message_id
from threadline.adapters.smtp import SmtpSender
from threadline.sandbox.faults import Fault
from threadline.sandbox.google_oauth import DEFAULT_USER
from threadline.sandbox.server import SandboxServer

CREATE = "/crm/v3/objects/emails/batch/create"


class FlagFence:
    """A fence the test controls: lost after `keep` checks (never, by default)."""

    def __init__(self, *, max_wait: float = 30.0, keep: int | None = None) -> None:
        self.max_wait = max_wait
        self.keep = keep
        self.checks = 0

    def check(self) -> None:
        self.checks += 1
        if self.keep is not None and self.checks > self.keep:
            raise Fenced("the lease went to another replica")


@pytest.fixture
def crm(sandbox: SandboxServer, http: httpx.Client) -> HubSpotCrm:
    """An adapter with Threadline's properties in place (as `threadline check` makes them)."""
    # associate=(): no company/deal lookups before the create, so the create is the first request fenced.
    adapter = HubSpotCrm(http, token=sandbox.settings.hubspot_token, associate=())
    adapter.ensure_schema()
    return adapter


@pytest.fixture
def contact(sandbox: SandboxServer) -> str:
    return str(sandbox.hubspot.add_contact("lead@client.com"))


def activity(key: str, contact_id: str) -> EmailActivity:
    return EmailActivity(key=key, contact_id=contact_id, direction="incoming",
                         occurred_at=datetime(2026, 5, 1, 12, tzinfo=UTC), subject="Re: pricing", text="Yes",
                         from_address="lead@client.com", to_addresses=("rep@example.com",))


def creates(sandbox: SandboxServer) -> int:
    """Email batch creates the sandbox served (a throttled one is counted in `faults.fired` instead)."""
    routes = sandbox.stats.snapshot()["by_route"]
    return sum(n for route, n in routes.items() if route.startswith("hubspot POST") and "batch/create" in route
               and "emails" in route)


def test_a_call_for_work_already_lost_sends_nothing(sandbox: SandboxServer, crm: HubSpotCrm, contact: str) -> None:
    with fenced(FlagFence(keep=0)), pytest.raises(Fenced):
        crm.log_emails([activity("k-lost", contact)])
    assert creates(sandbox) == 0
    assert sandbox.hubspot.emails_for(contact) == []


def test_losing_the_lease_during_a_throttle_wait_stops_before_the_next_request(
        sandbox: SandboxServer, crm: HubSpotCrm, contact: str) -> None:
    sandbox.faults.add(Fault("hubspot", "throttle", count=1, delay=0.3, path_prefix=CREATE))
    fence = FlagFence(keep=1)             # the check before the first request passes; the one after the wait fails
    with fenced(fence), pytest.raises(Fenced):
        crm.log_emails([activity("k-wait", contact)])
    assert sandbox.ctx.faults.fired.get("throttle") == 1      # the one attempt, throttled
    assert creates(sandbox) == 0          # nothing was sent after the lease was gone
    assert sandbox.hubspot.emails_for(contact) == []


def test_a_wait_the_fence_allows_is_slept_with_checks_and_the_call_completes(
        sandbox: SandboxServer, crm: HubSpotCrm, contact: str) -> None:
    sandbox.faults.add(Fault("hubspot", "throttle", count=1, delay=0.3, path_prefix=CREATE))
    fence = FlagFence()
    with fenced(fence):
        logged = crm.log_emails([activity("k-ok", contact)])
    assert [a.key for a in logged] == ["k-ok"]
    assert len(sandbox.hubspot.emails_for(contact)) == 1
    assert fence.checks >= 3              # before the first request, after the wait, before the second request


def test_a_throttle_longer_than_the_fence_allows_is_handed_back_at_once(
        sandbox: SandboxServer, crm: HubSpotCrm, contact: str) -> None:
    sandbox.faults.add(Fault("hubspot", "throttle", count=1, delay=120, path_prefix=CREATE))
    started = time.monotonic()
    with fenced(FlagFence(max_wait=10)), pytest.raises(RateLimited) as raised:
        crm.log_emails([activity("k-long", contact)])
    assert raised.value.retry_after == pytest.approx(120)
    # The limiter holds the whole account for the stated time: the next call is refused without a request.
    before = creates(sandbox)
    with fenced(FlagFence(max_wait=10)), pytest.raises(RateLimited) as again:
        crm.log_emails([activity("k-long", contact)])
    assert creates(sandbox) == before
    assert 100 < (again.value.retry_after or 0) <= 120
    assert time.monotonic() - started < 5
    assert sandbox.hubspot.emails_for(contact) == []


def test_a_daily_limit_never_holds_a_thread_even_without_a_fence(
        sandbox: SandboxServer, crm: HubSpotCrm, contact: str) -> None:
    sandbox.hubspot.settings.hubspot_daily_limit = 0       # the portal's day is used up (by other integrations)
    started = time.monotonic()
    with pytest.raises(RateLimited) as raised:
        crm.log_emails([activity("k-daily", contact)])
    assert "DAILY" in str(raised.value)
    # The wait is the time to the portal's midnight (UTC here), when the day turns (adapters/daily_budget.py).
    now = datetime.now(UTC)
    to_midnight = (datetime.combine(now.date(), datetime.min.time(), UTC).timestamp() + 86400) - now.timestamp()
    assert raised.value.retry_after == pytest.approx(to_midnight, abs=5)
    assert time.monotonic() - started < 5


def _mail(sender: str) -> OutgoingEmail:
    return OutgoingEmail(key="enrol-1/step-1", message_id=new_message_id("rep.example"), from_address=sender,
                         to=("buyer@customer.example",), subject="Welcome", text="Hello.")


def _send_lost(send: Callable[..., object]) -> list[str]:
    """Send under a fence whose lease is already gone; returns what on_submit saw (must be nothing)."""
    submitted: list[str] = []
    with fenced(FlagFence(keep=0)), pytest.raises(Fenced):
        send(on_submit=lambda: submitted.append("submitted"))
    return submitted


def test_a_gmail_send_for_a_lost_row_sends_nothing(sandbox: SandboxServer) -> None:
    with gmail_on(sandbox, DEFAULT_USER) as gmail:
        mail = _mail(DEFAULT_USER)
        assert _send_lost(lambda **kw: gmail.send(mail, **kw)) == []
    assert not [m for m in sandbox.gmail.messages(DEFAULT_USER) if m.header("Message-ID") == mail.message_id]


def test_an_outlook_send_for_a_lost_row_sends_nothing(tls_sandbox: SandboxServer) -> None:
    rep = tls_sandbox.settings.graph_default_user
    with outlook_on(tls_sandbox, rep) as outlook:
        mail = _mail(rep)
        assert _send_lost(lambda **kw: outlook.send(mail, **kw)) == []
    assert not [m for m in tls_sandbox.graph.messages(rep, "sentitems")
                if m.envelope.internet_message_id == mail.message_id]


def test_an_smtp_send_for_a_lost_row_never_reaches_data(smtp_server: SmtpServer, mailbox: ImapMailbox) -> None:
    smtp_server.clear()
    sender = SmtpSender(smtp_server.host, smtp_server.port, "starttls", username=smtp_server.username,
                        password=smtp_server.password, ssl_context=smtp_server.ssl_context(),
                        sent_folder_lookup=mailbox.find_in_sent, append_to_sent=mailbox.append_sent, timeout=5)
    assert _send_lost(lambda **kw: sender.send(_mail(mailbox.address), **kw)) == []
    assert smtp_server.messages == []
