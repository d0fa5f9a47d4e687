"""What the admin must do when a provider refused our credentials for good (AuthExpired after any refresh).

A revoked refresh token, a deleted client secret or a rotated private-app token never heals by
retrying: `threadline status`, /readyz and the status page say plainly that the source must be
re-authorized, and how, for the way this source signs in. The text names config keys and commands,
never a credential.
"""

from __future__ import annotations

from threadline.config.models import (
    GmailMailbox,
    HubSpotSettings,
    ImapMailbox,
    Mailbox,
    OutlookMailbox,
    SalesforceSettings,
    Settings,
)

AUTH_ERROR = ".AuthExpired"     # the suffix of a recorded error kind ("gmail.AuthExpired")


def is_auth_error(kind: str | None) -> bool:
    """True for a recorded error kind that means the credentials were refused."""
    return kind is not None and kind.endswith(AUTH_ERROR)


def remedy(source: str, settings: Settings, connected: str | None = None) -> str:
    """"reauthorize: ..." for a source name ("crm:hubspot", "mailbox:rep@x"): what to do, for its sign-in.
    `connected` is the provider of a mailbox the rep connected through a link (gmail | outlook)."""
    if source.startswith("crm:"):
        return "reauthorize: " + _crm_remedy(settings.crm)
    address = source.split(":", 1)[1]
    if connected is not None:
        return (f"reauthorize: the rep's access to {address} was revoked or has expired (password change, access "
                f"removed, app blocked); send them a fresh link: `threadline connect link {address} --provider "
                f"{connected}` (the cursor is kept, nothing is lost)")
    box = next((b for b in settings.mailboxes if b.address == address), None)
    if box is None:
        box = next((s.mailbox_for(address, None) for s in settings.mailbox_sources if s.covers(address)), None)
    return "reauthorize: " + (_mailbox_remedy(box) if box is not None else f"renew the credentials of {address}")


def _crm_remedy(crm: HubSpotSettings | SalesforceSettings) -> str:
    if isinstance(crm, HubSpotSettings):
        return ("HubSpot refused the private-app token; create a new token (HubSpot: Settings > Integrations > "
                "Private apps) and set crm.token")
    if crm.username and crm.private_key_file:
        return (f"Salesforce refused the JWT bearer sign-in; check that {crm.username} is pre-authorized for the "
                "connected app and that its certificate matches crm.private_key_file")
    return ("Salesforce refused the refresh token (revoked or expired); issue a new one for the connected app "
            "(OAuth web-server flow) and set crm.refresh_token")


def _mailbox_remedy(box: Mailbox) -> str:
    address = box.address
    if isinstance(box, GmailMailbox):
        if box.service_account_file:
            return (f"Google refused the service account for {address}; check its domain-wide delegation "
                    "(scopes) in the Google Workspace admin console")
        return (f"Google refused the refresh token of {address} (revoked or expired); issue a new refresh token "
                "and set refresh_token")
    if isinstance(box, OutlookMailbox):
        if box.is_delegated:
            return f"run `threadline auth outlook {address}` to sign in again"
        return (f"Microsoft refused the app's client secret for {address} (expired or deleted); create a new "
                "client secret for the app in Entra ID and set client_secret")
    assert isinstance(box, ImapMailbox)
    return f"the IMAP server refused the login of {box.username}; set a new password (or oauth2_token)"

