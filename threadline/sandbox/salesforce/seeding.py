"""Python helpers for tests, the demo and benchmarks: seed and inspect the org, play the admin.

They act directly on the org (no API calls, no limit spent) and take the org lock.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from threadline.sandbox.salesforce.oauth import ConnectedApp, OAuthServer, new_key_pair
from threadline.sandbox.salesforce.org import Org
from threadline.sandbox.salesforce.query_engine import QueryEngine
from threadline.sandbox.salesforce.schema import FieldSpec
from threadline.sandbox.settings import SandboxSettings

URL_BASE = "/services/data/v61.0"


@dataclasses.dataclass(frozen=True)
class AppCredentials:
    """What an admin hands Threadline for a connected app: keys, the API user, and the private key (PEM)."""

    consumer_key: str
    consumer_secret: str
    username: str
    private_key_pem: bytes


class SeedingHelpers:
    """Mixed into SalesforceSandbox; `org`, `oauth` and `settings` come from it."""

    org: Org
    oauth: OAuthServer
    settings: SandboxSettings

    # records -------------------------------------------------------------------

    def add_user(self, username: str, *, first_name: str = "Rep", last_name: str = "User",
                 email: str | None = None, active: bool = True) -> str:
        with self.org.lock:
            return self.org.create("User", {"Username": username, "FirstName": first_name, "LastName": last_name,
                                            "Email": email or username, "IsActive": active})

    def add_contact(self, email: str | None, *, first_name: str | None = None, last_name: str = "Contact",
                    stamp: datetime | None = None, **fields: Any) -> str:
        with self.org.lock:
            return self.org.create("Contact", {"Email": email, "FirstName": first_name, "LastName": last_name,
                                               **fields}, stamp=stamp)

    def add_lead(self, email: str | None, *, first_name: str | None = None, last_name: str = "Lead",
                 company: str = "Acme", stamp: datetime | None = None, **fields: Any) -> str:
        with self.org.lock:
            return self.org.create("Lead", {"Email": email, "FirstName": first_name, "LastName": last_name,
                                            "Company": company, **fields}, stamp=stamp)

    def seed(self, n: int, *, start: datetime | None = None, step: timedelta = timedelta(milliseconds=10),
             leads_every: int = 2) -> list[str]:
        """`n` records alternating Contact/Lead (every `leads_every`-th is a Lead), stamped `start + k*step`.
        `step=timedelta(0)` stamps them all at one instant (a bulk import)."""
        start = start or datetime.now(UTC) - timedelta(days=1)
        ids = []
        with self.org.lock:
            for k in range(n):
                stamp = start + k * step
                if leads_every and k % leads_every == leads_every - 1:
                    ids.append(self.add_lead(f"lead{k}@prospect{k % 97}.example", first_name=f"L{k}", stamp=stamp))
                else:
                    ids.append(self.add_contact(f"contact{k}@client{k % 89}.example", first_name=f"C{k}",
                                                stamp=stamp))
        return ids

    def add_account(self, name: str, *, contacts: Sequence[str] = (), stamp: datetime | None = None) -> str:
        """An Account; `contacts` become its Contacts (their AccountId)."""
        with self.org.lock:
            account = self.org.create("Account", {"Name": name}, stamp=stamp)
            for contact_id in contacts:
                self.org.update("Contact", contact_id, {"AccountId": account})
            return account

    def add_opportunity(self, name: str, *, account_id: str | None = None, stage: str = "Prospecting",
                        contacts: Sequence[str] = (), stamp: datetime | None = None) -> str:
        """An Opportunity in `stage` (Closed Won / Closed Lost close it), with an OpportunityContactRole for
        each of `contacts` (the first is primary). `stamp` pins its LastModifiedDate."""
        with self.org.lock:
            opportunity = self.org.create("Opportunity", {"Name": name, "StageName": stage, "AccountId": account_id,
                                                          "CloseDate": (stamp or datetime.now(UTC)).date().isoformat()},
                                          stamp=stamp)
            for n, contact_id in enumerate(contacts):
                self.org.create("OpportunityContactRole", {"OpportunityId": opportunity, "ContactId": contact_id,
                                                           "Role": "Decision Maker", "IsPrimary": n == 0})
            return opportunity

    def move_opportunity(self, opportunity_id: str, stage: str, *, stamp: datetime | None = None) -> None:
        """Change an Opportunity's stage as a rep would (IsClosed follows; LastModifiedDate moves)."""
        with self.org.lock:
            self.org.update("Opportunity", opportunity_id, {"StageName": stage}, stamp=stamp)

    def update(self, object_name: str, record_id: str, **fields: Any) -> None:
        with self.org.lock:
            self.org.update(object_name, record_id, fields)

    def delete(self, object_name: str, record_id: str) -> None:
        with self.org.lock:
            self.org.delete(object_name, record_id)

    def merge(self, master_id: str, loser_id: str) -> None:
        """Merge like the UI does: the loser is deleted with MasterRecordId = master; its tasks move over."""
        with self.org.lock:
            self.org.merge(master_id, loser_id)

    def convert_lead(self, lead_id: str, contact_id: str | None = None) -> str:
        with self.org.lock:
            return self.org.convert_lead(lead_id, contact_id)

    def record(self, object_name: str, record_id: str) -> dict[str, Any]:
        """Every field of a record (deleted ones too), as the API renders them."""
        with self.org.lock:
            row = self.org.row(object_name, record_id, deleted_ok=True)
            names = tuple(s.name for s in self.org.schema.object(object_name).fields.values())
            return QueryEngine.render(row, self.org.schema.object(object_name).name, names, URL_BASE)

    def tasks_for(self, who_id: str) -> list[dict[str, Any]]:
        """Live Tasks whose WhoId is `who_id`, oldest first."""
        with self.org.lock:
            ids = [r["Id"] for r in self.org.rows("Task") if r["WhoId"] == who_id and not r["IsDeleted"]]
        return [self.record("Task", i) for i in ids]

    def add_event(self, who_id: str, starts_at: datetime, *, subject: str = "Intro call",
                  minutes: int = 30) -> str:
        """Book a calendar Event with a Contact or Lead (WhoId), as a rep's calendar sync would."""
        with self.org.lock:
            return self.org.create("Event", {"WhoId": who_id, "Subject": subject,
                                             "StartDateTime": starts_at.isoformat(),
                                             "EndDateTime": (starts_at + timedelta(minutes=minutes)).isoformat(),
                                             "ActivityDateTime": starts_at.isoformat(), "DurationInMinutes": minutes})

    def complete_task(self, task_id: str) -> None:
        """Close a Task as its owner would (Status Completed; IsClosed follows)."""
        with self.org.lock:
            self.org.update("Task", task_id, {"Status": "Completed"})

    # admin ---------------------------------------------------------------------

    def add_custom_field(self, object_name: str, name: str, type: str = "string", external_id: bool = False,
                         unique: bool = False, values: Sequence[str] = (), restricted: bool = False) -> FieldSpec:
        """Create a custom field as an admin would in Setup (`Name__c`); `values` for a picklist."""
        with self.org.lock:
            return self.org.schema.add_custom_field(object_name, name, type, external_id=external_id, unique=unique,
                                                    values=values, restricted=restricted)

    def set_field_access(self, object_name: str, name: str, *, editable: bool) -> None:
        """Field-level security for the API user, as an admin sets it per profile or permission set."""
        with self.org.lock:
            self.org.schema.set_field_access(object_name, name, editable=editable)

    def set_daily_limit(self, limit: int) -> None:
        self.settings.salesforce_daily_api_limit = limit

    def register_connected_app(self, consumer_key: str, consumer_secret: str = "",
                               username: str | None = None) -> AppCredentials:
        """Register a connected app with a fresh certificate; returns what Threadline's config needs."""
        private, public = new_key_pair()
        self.oauth.register_app(ConnectedApp(consumer_key, consumer_secret or f"{consumer_key}-secret", public))
        return AppCredentials(consumer_key, consumer_secret or f"{consumer_key}-secret",
                              username or self.settings.salesforce_username, private)

    def issue_refresh_token(self, consumer_key: str, username: str | None = None) -> str:
        return self.oauth.issue_refresh_token(consumer_key, username or self.settings.salesforce_username)

    def expire_sessions(self) -> None:
        """Invalidate every issued access token: the next API call answers 401 INVALID_SESSION_ID."""
        self.oauth.expire_sessions()
