"""The Gmail mailbox cursor: a history id, plus backfill progress while a full sync is under way."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class Backfill(BaseModel):
    """Where an unfinished full sync stands, so a crash resumes instead of restarting.

    `page_token` is the messages.list token of the page being fetched (None: the first
    page) and `done_in_page` how many ids of that page were already yielded.
    """

    model_config = ConfigDict(frozen=True)

    after: int                              # epoch seconds of the window start (the same query on resume)
    page_token: str | None = None
    done_in_page: int = 0
    reason: str | None = None               # resync reason, carried to every page of the resync


class GmailCursor(BaseModel):
    """`history_id` was captured before the backfill began; incremental sync continues from it."""

    model_config = ConfigDict(frozen=True)

    history_id: str
    backfill: Backfill | None = None

    def dump(self) -> dict[str, Any]:
        return self.model_dump()
