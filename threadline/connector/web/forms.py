"""Reading a small HTML form post (the login, the connect and disconnect buttons, the admin's link button)."""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.requests import Request

#: More than any of our forms sends; the rest of a longer body is never read.
FORM_BYTES = 8192


async def read_form(request: Request, limit: int = FORM_BYTES) -> dict[str, str]:
    """The form's fields (first value of each), from at most `limit` bytes of the body: read as a stream, so a
    huge body costs nothing. Starlette's request.form() would need python-multipart."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) >= limit:
            break
    return {name: values[0] for name, values in parse_qs(body[:limit].decode("utf-8", "replace")).items()}
