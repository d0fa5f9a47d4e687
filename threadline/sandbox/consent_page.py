"""The browser side of the authorization-code flow, shared by the Google and Microsoft simulators.

One sign-in + consent page (which account, which scopes, Allow / Cancel), an error page for a
request that must not be redirected, the redirect back to the app (query, fragment or an
auto-posting form), and reading the form a page posts. Every value shown is HTML-escaped; the
pages cannot be framed or cached and load nothing from elsewhere.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from html import escape
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

_STYLE = """body{font-family:system-ui,sans-serif;background:#f5f6f7;color:#202124;margin:0}
main{max-width:30rem;margin:4rem auto;background:#fff;border:1px solid #dadce0;border-radius:8px;padding:2rem}
h1{font-size:1.4rem;margin-top:0}h2{font-size:1rem}label{display:block;margin:1rem 0 .3rem}
input[type=email]{width:100%;box-sizing:border-box;padding:.6rem;font-size:1rem}
.problem{color:#b3261e}.buttons{display:flex;flex-direction:row-reverse;gap:1rem;margin-top:1.5rem}
button{padding:.6rem 1.4rem;font-size:1rem;border-radius:4px;border:1px solid #dadce0;background:#fff}
button#allow{background:#1a73e8;color:#fff;border-color:#1a73e8}code{word-break:break-all}"""
_AUTO_POST = "document.forms[0].submit();"
_HEADERS = {"Cache-Control": "no-store", "Pragma": "no-cache", "X-Frame-Options": "DENY",
            "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"}
_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"


@dataclass(frozen=True)
class ConsentPage:
    """What the sign-in and consent page shows, and where it posts."""

    provider: str                         # "Google" or "Microsoft"
    client_id: str                        # the app asking
    scopes: tuple[str, ...]
    action: str                           # path the form posts to
    form_token: str
    email: str = ""                       # prefilled: login_hint, or what was typed before
    accounts: tuple[str, ...] = ()        # accounts the sandbox knows, offered as suggestions
    problem: str = ""                     # why the last answer was not accepted


def consent_html(page: ConsentPage) -> str:
    """The page: account email, requested scopes, Allow and Cancel (the form token in a hidden field)."""
    options = "".join(f'<option value="{escape(a)}">' for a in page.accounts)
    scopes = "".join(f"<li><code>{escape(s)}</code></li>" for s in page.scopes)
    problem = f'<p id="problem" class="problem" role="alert">{escape(page.problem)}</p>' if page.problem else ""
    body = f"""<h1>Sign in with {escape(page.provider)}</h1>
<p>to continue to <strong id="client">{escape(page.client_id)}</strong></p>
<form method="post" action="{escape(page.action)}">
<input type="hidden" name="form_token" value="{escape(page.form_token)}">
<label for="email">Email</label>
<input id="email" name="email" type="email" value="{escape(page.email)}" list="accounts" autocomplete="username"
 required>
<datalist id="accounts">{options}</datalist>{problem}
<h2>{escape(page.client_id)} wants to:</h2>
<ul id="scopes">{scopes}</ul>
<div class="buttons">
<button type="submit" id="allow" name="decision" value="allow">Allow</button>
<button type="submit" id="cancel" name="decision" value="deny" formnovalidate>Cancel</button>
</div>
</form>"""
    return _document(f"Sign in - {page.provider} (Threadline sandbox)", body)


def error_html(provider: str, title: str, detail: str) -> str:
    """A provider's error page: the request is refused and the browser is not sent back to the app."""
    body = (f'<h1>{escape(provider)}: the request was refused</h1>\n<h2 id="error">{escape(title)}</h2>\n'
            f'<p id="detail">{escape(detail)}</p>')
    return _document(f"{title} - {provider} (Threadline sandbox)", body)


def page_response(html: str, status: int = 200) -> Response:
    """A sign-in or error page that cannot be cached, framed, or load anything from elsewhere."""
    return HTMLResponse(html, status_code=status, headers={**_HEADERS, "Content-Security-Policy": _CSP})


def redirect_back(redirect_uri: str, params: dict[str, str | None], mode: str = "query") -> Response:
    """Send the browser to the app: params in the query (kept after the URI's own), the fragment, or a form
    POSTed by the page (`form_post`). None values are left out."""
    fields = {k: v for k, v in params.items() if v is not None}
    if mode == "form_post":
        return _form_post(redirect_uri, fields)
    parts = urlsplit(redirect_uri)
    if mode == "fragment":
        return _redirect(urlunsplit(parts._replace(fragment=urlencode(fields))))
    query = urlencode([*parse_qsl(parts.query, keep_blank_values=True), *fields.items()])
    return _redirect(urlunsplit(parts._replace(query=query)))


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def _redirect(url: str) -> Response:
    return RedirectResponse(url, status_code=302, headers=_HEADERS)


def _form_post(action: str, fields: dict[str, str]) -> Response:
    inputs = "".join(f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in fields.items())
    body = (f'<form method="post" action="{escape(action)}">{inputs}<noscript><button type="submit">Continue'
            f"</button></noscript></form><script>{_AUTO_POST}</script>")
    script = base64.b64encode(hashlib.sha256(_AUTO_POST.encode()).digest()).decode()
    return HTMLResponse(_document("Working...", body), headers={
        **_HEADERS, "Content-Security-Policy": f"{_CSP}; script-src 'sha256-{script}'"})


def _document(title: str, body: str) -> str:
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f'<meta name="viewport" content="width=device-width"><style>{_STYLE}</style></head>\n'
            f"<body><main>\n{body}\n</main></body></html>\n")
