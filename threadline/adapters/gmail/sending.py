"""Sending from a Gmail mailbox (users.messages.send) and finding our sent mail by Message-ID.

Gmail keeps a Message-ID header the client set when sending through the API (it
rewrites it only for SMTP relays, keeping the original in X-Google-Original-Message-ID),
so `rfc822msgid:` finds the message by the id Threadline recorded before sending.
"""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

from threadline.adapters.answers import json_object
from threadline.adapters.gmail.client import GmailClient
from threadline.adapters.gmail.errors import PROVIDER, translate
from threadline.adapters.observe import observed
from threadline.adapters.retry import call_with_retry
from threadline.adapters.sending import (
    OnSubmit,
    OutgoingEmail,
    SentRef,
    bare_message_id,
    build_mime,
    hand_over,
)

SEND_COST = 100                              # quota units of messages.send
#: How long a sent message may take to be found by `rfc822msgid:` in SENT (Gmail's search index lags).
SENT_COPY_DELAY = timedelta(seconds=120)


class GmailSending:
    """messages.send and the rfc822msgid lookup for one mailbox, on the adapter's client and limiter."""

    def __init__(self, client: GmailClient, sent_visibility: timedelta = SENT_COPY_DELAY) -> None:
        self.client = client
        self.sent_visibility = sent_visibility

    def send(self, email: OutgoingEmail, *, on_submit: OnSubmit | None = None) -> SentRef:
        """Send once, in `email.thread_id`'s thread when given. Only a 429/rate-limit refusal is retried.

        `on_submit` runs before each attempt's POST, after the limiter let it through.
        Raises TransientError when the outcome is unknown (look with `find_sent` first),
        RateLimited once retries of a refusal are spent, AuthExpired, PermanentError.
        """
        body: dict[str, Any] = {"raw": base64.urlsafe_b64encode(build_mime(email)).decode()}
        if email.thread_id:
            body["threadId"] = email.thread_id

        def once() -> dict[str, Any]:
            self.client.limiter.acquire(SEND_COST)
            hand_over(on_submit)     # the last moment before the mail can leave
            self.client.calls += 1
            self.client.last_method = "messages.send"
            with observed(PROVIDER, self.client.account, "send"):
                try:
                    answer = self.client.users.messages().send(userId="me", body=body).execute(http=self.client.http)
                except Exception as exc:  # noqa: BLE001 - every failure is translated at this boundary
                    raise translate(exc, "messages.send", self.client.batch_uri) from exc
            # Sent, but unreadable: MalformedResponse is transient, so the caller looks before resending.
            return json_object(answer, PROVIDER, "messages.send")

        answer = call_with_retry(once, limiter=self.client.limiter, attempts=self.client.attempts,
                                 what="gmail messages.send", idempotent=False)
        return SentRef(message_id=email.message_id, provider_id=answer.get("id"), thread_id=answer.get("threadId"))

    def find_sent(self, message_id: str) -> SentRef | None:
        """The SENT message whose Message-ID is `message_id`, or None. Read-only, retried freely."""
        query = f"rfc822msgid:{bare_message_id(message_id)}"
        answer = self.client.execute("messages.list", lambda u: u.messages().list(
            userId="me", q=query, labelIds=["SENT"], maxResults=10))
        found = answer.get("messages") or []
        if not found:
            return None
        return SentRef(message_id=message_id, provider_id=found[0]["id"], thread_id=found[0].get("threadId"))
