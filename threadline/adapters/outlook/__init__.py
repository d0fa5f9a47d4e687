"""Outlook / Microsoft 365 mailbox adapter (MSAL + httpx on Microsoft Graph, delta links per folder).
Uses only the shared adapter helpers one level up (HTTP, retry, rate limits, records, errors)."""

from threadline.adapters.outlook.adapter import GRAPH_BASE_URL, OutlookAdapter, app_limiter
from threadline.adapters.outlook.auth import (
           AUTHORITY_HOST,
           BearerAuth,
           ClientCredentials,
           Delegated,
           TokenSource,
)
from threadline.adapters.outlook.cursor import FolderCursor, GraphCursor
from threadline.adapters.outlook.token_cache import (
           KEY_ENV,
           EncryptedTokenCache,
           PersistentTokenCache,
           StoredTokenCache,
           import_file_once,
)

__all__ = ["AUTHORITY_HOST", "GRAPH_BASE_URL", "KEY_ENV", "BearerAuth", "ClientCredentials", "Delegated",
           "EncryptedTokenCache", "FolderCursor", "GraphCursor", "OutlookAdapter", "PersistentTokenCache",
           "StoredTokenCache", "TokenSource", "app_limiter", "import_file_once"]
