"""Simulated Gmail API v1 (see `GmailSandbox`)."""

from threadline.sandbox.gmail.sandbox import GmailSandbox

__all__ = ["GmailSandbox"]
