"""Opening an SMTP connection (implicit TLS, STARTTLS or plain) and logging in (password or XOAUTH2)."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

Security = Literal["tls", "starttls", "none"]


@dataclass(frozen=True)
class SmtpEndpoint:
    """Where the submission server is and how the transport is protected.

    `tls` is implicit TLS (port 465), `starttls` upgrades a plain connection (587),
    `none` is plaintext (loopback tests only). Certificates are verified against
    `ssl_context` (default: the system trust store).
    """

    host: str
    port: int
    security: Security = "starttls"
    ssl_context: ssl.SSLContext | None = None
    timeout: float = 30.0

    def connect(self) -> smtplib.SMTP:
        """An open connection, TLS-protected as configured. Raises smtplib/OSError errors (translated by the caller)."""
        context = self.ssl_context or ssl.create_default_context()
        if self.security == "tls":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.security == "starttls":
            client.starttls(context=context)
            client.ehlo()
        return client


@dataclass(frozen=True)
class PasswordAuth:
    """AUTH PLAIN/LOGIN with a password (never shown in repr, logs or errors)."""

    username: str
    password: str = field(repr=False)

    def login(self, client: smtplib.SMTP) -> None:
        client.login(self.username, self.password)


@dataclass(frozen=True)
class XOAuth2Auth:
    """SASL XOAUTH2 (Gmail, Microsoft 365); `access_token` is asked for a fresh token at each login."""

    username: str
    access_token: Callable[[], str] = field(repr=False)

    def login(self, client: smtplib.SMTP) -> None:
        token = self.access_token()
        client.ehlo_or_helo_if_needed()
        client.auth("XOAUTH2", lambda challenge=None: f"user={self.username}\x01auth=Bearer {token}\x01\x01")


SmtpAuth = PasswordAuth | XOAuth2Auth
