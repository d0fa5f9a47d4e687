"""What the Google and Microsoft sign-in pages share: the open consent forms, the answers the fault middleware
asks for, reading a posted consent form back, and rendering the page with its browser cookie."""

from __future__ import annotations

from dataclasses import replace
from typing import Generic

from starlette.requests import Request
from starlette.responses import Response

from threadline.sandbox.base import SandboxContext, form_fields
from threadline.sandbox.consent_forms import ConsentForms, T
from threadline.sandbox.consent_page import ConsentPage, consent_html, error_html, page_response


class SignInPages(Generic[T]):
    """A provider's sign-in pages; `T` is its validated authorization request, kept while its form is open."""

    provider = ""            # "Google" | "Microsoft": named on every page
    stats_name = ""          # the key requests are counted under
    unauthorized_text = "Sign-in is required."

    def __init__(self, ctx: SandboxContext, cookie: str) -> None:
        self.ctx = ctx
        self.forms: ConsentForms[T] = ConsentForms(cookie)

    def reset(self) -> None:
        self.forms.clear()

    # -- shapes the fault middleware uses -------------------------------------------------------------

    def error_response(self, status: int, message: str) -> Response:
        return page_response(error_html(self.provider, f"Error {status}", message), status)

    def throttled_response(self, retry_after: float) -> Response:
        return self.error_response(429, "Too many requests. Try again later.")

    def unauthorized_response(self) -> Response:
        return self.error_response(401, self.unauthorized_text)

    # -- the consent form ------------------------------------------------------------------------------

    async def _posted(self, request: Request) -> tuple[dict[str, str], str | None, T | None]:
        """The posted form, the browser that sent it, and the request its form token stands for (None when the
        token is unknown, used, expired or was opened in another browser)."""
        self.ctx.stats.record(self.stats_name, "consent")
        form = await form_fields(request)
        browser = self.forms.browser_of(request)
        return form, browser, self.forms.take(form.get("form_token", ""), browser)

    def _render(self, auth: T, page: ConsentPage, browser: str | None, secure: bool) -> Response:
        """`page` for `auth`, with a fresh form token for this browser (its cookie set)."""
        token, browser = self.forms.open(auth, browser)
        response = page_response(consent_html(replace(page, form_token=token)))
        self.forms.set_cookie(response, browser, secure=secure)
        return response
