"""Opening an IMAP connection (transport security) and logging in (password or XOAUTH2).

Connecting and logging in are separate so tests and callers can inject the
connection factory (any `() -> IMAPClient`) while credentials stay here.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from imapclient import IMAPClient

Security = Literal["tls", "starttls", "none"]
ConnectionFactory = Callable[[], IMAPClient]


@dataclass(frozen=True)
class ImapEndpoint:
    """Where the server is and how the transport is protected.

    `tls` is implicit TLS (port 993), `starttls` upgrades a plain connection
    before login, `none` is plaintext (loopback tests only). The certificate is
    always verified against `ssl_context` (default: the system trust store).
    """

    host: str
    port: int
    security: Security = "tls"
    ssl_context: ssl.SSLContext | None = None
    timeout: float = 30.0

    def connect(self) -> IMAPClient:
        """Open a connection ready for login. Raises OSError/ssl errors (translated by the caller)."""
        context = self.ssl_context or ssl.create_default_context()
        client = IMAPClient(self.host, self.port, ssl=self.security == "tls",
                            ssl_context=context if self.security == "tls" else None, timeout=self.timeout)
        if self.security == "starttls":
            client.starttls(context)
        return client


def ssl_context_for(ca_file: str | None) -> ssl.SSLContext:
    """A verifying client context; `ca_file` adds a private CA (self-hosted servers, tests)."""
    return ssl.create_default_context(cafile=ca_file)


@dataclass(frozen=True)
class PasswordLogin:
    """LOGIN with a password (never shown in repr, logs or errors)."""

    username: str
    password: str = field(repr=False)

    def login(self, client: IMAPClient) -> None:
        client.login(self.username, self.password)

    def secrets(self) -> tuple[str, ...]:
        return (self.password,)


@dataclass(frozen=True)
class XOAuth2Login:
    """SASL XOAUTH2 (Gmail, Microsoft 365); `access_token` is asked for a fresh token at each login."""

    username: str
    access_token: Callable[[], str] = field(repr=False)

    def login(self, client: IMAPClient) -> None:
        client.oauth2_login(self.username, self.access_token())

    def secrets(self) -> tuple[str, ...]:
        return ()


Credentials = PasswordLogin | XOAuth2Login
