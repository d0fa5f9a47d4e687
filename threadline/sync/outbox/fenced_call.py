"""One CRM request for a claimed batch of outbox rows, fenced by their leases, with the executor's answer to each
kind of refusal, the same for every kind of row: contact property updates (crm_writes.py), contact creates and deletes.
Creates and field writes keep their own handling, since a refused batch is retried one row at a time there."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from threadline.adapters.errors import PermanentError, ProviderError
from threadline.adapters.fencing import Fenced, fenced
from threadline.sync.store.tables import OutboxRow

T = TypeVar("T")


@dataclass(frozen=True)
class Ended:
    """The request did not go through and the rows were ended (or given back) as the executor does; `more` is what
    the batch function returns to the executor's loop."""

    more: bool


def fenced_call(executor: Any, by_key: dict[str, OutboxRow], summary: Any, call: Callable[[], T]) -> T | Ended:
    """`call()` while this replica still holds `by_key`'s rows. Lost rows are left to their new holder; a permanent
    refusal fails them; any other provider error gives them back for a later attempt."""
    try:
        with fenced(executor._fence(list(by_key.values()))):
            return call()
    except Fenced as exc:
        executor._fenced(by_key, exc)
        return Ended(True)
    except PermanentError as exc:
        executor._finish(by_key, {}, summary, failure=exc)
        return Ended(True)
    except ProviderError as exc:
        return Ended(bool(executor._not_taken(by_key, exc, summary)))
