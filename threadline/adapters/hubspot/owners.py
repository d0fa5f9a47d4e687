"""HubSpot owners (the users who can own contacts) as CrmOwner records.

`GET /crm/v3/owners` lists active owners; deactivated users are listed only with
`archived=true`, so the full picture takes both listings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from threadline.adapters.records import CrmOwner

Get = Callable[[dict[str, Any]], dict[str, Any]]
PAGE = 500                     # the most GET /crm/v3/owners returns in a page


def to_owner(raw: dict[str, Any], *, active: bool) -> CrmOwner:
    name = " ".join(p for p in (raw.get("firstName"), raw.get("lastName")) if p) or raw.get("email") or str(raw["id"])
    return CrmOwner(id=str(raw["id"]), email=raw.get("email") or None, name=name, active=active)


def owners(get: Get) -> Iterator[CrmOwner]:
    """Active owners, then deactivated ones, following `paging.next.after`."""
    for archived in (False, True):
        params: dict[str, Any] = {"limit": PAGE, "archived": str(archived).lower()}
        while True:
            body = get(params)
            for raw in body.get("results") or []:
                yield to_owner(raw, active=not archived)
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                break
            params = {**params, "after": after}
