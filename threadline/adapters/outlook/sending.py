"""Sending from a Microsoft 365 mailbox and finding our sent mail again by internetMessageId.

We send our own MIME (`POST /users/{id}/sendMail`, Content-Type text/plain, base64):
the JSON message form only takes custom headers named `x-...` in
internetMessageHeaders, so `List-Unsubscribe`/`List-Unsubscribe-Post` can only be
set through MIME, and MIME also carries our Message-ID, In-Reply-To and References
unchanged. sendMail needs only Mail.Send (a draft + `/send` would need Mail.ReadWrite)
and answers 202 with no id: the Sent Items copy is found by `$filter=internetMessageId`.
"""

from __future__ import annotations

import base64
from datetime import timedelta
from urllib.parse import quote

from threadline.adapters.http import JsonApi
from threadline.adapters.outlook.auth import BearerAuth, TokenSource
from threadline.adapters.outlook.client import GraphClient
from threadline.adapters.outlook.errors import PROVIDER, translate
from threadline.adapters.retry import call_with_retry
from threadline.adapters.sending import OnSubmit, OutgoingEmail, SentRef, build_mime, hand_over

#: How long a sent message may take to appear in Sent Items (Exchange files it asynchronously).
SENT_COPY_DELAY = timedelta(seconds=600)


class GraphSending:
    """sendMail (MIME) and the Sent Items lookup for one mailbox, on the adapter's client and limiter."""

    def __init__(self, client: GraphClient, tokens: TokenSource, address: str,
                 sent_visibility: timedelta = SENT_COPY_DELAY) -> None:
        self.client = client
        self.address = address
        self.sent_visibility = sent_visibility
        self._tokens = tokens
        self._auth = BearerAuth(tokens)

    def send(self, email: OutgoingEmail, *, on_submit: OnSubmit | None = None) -> SentRef:
        """Send once. Only a 429 refusal is retried (honouring Retry-After).

        `on_submit` runs before each attempt's POST, once the limiter and a token let it through.
        Raises TransientError when the outcome is unknown (timeout, dropped connection,
        5xx: look with `find_sent` first), RateLimited once retries are spent,
        AuthExpired, PermanentError (e.g. 403 without Mail.Send).
        """
        body = base64.b64encode(build_mime(email))
        url = f"{self.client.base_url}/users/{quote(self.address)}/sendMail"
        # One POST per attempt with the refusal-only retry around it here (not inside JsonApi), so
        # that `on_submit` runs after the limiter wait and the token fetch, right before each POST.
        post = JsonApi(self.client.api.client, provider=PROVIDER, translate=translate, attempts=1,
                       account=self.address, operation="send")

        def attempt() -> None:
            self.client.limiter.acquire(1)
            self._tokens.token()              # a refused credential is known before anything is handed over
            hand_over(on_submit)
            post.request("POST", url, content=body, headers={"Content-Type": "text/plain"}, auth=self._auth,
                         idempotent=False)

        call_with_retry(attempt, limiter=self.client.limiter, attempts=self.client.attempts,
                        what="outlook sendMail", idempotent=False)
        # Graph gives no id for sendMail; `find_sent` resolves it when someone needs it.
        return SentRef(message_id=email.message_id, provider_id=None)

    def find_sent(self, message_id: str) -> SentRef | None:
        """The Sent Items message with internetMessageId `message_id`, or None. Read-only, retried freely."""
        escaped = message_id.replace("'", "''")          # OData string literal quoting
        answer = self.client.get(f"/users/{quote(self.address)}/mailFolders/sentitems/messages", params={
            "$filter": f"internetMessageId eq '{escaped}'", "$select": "id,conversationId,internetMessageId",
            "$top": "5"})
        found = answer.get("value") or []
        if not found:
            return None
        return SentRef(message_id=message_id, provider_id=found[0]["id"], thread_id=found[0].get("conversationId"))
