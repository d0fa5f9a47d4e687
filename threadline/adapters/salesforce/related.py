"""Where a Task logged for a Contact is related to (`WhatId`): the most recently modified open Opportunity
on which the Contact has an OpportunityContactRole, else the Contact's Account.

One SOQL query per write batch (the Contacts in an IN list, a parent-to-child subquery for their
roles on open opportunities), read just before the write, so an opportunity closed since the pull
is left out. Leads get no WhatId: Salesforce refuses one on a Task whose WhoId is a Lead
(FIELD_INTEGRITY_EXCEPTION).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from threadline.adapters.salesforce.tasks import soql_string

COMPANY, OPEN_DEALS = "company", "open_deals"
ASSOCIATE_DEFAULT = (COMPANY, OPEN_DEALS)
CONTACT_PREFIX = "003"
#: The Contact's roles on open opportunities, newest change first; the id breaks ties the same way each time.
OPEN_ROLES = ("(SELECT OpportunityId FROM OpportunityContactRoles WHERE Opportunity.IsClosed = false "
              "ORDER BY Opportunity.LastModifiedDate DESC, OpportunityId DESC LIMIT 1)")

Query = Callable[[str], Iterator[list[dict[str, Any]]]]


def related_soql(contact_ids: Sequence[str], *, opportunities: bool) -> str:
    """The one query for a batch: each Contact's AccountId and (if wanted) its newest open opportunity role."""
    fields = ["Id", "AccountId", *([OPEN_ROLES] if opportunities else [])]
    return f"SELECT {', '.join(fields)} FROM Contact WHERE Id IN ({', '.join(soql_string(i) for i in contact_ids)})"


class WhatIds:
    """Finds the WhatId of many Contacts at once. `query` pages a SOQL query (the adapter's, with its limiter
    and retries); failures are the caller's to handle."""

    def __init__(self, query: Query, *, associate: Sequence[str] = ASSOCIATE_DEFAULT) -> None:
        unknown = set(associate) - {COMPANY, OPEN_DEALS}
        if unknown:
            raise ValueError(f"unknown association targets: {sorted(unknown)}")
        self._query = query
        self.account, self.opportunity = COMPANY in associate, OPEN_DEALS in associate

    def for_people(self, who_ids: Iterable[str]) -> dict[str, str]:
        """who id -> WhatId, for the Contacts among `who_ids` that have one (Leads never do)."""
        contacts = sorted({i for i in who_ids if i.startswith(CONTACT_PREFIX)})
        if not contacts or not (self.account or self.opportunity):
            return {}
        found: dict[str, str] = {}
        for records in self._query(related_soql(contacts, opportunities=self.opportunity)):
            for record in records:
                what = self._what(record)
                if what:
                    found[_id15(record["Id"])] = what
        # The engine may hold 15- or 18-character ids: answer under the id it gave.
        return {i: found[_id15(i)] for i in contacts if _id15(i) in found}

    def _what(self, record: dict[str, Any]) -> str | None:
        roles = (record.get("OpportunityContactRoles") or {}).get("records") or []
        if self.opportunity and roles:
            return str(roles[0]["OpportunityId"])
        return str(record["AccountId"]) if self.account and record.get("AccountId") else None


def _id15(record_id: str) -> str:
    return record_id[:15]
