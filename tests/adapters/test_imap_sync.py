"""ImapMailbox.pull against a real Dovecot: backfill, incremental, resync, resume, IDLE."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime

import pytest
from imapclient import IMAPClient

from tests.fixtures.dovecot import DovecotAccount
from tests.servers.wiretap import Wiretap
from threadline.adapters.errors import NotFound
from threadline.adapters.imap import ImapMailbox
from threadline.adapters.records import MailPage

pytestmark = pytest.mark.dovecot


def make_email(subject: str, *, sender: str = "customer@acme.test", to: str = "rep@example.com",
               sent_at: datetime | None = None) -> bytes:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message["Date"] = format_datetime(sent_at or datetime.now(UTC))
    message["Message-ID"] = f"<{subject.replace(' ', '-')}@acme.test>"
    message.set_content(f"Body of {subject}\n")
    return message.as_bytes()


def plain_mailbox(account: DovecotAccount, port: int | None = None, **options: object) -> ImapMailbox:
    return ImapMailbox(address=account.username, host=account.host, port=port or account.server.imap_port,
                       security="none", password=account.password, sleep=lambda _: None, **options)


def subjects(pages: list[MailPage]) -> list[str]:
    return [m.raw.split(b"Subject: ")[1].split(b"\n")[0].strip().decode() for p in pages for m in p.messages]


@pytest.fixture
def wiretap(imap_account: DovecotAccount) -> Iterator[Wiretap]:
    tap = Wiretap((imap_account.host, imap_account.server.imap_port))
    yield tap
    tap.close()


def test_first_sync_backfills_inbox_and_the_special_use_sent_folder(imap_account: DovecotAccount) -> None:
    imap_account.deliver(make_email("question one"))
    imap_account.deliver(make_email("question two"))
    sent_uid = imap_account.deliver(make_email("our answer", sender=imap_account.username), folder="Sent")
    mailbox = plain_mailbox(imap_account)

    pages = list(mailbox.pull(None))

    assert subjects(pages) == ["question one", "question two", "our answer"]
    messages = [m for p in pages for m in p.messages]
    assert [m.folder for m in messages] == ["inbox", "inbox", "sent"]
    uidvalidity = imap_account.uidvalidity("Sent")
    assert messages[2].provider_id == f"Sent/{uidvalidity}/{sent_uid}"
    assert all(m.thread_id is None and m.internal_date is not None for m in messages)
    assert pages[-1].cursor["sent"]["folder"] == "Sent"
    assert pages[-1].cursor["inbox"]["last_uid"] == 2
    assert all(p.resync_reason is None for p in pages)
    mailbox.close()


def test_sync_never_marks_mail_as_seen(imap_account: DovecotAccount) -> None:
    imap_account.deliver(make_email("unread question"))
    mailbox = plain_mailbox(imap_account)
    list(mailbox.pull(None))
    mailbox.close()

    with IMAPClient(imap_account.host, imap_account.server.imap_port, ssl=False) as client:
        client.login(imap_account.username, imap_account.password)
        client.select_folder("INBOX", readonly=True)
        assert client.search(["UNSEEN"]) == [1]


def test_messages_older_than_the_backfill_window_are_never_pulled(imap_account: DovecotAccount) -> None:
    imap_account.deliver(make_email("recent question"))
    long_ago = datetime.now(UTC) - timedelta(days=90)
    imap_account.deliver(make_email("ancient thread", sent_at=long_ago), received_at=long_ago)
    mailbox = plain_mailbox(imap_account, backfill_days=30)

    first = list(mailbox.pull(None))
    again = list(mailbox.pull(first[-1].cursor))

    assert subjects(first) == ["recent question"]
    assert subjects(again) == []
    mailbox.close()


def test_incremental_pull_returns_only_new_messages(imap_account: DovecotAccount) -> None:
    imap_account.deliver(make_email("old question"))
    mailbox = plain_mailbox(imap_account)
    cursor = list(mailbox.pull(None))[-1].cursor

    imap_account.deliver(make_email("new question"))
    imap_account.deliver(make_email("new answer", sender=imap_account.username), folder="Sent")
    pages = list(mailbox.pull(cursor))

    assert subjects(pages) == ["new question", "new answer"]
    assert pages[-1].cursor["inbox"]["last_uid"] == 2
    assert pages[-1].cursor["sent"]["last_uid"] == 1
    mailbox.close()


def test_a_long_lived_connection_sees_every_new_message_in_the_open_folder(imap_account: DovecotAccount) -> None:
    # Regression: STATUS on the folder the session has open answered from the session's stale view,
    # so the third pull on one connection missed mail until a reconnect.
    mailbox = plain_mailbox(imap_account)
    cursor = list(mailbox.pull(None))[-1].cursor
    seen = []
    for n in range(3):
        imap_account.deliver(make_email(f"question {n}"))
        pages = list(mailbox.pull(cursor))
        seen += subjects(pages)
        cursor = pages[-1].cursor if pages else cursor
    assert seen == ["question 0", "question 1", "question 2"]
    mailbox.close()


def test_unchanged_mailbox_costs_one_status_per_folder_and_no_fetch(
        imap_account: DovecotAccount, wiretap: Wiretap) -> None:
    imap_account.deliver(make_email("only question"))
    mailbox = plain_mailbox(imap_account, port=wiretap.port)
    cursor = list(mailbox.pull(None))[-1].cursor
    wiretap.clear()

    pages = list(mailbox.pull(cursor))

    assert pages == []
    # The folder left open by the pull is closed once (STATUS on an open folder can be stale).
    assert wiretap.commands() == ["STATUS", "CLOSE", "STATUS"]
    wiretap.clear()
    assert list(mailbox.pull(cursor)) == []
    assert wiretap.commands() == ["STATUS", "STATUS"]
    mailbox.close()


def test_uidvalidity_change_resyncs_that_folder_with_a_reason(imap_account: DovecotAccount) -> None:
    imap_account.deliver(make_email("question before renumbering"))
    imap_account.deliver(make_email("sent before renumbering", sender=imap_account.username), folder="Sent")
    mailbox = plain_mailbox(imap_account)
    cursor = list(mailbox.pull(None))[-1].cursor
    old = cursor["inbox"]["uidvalidity"]

    new = imap_account.change_uidvalidity("INBOX")
    pages = list(mailbox.pull(cursor))

    assert subjects(pages) == ["question before renumbering"]
    assert pages[0].resync_reason == f"imap uidvalidity changed (INBOX: {old} -> {new})"
    assert pages[0].messages[0].provider_id == f"INBOX/{new}/1"
    assert pages[-1].cursor["inbox"]["uidvalidity"] == new
    assert pages[-1].cursor["sent"] == cursor["sent"]
    mailbox.close()


def test_stopping_mid_backfill_and_resuming_from_the_last_cursor_loses_nothing(
        imap_account: DovecotAccount) -> None:
    for n in range(5):
        imap_account.deliver(make_email(f"question {n}"))
    first_run = plain_mailbox(imap_account, batch_size=2)
    pages = first_run.pull(None)
    first_page = next(pages)
    pages.close()  # the process dies after storing the first page's cursor
    first_run.close()

    second_run = plain_mailbox(imap_account, batch_size=2)
    rest = list(second_run.pull(first_page.cursor))

    assert subjects([first_page]) == ["question 0", "question 1"]
    assert subjects(rest) == ["question 2", "question 3", "question 4"]
    assert [len(p.messages) for p in rest if p.cursor.get("inbox")][:2] == [2, 1]
    second_run.close()


def test_dropped_connection_is_retried_on_a_fresh_connection(
        imap_account: DovecotAccount, wiretap: Wiretap) -> None:
    mailbox = plain_mailbox(imap_account, port=wiretap.port)
    cursor = list(mailbox.pull(None))[-1].cursor
    imap_account.deliver(make_email("after the outage"))

    wiretap.cut_connections()
    pages = list(mailbox.pull(cursor))

    assert subjects(pages) == ["after the outage"]
    assert wiretap.commands().count("LOGIN") == 2
    mailbox.close()


def test_configured_folder_that_does_not_exist_is_not_found(imap_account: DovecotAccount) -> None:
    mailbox = plain_mailbox(imap_account, folders={"sent": "Gesendet"})

    with pytest.raises(NotFound, match="Gesendet"):
        list(mailbox.pull(None))
    mailbox.close()


def test_idle_wait_wakes_when_new_mail_arrives(imap_account: DovecotAccount) -> None:
    mailbox = plain_mailbox(imap_account)
    delivery = threading.Timer(0.3, imap_account.deliver, args=(make_email("pushed question"),))
    delivery.start()

    started = datetime.now(UTC)
    woke = mailbox.idle_wait(timeout=10)

    assert woke is True
    assert datetime.now(UTC) - started < timedelta(seconds=5)
    assert subjects(list(mailbox.pull(None))) == ["pushed question"]
    mailbox.close()


def test_idle_wait_returns_false_when_nothing_arrives(imap_account: DovecotAccount) -> None:
    mailbox = plain_mailbox(imap_account)

    assert mailbox.idle_wait(timeout=0.5) is False
    mailbox.close()


def test_uidvalidity_change_in_the_middle_of_a_backfill_restarts_it_as_a_resync(
        imap_account: DovecotAccount) -> None:
    for n in range(3):
        imap_account.deliver(make_email(f"question {n}"))
    mailbox = plain_mailbox(imap_account, batch_size=1)
    pages = mailbox.pull(None)
    first = next(pages)

    new = imap_account.change_uidvalidity("INBOX")  # Dovecot drops the session; the adapter reconnects
    rest = [p for p in pages if p.messages]

    assert subjects([first]) == ["question 0"]
    assert subjects(rest) == ["question 0", "question 1", "question 2"]
    assert [m.provider_id for p in rest for m in p.messages] == [f"INBOX/{new}/{uid}" for uid in (1, 2, 3)]
    assert all(p.resync_reason and "uidvalidity changed" in p.resync_reason for p in rest)
    mailbox.close()
