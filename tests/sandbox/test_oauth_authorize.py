"""The browser half of the authorization-code flows, driven by the providers' own clients, unmodified.

google-auth-oauthlib's `Flow` (Google) and MSAL's auth-code flow (Microsoft) build the authorization URL
and redeem the code; httpx plays the user's browser: it opens the URL, reads the sign-in form, answers it
and reads where the 302 sends it. A last test does the same in headless chromium. Both run over TLS:
oauthlib refuses http endpoints and MSAL http authorities.
"""

from __future__ import annotations

import functools
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

import google_auth_httplib2
import httplib2
import httpx
import msal
import pytest
import requests
from google.auth.exceptions import RefreshError
from google.auth.transport.requests import Request as GoogleRequest
from google.oauth2 import id_token
from google_auth_oauthlib.flow import Flow
from googleapiclient.discovery import build
from oauthlib.oauth2.rfc6749.errors import AccessDeniedError, InvalidGrantError
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from tests.fixtures.availability import server_missing
from tests.fixtures.chromium import CHROMIUM, CHROMIUM_ARGS
from threadline.sandbox.auth_codes import AuthCode, AuthCodes, CodeProblem, CodeRejected
from threadline.sandbox.pkce import s256, verifier_matches
from threadline.sandbox.server import SandboxServer

READONLY = "https://www.googleapis.com/auth/gmail.readonly"
GOOGLE_CALLBACK = "https://threadline.example/oauth/google/callback"       # #17's callback on the public URL
MS_CALLBACK = "https://threadline.example/oauth/microsoft/callback"
ANN = "ann@acme.example"                       # a Gmail mailbox outside the Workspace domain: exists once mailed
NEW_REP = "new.rep@example.com"                # no mailbox yet, but in the Workspace domain (example.com)
MS_REP = "rep@contoso.example"

#: Connections opened by a test, closed after it: an idle TLS keep-alive connection holds up server shutdown.
OPEN: list[Any] = []


@pytest.fixture
def sandbox(tls_sandbox: SandboxServer) -> Iterator[SandboxServer]:
    tls_sandbox.gmail.oauth.register_redirect_uri(tls_sandbox.settings.google_client_id, GOOGLE_CALLBACK)
    tls_sandbox.graph.identity.register_redirect_uri(tls_sandbox.settings.graph_client_id, MS_CALLBACK)
    yield tls_sandbox
    while OPEN:
        OPEN.pop().close()


def ca(sandbox: SandboxServer) -> str:
    assert sandbox.tls is not None
    return str(sandbox.tls.ca_cert)


def browser(sandbox: SandboxServer) -> httpx.Client:
    """The user's browser: keeps cookies, follows no redirect (the test reads where it would go)."""
    client = httpx.Client(verify=ssl.create_default_context(cafile=ca(sandbox)), follow_redirects=False, timeout=30)
    OPEN.append(client)
    return client


def requests_session(sandbox: SandboxServer) -> requests.Session:
    """A requests transport trusting the sandbox CA (per request: REQUESTS_CA_BUNDLE would win otherwise)."""
    session = requests.Session()
    session.request = functools.partial(session.request, verify=ca(sandbox))  # type: ignore[method-assign]
    OPEN.append(session)
    return session


def sign_in_form(page: httpx.Response) -> tuple[str, dict[str, str]]:
    """The consent form's absolute action and its fields (the hidden form token, the prefilled email)."""
    assert page.status_code == 200, page.text
    form = HTMLParser(page.text).css_first("form")
    fields = {str(i.attributes["name"]): str(i.attributes.get("value") or "") for i in form.css("input")}
    return urljoin(str(page.url), str(form.attributes["action"])), fields


def consent(http: httpx.Client, url: str, email: str, decision: str = "allow") -> httpx.Response:
    """Open the authorization URL, sign in as `email` and press Allow (or Cancel): the provider's answer."""
    action, fields = sign_in_form(http.get(url))
    return http.post(action, data={**fields, "email": email, "decision": decision})


def query_of(location: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(location).query))


# -- Google -------------------------------------------------------------------------------------------------


def google_flow(sandbox: SandboxServer, scopes: tuple[str, ...] = (READONLY,),
                redirect_uri: str = GOOGLE_CALLBACK) -> Flow:
    s = sandbox.settings
    config = {"web": {"client_id": s.google_client_id, "client_secret": s.google_client_secret,
                      "auth_uri": f"{sandbox.url}/o/oauth2/v2/auth", "token_uri": f"{sandbox.url}/token",
                      "redirect_uris": [redirect_uri]}}
    flow = Flow.from_client_config(config, scopes=list(scopes), redirect_uri=redirect_uri)
    OPEN.append(flow.oauth2session)
    return flow


def google_consent(sandbox: SandboxServer, flow: Flow, email: str, **params: str) -> str:
    """Sign in through the browser; returns where Google sends it back (the authorization response)."""
    url, _state = flow.authorization_url(login_hint=email, **params)
    answer = consent(browser(sandbox), url, email)
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


def gmail_profile(sandbox: SandboxServer, credentials: Any) -> dict[str, Any]:
    http = google_auth_httplib2.AuthorizedHttp(credentials, http=httplib2.Http(ca_certs=ca(sandbox)))
    OPEN.append(http.http)
    gmail = build("gmail", "v1", http=http, static_discovery=True, client_options={"api_endpoint": sandbox.url})
    return dict(gmail.users().getProfile(userId="me").execute())


def test_google_flow_signs_in_the_chosen_account_and_opens_its_mailbox(sandbox):
    sandbox.gmail.deliver(ANN, b"From: buyer@customer.example\r\nTo: ann@acme.example\r\nSubject: Hi\r\n\r\nHello\r\n")
    flow = google_flow(sandbox)
    url, state = flow.authorization_url(access_type="offline", login_hint=ANN, prompt="consent")
    http = browser(sandbox)
    action, fields = sign_in_form(http.get(url))
    assert fields["email"] == ANN and fields["form_token"]
    answer = http.post(action, data={**fields, "decision": "allow"})
    assert answer.status_code == 302 and answer.headers["location"].startswith(GOOGLE_CALLBACK + "?")
    back = query_of(answer.headers["location"])
    assert back["state"] == state and back["scope"] == READONLY and back["code"]

    token = flow.fetch_token(authorization_response=answer.headers["location"], verify=ca(sandbox))
    assert token["refresh_token"] and token["access_token"] and token["scope"] == [READONLY]
    profile = gmail_profile(sandbox, flow.credentials)
    assert profile["emailAddress"] == ANN and profile["messagesTotal"] == 1

    credentials = flow.credentials
    credentials.refresh(GoogleRequest(requests_session(sandbox)))            # grant_type=refresh_token at /token
    assert credentials.token != token["access_token"]
    assert gmail_profile(sandbox, credentials)["emailAddress"] == ANN


def test_google_code_is_single_use_and_needs_its_pkce_verifier(sandbox):
    flow = google_flow(sandbox)
    response = google_consent(sandbox, flow, NEW_REP, access_type="offline")
    flow.fetch_token(authorization_response=response, verify=ca(sandbox))
    with pytest.raises(InvalidGrantError):                                   # the same code again
        flow.fetch_token(authorization_response=response, verify=ca(sandbox))

    wrong = google_flow(sandbox)
    response = google_consent(sandbox, wrong, NEW_REP)
    with pytest.raises(InvalidGrantError, match="Invalid code verifier"):
        wrong.fetch_token(authorization_response=response, code_verifier="x" * 64, verify=ca(sandbox))

    missing = google_flow(sandbox)
    code = query_of(google_consent(sandbox, missing, NEW_REP))["code"]
    s = sandbox.settings
    answer = browser(sandbox).post(f"{sandbox.url}/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": GOOGLE_CALLBACK,
        "client_id": s.google_client_id, "client_secret": s.google_client_secret})
    assert answer.status_code == 400
    assert answer.json() == {"error": "invalid_grant", "error_description": "Missing code verifier."}


def test_google_cancel_sends_access_denied_back_to_the_app(sandbox):
    flow = google_flow(sandbox)
    url, state = flow.authorization_url(login_hint=NEW_REP)
    answer = consent(browser(sandbox), url, NEW_REP, decision="deny")
    assert answer.status_code == 302
    assert query_of(answer.headers["location"]) == {"error": "access_denied", "state": state}
    with pytest.raises(AccessDeniedError):
        flow.fetch_token(authorization_response=answer.headers["location"], verify=ca(sandbox))


@pytest.mark.parametrize(("change", "shown"), [
    ({"redirect_uri": "https://attacker.example/callback"}, "Error 400: redirect_uri_mismatch"),
    ({"client_id": "someone-else.apps.googleusercontent.com"}, "Error 401: invalid_client"),
    ({"scope": f"{READONLY} https://www.googleapis.com/auth/drive"}, "Error 400: invalid_scope"),
    ({"code_challenge_method": "S512"}, "Error 400: invalid_request"),
])
def test_google_refuses_a_bad_request_with_an_error_page_and_no_redirect(sandbox, change, shown):
    url, _ = google_flow(sandbox).authorization_url()
    params = {**query_of(url), **change}
    page = browser(sandbox).get(f"{sandbox.url}/o/oauth2/v2/auth", params=params)
    assert page.status_code == 400 and "location" not in page.headers
    assert HTMLParser(page.text).css_first("#error").text() == shown
    assert "<form" not in page.text


def test_google_accepts_loopback_redirects_unregistered_and_the_older_auth_path(sandbox):
    flow = google_flow(sandbox, redirect_uri="http://127.0.0.1:8123/callback")
    url, _ = flow.authorization_url()
    older = url.replace("/o/oauth2/v2/auth", "/o/oauth2/auth")
    answer = consent(browser(sandbox), older, NEW_REP)
    assert answer.status_code == 302 and answer.headers["location"].startswith("http://127.0.0.1:8123/callback?code=")


def test_google_sign_in_needs_a_workspace_account(sandbox):
    flow = google_flow(sandbox)
    url, _ = flow.authorization_url()
    http = browser(sandbox)
    action, fields = sign_in_form(http.get(url))
    again = http.post(action, data={**fields, "email": "stranger@elsewhere.example", "decision": "allow"})
    assert again.status_code == 200
    assert HTMLParser(again.text).css_first("#problem").text() == "Couldn't find your Google Account"
    action, fields = sign_in_form(again)                                      # a fresh form token
    assert http.post(action, data={**fields, "email": NEW_REP, "decision": "allow"}).status_code == 302


def test_consent_form_answers_once_and_only_in_the_browser_that_opened_it(sandbox):
    url, _ = google_flow(sandbox).authorization_url()
    victim, attacker = browser(sandbox), browser(sandbox)
    action, fields = sign_in_form(victim.get(url))
    sign_in_form(attacker.get(url))                       # the attacker holds a valid cookie of its own
    lifted = attacker.post(action, data={**fields, "email": NEW_REP, "decision": "allow"})
    assert lifted.status_code == 400 and "location" not in lifted.headers   # another browser's cookie
    assert victim.post(action, data={**fields, "email": NEW_REP, "decision": "allow"}).status_code == 400

    action, fields = sign_in_form(victim.get(url))
    assert victim.post(action, data={**fields, "email": NEW_REP, "decision": "allow"}).status_code == 302
    assert victim.post(action, data={**fields, "email": NEW_REP, "decision": "allow"}).status_code == 400


def test_google_openid_scopes_bring_an_id_token_signed_with_googles_published_key(sandbox):
    flow = google_flow(sandbox, scopes=("openid", "https://www.googleapis.com/auth/userinfo.email", READONLY))
    response = google_consent(sandbox, flow, NEW_REP, access_type="online")
    token = flow.fetch_token(authorization_response=response, verify=ca(sandbox))
    assert "refresh_token" not in token                                       # online access: no refresh token
    claims = id_token.verify_token(token["id_token"], GoogleRequest(requests_session(sandbox)),
                                   audience=sandbox.settings.google_client_id,
                                   certs_url=f"{sandbox.url}/oauth2/v1/certs")
    assert claims["email"] == NEW_REP and claims["email_verified"] is True
    assert claims["iss"] == "https://accounts.google.com"


def test_google_revoke_ends_the_grant(sandbox):
    flow = google_flow(sandbox)
    token = flow.fetch_token(authorization_response=google_consent(sandbox, flow, NEW_REP, access_type="offline"),
                             verify=ca(sandbox))
    http = browser(sandbox)
    assert http.post(f"{sandbox.url}/revoke", params={"token": token["refresh_token"]}).status_code == 200
    with pytest.raises(RefreshError, match="invalid_grant"):
        flow.credentials.refresh(GoogleRequest(requests_session(sandbox)))
    mailbox = http.get(f"{sandbox.url}/gmail/v1/users/me/profile",
                       headers={"Authorization": f"Bearer {token['access_token']}"})
    assert mailbox.status_code == 401                                         # its access tokens went with it
    again = http.post(f"{sandbox.url}/revoke", data={"token": token["refresh_token"]})
    assert again.status_code == 400 and again.json()["error"] == "invalid_token"


# -- Microsoft ----------------------------------------------------------------------------------------------


def msal_app(sandbox: SandboxServer) -> msal.ConfidentialClientApplication:
    s = sandbox.settings
    return msal.ConfidentialClientApplication(
        s.graph_client_id, client_credential=s.graph_client_secret, authority=sandbox.graph.authority(sandbox.url),
        instance_discovery=False, http_client=requests_session(sandbox))


def ms_consent(sandbox: SandboxServer, flow: dict[str, Any], email: str = MS_REP,
               decision: str = "allow") -> dict[str, str]:
    """The browser step; returns the authorization response MSAL takes (the redirect's query)."""
    answer = consent(browser(sandbox), flow["auth_uri"], email, decision)
    assert answer.status_code == 302 and answer.headers["location"].startswith(MS_CALLBACK + "?"), answer.text
    return query_of(answer.headers["location"])


def test_msal_auth_code_flow_signs_in_and_reads_the_users_mail(sandbox):
    only = sandbox.graph.deliver(MS_REP, b"From: buyer@customer.example\r\nTo: rep@contoso.example\r\n"
                                         b"Subject: Hi\r\nMessage-ID: <hi@customer.example>\r\n\r\nHello\r\n")
    app = msal_app(sandbox)
    flow = app.initiate_auth_code_flow(scopes=["Mail.Read"], redirect_uri=MS_CALLBACK, login_hint=MS_REP)
    back = ms_consent(sandbox, flow)
    assert back["state"] == flow["state"] and back["session_state"] and back["code"]

    result = app.acquire_token_by_auth_code_flow(flow, back)
    assert "access_token" in result, result
    assert result["refresh_token"] and result["id_token_claims"]["preferred_username"] == MS_REP
    mail = browser(sandbox).get(f"{sandbox.url}/v1.0/me/messages",
                                headers={"Authorization": f"Bearer {result['access_token']}"})
    assert mail.status_code == 200 and [m["id"] for m in mail.json()["value"]] == [only]

    account = app.get_accounts(username=MS_REP)[0]
    refreshed = app.acquire_token_silent(["Mail.Read"], account=account, force_refresh=True)
    assert refreshed and "access_token" in refreshed and refreshed["access_token"] != result["access_token"]


def test_msal_refuses_a_tampered_state_and_the_identity_platform_a_reused_code(sandbox):
    app = msal_app(sandbox)
    flow = app.initiate_auth_code_flow(scopes=["Mail.Read"], redirect_uri=MS_CALLBACK, login_hint=MS_REP)
    back = ms_consent(sandbox, flow)
    with pytest.raises(ValueError, match="state mismatch"):
        app.acquire_token_by_auth_code_flow(flow, {**back, "state": "forged"})
    assert "access_token" in app.acquire_token_by_auth_code_flow(flow, back)
    reused = app.acquire_token_by_auth_code_flow(flow, back)
    assert reused["error"] == "invalid_grant" and reused["error_codes"] == [54005], reused


def test_identity_platform_checks_the_pkce_verifier(sandbox):
    app = msal_app(sandbox)
    flow = app.initiate_auth_code_flow(scopes=["Mail.Read"], redirect_uri=MS_CALLBACK)
    back = ms_consent(sandbox, flow)
    result = app.acquire_token_by_auth_code_flow({**flow, "code_verifier": "y" * 64}, back)
    assert result["error"] == "invalid_grant" and result["error_codes"] == [501481]
    assert "The Code_Verifier does not match the code_challenge" in result["error_description"]


def test_identity_platform_wants_the_redirect_uri_of_the_authorization_request(sandbox):
    app = msal_app(sandbox)
    flow = app.initiate_auth_code_flow(scopes=["Mail.Read"], redirect_uri=MS_CALLBACK)
    back = ms_consent(sandbox, flow)
    result = app.acquire_token_by_auth_code_flow({**flow, "redirect_uri": "http://localhost/other"}, back)
    assert result["error"] == "invalid_grant" and result["error_codes"] == [500112]


def test_msal_form_post_response_mode_gets_an_auto_posting_form(sandbox):
    app = msal_app(sandbox)
    flow = app.initiate_auth_code_flow(scopes=["Mail.Read"], redirect_uri=MS_CALLBACK, login_hint=MS_REP,
                                       response_mode="form_post")
    answer = consent(browser(sandbox), flow["auth_uri"], MS_REP)
    form = HTMLParser(answer.text).css_first("form")
    assert answer.status_code == 200 and form.attributes["action"] == MS_CALLBACK
    posted = {str(i.attributes["name"]): str(i.attributes["value"]) for i in form.css("input")}
    assert posted["state"] == flow["state"]
    assert "access_token" in app.acquire_token_by_auth_code_flow(flow, posted)


def test_microsoft_cancel_returns_access_denied_to_msal(sandbox):
    app = msal_app(sandbox)
    flow = app.initiate_auth_code_flow(scopes=["Mail.Read"], redirect_uri=MS_CALLBACK)
    back = ms_consent(sandbox, flow, decision="deny")
    assert back["error"] == "access_denied" and back["error_description"].startswith("AADSTS65004")
    result = app.acquire_token_by_auth_code_flow(flow, back)
    assert result["error"] == "access_denied" and "access_token" not in result


def test_microsoft_sign_in_takes_only_users_of_the_tenant(sandbox):
    flow = msal_app(sandbox).initiate_auth_code_flow(scopes=["Mail.Read"], redirect_uri=MS_CALLBACK)
    answer = consent(browser(sandbox), flow["auth_uri"], "nobody@contoso.example")
    assert answer.status_code == 200
    assert HTMLParser(answer.text).css_first("#problem").text().startswith("This username may be incorrect")


@pytest.mark.parametrize(("change", "shown"), [
    ({"client_id": "00000000-0000-0000-0000-000000000000"}, "AADSTS700016"),
    ({"redirect_uri": "https://attacker.example/callback"}, "AADSTS50011"),
])
def test_microsoft_refuses_an_unknown_app_or_redirect_uri_with_an_error_page(sandbox, change, shown):
    flow = msal_app(sandbox).initiate_auth_code_flow(scopes=["Mail.Read"], redirect_uri=MS_CALLBACK)
    params = {**query_of(flow["auth_uri"]), **change}
    page = browser(sandbox).get(flow["auth_uri"].split("?")[0], params=params)
    assert page.status_code == 400 and "location" not in page.headers
    assert HTMLParser(page.text).css_first("#error").text().startswith(shown)


def test_microsoft_sends_a_bad_scope_back_to_the_trusted_redirect_uri(sandbox):
    flow = msal_app(sandbox).initiate_auth_code_flow(scopes=["Mail.Read"], redirect_uri=MS_CALLBACK)
    params = {**query_of(flow["auth_uri"]), "scope": "Mail.Read Files.ReadWrite.All"}
    answer = browser(sandbox).get(flow["auth_uri"].split("?")[0], params=params)
    back = query_of(answer.headers["location"])
    assert back["error"] == "invalid_scope" and back["error_description"].startswith("AADSTS70011")
    assert back["state"] == flow["state"]


def test_revoke_sign_in_sessions_stops_the_refresh_token(sandbox):
    app = msal_app(sandbox)
    flow = app.initiate_auth_code_flow(scopes=["Mail.Read"], redirect_uri=MS_CALLBACK, login_hint=MS_REP)
    result = app.acquire_token_by_auth_code_flow(flow, ms_consent(sandbox, flow))
    http = browser(sandbox)
    revoked = http.post(f"{sandbox.url}/v1.0/me/revokeSignInSessions",
                        headers={"Authorization": f"Bearer {result['access_token']}"})
    assert revoked.status_code == 200 and revoked.json()["value"] is True
    refreshed = app.acquire_token_silent(["Mail.Read"], account=app.get_accounts()[0], force_refresh=True)
    assert not refreshed or "access_token" not in refreshed
    s = sandbox.settings
    answer = http.post(f"{sandbox.url}/{s.graph_tenant_id}/oauth2/v2.0/token", data={
        "grant_type": "refresh_token", "refresh_token": result["refresh_token"], "client_id": s.graph_client_id,
        "client_secret": s.graph_client_secret, "scope": "Mail.Read offline_access"})
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


# -- the rules underneath, without a server ------------------------------------------------------------------


def test_pkce_s256_is_rfc_7636s_example():
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert s256(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    assert verifier_matches(verifier, s256(verifier), "S256") and verifier_matches(verifier, verifier, "plain")
    assert not verifier_matches("short", s256("short"), "S256")              # under 43 characters


def test_an_authorization_code_expires_after_ten_minutes():
    now = [1000.0]
    codes = AuthCodes(clock=lambda: now[0])
    fresh = codes.issue(AuthCode("client", "ann@example.com", frozenset({READONLY})), "c-")
    stale = codes.issue(AuthCode("client", "ann@example.com", frozenset({READONLY})), "c-")
    now[0] += 599
    assert codes.redeem(fresh, "client", None, None).user == "ann@example.com"
    now[0] += 2
    with pytest.raises(CodeRejected) as refused:
        codes.redeem(stale, "client", None, None)
    assert refused.value.problem is CodeProblem.EXPIRED


# -- a real browser -----------------------------------------------------------------------------------------


class _Callback(BaseHTTPRequestHandler):
    """The app's redirect URI on loopback: records the authorization response."""

    received: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.received.append(self.path)
        body = b"<!doctype html><title>Signed in</title><p id=done>Signed in, back in the app.</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def callback_server() -> Iterator[tuple[str, list[str]]]:
    received: list[str] = []
    handler = type("Callback", (_Callback,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/callback", received
    server.shutdown()
    server.server_close()


def test_chromium_signs_in_on_the_google_consent_page_and_lands_on_the_app(sandbox, callback_server):
    if not Path(CHROMIUM).exists():
        server_missing("Debian chromium (apt install chromium)")
    from playwright.sync_api import sync_playwright

    redirect_uri, received = callback_server
    flow = google_flow(sandbox, redirect_uri=redirect_uri)
    url, state = flow.authorization_url(access_type="offline", login_hint=NEW_REP)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = chromium.new_context(ignore_https_errors=True, java_script_enabled=False)  # the test CA
            page = context.new_page()
            page.goto(url)
            assert page.locator("#email").input_value() == NEW_REP
            assert READONLY in page.locator("#scopes").inner_text()
            page.fill("#email", "ann.b@example.com")                        # not the login_hint: typed over
            page.click("#allow")
            page.wait_for_url(f"{redirect_uri}?*")
            assert page.locator("#done").is_visible()
        finally:
            chromium.close()
    back = query_of(next(path for path in received if path.startswith("/callback?")))
    assert back["state"] == state
    token = flow.fetch_token(code=back["code"], verify=ca(sandbox))
    assert token["refresh_token"]
    assert gmail_profile(sandbox, flow.credentials)["emailAddress"] == "ann.b@example.com"


def test_an_app_may_revoke_sessions_of_its_own_tenants_users_only(sandbox):
    s = sandbox.settings
    identity = sandbox.graph.identity
    identity.register_tenant("0d4c7a5e-1111-4222-8333-944455566677", "fabrikam.example")
    own = identity.register_user(MS_REP)
    other = identity.register_user("eve@fabrikam.example", tenant="fabrikam.example")
    identity.register_app("revoker-app", "revoker-secret", roles=("User.RevokeSessions.All",), public_client=False)
    http = browser(sandbox)
    token = http.post(f"{sandbox.url}/{s.graph_tenant_id}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": "revoker-app", "client_secret": "revoker-secret",
        "scope": "https://graph.microsoft.com/.default"}).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert http.post(f"{sandbox.url}/v1.0/users/{own.id}/revokeSignInSessions", headers=headers).status_code == 200
    refused = http.post(f"{sandbox.url}/v1.0/users/{other.id}/revokeSignInSessions", headers=headers)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "Authorization_RequestDenied"
