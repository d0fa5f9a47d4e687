"""ImapMailbox logins against a real Dovecot: TLS, STARTTLS, XOAUTH2, refusals, and check()."""

from __future__ import annotations

import pytest

from tests.adapters.test_imap_sync import make_email, plain_mailbox, subjects
from tests.fixtures.dovecot import DovecotAccount
from tests.servers.dovecot import free_port
from threadline.adapters.errors import AuthExpired, PermanentError
from threadline.adapters.imap import ImapMailbox

pytestmark = pytest.mark.dovecot


def test_implicit_tls_login_verifies_the_server_against_the_test_ca(imap_account: DovecotAccount) -> None:
    imap_account.deliver(make_email("over tls"))
    mailbox = ImapMailbox(address=imap_account.username, host=imap_account.host,
                          port=imap_account.server.imaps_port, security="tls",
                          password=imap_account.password, ca_file=str(imap_account.ca_file))

    assert subjects(list(mailbox.pull(None))) == ["over tls"]
    mailbox.close()


def test_starttls_login_verifies_the_server_against_the_test_ca(imap_account: DovecotAccount) -> None:
    imap_account.deliver(make_email("over starttls"))
    mailbox = ImapMailbox(address=imap_account.username, host=imap_account.host,
                          port=imap_account.server.imap_port, security="starttls",
                          password=imap_account.password, ssl_context=imap_account.ssl_context())

    assert subjects(list(mailbox.pull(None))) == ["over starttls"]
    mailbox.close()


def test_untrusted_server_certificate_is_a_permanent_error(imap_account: DovecotAccount) -> None:
    mailbox = ImapMailbox(address=imap_account.username, host=imap_account.host,
                          port=imap_account.server.imaps_port, security="tls", password=imap_account.password)

    with pytest.raises(PermanentError, match="certificate"):
        list(mailbox.pull(None))


def test_bad_password_raises_auth_expired_without_the_password(imap_account: DovecotAccount) -> None:
    wrong = "wrong-" + imap_account.password
    mailbox = ImapMailbox(address=imap_account.username, host=imap_account.host,
                          port=imap_account.server.imap_port, security="none", password=wrong)

    with pytest.raises(AuthExpired) as refused:
        list(mailbox.pull(None))

    assert wrong not in str(refused.value)
    assert imap_account.username in str(refused.value)


def test_xoauth2_login_with_an_access_token(imap_account: DovecotAccount) -> None:
    imap_account.deliver(make_email("via oauth"))
    asked: list[str] = []

    def access_token() -> str:
        asked.append("token")
        return imap_account.token

    mailbox = ImapMailbox(address=imap_account.username, host=imap_account.host,
                          port=imap_account.server.imaps_port, security="tls",
                          access_token=access_token, ca_file=str(imap_account.ca_file))

    assert subjects(list(mailbox.pull(None))) == ["via oauth"]
    assert asked == ["token"]
    mailbox.close()


def test_revoked_access_token_raises_auth_expired(imap_account: DovecotAccount) -> None:
    imap_account.server.userinfo.revoke(imap_account.token)
    mailbox = ImapMailbox(address=imap_account.username, host=imap_account.host,
                          port=imap_account.server.imap_port, security="none",
                          access_token=lambda: imap_account.token)

    with pytest.raises(AuthExpired) as refused:
        list(mailbox.pull(None))
    assert imap_account.token not in str(refused.value)


def test_check_reports_login_capabilities_and_the_sent_folder(imap_account: DovecotAccount) -> None:
    results = {r.item: r for r in plain_mailbox(imap_account).check()}

    assert results["login"].ok
    assert results["capability IDLE"].ok and results["capability CONDSTORE"].ok
    assert results["folder inbox"].ok
    assert results["folder sent"].ok and results["folder sent"].detail == "Sent"


def test_check_reports_a_refused_login_instead_of_raising(imap_account: DovecotAccount) -> None:
    mailbox = ImapMailbox(address=imap_account.username, host=imap_account.host,
                          port=imap_account.server.imap_port, security="none", password="nope")

    [result] = mailbox.check()

    assert (result.item, result.ok) == ("login", False)
    assert "AuthExpired" in result.detail and "nope" not in result.detail


def test_check_reports_an_unreachable_server_instead_of_raising() -> None:
    mailbox = ImapMailbox(address="rep@example.com", host="127.0.0.1", port=free_port(),
                          security="none", password="secret", timeout=2)

    [result] = mailbox.check()

    assert (result.item, result.ok) == ("login", False)
    assert "TransientError" in result.detail
