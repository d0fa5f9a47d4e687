"""What went wrong on the way to a provider, in words an admin can act on: which host and port could not be
reached, and why (refused, not resolved, timed out, certificate not trusted), with the setting to look at.

Reads the exceptions of every client library the adapters use (httpx, requests under MSAL, httplib2 and
google-auth under the Gmail client): by type where it says enough, by its text otherwise.
"""

from __future__ import annotations

import re

import httpx

_HOST_IN_TEXT = re.compile(r"host='([^']+)', port=(\d+)")     # urllib3's "HTTPSConnectionPool(host='x', port=443)"


def unreachable(exc: BaseException, url: httpx.URL | str) -> str:
    """"cannot reach api.hubapi.com:443 (connection refused): check ..." for a request to `url`."""
    url = httpx.URL(url)
    return network_problem(exc, url.host or None, url.port or (443 if url.scheme == "https" else 80))


def network_problem(exc: BaseException, host: str | None = None, port: int | None = None) -> str:
    """The same sentence for any library's exception; the host and port come from the caller or the text."""
    said = " ".join(str(part) for part in (exc, exc.__cause__, exc.__context__) if part is not None)
    text = said.lower()
    if host is None and (found := _HOST_IN_TEXT.search(said)):
        host, port = found.group(1), int(found.group(2))
    where = f"{host}:{port}" if host and port else host or "the provider"
    if "certificate verify failed" in text or "certificate_verify_failed" in text:
        return f"certificate verify failed for {host or 'the provider'}: set ca_file or fix the server's certificate"
    if isinstance(exc, httpx.TimeoutException) or "timed out" in text or "timeout" in type(exc).__name__.lower():
        why = "timed out"
    elif "refused" in text:
        why = "connection refused"
    elif "name or service not known" in text or "nodename nor servname" in text or "name resolution" in text \
            or "failed to resolve" in text:
        why = "the name does not resolve"
    elif isinstance(exc, httpx.RemoteProtocolError):
        why = "the connection closed without an answer"
    else:
        why = type(exc).__name__
    return f"cannot reach {where} ({why}): check the base_url (and ca_file) in the config"
