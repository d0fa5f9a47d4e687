"""Limits and credentials the sandbox enforces. Every limit is a setting (tiers differ)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SandboxSettings:
    # Every provider request waits this long before it is served (the /_sandbox/ admin routes do not), so a
    # benchmark sees round trips like the real services' (80-150 ms) instead of loopback's. 0 = off.
    request_latency_ms: float = 0.0
    # HubSpot (developers.hubspot.com, API usage guidelines)
    hubspot_token: str = "pat-sandbox-0000"                  # private-app token the sandbox accepts
    hubspot_app_secret: str = "sandbox-app-secret"           # webhooks v3 signing secret
    hubspot_requests_per_10s: int = 190                      # Professional private app
    hubspot_search_per_second: int = 5                       # search endpoints
    hubspot_search_counts_in_window: bool = True             # searches also count in the 10-s window
    hubspot_daily_limit: int = 1_000_000
    hubspot_portal_timezone: str = "UTC"                     # the daily limit starts again at midnight here
    hubspot_rate_window_seconds: float = 10.0                # the rolling window of hubspot_requests_per_10s
    hubspot_search_result_cap: int = 10_000                  # search pages past this many results answer 400
    hubspot_client_id: str = "sandbox-hubspot-client"        # OAuth public app (POST /oauth/v1/token)
    hubspot_refresh_token: str = "sandbox-hubspot-refresh"
    # Gmail (developers.google.com/gmail/api/reference/quota)
    google_client_id: str = "sandbox-client.apps.googleusercontent.com"
    google_client_secret: str = "sandbox-google-secret"
    google_refresh_token: str = "sandbox-google-refresh"
    gmail_user_units_per_minute: int = 15_000
    # Per Google Cloud project; the sandbox is one project (every OAuth client and service account it issues).
    gmail_project_units_per_minute: int = 1_200_000
    gmail_history_retention: int = 0                          # 0 = keep all history; >0: ids older than this many records expire
    token_ttl_seconds: int = 3600
    # Google sign-in (developers.google.com/identity/protocols/oauth2/web-server): who may sign in at
    # /o/oauth2/v2/auth (any address in this Workspace domain, besides every Gmail mailbox that exists) and the
    # settings' client's registered redirect URIs (exact match; loopback ones need no registration, see below).
    google_workspace_domain: str = "example.com"
    google_redirect_uris: tuple[str, ...] = ()
    # Both sign-in pages accept any http://127.0.0.1, http://[::1] or http://localhost redirect URI unregistered.
    oauth_loopback_redirects: bool = True
    # Salesforce (REST API Developer Guide; limits are per org and edition-dependent)
    salesforce_username: str = "rep@threadline.sandbox"          # the org's API user (JWT `sub`)
    salesforce_consumer_key: str = "sandbox-sf-consumer-key"      # default connected app
    salesforce_consumer_secret: str = "sandbox-sf-consumer-secret"
    salesforce_refresh_token: str = "sandbox-sf-refresh"
    salesforce_access_token: str = "00D000000000001!sandbox-static-session"  # accepted like an issued session
    salesforce_daily_api_limit: int = 100_000                      # DailyApiRequests Max
    salesforce_query_batch_size: int = 2_000                      # records per query page (max 2,000)
    salesforce_replication_days: int = 30                         # getUpdated/getDeleted window
    # Microsoft Graph mail + identity platform (learn.microsoft.com "Outlook service limits", "JSON batching")
    graph_tenant_id: str = "4f1c2a7e-0b5d-4e8a-9c3f-5a6b7c8d9e01"
    graph_tenant_domain: str = "contoso.onmicrosoft.com"
    graph_client_id: str = "6e2d8f10-3a4b-4c5d-8e9f-a0b1c2d3e4f5"   # app registration the sandbox knows
    graph_client_secret: str = "sandbox-graph-secret"
    graph_default_user: str = "rep@contoso.example"
    graph_redirect_uris: tuple[str, ...] = ()                # the settings' app's redirect URIs (/authorize)
    graph_token_ttl_seconds: int = 3599
    graph_requests_per_window: int = 10_000                 # per app per mailbox
    graph_window_seconds: float = 600.0
    graph_mailbox_concurrency: int = 4                      # concurrent requests per app per mailbox
    graph_app_requests_per_window: int = 130_000            # Graph's global limit: per app across all tenants
    graph_app_window_seconds: float = 10.0
    graph_batch_max: int = 20                               # requests in one $batch
    graph_delta_default_page: int = 10                      # page size without Prefer: odata.maxpagesize
    graph_delta_max_page: int = 1000
