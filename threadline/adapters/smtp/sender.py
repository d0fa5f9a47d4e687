"""SmtpSender: a MailSender for IMAP mailboxes, sending over SMTP submission and filing a copy in Sent."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable
from datetime import timedelta

import structlog

from threadline.adapters.errors import AuthExpired, ProviderError
from threadline.adapters.observe import observed
from threadline.adapters.sending import OnSubmit, OutgoingEmail, SentRef, build_mime, hand_over
from threadline.adapters.smtp.connection import PasswordAuth, Security, SmtpAuth, SmtpEndpoint, XOAuth2Auth
from threadline.adapters.smtp.errors import PROVIDER, data_refused, smtp_errors
from threadline.crashpoints import crashpoint

log = structlog.get_logger("threadline.smtp")


class SmtpSender:
    """Sends as the mailbox owner over SMTP; finds sent mail through the IMAP Sent folder.

    `sent_folder_lookup` is `ImapMailbox.find_in_sent` and `append_to_sent` is
    `ImapMailbox.append_sent`: SMTP servers do not keep a copy, so after the server
    accepts a message we APPEND it to Sent ourselves, and that copy is what the
    look-before-resend check finds. (Gmail and Microsoft 365 file SMTP-submitted
    mail in Sent themselves: pass `append_to_sent=None` there.)
    """

    kind = "smtp"
    #: The Sent copy is filed by us once the server accepted the mail, so a missing copy never proves
    #: that a submission whose outcome we did not learn failed: such a mail is never sent again.
    sent_visibility: timedelta | None = None

    def __init__(self, host: str, port: int = 587, security: Security = "starttls", *, username: str,
                 password: str | None = None, access_token: Callable[[], str] | None = None,
                 ssl_context: ssl.SSLContext | None = None, ca_file: str | None = None,
                 sent_folder_lookup: Callable[[str], SentRef | None],
                 append_to_sent: Callable[[bytes], None] | None = None, timeout: float = 30.0) -> None:
        context = ssl_context or ssl.create_default_context(cafile=ca_file)
        self.endpoint = SmtpEndpoint(host, port, security, context, timeout)
        self.auth = _auth(username, password, access_token)
        self._lookup = sent_folder_lookup
        self._append = append_to_sent

    def send(self, email: OutgoingEmail, *, on_submit: OnSubmit | None = None) -> SentRef:
        """Submit `email` once (no retry here), then file a copy in Sent.

        `on_submit` runs after connect, login, MAIL FROM and RCPT TO, right before DATA:
        a refused sender or recipients, or a failed login, is known before it.
        Raises TransientError when the connection drops or times out (ambiguous: the
        server may have accepted it; call `find_sent` before trying again) or on another 4xx,
        DataRefused (a RateLimited) on a 4xx answer to DATA (the mail was not taken),
        PermanentError on a 5xx, AuthExpired on refused credentials. A failed copy to
        Sent is logged, not raised: the mail *was* sent and must be recorded as such.
        """
        raw = build_mime(email)
        with observed(PROVIDER, email.from_address, "send"), smtp_errors("send"):
            client = self.endpoint.connect()
            try:
                self.auth.login(client)
                refused = _submit(client, email, raw, on_submit)
            finally:
                _quit(client)
        crashpoint("smtp.after_accept")
        if refused:
            log.warning("smtp.recipients_refused", key=email.key, refused=sorted(refused))
        self._file_copy(email, raw)
        return SentRef(message_id=email.message_id, provider_id=None)

    def find_sent(self, message_id: str) -> SentRef | None:
        """Our sent mail with `message_id`, from the IMAP Sent folder (None if it is not there)."""
        return self._lookup(message_id)

    def _file_copy(self, email: OutgoingEmail, raw: bytes) -> None:
        if self._append is None:
            return
        try:
            self._append(raw)
        except ProviderError as exc:
            log.error("smtp.sent_copy_failed", key=email.key, message_id=email.message_id, error=exc.kind)


def _submit(client: smtplib.SMTP, email: OutgoingEmail, raw: bytes,
            on_submit: OnSubmit | None) -> dict[str, tuple[int, bytes]]:
    """What `sendmail` does (MAIL, RCPT per recipient, DATA), with `on_submit` right before DATA.

    Returns the recipients the server refused while accepting others; raises smtplib's
    errors (translated by `smtp_errors`) when it refuses the sender, every recipient or the data.
    """
    client.ehlo_or_helo_if_needed()
    options = [f"SIZE={len(raw)}"] if client.does_esmtp and client.has_extn("size") else []
    code, answer = client.mail(email.from_address, options)
    if code != 250:
        raise smtplib.SMTPSenderRefused(code, answer, email.from_address)
    refused: dict[str, tuple[int, bytes]] = {}
    for address in email.to:
        code, answer = client.rcpt(address)
        if code not in (250, 251):
            refused[address] = (code, answer)
    if len(refused) == len(email.to):
        raise smtplib.SMTPRecipientsRefused(refused)
    hand_over(on_submit)     # the last moment before the mail can leave (before DATA)
    reply: bytes | str        # the server's reply is bytes; SMTPDataError.smtp_error is typed to allow str
    try:
        code, reply = client.data(raw)
    except smtplib.SMTPDataError as exc:      # the DATA command itself was refused (no 354): nothing sent
        code, reply = exc.smtp_code, exc.smtp_error
    if 400 <= code < 500:
        raise data_refused(code, reply)        # a definite "not taken", unlike a dropped connection
    if code != 250:
        raise smtplib.SMTPDataError(code, reply)
    return refused


def _auth(username: str, password: str | None, access_token: Callable[[], str] | None) -> SmtpAuth:
    if access_token is not None:
        return XOAuth2Auth(username, access_token)
    if password is None:
        raise AuthExpired("smtp: no password or access token configured", provider=PROVIDER)
    return PasswordAuth(username, password)


def _quit(client: smtplib.SMTP) -> None:
    """Say goodbye politely; the message is already accepted (or not), so failures here do not matter."""
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()
