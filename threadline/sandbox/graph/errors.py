"""Graph error bodies: `{"error": {"code", "message", "innerError": {"date", "request-id", "client-request-id"}}}`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any


class GraphError(Exception):
    """Raised by handlers; becomes a Graph-shaped error response."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        request_id = str(uuid.uuid4())
        return {"error": {"code": self.code, "message": self.message, "innerError": {
            "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "request-id": request_id,
            "client-request-id": request_id}}}


def unauthenticated(message: str = "Access token is empty.") -> GraphError:
    return GraphError(401, "InvalidAuthenticationToken", message, {
        "WWW-Authenticate": 'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/'
                            'authorize", client_id="00000003-0000-0000-c000-000000000000"'})


def access_denied() -> GraphError:
    return GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")


def not_found(what: str = "The specified object was not found in the store.") -> GraphError:
    return GraphError(404, "ErrorItemNotFound", what)


def mailbox_not_enabled() -> GraphError:
    """What Graph answers under `/users/{id}/...` for a directory user with no Exchange Online mailbox (no
    licence, inactive, soft-deleted, or hosted on-premises)."""
    return GraphError(404, "MailboxNotEnabledForRESTAPI",
                      "The mailbox is either inactive, soft-deleted, or is hosted on-premise.")


def conflict(message: str) -> GraphError:
    return GraphError(409, "ErrorDuplicate", message)


def bad_request(message: str, code: str = "BadRequest") -> GraphError:
    return GraphError(400, code, message)


def throttled(retry_after: int, code: str = "ApplicationThrottled",
              message: str = "Application is over its MailboxRequests limit.") -> GraphError:
    return GraphError(429, code, message, {"Retry-After": str(retry_after)})


def sync_state_not_found(generation: int) -> GraphError:
    return GraphError(410, "SyncStateNotFound",
                      f"The sync state generation is not found; generation={generation};[highest={generation + 1}].")
