"""HubSpot as a CrmAdapter: contacts in through search, email activities and contact properties out.

Limits: every call goes through a RateLimiter sized to the private-app limit
(190 requests / 10 s by default); search calls go through a second limiter
(4 / s) because HubSpot limits search endpoints separately. Both are injectable
so the engine can share them per account. Retries and error translation live in
JsonApi + translate.py. The token is only ever put in the Authorization header.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import httpx
import structlog

from threadline.adapters.answers import decode_object, read_by_shape, read_pages, reading, require
from threadline.adapters.daily_budget import BudgetMeter
from threadline.adapters.errors import NotFound, PermanentError, ProviderError
from threadline.adapters.http import JsonApi
from threadline.adapters.hubspot.backfill import ContactBackfill, is_backfill
from threadline.adapters.hubspot.contact_creates import create_contacts, find_by_email
from threadline.adapters.hubspot.contacts import ContactPull
from threadline.adapters.hubspot.cursor import HubSpotCursor
from threadline.adapters.hubspot.emails import ActivitiesRejected, email_input, logged_from, rejected_from
from threadline.adapters.hubspot.fields import field_check, property_body, property_field, write_fields
from threadline.adapters.hubspot.meetings import MeetingPull
from threadline.adapters.hubspot.owners import owners
from threadline.adapters.hubspot.related import ASSOCIATE_DEFAULT, NOTHING, DealStages, Related, RelatedLookup
from threadline.adapters.hubspot.schema import SchemaNames
from threadline.adapters.hubspot.tasks import STATE_PROPERTIES, TasksRejected, task_input, task_state
from threadline.adapters.hubspot.translate import PROVIDER, translate
from threadline.adapters.ratelimit import LimiterChain, RateLimiter
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

log = structlog.get_logger("threadline.hubspot")
BATCH = 100
KEY_CHUNK = 100
LATENCY_PAD = 0.1  # seconds
#: The one-second search window gets more: a search waits behind list calls on a busy server, and arrival
#: jitter that is noise in ten seconds puts a sixth search inside HubSpot's second (seen in the backfill bench).
SEARCH_PAD = 0.2


def _last_endpoint(crm: HubSpotCrm) -> str:
    return crm.api.last_endpoint


#: Answers read by shape become MalformedResponse naming the endpoint that answered last.
_answers = read_by_shape(PROVIDER, _last_endpoint)


class HubSpotCrm:
    """CrmAdapter for one HubSpot portal. `client` is an httpx.Client whose base_url is the API root."""

    name = "hubspot"
    owner_field = "hubspot_owner_id"      # the contact property that holds its owner

    def __init__(self, client: httpx.Client, *, token: str, requests_per_window: int = 190,
                 window_seconds: float = 10.0, searches_per_second: float = 4,
                 limiter: RateLimiter | None = None, search_limiter: RateLimiter | None = None,
                 page_size: int = 200, extra_properties: Sequence[str] = (), names: SchemaNames | None = None,
                 attempts: int = 6, search_lag_seconds: float = 30.0,
                 daily_budget: BudgetMeter | None = None, associate: Sequence[str] = ASSOCIATE_DEFAULT,
                 associate_max_deals: int = 5, pipelines_ttl: float = 600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._token = token
        #: How long a created record may take to appear in search; the outbox waits this long
        #: before it looks up the effect of an attempt whose outcome it never learned.
        self.search_lag_seconds = search_lag_seconds
        # The limiter stamps a request when it leaves, HubSpot when it arrives: pad the window by
        # LATENCY_PAD so jitter in arrival never puts request N+1 inside HubSpot's window of the first N.
        self.limiter = limiter or RateLimiter(capacity=requests_per_window, window=window_seconds + LATENCY_PAD,
                                              name=PROVIDER)
        self.search_limiter = search_limiter or RateLimiter(capacity=searches_per_second, window=1.0 + SEARCH_PAD,
                                                            name=PROVIDER)
        self._search_limiters = LimiterChain((self.search_limiter, self.limiter))
        #: The portal's daily limit as its answers state it (the contact pull keeps a reserve of it).
        self.daily_budget = daily_budget or BudgetMeter.for_hubspot()
        self.api = JsonApi(client, provider=PROVIDER, limiter=self.limiter, translate=translate, attempts=attempts,
                           budget=self.daily_budget)
        self._probe = JsonApi(client, provider=PROVIDER, limiter=self.limiter, translate=translate, attempts=1,
                              budget=self.daily_budget)
        self.daily_budget.probe = lambda: self._get("/crm/v3/owners", params={"limit": 1})
        self.names = names or SchemaNames()
        self._contacts = ContactPull(self._search_contacts, page_size=page_size, extras=extra_properties)
        #: Where logged emails and rule tasks land besides the contact (`sync.associate`).
        self.related = RelatedLookup(self._post, DealStages(lambda: self._get("/crm/v3/pipelines/deals"),
                                                            ttl=pipelines_ttl, clock=clock),
                                     associate=associate, max_deals=associate_max_deals)

    def __repr__(self) -> str:
        return f"HubSpotCrm(base_url={str(self.api.client.base_url)!r})"

    # reads -------------------------------------------------------------------

    def pull_contacts(self, cursor: dict[str, Any] | None) -> Iterator[ContactPage]:
        """Contacts modified since `cursor`, oldest first, one page per search call; with no cursor, every
        contact, read from both ends of the id space at once (backfill.py) and then the incremental cursor.

        Merged-away ids come as records with `merged_into` set. May raise RateLimited,
        TransientError, AuthExpired or PermanentError (after the shared retry policy).
        """
        if is_backfill(cursor):
            backfill = ContactBackfill(list_page=self._list_contacts, search=self._search_contacts,
                                       properties=self._contacts.properties, extras=self._contacts.extras,
                                       lag_ms=int(self.search_lag_seconds * 1000))
            return read_pages(backfill.pages(cursor), PROVIDER, lambda: _last_endpoint(self))
        return read_pages(self._contacts.pages(HubSpotCursor.from_dict(cursor)), PROVIDER,
                          lambda: _last_endpoint(self))

    @_answers
    def find_logged(self, keys: Sequence[str]) -> dict[str, str]:
        """key -> email engagement id for keys already logged. HubSpot's search index lags writes by a
        few seconds, so a record created moments ago may not be found yet; callers reconcile later."""
        found: dict[str, str] = {}
        for start in range(0, len(keys), KEY_CHUNK):
            chunk = list(keys[start:start + KEY_CHUNK])
            body: dict[str, Any] = {"filterGroups": [{"filters": [
                {"propertyName": self.names.email_key, "operator": "IN", "values": chunk}]}],
                "properties": [self.names.email_key], "limit": 200}
            while True:
                page = self._search("emails", body)
                for result in page.get("results") or []:
                    key = (result.get("properties") or {}).get(self.names.email_key)
                    if key in chunk:
                        found.setdefault(key, str(result["id"]))
                after = ((page.get("paging") or {}).get("next") or {}).get("after")
                if not after:
                    break
                body = {**body, "after": after}
        return found

    # writes ------------------------------------------------------------------

    @_answers
    def log_emails(self, activities: Sequence[EmailActivity]) -> list[LoggedActivity]:
        """Create email engagements associated with their contacts, 100 per batch call, and with each
        contact's primary company and open deals as `associate` says (looked up per batch, related.py).

        Returns a LoggedActivity per created engagement. On a partial failure (HubSpot's
        207) the created ones are returned and the missing keys are the failures (logged
        with reasons); if nothing at all was created, raises ActivitiesRejected(key -> reason).
        Not idempotent by itself: call `find_logged` first when retrying.
        """
        logged: list[LoggedActivity] = []
        rejected: dict[str, str] = {}
        for start in range(0, len(activities), BATCH):
            chunk = activities[start:start + BATCH]
            related = self._related(a.contact_id for a in chunk)
            inputs = [email_input(a, self.names.email_key, related.get(a.contact_id, NOTHING)) for a in chunk]
            try:
                # A create is not idempotent: an ambiguous failure goes back to the outbox, which
                # looks the keys up (find_logged) before it tries again.
                body = self._post("/crm/v3/objects/emails/batch/create", {"inputs": inputs}, idempotent=False)
            except PermanentError as exc:  # HubSpot refused the whole batch (400)
                rejected.update({a.key: str(exc) for a in chunk})
                continue
            created = logged_from(body, self.names.email_key)
            logged += created
            rejected.update(rejected_from(body, [a.key for a in chunk], created))
        for key, reason in rejected.items():
            log.warning("hubspot.email_rejected", key=key, reason=reason)
        if rejected and not logged:
            raise ActivitiesRejected(rejected)
        return logged

    @_answers
    def delete_emails(self, remote_ids: Sequence[str]) -> None:
        """Archive (delete) email engagements, 100 per batch call (POST /crm/v3/objects/emails/batch/archive).
        Idempotent: HubSpot answers 204 for ids already archived, so a retry after an ambiguous failure is
        harmless."""
        for start in range(0, len(remote_ids), BATCH):
            inputs = [{"id": str(i)} for i in remote_ids[start:start + BATCH]]
            self.api.request("POST", "/crm/v3/objects/emails/batch/archive", json={"inputs": inputs},
                             headers=self._auth())

    @_answers
    def update_contacts(self, updates: Sequence[ContactUpdate]) -> None:
        """Write absolute property values, 100 contacts per batch call. Idempotent.
        Raises NotFound naming the contacts HubSpot no longer has (after writing all the others)."""
        missing: list[str] = []
        for start in range(0, len(updates), BATCH):
            chunk = updates[start:start + BATCH]
            inputs = [{"id": u.contact_id, "properties": dict(u.properties)} for u in chunk]
            try:
                body = self._post("/crm/v3/objects/contacts/batch/update", {"inputs": inputs})
            except NotFound:
                missing += [u.contact_id for u in chunk]
                continue
            done = {str(r["id"]) for r in body.get("results") or []}
            missing += [u.contact_id for u in chunk if u.contact_id not in done]
        if missing:
            raise NotFound(f"hubspot contacts not found: {', '.join(missing[:20])}", provider=PROVIDER, status=404)

    # sync.create_contacts (contact_creates.py) ---------------------------------

    @_answers
    def find_contacts_by_email(self, emails: Sequence[str]) -> dict[str, CrmContact]:
        """Lower-cased address -> live contact, by batch/read with idProperty email (no search-index lag)."""
        return find_by_email(self._post, emails)

    @_answers
    def create_contacts(self, contacts: Sequence[NewContact]) -> list[ContactCreated]:
        """Create the contacts HubSpot does not have yet (looked up by address first; a 409 is read again).
        Safe to repeat; raises ContactsRejected (PermanentError) if HubSpot created and had none of them."""
        return create_contacts(self._post, contacts)

    # the rule layer ------------------------------------------------------------

    @_answers
    def create_tasks(self, tasks: Sequence[TaskRequest]) -> list[LoggedActivity]:
        """Create open to-do tasks (owner, due time, priority) associated with their contacts, 100 per call,
        and with each contact's primary company and open deals as `associate` says.

        Each task carries its key in the task property `threadline_key` (see ensure_schema). Not
        idempotent by itself: after an ambiguous failure call `find_tasks` before trying again.
        Returns the created ones; raises TasksRejected if HubSpot created none.
        """
        logged: list[LoggedActivity] = []
        rejected: dict[str, str] = {}
        for start in range(0, len(tasks), BATCH):
            chunk = tasks[start:start + BATCH]
            related = self._related(t.contact_id for t in chunk)
            inputs = [task_input(t, self.names.task_key, related.get(t.contact_id, NOTHING)) for t in chunk]
            try:
                body = self._post("/crm/v3/objects/tasks/batch/create", {"inputs": inputs}, idempotent=False)
            except PermanentError as exc:
                rejected.update({t.key: str(exc) for t in chunk})
                continue
            created = logged_from(body, self.names.task_key)
            logged += created
            rejected.update(rejected_from(body, [t.key for t in chunk], created))
        for key, reason in rejected.items():
            log.warning("hubspot.task_rejected", key=key, reason=reason)
        if rejected and not logged:
            raise TasksRejected(rejected)
        return logged

    @_answers
    def find_tasks(self, keys: Sequence[str]) -> dict[str, TaskState]:
        """key -> state (open/completed, owner, due) of tasks created for these keys. Search lags writes
        by a few seconds (`search_lag_seconds`), so a task created moments ago may not be found yet."""
        found: dict[str, TaskState] = {}
        wanted = set(keys)
        for result in self._search_by_key("tasks", self.names.task_key, keys, STATE_PROPERTIES):
            state = task_state(result, self.names.task_key)
            if state is not None and state.key in wanted:
                found.setdefault(state.key, state)
        return found

    @_answers
    def write_fields(self, writes: Sequence[FieldWrite]) -> None:
        """Write absolute contact values (score, tier, `lifecyclestage`, `hubspot_owner_id`...). Idempotent.
        Raises LifecycleStageRefused for a backward stage move, PermanentError for other refused values,
        NotFound for contacts HubSpot no longer has (each after writing all the others)."""
        write_fields(self._post, writes)

    @_answers
    def list_owners(self) -> list[CrmOwner]:
        """Every owner: active ones, then deactivated users (`active=False`)."""
        return list(owners(lambda params: self._get("/crm/v3/owners", params=params)))

    def pull_meetings(self, cursor: dict[str, Any] | None) -> Iterator[tuple[list[CrmMeeting], dict[str, Any]]]:
        """Meetings with contacts modified since `cursor` (None: all), oldest first, with their contact ids."""
        pull = MeetingPull(lambda body: self._search("meetings", body), self._meeting_contacts)
        return read_pages(pull.pages(HubSpotCursor.from_dict(cursor)), PROVIDER, lambda: _last_endpoint(self))

    def contact_fields(self) -> dict[str, dict[str, CrmField]]:
        """Every contact property HubSpot has (its own and custom ones), with type, options and whether
        a value may be set (not readOnlyValue, not calculated)."""
        with reading(PROVIDER, lambda: _last_endpoint(self)):
            body = self._get("/crm/v3/properties/contacts")
            return {"contact": {str(p["name"]).lower(): property_field(p) for p in body.get("results") or []}}

    def rule_fields_schema(self, fields: Sequence[tuple[str, ...]]) -> list[CheckResult]:
        """Create the missing custom contact properties the rules write, in the `threadline` group.
        Each field: (name, "number" | "string" | "enumeration"[, options...]). HubSpot-defined
        properties (lifecyclestage, hubspot_owner_id, hs_*) are never created. Idempotent; never raises."""
        try:
            with reading(PROVIDER, lambda: _last_endpoint(self)):
                return self._rule_fields(fields)
        except ProviderError as exc:
            return [CheckResult(target=PROVIDER, item="properties contacts", ok=False, detail=str(exc))]

    def _rule_fields(self, fields: Sequence[tuple[str, ...]]) -> list[CheckResult]:
        body = self._get("/crm/v3/properties/contacts")
        existing = {p["name"]: p for p in body.get("results") or []}
        results = []
        for name, kind, *options in fields:
            known = field_check(name, kind, existing)
            if known is None:
                create, detail = property_body(name, kind, options, self.names.group)
                self._ensure_group("contacts")
                self._post("/crm/v3/properties/contacts", create)
                existing[name] = create
                known = CheckResult(target=PROVIDER, item=f"property contacts.{name}", ok=True, detail=detail)
            results.append(known)
        return results

    # schema and checks ---------------------------------------------------------

    @_answers
    def ensure_schema(self) -> list[CheckResult]:
        """Create the `threadline` property group and any missing custom property. Idempotent.

        Raises what is not about the schema (RateLimited, TransientError, AuthExpired): the engine then
        holds the CRM writes back, as a write to a property not created yet would fail for good."""
        results: list[CheckResult] = []
        for object_type in sorted({w[0] for w in self.names.ensured()}):
            try:
                results += self._ensure_type(object_type)
            except ProviderError as exc:
                if not isinstance(exc, PermanentError):
                    raise
                results.append(CheckResult(target=PROVIDER, item=f"properties {object_type}", ok=False,
                                           detail=str(exc)))
        return results

    def check(self) -> list[CheckResult]:
        """Reach HubSpot, verify the token, and report which custom properties exist. Never raises."""
        try:
            self._probe.request("GET", "/crm/v3/owners", params={"limit": 1}, headers=self._auth())
        except ProviderError as exc:
            item = "token" if exc.status in (401, 403) else "reach"
            return [CheckResult(target=PROVIDER, item=item, ok=False, detail=str(exc))]
        except Exception as exc:  # a broken base_url must not crash `threadline check`
            return [CheckResult(target=PROVIDER, item="reach", ok=False, detail=type(exc).__name__)]
        results = [CheckResult(target=PROVIDER, item="reach", ok=True),
                   CheckResult(target=PROVIDER, item="token", ok=True)]
        for object_type, name, *_ in self.names.wanted():
            try:
                # A missing property is not a failure: the first sync creates it (scope
                # crm.schemas.<object>.write); the table says so, so the admin knows.
                present = True
                detail = "" if name in self._property_names(object_type, self._probe) else (
                    f"missing: the first sync creates it (needs crm.schemas.{object_type}.write)")
            except ProviderError as exc:
                present, detail = False, str(exc)
            results.append(CheckResult(target=PROVIDER, item=f"property {object_type}.{name}", ok=present,
                                       detail=detail))
        return results

    def close(self) -> None:
        """Close the httpx client it was given (the wiring hands it over); the adapter is unusable after."""
        self.api.client.close()

    # plumbing ------------------------------------------------------------------

    def _ensure_type(self, object_type: str) -> list[CheckResult]:
        self._ensure_group(object_type)
        existing = self._property_names(object_type, self.api)
        results = []
        for kind, name, label, value_type, field_type in self.names.ensured():
            if kind != object_type:
                continue
            if name not in existing:
                self._post(f"/crm/v3/properties/{object_type}",
                           {"name": name, "label": label, "type": value_type, "fieldType": field_type,
                            "groupName": self.names.group, "description": "Written by Threadline."})
            results.append(CheckResult(target=PROVIDER, item=f"property {object_type}.{name}", ok=True,
                                       detail="present" if name in existing else "created"))
        return results

    def _ensure_group(self, object_type: str) -> None:
        groups = self._get(f"/crm/v3/properties/{object_type}/groups")
        if self.names.group not in {g["name"] for g in groups.get("results") or []}:
            self._post(f"/crm/v3/properties/{object_type}/groups",
                       {"name": self.names.group, "label": "Threadline", "displayOrder": -1})

    def _property_names(self, object_type: str, api: JsonApi) -> set[str]:
        path = f"/crm/v3/properties/{object_type}"
        # Guarded here, not only by the public method: `check` reports ProviderErrors and must never raise.
        with reading(PROVIDER, lambda: f"GET {path}"):
            body = decode_object(api.request("GET", path, headers=self._auth()), PROVIDER)
            return {p["name"] for p in body.get("results") or []}

    def _search_by_key(self, object_type: str, key_property: str, keys: Sequence[str],
                       properties: Sequence[str]) -> Iterator[dict[str, Any]]:
        """Search results whose key property is one of `keys` (100 keys per IN filter, paged)."""
        for start in range(0, len(keys), KEY_CHUNK):
            body: dict[str, Any] = {"filterGroups": [{"filters": [
                {"propertyName": key_property, "operator": "IN", "values": list(keys[start:start + KEY_CHUNK])}]}],
                "properties": [key_property, *properties], "limit": 200}
            while True:
                page = self._search(object_type, body)
                yield from page.get("results") or []
                after = ((page.get("paging") or {}).get("next") or {}).get("after")
                if not after:
                    break
                body = {**body, "after": after}

    def _related(self, contact_ids: Iterator[str]) -> dict[str, Related]:
        """contact id -> company and open deals for one write batch. A refusal (say the app lacks the
        companies or deals read scope) logs the batch on the contacts alone rather than not at all;
        throttling and outages propagate, so the outbox tries the whole write again later."""
        try:
            return self.related.for_contacts(contact_ids)
        except PermanentError as exc:
            log.warning("hubspot.related_lookup_refused", reason=str(exc))
            return {}

    def _meeting_contacts(self, meeting_ids: Sequence[str]) -> dict[str, list[str]]:
        """meeting id -> associated contact ids, in one v4 batch read (meetings without contacts are absent)."""
        body = self._post("/crm/v4/associations/meetings/contacts/batch/read",
                          {"inputs": [{"id": i} for i in meeting_ids]})
        return {str(r["from"]["id"]): [str(t["toObjectId"]) for t in r.get("to") or []]
                for r in body.get("results") or []}

    def _search_contacts(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._search("contacts", body)

    def _list_contacts(self, params: dict[str, Any]) -> dict[str, Any]:
        path = "/crm/v3/objects/contacts"
        return require(self._get(path, params=params), PROVIDER, f"GET {path}", results=list)

    def _search(self, object_type: str, body: dict[str, Any]) -> dict[str, Any]:
        path = f"/crm/v3/objects/{object_type}/search"
        # Both limiters: the search limit, and the ten-second window searches may count in (backfill.py).
        answer = decode_object(self.api.request("POST", path, json=body, headers=self._auth(),
                                                limiter=self._search_limiters), PROVIDER)
        return require(answer, PROVIDER, f"POST {path}", results=list)

    def _post(self, path: str, body: dict[str, Any], *, idempotent: bool = True) -> dict[str, Any]:
        response = self.api.request("POST", path, json=body, headers=self._auth(), idempotent=idempotent)
        return decode_object(response, PROVIDER)

    def _get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return decode_object(self.api.request("GET", path, params=params, headers=self._auth()), PROVIDER)

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}
