"""HubSpot's response shapes: error bodies, the 429 throttle body, batch envelopes.

Error bodies follow HubSpot's public API: `status`, `message`, `correlationId`,
`category` (VALIDATION_ERROR, OBJECT_NOT_FOUND, CONFLICT, ...) and optional
`context`/`errors`/`subCategory`. The throttle body carries `errorType:
RATE_LIMIT` and a `policyName`, which clients use to tell the limits apart.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from starlette.responses import JSONResponse

POLICY_MESSAGES = {
    "TEN_SECONDLY_ROLLING": "You have reached your ten_secondly_rolling limit.",
    "SECONDLY": "You have reached your secondly limit.",
    "DAILY": "You have reached your daily limit.",
}


class ApiError(Exception):
    """Raised by the simulated CRM; rendered as HubSpot's error body with `status`."""

    def __init__(self, status: int, category: str, message: str, *,
                 context: dict[str, list[str]] | None = None, sub_category: str | None = None,
                 errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.message = message
        self.context = context
        self.sub_category = sub_category
        self.errors = errors

    def body(self) -> dict[str, Any]:
        return error_body(self.category, self.message, context=self.context,
                          sub_category=self.sub_category, errors=self.errors)

    def batch_item(self) -> dict[str, Any]:
        """The per-input error inside a 207 multi-status batch answer (StandardError)."""
        return {"status": "error", "category": self.category, "message": self.message,
                "context": self.context or {}, "errors": self.errors or [], "links": {}}


def correlation_id() -> str:
    return str(uuid.uuid4())


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def error_body(category: str, message: str, *, context: dict[str, list[str]] | None = None,
               sub_category: str | None = None, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"status": "error", "message": message, "correlationId": correlation_id(),
                            "category": category}
    if sub_category:
        body["subCategory"] = sub_category
    if context:
        body["context"] = context
    if errors:
        body["errors"] = errors
    return body


def error_response(status: int, category: str, message: str) -> JSONResponse:
    return JSONResponse(error_body(category, message), status_code=status)


def category_for(status: int) -> str:
    return {400: "VALIDATION_ERROR", 401: "INVALID_AUTHENTICATION", 403: "MISSING_SCOPES",
            404: "OBJECT_NOT_FOUND", 409: "CONFLICT", 429: "RATE_LIMITS"}.get(status, "INTERNAL_ERROR")


def unauthorized() -> JSONResponse:
    """HubSpot's 401 for a missing, expired or unknown token."""
    return JSONResponse(error_body(
        "INVALID_AUTHENTICATION",
        "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find "
        "more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"), status_code=401)


def throttled(policy: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """HubSpot's 429: RATE_LIMIT body naming the policy that tripped."""
    body = {"status": "error", "message": POLICY_MESSAGES[policy], "errorType": "RATE_LIMIT",
            "correlationId": correlation_id(), "policyName": policy,
            "groupName": f"publicapi:private-app-api-calls-{policy.lower().replace('_', '-')}"}
    return JSONResponse(body, status_code=429, headers=headers)


def batch_envelope(results: list[dict[str, Any]], errors: list[ApiError], started: str) -> tuple[int, dict[str, Any]]:
    """A batch answer: 200/201 when every input worked, 207 Multi-Status with per-item errors otherwise."""
    body: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": started,
                            "completedAt": now_iso()}
    if errors:
        body["numErrors"] = len(errors)
        body["errors"] = [error.batch_item() for error in errors]
        return 207, body
    return 200, body
