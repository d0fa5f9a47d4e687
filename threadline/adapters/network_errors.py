"""What went wrong on the way to a provider, in words an admin can act on: which host and port could not be
reached, and why (refused, not resolved, timed out, certificate not trusted), with the setting to look at."""

from __future__ import annotations

import httpx


def unreachable(exc: Exception, url: httpx.URL) -> str:
    """"cannot reach api.hubapi.com:443 (connection refused): check the provider's base_url" and the like."""
    host, port = url.host or "?", url.port or (443 if url.scheme == "https" else 80)
    text = str(exc).lower()
    if "certificate verify failed" in text or "certificate_verify_failed" in text:
        return f"certificate verify failed for {host}: set ca_file or fix the server's certificate"
    if isinstance(exc, httpx.TimeoutException):
        why = "timed out"
    elif "refused" in text:
        why = "connection refused"
    elif "name or service not known" in text or "nodename nor servname" in text or "name resolution" in text:
        why = "the name does not resolve"
    elif isinstance(exc, httpx.RemoteProtocolError):
        why = "the connection closed without an answer"
    else:
        why = type(exc).__name__
    return f"cannot reach {host}:{port} ({why}): check the base_url (and ca_file) in the config"
