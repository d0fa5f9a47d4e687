"""The one place IMAP failures become Threadline provider errors.

Socket errors, timeouts and aborted connections are transient (reconnect and
retry); a refused login is AuthExpired unless the server says it is a temporary
failure; a missing folder is NotFound; other NO/BAD answers are permanent.
Messages never carry the password.
"""

from __future__ import annotations

import imaplib
import ssl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from imapclient.exceptions import IMAPClientAbortError, IMAPClientError, LoginError

from threadline.adapters.errors import AuthExpired, NotFound, PermanentError, ProviderError, TransientError

PROVIDER = "imap"
_TEMPORARY_CODES = ("[UNAVAILABLE]", "[SERVERBUG]", "[INUSE]", "[LIMIT]")


class UidValidityChanged(ProviderError):
    """The folder's UIDVALIDITY changed between two commands of one sync step."""


@contextmanager
def imap_errors(what: str, secrets: Sequence[str] = ()) -> Iterator[None]:
    """Run IMAP calls, re-raising failures as ProviderError subclasses (secrets redacted)."""
    try:
        yield
    except ProviderError:
        raise
    except LoginError as exc:
        text = _redact(_text(exc), secrets)
        if _is_temporary(text):
            raise TransientError(f"imap {what}: temporary login failure: {text}", provider=PROVIDER) from None
        raise AuthExpired(f"imap {what}: login refused: {text}", provider=PROVIDER) from None
    except ssl.SSLCertVerificationError as exc:
        raise PermanentError(f"imap {what}: server certificate not trusted: {exc.verify_message}",
                             provider=PROVIDER) from None
    except (IMAPClientAbortError, imaplib.IMAP4.abort, TimeoutError, OSError, EOFError) as exc:
        raise TransientError(f"imap {what}: connection failed: {type(exc).__name__}: "
                             f"{_redact(_text(exc), secrets)}", provider=PROVIDER) from None
    except (IMAPClientError, imaplib.IMAP4.error) as exc:
        raise _answer_error(what, _redact(_text(exc), secrets)) from None


def _answer_error(what: str, text: str) -> ProviderError:
    if "[NONEXISTENT]" in text or "doesn't exist" in text.lower():
        return NotFound(f"imap {what}: folder not found: {text}", provider=PROVIDER)
    if _is_temporary(text):
        return TransientError(f"imap {what}: {text}", provider=PROVIDER)
    return PermanentError(f"imap {what}: {text}", provider=PROVIDER)


def _is_temporary(text: str) -> bool:
    return any(code in text.upper() for code in _TEMPORARY_CODES)


def _text(exc: BaseException) -> str:
    arg = exc.args[0] if exc.args else ""
    return arg.decode(errors="replace") if isinstance(arg, bytes) else str(arg)


def _redact(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
