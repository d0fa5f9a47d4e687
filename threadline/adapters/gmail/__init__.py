"""Gmail mailbox adapter (google-api-python-client, history-id incremental sync).
Uses only the shared adapter helpers one level up (HTTP, retry, rate limits, records, errors)."""

from threadline.adapters.gmail.adapter import GMAIL_BASE_URL, GmailAdapter, project_limiter
from threadline.adapters.gmail.credentials import DEFAULT_SCOPES, from_refresh_token, from_service_account
from threadline.adapters.gmail.cursor import Backfill, GmailCursor

__all__ = ["GMAIL_BASE_URL", "DEFAULT_SCOPES", "Backfill", "GmailAdapter", "GmailCursor", "from_refresh_token",
           "from_service_account", "project_limiter"]
