"""GmailAdapter against the Gmail sandbox over real HTTP (official client, real google-auth credentials)."""

from __future__ import annotations

from collections.abc import Iterator
from email.utils import formatdate
from itertools import islice

import pytest

from threadline.adapters.errors import AuthExpired
from threadline.adapters.gmail import GmailAdapter, from_refresh_token, from_service_account
from threadline.adapters.records import MailPage
from threadline.sandbox.faults import Fault
from threadline.sandbox.google_oauth import DEFAULT_USER

REP = DEFAULT_USER


def mail(n: int, *, sender: str = "buyer@customer.example", to: str = REP, subject: str | None = None) -> bytes:
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject or f'Question {n}'}\r\n"
            f"Date: {formatdate()}\r\nMessage-ID: <m{n}@customer.example>\r\n\r\nBody {n}\r\n").encode()


def refresh_token_adapter(sandbox, refresh_token: str | None = None, **kwargs) -> GmailAdapter:
    s = sandbox.settings
    creds = from_refresh_token(s.google_client_id, s.google_client_secret, refresh_token or s.google_refresh_token,
                               token_uri=f"{sandbox.url}/token")
    return GmailAdapter(REP, creds, base_url=sandbox.url, **kwargs)


@pytest.fixture
def adapter(sandbox) -> Iterator[GmailAdapter]:
    gmail = refresh_token_adapter(sandbox)
    yield gmail
    gmail.close()


def drain(pages: Iterator[MailPage]) -> list[MailPage]:
    return list(pages)


def ids_of(pages: list[MailPage]) -> list[str]:
    return [m.provider_id for page in pages for m in page.messages]


def gmail_calls(sandbox) -> dict[str, int]:
    return {route.removeprefix("gmail "): n for route, n in sandbox.stats.snapshot()["by_route"].items()
            if route.startswith("gmail ")}


def test_backfill_then_incremental_yields_each_new_message(sandbox, adapter):
    first = [sandbox.gmail.deliver(REP, mail(i)) for i in range(3)]
    pages = drain(adapter.pull(None))
    assert sorted(ids_of(pages)) == sorted(first)
    assert pages[-1].cursor["backfill"] is None
    assert all(m.folder == "inbox" and m.raw.startswith(b"From: ") and m.thread_id for p in pages for m in p.messages)

    later = sandbox.gmail.deliver(REP, mail(10))
    incremental = drain(adapter.pull(pages[-1].cursor))
    assert ids_of(incremental) == [later]
    assert int(incremental[-1].cursor["history_id"]) == sandbox.gmail.history_id(REP)


def test_idle_incremental_cycle_costs_exactly_one_api_call(sandbox, adapter):
    sandbox.gmail.deliver(REP, mail(1))
    cursor = drain(adapter.pull(None))[-1].cursor
    sandbox.stats.reset()
    assert drain(adapter.pull(cursor)) == []
    assert gmail_calls(sandbox) == {"history.list": 1}
    assert sandbox.stats.snapshot()["units"]["gmail"] == 2


def test_mail_arriving_during_backfill_is_caught_up_from_the_captured_history_id(sandbox, adapter):
    for i in range(60):
        sandbox.gmail.deliver(REP, mail(i))
    pages = adapter.pull(None)
    seen = ids_of([next(pages)])
    newcomer = sandbox.gmail.deliver(REP, mail(99))   # arrives after the history id was captured
    seen += ids_of(list(pages))
    assert newcomer in seen
    assert len(set(seen)) == 61


def test_history_id_too_old_triggers_full_resync_without_duplicates(sandbox, adapter):
    delivered = [sandbox.gmail.deliver(REP, mail(i)) for i in range(5)]
    cursor = drain(adapter.pull(None))[-1].cursor
    delivered.append(sandbox.gmail.deliver(REP, mail(5)))
    sandbox.gmail.expire_history_before(REP, sandbox.gmail.history_id(REP))

    resync = drain(adapter.pull(cursor))
    resynced = ids_of(resync)
    assert sorted(resynced) == sorted(delivered)
    assert len(resynced) == len(set(resynced))
    assert all(page.resync_reason == "gmail history id expired" for page in resync)
    assert drain(adapter.pull(resync[-1].cursor)) == []


def test_expired_history_fault_answers_404_and_the_adapter_resyncs(sandbox, adapter):
    sandbox.gmail.deliver(REP, mail(1))
    cursor = drain(adapter.pull(None))[-1].cursor
    sandbox.faults.add(Fault(provider="gmail", kind="expired_history"))
    resync = drain(adapter.pull(cursor))
    assert resync and resync[0].resync_reason == "gmail history id expired"


def test_throttle_burst_is_retried_after_retry_after(sandbox, adapter):
    sandbox.gmail.deliver(REP, mail(1))
    sandbox.faults.add(Fault(provider="gmail", kind="throttle", count=3, delay=0.01, path_prefix="/gmail/"))
    pages = drain(adapter.pull(None))
    assert len(ids_of(pages)) == 1
    assert sandbox.stats.snapshot()["throttled"]["gmail"] == 3


def test_quota_429_inside_a_batch_is_retried_for_the_failed_parts_only(sandbox, adapter):
    for i in range(10):
        sandbox.gmail.deliver(REP, mail(i))
    sandbox.gmail.quota.units_per_minute = 1 + 5 + 5 * 6      # profile + list + six gets, then 429s
    sandbox.gmail.quota.window_seconds = 0.5                  # a short window so the 429s clear quickly
    pages = drain(adapter.pull(None))
    assert len(set(ids_of(pages))) == 10
    assert sandbox.stats.snapshot()["throttled"]["gmail"] >= 1


def test_more_than_fifty_messages_are_fetched_in_batches_of_fifty(sandbox, adapter):
    for i in range(120):
        sandbox.gmail.deliver(REP, mail(i))
    pages = drain(adapter.pull(None))
    assert [len(p.messages) for p in pages] == [50, 50, 20]
    calls = gmail_calls(sandbox)
    assert calls["batch"] == 3 and calls["messages.get"] == 120


def test_sent_messages_come_with_folder_sent(sandbox, adapter):
    sent = sandbox.gmail.deliver(REP, mail(1, sender=REP, to="buyer@customer.example"), labels=("SENT",))
    both = sandbox.gmail.deliver(REP, mail(2, sender=REP, to=REP), labels=("SENT", "INBOX"))
    inbox = sandbox.gmail.deliver(REP, mail(3))
    sandbox.gmail.deliver(REP, mail(4), labels=("DRAFT",))
    folders = {m.provider_id: m.folder for p in drain(adapter.pull(None)) for m in p.messages}
    assert folders == {sent: "sent", both: "sent", inbox: "inbox"}


def test_message_deleted_between_history_and_get_is_skipped(sandbox, adapter):
    cursor = drain(adapter.pull(None))[-1].cursor
    doomed = sandbox.gmail.deliver(REP, mail(1))
    kept = sandbox.gmail.deliver(REP, mail(2))
    sandbox.gmail.delete(REP, doomed)
    assert ids_of(drain(adapter.pull(cursor))) == [kept]


def test_backfill_resumes_after_a_crash_without_losing_messages(sandbox):
    delivered = {sandbox.gmail.deliver(REP, mail(i)) for i in range(130)}
    first = refresh_token_adapter(sandbox, batch_size=20)
    crashed = list(islice(first.pull(None), 3))                # the process dies after three pages
    first.close()
    assert crashed[-1].cursor["backfill"] is not None

    second = refresh_token_adapter(sandbox, batch_size=20)
    resumed = drain(second.pull(crashed[-1].cursor))
    assert set(ids_of(crashed)) | set(ids_of(resumed)) == delivered
    assert not set(ids_of(crashed)) & set(ids_of(resumed))
    second.close()


def test_backfill_window_excludes_older_mail(sandbox, adapter):
    from datetime import UTC, datetime, timedelta
    old = sandbox.gmail.deliver(REP, mail(1), internal_date=datetime.now(UTC) - timedelta(days=45))
    recent = sandbox.gmail.deliver(REP, mail(2))
    seen = ids_of(drain(adapter.pull(None)))
    assert recent in seen and old not in seen


def test_service_account_with_domain_wide_delegation_reads_the_subjects_mailbox(sandbox):
    boss = "boss@example.com"
    message = sandbox.gmail.deliver(boss, mail(1, to=boss))
    info = sandbox.gmail.register_service_account(sandbox.url)
    gmail = GmailAdapter(boss, from_service_account(info, subject=boss), base_url=sandbox.url)
    assert ids_of(drain(gmail.pull(None))) == [message]
    assert all(r.ok for r in gmail.check())
    gmail.close()


def test_revoked_refresh_token_raises_auth_expired(sandbox):
    token = sandbox.gmail.oauth.issue_refresh_token(REP)
    gmail = refresh_token_adapter(sandbox, refresh_token=token)
    drain(gmail.pull(None))
    sandbox.gmail.oauth.revoke_refresh_token(token)
    with pytest.raises(AuthExpired):
        drain(gmail.pull(None))
    gmail.close()


def test_check_reports_reach_mailbox_and_scopes(sandbox, adapter):
    results = adapter.check()
    assert [(r.item, r.ok) for r in results] == [("reach", True), ("mailbox", True), ("scopes", True)]


def test_check_never_raises_when_credentials_are_revoked(sandbox):
    token = sandbox.gmail.oauth.issue_refresh_token(REP)
    sandbox.gmail.oauth.revoke_refresh_token(token)
    gmail = refresh_token_adapter(sandbox, refresh_token=token)
    results = gmail.check()
    assert [(r.item, r.ok) for r in results] == [("reach", False)]
    assert "AuthExpired" in results[0].detail and token not in results[0].detail
    gmail.close()
