"""Salesforce as a CrmAdapter: Contacts and Leads in by SOQL, replies out as Tasks, fields via Collections.

Calls go through SalesforceApi (session refresh, limit header) over JsonApi (limiter,
shared retry policy, translate.py). Batches follow the documented limits: query pages
of up to 2,000 records, sObject Collections of 200 records. SOQL reads are
consistent, so a created Task is findable at once (`search_lag_seconds = 0`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
import structlog

from threadline.adapters.answers import read_by_shape, read_pages, reading
from threadline.adapters.daily_budget import BudgetMeter
from threadline.adapters.errors import NotFound, PermanentError, ProviderError
from threadline.adapters.ratelimit import RateLimiter
from threadline.adapters.records import (
    CheckResult,
    ContactCreated,
    ContactPage,
    ContactUpdate,
    CrmContact,
    CrmField,
    CrmMeeting,
    CrmOwner,
    EmailActivity,
    FieldWrite,
    LoggedActivity,
    NewContact,
    TaskRequest,
    TaskState,
)
from threadline.adapters.salesforce.api import SalesforceApi
from threadline.adapters.salesforce.auth import Grant
from threadline.adapters.salesforce.contact_creates import create_leads
from threadline.adapters.salesforce.contact_creates import find_by_email as find_people
from threadline.adapters.salesforce.contacts import ContactPull
from threadline.adapters.salesforce.cursor import SalesforceCursor
from threadline.adapters.salesforce.followups import followup_record, state_soql, to_state
from threadline.adapters.salesforce.meetings import meeting_pages
from threadline.adapters.salesforce.owners import USERS_SOQL, to_owner
from threadline.adapters.salesforce.related import ASSOCIATE_DEFAULT, WhatIds
from threadline.adapters.salesforce.rule_fields import check_fields, describe_field
from threadline.adapters.salesforce.schema import SalesforceNames
from threadline.adapters.salesforce.tasks import (
    ActivitiesRejected,
    find_soql,
    is_duplicate_key,
    reason,
    task_record,
)
from threadline.adapters.salesforce.translate import PROVIDER, InvalidField
from threadline.adapters.token_store import TokenStore

log = structlog.get_logger("threadline.salesforce")
COLLECTION = 200      # sObject Collections: at most 200 records per call
KEY_CHUNK = 200       # keys per find_logged query (well inside SOQL's 100,000-character limit)
PREFIX_OBJECT = {"003": "Contact", "00Q": "Lead"}
MISSING_CODES = {"ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY", "NOT_FOUND", "INVALID_ID_FIELD"}


def _last_endpoint(crm: SalesforceCrm) -> str:
    return crm.api.last_endpoint


#: Answers read by shape become MalformedResponse naming the endpoint called last.
_answers = read_by_shape(PROVIDER, _last_endpoint)


class MissingField(PermanentError):
    """A custom field Threadline writes does not exist in the org; the message says what to create."""


class SalesforceCrm:
    """CrmAdapter for one Salesforce org. `client` is an httpx.Client; URLs come from the grant and session."""

    name = "salesforce"
    owner_field = "OwnerId"               # the Contact/Lead field that holds its owner
    search_lag_seconds = 0.0

    def __init__(self, client: httpx.Client, grant: Grant, *, version: str = "v61.0",
                 names: SalesforceNames | None = None, batch_size: int | None = None,
                 email_fields: Sequence[str] = (), extra_fields: Sequence[str] = (),
                 limiter: RateLimiter | None = None, attempts: int = 6, tokens: TokenStore | None = None,
                 daily_budget: BudgetMeter | None = None, associate: Sequence[str] = ASSOCIATE_DEFAULT) -> None:
        self.api = SalesforceApi(client, grant, version=version, limiter=limiter, attempts=attempts, tokens=tokens,
                                 daily_budget=daily_budget)
        #: The org's daily API allocation as its answers state it (the contact pull keeps a reserve of it).
        self.daily_budget = self.api.daily_budget
        self.names = names or SalesforceNames()
        self.batch_size = batch_size
        self._contacts = ContactPull(self._query_all_pages, email_fields=email_fields, extra_fields=extra_fields,
                                     fields_of=lambda name: set(self._describe(name)))
        self._field_types: dict[str, dict[str, dict[str, Any]]] = {}     # object -> field name -> describe
        #: What a Contact's Tasks are related to (`sync.associate`): open Opportunity, else Account.
        self.what_ids = WhatIds(self.api.query_pages, associate=associate)

    def __repr__(self) -> str:
        return f"SalesforceCrm(version={self.api.version!r})"

    @property
    def api_usage(self) -> tuple[int, int] | None:
        """(used, limit) of the org's daily API requests, from the last response's Sforce-Limit-Info."""
        return self.api.api_usage

    # reads -------------------------------------------------------------------

    def pull_contacts(self, cursor: dict[str, Any] | None) -> Iterator[ContactPage]:
        """Contacts, then Leads, changed since `cursor` (None: all), oldest first, one page per query page.

        Deleted and merged records come with `deleted`/`merged_into`; converted Leads are
        `merged_into` their Contact. May raise ApiLimitExceeded, TransientError, AuthExpired,
        PermanentError (after the shared retry policy).
        """
        return read_pages(self._contacts.pages(SalesforceCursor.from_dict(cursor)), PROVIDER,
                          lambda: _last_endpoint(self))

    @_answers
    def find_logged(self, keys: Sequence[str]) -> dict[str, str]:
        """key -> Task id for keys already logged (SOQL on the external-id field; consistent at once)."""
        found: dict[str, str] = {}
        key_field = self.names.email_key
        for start in range(0, len(keys), KEY_CHUNK):
            chunk = list(keys[start:start + KEY_CHUNK])
            for records in self._checked(lambda c=chunk: list(self.api.query_pages(find_soql(c, key_field)))):
                for record in records:
                    found.setdefault(record[key_field], record["Id"])
        return found

    # writes ------------------------------------------------------------------

    @_answers
    def log_emails(self, activities: Sequence[EmailActivity]) -> list[LoggedActivity]:
        """Create completed Tasks (TaskSubtype Email) linked by WhoId, 200 per sObject Collections call; a
        Contact's Task is related (WhatId) to its newest open Opportunity, else its Account (related.py).

        Returns a LoggedActivity per created Task. Records Salesforce refuses are logged with
        reasons; if none was created, raises ActivitiesRejected. A missing key field raises
        MissingField. Not idempotent by itself (call `find_logged` first when retrying), but a
        Task whose key already exists (unique field) is looked up and returned, not duplicated.
        """
        logged: list[LoggedActivity] = []
        rejected: dict[str, str] = {}
        for start in range(0, len(activities), COLLECTION):
            chunk = activities[start:start + COLLECTION]
            whats = self._what_ids(a.contact_id for a in chunk)
            body = {"allOrNone": False,
                    "records": [task_record(a, self.names.email_key, whats.get(a.contact_id)) for a in chunk]}
            results = self._checked(lambda b=body: self.api.json("POST", "/composite/sobjects", json=b,
                                                                 idempotent=False))
            duplicates = []
            for activity, result in zip(chunk, results, strict=True):
                if result.get("success"):
                    logged.append(LoggedActivity(key=activity.key, remote_id=result["id"]))
                elif is_duplicate_key(result, self.names.email_key):
                    duplicates.append(activity.key)
                else:
                    rejected[activity.key] = reason(result)
            logged += [LoggedActivity(key=k, remote_id=v) for k, v in self.find_logged(duplicates).items()]
        for key, why in rejected.items():
            log.warning("salesforce.task_rejected", key=key, reason=why)
        if rejected and not logged:
            raise ActivitiesRejected(rejected)
        return logged

    @_answers
    def delete_emails(self, remote_ids: Sequence[str]) -> None:
        """Delete the Tasks that logged emails, 200 per sObject Collections call (DELETE /composite/sobjects?ids=).
        A Task already deleted (ENTITY_IS_DELETED) or gone (NOT_FOUND, INVALID_CROSS_REFERENCE_KEY) counts as
        deleted, so a retry is harmless; any other refusal raises PermanentError naming the ids."""
        refused: list[str] = []
        for start in range(0, len(remote_ids), COLLECTION):
            chunk = list(remote_ids[start:start + COLLECTION])
            results = self.api.json("DELETE", "/composite/sobjects",
                                    params={"ids": ",".join(chunk), "allOrNone": "false"})
            for task_id, result in zip(chunk, results, strict=True):
                codes = {e.get("statusCode") for e in result.get("errors") or []}
                if not result.get("success") and not codes <= MISSING_CODES:
                    refused.append(f"{task_id} ({reason(result)})")
        if refused:
            raise PermanentError(f"salesforce refused to delete tasks: {'; '.join(refused[:10])}", provider=PROVIDER)

    @_answers
    def update_contacts(self, updates: Sequence[ContactUpdate]) -> None:
        """Write absolute values on Contacts (003...) and Leads (00Q...), 200 per Collections call. Idempotent.
        Raises NotFound naming records Salesforce no longer has (after writing all the others)."""
        missing: list[str] = []
        failed: list[str] = []
        for start in range(0, len(updates), COLLECTION):
            chunk = updates[start:start + COLLECTION]
            body = {"allOrNone": False, "records": [self._update_record(u) for u in chunk]}
            results = self._checked(lambda b=body: self.api.json("PATCH", "/composite/sobjects", json=b))
            for update, result in zip(chunk, results, strict=True):
                if result.get("success"):
                    continue
                codes = {e.get("statusCode") for e in result.get("errors") or []}
                (missing if codes & MISSING_CODES else failed).append(f"{update.contact_id} ({reason(result)})")
        if failed:
            raise PermanentError(f"salesforce refused updates: {'; '.join(failed[:10])}", provider=PROVIDER)
        if missing:
            raise NotFound(f"salesforce records not found: {', '.join(missing[:20])}", provider=PROVIDER, status=404)

    # sync.create_contacts (contact_creates.py) ---------------------------------

    @_answers
    def find_contacts_by_email(self, emails: Sequence[str]) -> dict[str, CrmContact]:
        """Lower-cased address -> the Contact that has it, else the unconverted Lead (SOQL: consistent)."""
        return find_people(self.api.query_pages, emails)

    @_answers
    def create_contacts(self, contacts: Sequence[NewContact]) -> list[ContactCreated]:
        """Create Leads for the people Salesforce does not have yet (looked up by Email first), 200 per sObject
        Collections call. Safe to repeat; raises LeadsRejected (PermanentError) if none was created or found."""
        return create_leads(self.api.query_pages, self._create_records, contacts)

    def _create_records(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        for start in range(0, len(records), COLLECTION):
            body = {"allOrNone": False, "records": records[start:start + COLLECTION]}
            results += self._checked(lambda b=body: self.api.json("POST", "/composite/sobjects", json=b,
                                                                  idempotent=False))
        return results

    # the rule layer ------------------------------------------------------------

    @_answers
    def create_tasks(self, tasks: Sequence[TaskRequest]) -> list[LoggedActivity]:
        """Create open Tasks (WhoId, OwnerId, due date + reminder at the due time, priority), 200 per call;
        a Contact's Task is related (WhatId) to its newest open Opportunity, else its Account.

        Not idempotent by itself (call `find_tasks` first when retrying), but a Task whose key
        already exists (unique field) is looked up and returned, not duplicated. Raises
        ActivitiesRejected if Salesforce created none, MissingField if the key field is missing.
        """
        logged: list[LoggedActivity] = []
        rejected: dict[str, str] = {}
        key_field = self.names.email_key
        for start in range(0, len(tasks), COLLECTION):
            chunk = tasks[start:start + COLLECTION]
            whats = self._what_ids(t.contact_id for t in chunk)
            body = {"allOrNone": False,
                    "records": [followup_record(t, key_field, whats.get(t.contact_id)) for t in chunk]}
            results = self._checked(lambda b=body: self.api.json("POST", "/composite/sobjects", json=b,
                                                                 idempotent=False))
            duplicates = []
            for task, result in zip(chunk, results, strict=True):
                if result.get("success"):
                    logged.append(LoggedActivity(key=task.key, remote_id=result["id"]))
                elif is_duplicate_key(result, key_field):
                    duplicates.append(task.key)
                else:
                    rejected[task.key] = reason(result)
            logged += [LoggedActivity(key=k, remote_id=v.remote_id) for k, v in self.find_tasks(duplicates).items()]
        for key, why in rejected.items():
            log.warning("salesforce.followup_rejected", key=key, reason=why)
        if rejected and not logged:
            raise ActivitiesRejected(rejected)
        return logged

    @_answers
    def find_tasks(self, keys: Sequence[str]) -> dict[str, TaskState]:
        """key -> state of Tasks created for these keys (IsClosed, OwnerId, due); consistent at once."""
        found: dict[str, TaskState] = {}
        key_field = self.names.email_key
        for start in range(0, len(keys), KEY_CHUNK):
            soql = state_soql(list(keys[start:start + KEY_CHUNK]), key_field)
            for records in self._checked(lambda q=soql: list(self.api.query_pages(q))):
                for record in records:
                    found.setdefault(record[key_field], to_state(record, key_field))
        return found

    @_answers
    def write_fields(self, writes: Sequence[FieldWrite]) -> None:
        """Write absolute values on Contacts (003) and Leads (00Q), converted by the fields' describe
        types, 200 per call. Idempotent. Raises PermanentError for refused values, NotFound for
        records Salesforce no longer has (after writing all the others)."""
        self.update_contacts([ContactUpdate(contact_id=w.contact_id, properties=w.fields) for w in writes])

    @_answers
    def list_owners(self) -> list[CrmOwner]:
        """Every User, with IsActive as `active`."""
        return [to_owner(r) for records in self.api.query_pages(USERS_SOQL) for r in records]

    def pull_meetings(self, cursor: dict[str, Any] | None) -> Iterator[tuple[list[CrmMeeting], dict[str, Any]]]:
        """Events with a Contact/Lead (WhoId) changed since `cursor` (None: all), oldest first."""
        pages = meeting_pages(lambda soql: self.api.query_pages(soql, batch_size=self.batch_size), cursor)
        return read_pages(pages, PROVIDER, lambda: _last_endpoint(self))

    def contact_fields(self) -> dict[str, dict[str, CrmField]]:
        """The fields of Contact and of Lead (a rule writes to either) from describe, with picklist values
        and `updateable` (field-level security as the API user has it)."""
        self._field_types.clear()          # an admin may have just created fields
        with reading(PROVIDER, lambda: _last_endpoint(self)):
            return {name: {key: describe_field(spec) for key, spec in self._describe(name).items()}
                    for name in ("Contact", "Lead")}

    def rule_fields_schema(self, fields: Sequence[tuple[str, ...]]) -> list[CheckResult]:
        """Check the rule fields on Contact and Lead; a missing one is a failed CheckResult saying what the
        admin must create (Threadline cannot create Salesforce fields). Never raises for provider errors."""
        self._field_types.clear()  # an admin may have just created them
        try:
            with reading(PROVIDER, lambda: _last_endpoint(self)):
                return check_fields(self._describe, fields)
        except ProviderError as exc:
            return [CheckResult(target=PROVIDER, item="fields", ok=False, detail=str(exc))]

    # schema and checks ---------------------------------------------------------

    @_answers
    def ensure_schema(self) -> list[CheckResult]:
        """Check the custom fields exist (Salesforce fields are created by an admin, not by us).
        A missing field is a failed CheckResult whose detail says exactly what to create."""
        return self._field_checks(probe=False)

    def check(self) -> list[CheckResult]:
        """Reach Salesforce, verify the session, report the daily API budget and the custom fields. Never raises."""
        try:
            limits = self.api.json("GET", "/limits", probe=True)
        except ProviderError as exc:
            item = "credentials" if exc.status in (400, 401) or exc.kind == "AuthExpired" else "reach"
            return [CheckResult(target=PROVIDER, item=item, ok=False, detail=str(exc))]
        except Exception as exc:  # a broken login URL must not crash `threadline check`
            return [CheckResult(target=PROVIDER, item="reach", ok=False, detail=type(exc).__name__)]
        daily = limits.get("DailyApiRequests") or {}
        remaining, limit = daily.get("Remaining", 0), daily.get("Max", 0)
        return [CheckResult(target=PROVIDER, item="reach", ok=True),
                CheckResult(target=PROVIDER, item="credentials", ok=True),
                CheckResult(target=PROVIDER, item="daily API budget", ok=remaining > 0,
                            detail=f"{remaining} of {limit} requests left in the rolling 24 hours"),
                *self._field_checks(probe=True)]

    def close(self) -> None:
        """Close the httpx client it was given (the wiring hands it over); the adapter is unusable after."""
        self.api.close()

    # plumbing ------------------------------------------------------------------

    def _field_checks(self, *, probe: bool) -> list[CheckResult]:
        results = []
        for wanted in self.names.wanted():
            item = f"field {wanted.object_name}.{wanted.api_name}"
            try:
                spec = self._describe(wanted.object_name, probe=probe).get(wanted.api_name.lower())
            except ProviderError as exc:
                if not probe:
                    raise
                results.append(CheckResult(target=PROVIDER, item=item, ok=False, detail=str(exc)))
                continue
            if spec is None:
                results.append(CheckResult(target=PROVIDER, item=item, ok=False,
                                           detail=f"missing: {wanted.instructions()}"))
                continue
            notes = [] if spec["type"] in wanted.api_types else [f"type is {spec['type']}, expected {wanted.setup_type}"]
            notes += [f"not marked {flag}" for flag, want, has in (
                ("External ID", wanted.external_id, spec["externalId"]), ("Unique", wanted.unique, spec["unique"]))
                if want and not has]
            results.append(CheckResult(target=PROVIDER, item=item, ok=spec["type"] in wanted.api_types,
                                       detail="; ".join(notes) or "present"))
        return results

    def _describe(self, object_name: str, *, probe: bool = False) -> dict[str, dict[str, Any]]:
        if object_name not in self._field_types:
            path = f"/sobjects/{object_name}/describe"
            # Guarded here too: `check` reports ProviderErrors from describe and must never raise.
            with reading(PROVIDER, lambda: f"GET {path}"):
                body = self.api.json("GET", path, probe=probe)
                self._field_types[object_name] = {str(f["name"]).lower(): f for f in body.get("fields") or []}
        return self._field_types[object_name]

    def _update_record(self, update: ContactUpdate) -> dict[str, Any]:
        object_name = PREFIX_OBJECT.get(update.contact_id[:3])
        if object_name is None:
            raise PermanentError(f"{update.contact_id} is neither a Contact (003) nor a Lead (00Q)", provider=PROVIDER)
        fields = self._describe(object_name)
        record: dict[str, Any] = {"attributes": {"type": object_name}, "id": update.contact_id}
        for name, value in update.properties.items():
            spec = fields.get(name.lower())
            record[name] = to_field_value(spec["type"] if spec else "string", value)
        return record

    def _what_ids(self, who_ids: Iterator[str]) -> dict[str, str]:
        """who id -> WhatId for one write batch. A refusal (say the API user cannot read opportunity roles)
        logs the batch on the people alone rather than not at all; throttling and outages propagate."""
        try:
            return self.what_ids.for_people(who_ids)
        except PermanentError as exc:
            log.warning("salesforce.related_lookup_refused", reason=str(exc))
            return {}

    def _query_all_pages(self, soql: str) -> Iterator[list[dict[str, Any]]]:
        return self.api.query_pages(soql, include_deleted=True, batch_size=self.batch_size)

    def _checked(self, call: Any) -> Any:
        """Run a call; turn INVALID_FIELD on one of Threadline's custom fields into MissingField."""
        try:
            return call()
        except InvalidField as exc:
            for object_name in ("Task", "Contact", "Lead"):
                for name in exc.fields:
                    wanted = self.names.field(object_name, name)
                    if wanted is not None:
                        raise MissingField(f"salesforce field {object_name}.{wanted.api_name} is missing: "
                                           f"{wanted.instructions()}", provider=PROVIDER, status=exc.status) from exc
            raise


def to_field_value(field_type: str, value: str) -> Any:
    """The engine's string values as Salesforce's JSON types (datetimes arrive as epoch milliseconds)."""
    if value in ("", None):
        return None
    if field_type == "datetime" and str(value).isdigit():
        return datetime.fromtimestamp(int(value) / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    if field_type in ("double", "int", "currency", "percent"):
        return float(value)
    if field_type == "boolean":
        return str(value).lower() == "true"
    return value
