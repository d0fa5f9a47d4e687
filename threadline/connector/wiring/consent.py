"""The consent flows for connect links, and the binding of a mailbox a rep connected, from settings.

Redirect URIs are fixed by the public URL: `<server.public_url>/connect/callback/gmail` and `.../outlook`,
exactly what the admin registers at Google and Microsoft (providers compare them byte for byte).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import timedelta

import structlog

from threadline.adapters.consent import ConsentFlow
from threadline.adapters.gmail import consent as gmail_consent
from threadline.adapters.outlook import consent as outlook_consent
from threadline.adapters.token_store import TokenStore
from threadline.config.models import GmailMailbox, OutlookMailbox, Settings
from threadline.sync.mailboxes.connect_links import (
    CONNECT,
    DISCONNECT,
    connected_row,
    disconnected,
    make_link,
)
from threadline.sync.store.database import Store
from threadline.sync.store.tables import utcnow

log = structlog.get_logger("threadline.connect")


def sequences_send(settings: Settings) -> bool:
    """Whether any sequence sends email (then connected mailboxes are asked for the send permission too)."""
    return any(step.kind == "email" for seq in settings.rules.sequences for step in seq.steps)


def redirect_uri(settings: Settings, provider: str) -> str:
    return f"{(settings.server.public_url or '').rstrip('/')}/connect/callback/{provider}"


def consent_flows(settings: Settings, tokens: TokenStore) -> dict[str, ConsentFlow]:
    """The flow of each provider under `connect:` (none configured: empty)."""
    flows: dict[str, ConsentFlow] = {}
    sends = sequences_send(settings)
    google, microsoft = settings.connect.gmail, settings.connect.outlook
    if google is not None:
        flows["gmail"] = gmail_consent.GmailConsent(
            google.client_id, google.client_secret.get_secret_value(), redirect_uri(settings, "gmail"), tokens,
            scopes=gmail_consent.consent_scopes(sends), auth_uri=google.auth_uri, token_uri=google.token_uri,
            revoke_uri=google.revoke_uri, base_url=google.base_url,
            ca_file=str(google.ca_file) if google.ca_file else None)
    if microsoft is not None:
        flows["outlook"] = outlook_consent.OutlookConsent(
            microsoft.tenant, microsoft.client_id, microsoft.client_secret.get_secret_value(),
            redirect_uri(settings, "outlook"), tokens, scopes=outlook_consent.consent_scopes(sends),
            authority_host=microsoft.authority_host, ca_file=str(microsoft.ca_file) if microsoft.ca_file else None)
    return flows


def connected_mailbox(settings: Settings, address: str, kind: str, owner_id: str | None,
                      tokens: TokenStore) -> GmailMailbox | OutlookMailbox | None:
    """The mailbox settings of a connected mailbox: the `connect:` client with the rep's stored tokens.
    None when the tokens are gone (disconnected) or `connect:` no longer has the provider."""
    if kind == "gmail" and (google := settings.connect.gmail) is not None:
        text = tokens.get(gmail_consent.stored_name(address))
        if not text:
            return None
        return GmailMailbox(kind="gmail", address=address, owner_id=owner_id, client_id=google.client_id,
                            client_secret=google.client_secret, refresh_token=json.loads(text)["refresh_token"],
                            token_uri=google.token_uri, base_url=google.base_url, ca_file=google.ca_file)
    if kind == "outlook" and (microsoft := settings.connect.outlook) is not None:
        if not tokens.get(outlook_consent.stored_name(address)):
            return None
        return OutlookMailbox(kind="outlook", address=address, owner_id=owner_id, tenant=microsoft.tenant,
                              client_id=microsoft.client_id, client_secret=microsoft.client_secret, delegated=True,
                              authority_host=microsoft.authority_host, base_url=microsoft.base_url,
                              ca_file=microsoft.ca_file)
    return None


class LinkRefused(ValueError):
    """A connect link that must not be made; the message says why and what to do instead."""


def make_connect_link(settings: Settings, store: Store, address: str, provider: str | None, *,
                      lifetime: timedelta | None = None, aliases: Sequence[str] = (),
                      purpose: str = CONNECT) -> str:
    """A new single-use link for `address` (connect or disconnect), as a URL under server.public_url. A
    disconnect link's provider (None) is the connected mailbox's. Raises LinkRefused when the provider is not
    under `connect:`, the address is an explicit mailbox, or a disconnect link's mailbox is not connected."""
    address = address.strip().lower()
    if purpose == DISCONNECT:
        with store.session() as session:
            row = connected_row(session, address)
            provider = row.kind if row is not None else None
        if provider is None:
            raise LinkRefused(f"{address} is not a connected mailbox (threadline mailboxes lists them)")
    assert provider is not None
    if provider not in settings.connect.providers:
        configured = ", ".join(settings.connect.providers) or "none"
        raise LinkRefused(f"connect.{provider} is not configured (configured: {configured}): add the OAuth client "
                          f"under connect.{provider} in the config (README: Connect your team)")
    if "@" not in address:
        raise LinkRefused(f"{address!r} is not an email address")
    if any(box.address == address for box in settings.mailboxes):
        raise LinkRefused(f"{address} is configured under mailboxes:, which wins over a connected mailbox; "
                          "remove that entry first if the rep should connect it themselves")
    with store.session() as session:
        token = make_link(session, address, provider, lifetime or settings.connect.link_lifetime, purpose=purpose,
                          aliases=tuple(a.strip().lower() for a in aliases if a.strip()))
    return link_url(settings, purpose, token)


def link_url(settings: Settings, purpose: str, token: str) -> str:
    """The URL a connect or disconnect link's token is opened at, under server.public_url."""
    base = (settings.server.public_url or "").rstrip("/")
    return f"{base}/{'connect' if purpose == CONNECT else 'disconnect'}/{token}"


def disconnect_mailbox(store: Store, flows: Mapping[str, ConsentFlow], address: str, reason: str) -> bool:
    """Drop a connected mailbox's tokens (revoked at the provider where it can) and stop it; its cursor and
    stored mail decisions stay. False when it was not connected."""
    with store.session() as session:
        row = connected_row(session, address)
        kind = row.kind if row is not None else None
    if kind is None:
        return False
    flow = flows.get(kind)
    if flow is not None:
        flow.forget(address)
    with store.session() as session:
        disconnected(session, address, f"{reason} on {utcnow():%Y-%m-%d}")
    log.info("connect.disconnected", mailbox=address, reason=reason)
    return True
