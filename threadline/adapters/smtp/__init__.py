"""Sending over SMTP for IMAP mailboxes (smtplib), with a copy APPENDed to the IMAP Sent folder.
Uses the shared adapter helpers one level up, and threadline.crashpoints (where a test may kill a send)."""

from threadline.adapters.smtp.connection import PasswordAuth, SmtpEndpoint, XOAuth2Auth
from threadline.adapters.smtp.sender import SmtpSender

__all__ = ["PasswordAuth", "SmtpEndpoint", "SmtpSender", "XOAuth2Auth"]
