"""SmtpSender against a real SMTP server (aiosmtpd, STARTTLS + AUTH) and Sent on a real Dovecot."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator

import pytest

from threadline.adapters.errors import AuthExpired, TransientError
from threadline.adapters.sending import OutgoingEmail, build_mime, new_message_id
from threadline.adapters.smtp import SmtpSender

UNSUBSCRIBE = {"List-Unsubscribe": "<https://threadline.example/u/abc>, <mailto:unsub@threadline.example?subject=abc>",
               "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def outgoing(n: int = 1, **fields) -> OutgoingEmail:
    values = dict(key=f"enrol-1/step-{n}", message_id=new_message_id("rep.example"), from_address="rep@rep.example",
                  from_name="Rita Rep", to=("buyer@customer.example",), subject=f"Step {n}",
                  text=f"Hello, step {n}.", html=f"<p>Hello, step {n}.</p>", headers=UNSUBSCRIBE)
    return OutgoingEmail(**{**values, **fields})


@pytest.fixture
def sender(smtp_server, mailbox) -> Iterator[SmtpSender]:
    smtp_server.clear()
    yield SmtpSender(smtp_server.host, smtp_server.port, "starttls", username=smtp_server.username,
                     password=smtp_server.password, ssl_context=smtp_server.ssl_context(),
                     sent_folder_lookup=mailbox.find_in_sent, append_to_sent=mailbox.append_sent, timeout=5)
    smtp_server.clear()


def parsed(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def test_send_delivers_exactly_one_message_with_our_message_id_and_unsubscribe_headers(smtp_server, sender):
    mail = outgoing()
    ref = sender.send(mail)
    assert ref.message_id == mail.message_id
    [received] = smtp_server.messages
    assert received.mail_from == "rep@rep.example" and received.rcpt_tos == ("buyer@customer.example",)
    headers = parsed(received.raw)
    assert headers["Message-ID"] == mail.message_id
    assert headers["List-Unsubscribe"] == UNSUBSCRIBE["List-Unsubscribe"]
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_sent_mail_is_filed_in_sent_and_found_by_message_id(sender):
    mail = outgoing()
    assert sender.find_sent(mail.message_id) is None
    sender.send(mail)
    found = sender.find_sent(mail.message_id)
    assert found is not None and found.message_id == mail.message_id
    assert found.provider_id is not None and found.provider_id.startswith("Sent/")
    assert sender.find_sent(new_message_id("rep.example")) is None


def test_reply_in_thread_carries_in_reply_to_and_references(smtp_server, sender):
    first = outgoing(1)
    reply = outgoing(2, subject="Re: Step 1", in_reply_to=first.message_id, references=(first.message_id,))
    sender.send(reply)
    headers = parsed(smtp_server.messages[-1].raw)
    assert headers["In-Reply-To"] == first.message_id and headers["References"] == first.message_id


def test_connection_dropped_after_data_is_transient_and_the_sent_check_decides(smtp_server, sender, mailbox):
    """The server accepted the message but the client never heard so: ambiguous, never retried blindly."""
    mail = outgoing()
    smtp_server.drop_after_data()
    with pytest.raises(TransientError):
        sender.send(mail)
    assert len(smtp_server.messages) == 1                     # accepted once, nothing resent inside send()
    # The server got it but our Sent copy was never filed: the caller's check says "not sent".
    # Filing happens only after a confirmed send, so this is the window a caller must reconcile.
    assert sender.find_sent(mail.message_id) is None
    sender.send(mail)                                         # the caller's decision: send again
    assert [parsed(m.raw)["Message-ID"] for m in smtp_server.messages] == [mail.message_id] * 2
    assert sender.find_sent(mail.message_id) is not None


def test_wrong_password_is_auth_expired_and_secret_stays_out_of_the_error(smtp_server, mailbox):
    sender = SmtpSender(smtp_server.host, smtp_server.port, "starttls", username=smtp_server.username,
                        password="not-the-password", ssl_context=smtp_server.ssl_context(),
                        sent_folder_lookup=mailbox.find_in_sent, timeout=5)
    with pytest.raises(AuthExpired) as caught:
        sender.send(outgoing())
    assert "not-the-password" not in str(caught.value)


def test_build_mime_has_text_and_html_alternatives_and_refuses_overriding_our_headers():
    mail = outgoing()
    message = parsed(build_mime(mail))
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["Date"] is not None and message["From"] == "Rita Rep <rep@rep.example>"
    with pytest.raises(ValueError):
        build_mime(outgoing(headers={"Message-ID": "<other@x>"}))


def test_on_submit_runs_once_right_before_the_server_takes_the_message(smtp_server, sender):
    seen: list[int] = []
    sender.send(outgoing(), on_submit=lambda: seen.append(len(smtp_server.messages)))
    assert seen == [0] and len(smtp_server.messages) == 1


def test_on_submit_is_not_called_when_login_is_refused(smtp_server, mailbox):
    sender = SmtpSender(smtp_server.host, smtp_server.port, "starttls", username=smtp_server.username,
                        password="not-the-password", ssl_context=smtp_server.ssl_context(),
                        sent_folder_lookup=mailbox.find_in_sent, timeout=5)
    calls: list[str] = []
    with pytest.raises(AuthExpired):
        sender.send(outgoing(), on_submit=lambda: calls.append("submitted"))
    assert calls == [] and sender.sent_visibility is None
