"""What `threadline sandbox` says when it starts: every provider it serves, the base URL and paths to point a
config at, the credentials each one accepts, and the CA to trust when it serves https."""

from __future__ import annotations

from pathlib import Path

from threadline.sandbox.google_oauth import DEFAULT_USER as GMAIL_DEFAULT_USER
from threadline.sandbox.settings import SandboxSettings

PROVIDERS = ("HubSpot", "Salesforce", "Gmail", "Microsoft Graph")


def sandbox_banner(url: str, settings: SandboxSettings, *, ca_file: Path | None = None,
                   gmail_refresh_token: str | None = None, gmail_user: str | None = None) -> list[str]:
    """The lines to print at start. `gmail_refresh_token` (and the mailbox it opens) replace the settings'
    default token when seeding issued one; `ca_file` is the test CA clients must trust under --tls-dir."""
    s = settings
    lines = [f"Threadline sandbox on {url}: {', '.join(PROVIDERS)}; every base_url is {url}"]
    if ca_file is not None:
        lines.append(f"  TLS: trust the test CA {ca_file} (ca_file in threadline.yaml; SSL_CERT_FILE or "
                     "REQUESTS_CA_BUNDLE for other clients)")
    lines += [
        "HubSpot: /crm/v3/..., /crm/v4/..., /oauth/v1/token",
        f"  private-app token: {s.hubspot_token}",
        f"  OAuth app: client id {s.hubspot_client_id}, refresh token {s.hubspot_refresh_token}",
        f"  webhooks v3 signing secret: {s.hubspot_app_secret}",
        "Salesforce: /services/data/vXX.X/... (v50.0 and later), /services/oauth2/token",
        f"  connected app: consumer key {s.salesforce_consumer_key}, consumer secret {s.salesforce_consumer_secret}",
        f"  refresh token: {s.salesforce_refresh_token} (API user {s.salesforce_username})",
        f"  session id accepted as an access token: {s.salesforce_access_token}",
        "Gmail: /gmail/v1/..., /batch/gmail/v1, /upload/gmail/v1/..., token_uri /token, auth_uri /o/oauth2/v2/auth "
        "(sign-in and consent page, PKCE), revoke /revoke, Pub/Sub and id_token certs /oauth2/v1/certs",
        f"  OAuth client: id {s.google_client_id}, secret {s.google_client_secret}",
        f"  refresh token (opens {gmail_user or GMAIL_DEFAULT_USER}): {gmail_refresh_token or s.google_refresh_token}",
        "Microsoft Graph: /v1.0/... (base_url ending in /v1.0), token /{tenant}/oauth2/v2.0/token, sign-in and consent "
        "page /{tenant}/oauth2/v2.0/authorize (PKCE), POST /v1.0/users/{id}/revokeSignInSessions (authority_host is "
        "the base URL)",
        f"  tenant id {s.graph_tenant_id} ({s.graph_tenant_domain}), client id {s.graph_client_id}, "
        f"client secret {s.graph_client_secret}",
        f"  mailbox: {s.graph_default_user}",
        "Sandbox controls: faults POST /_sandbox/faults, stats GET /_sandbox/stats, reset POST /_sandbox/reset, "
        "your own owners, contacts and mail POST /_sandbox/seed (or `threadline sandbox seed FILE`)",
    ]
    return lines
