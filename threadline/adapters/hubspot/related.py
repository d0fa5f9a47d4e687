"""Where a logged email or a rule's task lands besides the contact: the contact's primary company and its
open deals, looked up in batches just before the write.

One lookup serves one write batch (100 engagements): one v4 batch read contacts -> companies, one
contacts -> deals (up to 1,000 inputs each, HubSpot's limit), and the deals' stages in v3 batch reads of
100. A deal is open unless its stage is a closed one (`metadata.isClosed` of the deal pipelines, cached
for `ttl` seconds; a stage the cache does not know refreshes it at once, so a pipeline created
meanwhile is never guessed). Reading at write time means a deal closed since the pull is left out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

COMPANY, OPEN_DEALS = "company", "open_deals"
ASSOCIATE_DEFAULT = (COMPANY, OPEN_DEALS)
PRIMARY_COMPANY = 1                   # contact -> company, HubSpot's "Primary" label
#: HUBSPOT_DEFINED default association type ids, from an engagement to a company / a deal.
TO_COMPANY = {"emails": 186, "tasks": 192}
TO_DEAL = {"emails": 210, "tasks": 216}
ASSOCIATION_BATCH = 1000              # v4 associations batch read: at most 1,000 inputs
OBJECT_BATCH = 100                    # v3 objects batch read: at most 100 inputs
DEAL_PROPERTIES = ("dealstage", "pipeline", "hs_lastmodifieddate")

Post = Callable[[str, dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Related:
    """A contact's primary company (None: none, or not wanted) and open deals, most recently modified first."""

    company_id: str | None = None
    deal_ids: tuple[str, ...] = ()


NOTHING = Related()


def associations(object_type: str, related: Related) -> list[dict[str, Any]]:
    """The create-time `associations` entries for an engagement of `object_type` ("emails", "tasks")."""
    targets = ([(related.company_id, TO_COMPANY[object_type])] if related.company_id else [])
    targets += [(deal_id, TO_DEAL[object_type]) for deal_id in related.deal_ids]
    return [{"to": {"id": to_id}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}]}
            for to_id, type_id in targets]


class DealStages:
    """Stage ids of every deal pipeline, and which of them are closed (won or lost); cached for `ttl` seconds
    on `clock` (monotonic seconds; tests pass their own)."""

    def __init__(self, fetch: Callable[[], dict[str, Any]], *, ttl: float = 600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._fetch, self.ttl, self._clock = fetch, ttl, clock
        self._known: frozenset[str] = frozenset()
        self._closed: frozenset[str] = frozenset()
        self._read_at: float | None = None

    def closed(self, stages: Iterable[str]) -> frozenset[str]:
        """The closed stage ids, fresh enough to judge `stages` (re-read if stale or if one is unknown)."""
        wanted = set(stages)
        stale = self._read_at is None or self._clock() - self._read_at >= self.ttl
        if stale or not wanted <= self._known:
            self._load()
        return self._closed

    def _load(self) -> None:
        known, closed = set(), set()
        for pipeline in self._fetch().get("results") or []:
            for stage in pipeline.get("stages") or []:
                known.add(str(stage["id"]))
                if str((stage.get("metadata") or {}).get("isClosed", "false")).lower() == "true":
                    closed.add(str(stage["id"]))
        self._known, self._closed, self._read_at = frozenset(known), frozenset(closed), self._clock()


class RelatedLookup:
    """Finds the company and open deals of many contacts at once. `post` is the adapter's POST (limiter,
    retries, error translation); every failure is the caller's to handle."""

    def __init__(self, post: Post, stages: DealStages, *, associate: Sequence[str] = ASSOCIATE_DEFAULT,
                 max_deals: int = 5) -> None:
        unknown = set(associate) - {COMPANY, OPEN_DEALS}
        if unknown:
            raise ValueError(f"unknown association targets: {sorted(unknown)}")
        self._post, self.stages = post, stages
        self.company, self.open_deals, self.max_deals = COMPANY in associate, OPEN_DEALS in associate, max_deals

    @property
    def enabled(self) -> bool:
        return self.company or (self.open_deals and self.max_deals > 0)

    def for_contacts(self, contact_ids: Iterable[str]) -> dict[str, Related]:
        """contact id -> Related, for every contact given (NOTHING where there is nothing to add)."""
        ids = sorted(set(contact_ids))
        if not ids or not self.enabled:
            return {i: NOTHING for i in ids}
        companies = self._primary_companies(ids) if self.company else {}
        deals = self._open_deals(ids) if self.open_deals and self.max_deals > 0 else {}
        return {i: Related(companies.get(i), tuple(deals.get(i, ()))) for i in ids}

    def _primary_companies(self, contact_ids: Sequence[str]) -> dict[str, str]:
        out = {}
        for from_id, links in self._links("companies", contact_ids).items():
            primary = [str(link["toObjectId"]) for link in links
                       if any(t.get("typeId") == PRIMARY_COMPANY and t.get("category") == "HUBSPOT_DEFINED"
                              for t in link.get("associationTypes") or [])]
            if primary:
                out[from_id] = primary[0]
        return out

    def _open_deals(self, contact_ids: Sequence[str]) -> dict[str, list[str]]:
        linked = {c: [str(link["toObjectId"]) for link in links]
                  for c, links in self._links("deals", contact_ids).items()}
        deals = self._deals(sorted({d for ids in linked.values() for d in ids}))
        if not deals:
            return {}                     # no deal to judge: the pipelines need not be read
        closed = self.stages.closed(str(d.get("dealstage") or "") for d in deals.values())
        open_ids = [d for d, props in deals.items() if props.get("dealstage") not in closed]
        # Most recently modified first; the id breaks ties so the choice is the same on every replica.
        ordered = sorted(open_ids, key=lambda d: (_ms(deals[d].get("hs_lastmodifieddate")), int(d)), reverse=True)
        rank = {d: n for n, d in enumerate(ordered)}
        return {c: sorted((d for d in ids if d in rank), key=rank.__getitem__)[:self.max_deals]
                for c, ids in linked.items()}

    def _links(self, to_type: str, contact_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """contact id -> its v4 links to `to_type` (contacts without any are absent: HubSpot lists them as errors)."""
        out: dict[str, list[dict[str, Any]]] = {}
        for start in range(0, len(contact_ids), ASSOCIATION_BATCH):
            chunk = contact_ids[start:start + ASSOCIATION_BATCH]
            body = self._post(f"/crm/v4/associations/contacts/{to_type}/batch/read",
                              {"inputs": [{"id": c} for c in chunk]})
            for result in body.get("results") or []:
                out.setdefault(str(result["from"]["id"]), []).extend(result.get("to") or [])
        return out

    def _deals(self, deal_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """deal id -> its stage properties (archived deals come back as errors and are left out)."""
        out = {}
        for start in range(0, len(deal_ids), OBJECT_BATCH):
            chunk = deal_ids[start:start + OBJECT_BATCH]
            body = self._post("/crm/v3/objects/deals/batch/read",
                              {"inputs": [{"id": d} for d in chunk], "properties": list(DEAL_PROPERTIES)})
            for result in body.get("results") or []:
                out[str(result["id"])] = result.get("properties") or {}
        return out


def _ms(value: str | None) -> float:
    """A HubSpot date-time (ISO 8601, or epoch milliseconds) as epoch milliseconds; missing sorts last."""
    if not value:
        return float("-inf")
    if value.isdigit():
        return float(value)
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000
