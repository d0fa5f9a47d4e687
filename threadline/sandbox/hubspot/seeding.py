"""Python-side helpers (not HTTP) to seed and inspect the HubSpot simulator in tests, demo and benchmarks."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from threadline.sandbox.hubspot.crm import Crm
from threadline.sandbox.hubspot.records import HubObject


class SeedingHelpers:
    """Mixed into HubSpotSandbox; every helper takes the CRM lock."""

    crm: Crm

    @property
    def contacts(self) -> list[HubObject]:
        """Live contacts (not archived, not merged away), ordered by last-modified date."""
        with self.crm.lock:
            return list(self.crm.tables["contacts"].live_objects())

    def add_contact(self, email: str | None, *, additional_emails: Sequence[str] = (), modified_ms: int | None = None,
                    owner_id: str | None = None, **properties: str) -> str:
        """Create one contact and return its id. `modified_ms` pins createdate/lastmodifieddate."""
        values = {k: v for k, v in {"email": email, "hubspot_owner_id": owner_id, **properties}.items() if v}
        with self.crm.lock:
            obj = self.crm.create("contacts", values)
            extras = ";".join(additional_emails)
            stamp = modified_ms if modified_ms is not None else obj.updated_ms
            obj.created_ms = min(obj.created_ms, stamp)
            self.crm.tables["contacts"].set_properties(obj, {"hs_additional_emails": extras or None}, stamp)
            return str(obj.id)

    def seed_contacts(self, n: int, *, timestamps: Sequence[int] | None = None, start_ms: int | None = None,
                      step_ms: int = 1000, domain: str = "example.com", owner_id: str | None = None) -> list[str]:
        """Bulk-create `n` contacts (fast: one index sort). Contact i is modified at `timestamps[i % len]`
        if given, else at `start_ms + i * step_ms` (default start: n seconds ago). Returns their ids."""
        start = start_ms if start_ms is not None else int(time.time() * 1000) - (n + 1) * step_ms
        with self.crm.lock:
            table, objs = self.crm.tables["contacts"], []
            for i in range(n):
                stamp = timestamps[i % len(timestamps)] if timestamps else start + i * step_ms
                object_id = self.crm.new_id()
                props = {"email": f"contact{object_id}@{domain}", "firstname": f"First{object_id}",
                         "lastname": f"Last{object_id}", "company": f"Company {object_id % 97}"}
                if owner_id:
                    props["hubspot_owner_id"] = owner_id
                objs.append(HubObject(object_id, "contacts", stamp, stamp, props))
            table.add_many(objs)
            return [str(o.id) for o in objs]

    def update_contact(self, contact_id: str, **properties: str | None) -> None:
        """Change properties as a HubSpot user would (bumps lastmodifieddate to now)."""
        with self.crm.lock:
            obj = self.crm.resolve("contacts", str(contact_id))
            self.crm.tables["contacts"].set_properties(obj, dict(properties), self.crm.clock_ms())

    def merge(self, winner_id: str, loser_id: str) -> None:
        """Merge contact `loser_id` into `winner_id` as HubSpot does (winner keeps its id)."""
        with self.crm.lock:
            self.crm.merge(int(winner_id), int(loser_id))

    def add_owner(self, email: str, *, first_name: str = "Rep", last_name: str = "Owner",
                  archived: bool = False) -> str:
        """An owner (a HubSpot user); `archived=True` is a deactivated user, listed only with archived=true."""
        with self.crm.lock:
            owner_id = str(len(self.crm.owners) + 90001)
            stamp = "2024-01-01T00:00:00.000Z"
            self.crm.owners.append({"id": owner_id, "email": email, "firstName": first_name, "lastName": last_name,
                                    "userId": int(owner_id) + 1000, "userIdIncludingInactive": int(owner_id) + 1000,
                                    "type": "PERSON", "createdAt": stamp, "updatedAt": stamp, "archived": archived,
                                    "teams": []})
            return owner_id

    def emails_for(self, contact_id: str) -> list[dict[str, Any]]:
        """Email engagements associated with a contact: properties (hs_email_headers parsed) and their contact ids."""
        with self.crm.lock:
            contact = self.crm.resolve("contacts", str(contact_id))
            out = []
            for email_id, _ in self.crm.associations.targets("contacts", contact.id, "emails"):
                email = self.crm.tables["emails"].live(email_id)
                if email is None:
                    continue
                props = dict(email.properties)
                if "hs_email_headers" in props:
                    props["hs_email_headers"] = json.loads(props["hs_email_headers"])
                linked = [str(c) for c, _ in self.crm.associations.targets("emails", email.id, "contacts")]
                out.append({"id": str(email.id), "properties": props, "contact_ids": linked})
            return out

    def add_meeting(self, contact_id: str, starts_at: datetime, *, title: str = "Intro call") -> str:
        """Book a meeting with a contact as a rep's calendar tool would (meeting -> contact, type 200)."""
        start_ms = str(int(starts_at.timestamp() * 1000))
        with self.crm.lock:
            contact = self.crm.resolve("contacts", str(contact_id))
            meeting = self.crm.create("meetings", {"hs_timestamp": start_ms, "hs_meeting_start_time": start_ms,
                                                   "hs_meeting_title": title})
            self.crm.associations.link("meetings", meeting.id, "contacts", contact.id)
            return str(meeting.id)

    def complete_task(self, task_id: str) -> None:
        """Mark a task done as its owner would in HubSpot (hs_task_status COMPLETED; bumps the modified date)."""
        with self.crm.lock:
            task = self.crm.resolve("tasks", str(task_id))
            self.crm.tables["tasks"].set_properties(task, {"hs_task_status": "COMPLETED"}, self.crm.clock_ms())

    def tasks_for(self, contact_id: str) -> list[dict[str, Any]]:
        """Tasks associated with a contact: id and properties."""
        with self.crm.lock:
            contact = self.crm.resolve("contacts", str(contact_id))
            tasks = [self.crm.tables["tasks"].live(t) for t, _ in
                     self.crm.associations.targets("contacts", contact.id, "tasks")]
            return [{"id": str(t.id), "properties": dict(t.properties)} for t in tasks if t is not None]

    # companies, deals and pipelines ---------------------------------------------

    def add_company(self, name: str, *, domain: str | None = None, contacts: Sequence[str] = (),
                    primary: bool = True) -> str:
        """A company, associated with `contacts` (as their primary company unless `primary=False`)."""
        with self.crm.lock:
            company = self.crm.create("companies", {k: v for k, v in {"name": name, "domain": domain}.items() if v})
            for contact_id in contacts:
                contact = self.crm.resolve("contacts", str(contact_id))
                self.crm.associations.link("contacts", contact.id, "companies", company.id, primary=primary)
            return str(company.id)

    def add_deal(self, name: str, *, stage: str = "appointmentscheduled", pipeline: str = "default",
                 contacts: Sequence[str] = (), company: str | None = None, modified_ms: int | None = None) -> str:
        """A deal in `stage` of `pipeline`, associated with `contacts` and `company` (as its primary company).
        `modified_ms` pins its createdate/hs_lastmodifieddate (the order "most recently modified" reads)."""
        with self.crm.lock:
            deal = self.crm.create("deals", {"dealname": name, "dealstage": stage, "pipeline": pipeline})
            for contact_id in contacts:
                self.crm.associations.link("deals", deal.id, "contacts", self.crm.resolve("contacts", contact_id).id)
            if company is not None:
                self.crm.associations.link("deals", deal.id, "companies", self.crm.resolve("companies", company).id,
                                           primary=True)
            if modified_ms is not None:
                deal.created_ms = min(deal.created_ms, modified_ms)
                self.crm.tables["deals"].set_properties(deal, {}, modified_ms)
            return str(deal.id)

    def move_deal(self, deal_id: str, stage: str) -> None:
        """Move a deal to another stage as a rep would (closedwon/closedlost close it; bumps the modified date)."""
        with self.crm.lock:
            self.crm.update("deals", str(deal_id), {"dealstage": stage})

    def add_pipeline(self, pipeline_id: str, label: str, stages: Sequence[tuple[str, str, float, bool]]) -> None:
        """Another deal pipeline: stages as (id, label, probability, closed)."""
        with self.crm.lock:
            self.crm.pipelines.add(pipeline_id, label, stages)

    def associated(self, from_type: str, object_id: str, to_type: str) -> dict[str, list[int]]:
        """Live `to_type` records linked to one record: id -> association type ids."""
        with self.crm.lock:
            source = self.crm.resolve(from_type, str(object_id))
            return {str(to_id): types for to_id, types in self.crm.associations.targets(from_type, source.id, to_type)
                    if self.crm.tables[to_type].live(to_id) is not None}

    def count(self, object_type: str) -> int:
        with self.crm.lock:
            return len(self.crm.tables[object_type])
