"""The one place smtplib failures become Threadline provider errors.

A dropped connection or a timeout is TransientError, and it is *ambiguous*: the
server may have accepted the message before the connection died, so the caller
looks in Sent before sending again. 4xx replies are transient, 5xx permanent,
refused credentials AuthExpired. Messages never carry the password or token.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager

from threadline.adapters.errors import AuthExpired, PermanentError, ProviderError, RateLimited, TransientError

PROVIDER = "smtp"


class DataRefused(RateLimited):
    """The server answered DATA with a 4xx: it did not take the message (RFC 5321 4.2.5), so nothing went out.
    A RateLimited, because the send executor treats those as "refused outright": it forgets the hand-over and
    sends again later (as a plain TransientError the step would be recorded unconfirmed and never arrive)."""


def data_refused(code: int, answer: bytes | str) -> DataRefused:
    return DataRefused(f"smtp send: server answered DATA with {code} {_text(answer)[:160]}; the mail was not "
                       "taken and is sent again later", provider=PROVIDER, status=code)


@contextmanager
def smtp_errors(what: str) -> Iterator[None]:
    """Run smtplib calls, re-raising failures as ProviderError subclasses."""
    try:
        yield
    except ProviderError:
        raise
    except smtplib.SMTPAuthenticationError as exc:
        if 400 <= exc.smtp_code < 500:
            raise TransientError(f"smtp {what}: temporary login failure ({exc.smtp_code})", provider=PROVIDER,
                                 status=exc.smtp_code) from None
        raise AuthExpired(f"smtp {what}: login refused ({exc.smtp_code})", provider=PROVIDER,
                          status=exc.smtp_code) from None
    except smtplib.SMTPRecipientsRefused as exc:
        codes = sorted({code for code, _ in exc.recipients.values()})
        raise _by_code(what, max(codes) if codes else 550, f"every recipient refused {codes}") from None
    except smtplib.SMTPResponseException as exc:
        raise _by_code(what, exc.smtp_code, _text(exc.smtp_error)) from None
    except smtplib.SMTPNotSupportedError as exc:
        raise PermanentError(f"smtp {what}: not supported by the server: {exc}", provider=PROVIDER) from None
    except ssl.SSLCertVerificationError as exc:
        raise PermanentError(f"smtp {what}: server certificate not trusted: {exc.verify_message}",
                             provider=PROVIDER) from None
    except (smtplib.SMTPServerDisconnected, TimeoutError, OSError) as exc:
        raise TransientError(f"smtp {what}: connection failed: {type(exc).__name__}", provider=PROVIDER) from None
    except smtplib.SMTPException as exc:
        raise PermanentError(f"smtp {what}: {type(exc).__name__}", provider=PROVIDER) from None


def _by_code(what: str, code: int, text: str) -> ProviderError:
    detail = f"smtp {what}: server answered {code} {text[:160]}"
    if 400 <= code < 500:
        return TransientError(detail, provider=PROVIDER, status=code)
    return PermanentError(detail, provider=PROVIDER, status=code)


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
