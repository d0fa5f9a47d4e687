"""Simulated Gmail API v1 (see `GmailSandbox`).
Part of the sandbox: imports nothing of Threadline outside threadline.sandbox."""

from threadline.sandbox.gmail.sandbox import GmailSandbox

__all__ = ["GmailSandbox"]
