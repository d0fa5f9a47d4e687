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
from urllib.parse import quote

from threadline.adapters.outlook.auth import BearerAuth, TokenSource
from threadline.adapters.outlook.client import GraphClient
from threadline.adapters.sending import OutgoingEmail, SentRef, build_mime


class GraphSending:
    """sendMail (MIME) and the Sent Items lookup for one mailbox, on the adapter's client and limiter."""

    def __init__(self, client: GraphClient, tokens: TokenSource, address: str) -> None:
        self.client = client
        self.address = address
        self._auth = BearerAuth(tokens)

    def send(self, email: OutgoingEmail) -> SentRef:
        """Send once. Only a 429 refusal is retried (honouring Retry-After).

        Raises TransientError when the outcome is unknown (timeout, dropped connection,
        5xx: look with `find_sent` first), RateLimited once retries are spent,
        AuthExpired, PermanentError (e.g. 403 without Mail.Send).
        """
        body = base64.b64encode(build_mime(email))
        url = f"{self.client.base_url}/users/{quote(self.address)}/sendMail"
        self.client.api.request("POST", url, content=body, headers={"Content-Type": "text/plain"},
                                auth=self._auth, idempotent=False)
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
