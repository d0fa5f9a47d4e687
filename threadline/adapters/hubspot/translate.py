"""HubSpot's error signals translated into Threadline's error classes (the adapter's one boundary).

429 bodies carry `errorType: RATE_LIMIT` and a `policyName`; HubSpot sends no
Retry-After, so the wait is the policy's interval (the rate-limit interval header
for the ten-second window, one second for search's SECONDLY policy).
"""

from __future__ import annotations

from typing import Any

import httpx

from threadline.adapters.credential_help import CredentialHelp, refused
from threadline.adapters.errors import (
    NotFound,
    PermanentError,
    ProviderError,
    RateLimited,
    TransientError,
)
from threadline.adapters.http import retry_after_seconds

PROVIDER = "hubspot"
SCOPES = ("crm.objects.contacts.read", "crm.objects.contacts.write", "crm.schemas.contacts.read",
          "crm.schemas.contacts.write", "crm.objects.owners.read", "sales-email-read",
          # sync.associate: the contact's companies and deals, and the deal pipelines' closed stages
          "crm.objects.companies.read", "crm.objects.deals.read")
HELP = CredentialHelp(
    PROVIDER, credential="the private-app token (crm.token)",
    renew="HubSpot > Settings > Integrations > Private apps > the app > Auth > Rotate, or create a private app",
    grants=f"the private app these scopes (its Scopes tab): {', '.join(SCOPES)}")
POLICY_WAIT = {"SECONDLY": 1.0, "TEN_SECONDLY_ROLLING": 10.0, "DAILY": 3600.0}


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def throttle_wait(response: httpx.Response, policy: str | None) -> float:
    """Seconds to hold off after a 429: Retry-After if sent, else the policy's window."""
    explicit = retry_after_seconds(response)
    if explicit is not None:
        return explicit
    if policy == "TEN_SECONDLY_ROLLING":
        interval = response.headers.get("X-HubSpot-RateLimit-Interval-Milliseconds")
        if interval and interval.isdigit():
            return int(interval) / 1000
    return POLICY_WAIT.get(policy or "", 10.0)


def translate(response: httpx.Response) -> ProviderError | None:
    """None for success; otherwise the error meaning the engine acts on. Never includes credentials."""
    status = response.status_code
    if status < 400:
        return None
    body = _body(response)
    what = f"hubspot {status} {body.get('category') or body.get('errorType') or ''}: {body.get('message', '')}"[:300]
    kw: dict[str, Any] = {"provider": PROVIDER, "status": status}
    if status == 429:
        policy = body.get("policyName")
        return RateLimited(what + f" ({policy})", retry_after=throttle_wait(response, policy), **kw)
    if status >= 500 or status == 408:
        return TransientError(what, **kw)
    refusal = refused(HELP, status, what)
    if refusal is not None:
        return refusal
    if status == 404:
        return NotFound(what, **kw)
    return PermanentError(what, **kw)
