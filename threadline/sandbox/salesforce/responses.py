"""Salesforce's response shapes: error arrays, OAuth errors, the limit header.

REST errors are JSON arrays of `{"message", "errorCode", "fields"}`; OAuth
errors are `{"error", "error_description"}`; every API response carries
`Sforce-Limit-Info: api-usage=used/limit`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.responses import JSONResponse

STATUS_CODES = {400: "INVALID_REQUEST", 401: "INVALID_SESSION_ID", 403: "INSUFFICIENT_ACCESS",
                404: "NOT_FOUND", 409: "CONFLICT", 500: "UNKNOWN_EXCEPTION", 503: "SERVER_UNAVAILABLE"}


class SfError(Exception):
    """Raised by the simulated org; rendered as Salesforce's error array with `status`."""

    def __init__(self, status: int, code: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or []

    def item(self) -> dict[str, Any]:
        """The error as an element of a REST error array."""
        return {"message": self.message, "errorCode": self.code, "fields": self.fields}

    def result_error(self) -> dict[str, Any]:
        """The error inside an sObject Collections / upsert result (`statusCode`, not `errorCode`)."""
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse([{"message": message, "errorCode": code}], status_code=status, headers=headers)


def session_expired() -> JSONResponse:
    """The 401 for an expired, revoked or unknown access token."""
    return error_response(401, "INVALID_SESSION_ID", "Session expired or invalid")


def limit_exceeded(headers: dict[str, str] | None = None) -> JSONResponse:
    """Salesforce's answer once the org's daily API allocation is spent (it sends no Retry-After)."""
    return error_response(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", headers)


def oauth_error(error: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def sf_datetime(value: datetime) -> str:
    """Salesforce's JSON datetime form: 2024-05-01T12:00:00.000+0000."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"
