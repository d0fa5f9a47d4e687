"""Typed models of threadline.yaml. Secrets are SecretStr so they never print."""

from __future__ import annotations

import ipaddress
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from threadline.rules.assignment.config import OwnerId
from threadline.rules.business_hours import known_zone
from threadline.rules.settings import RulesSettings

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
_ISO_DURATION = TypeAdapter(timedelta)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _parse_duration(value: Any) -> Any:
    if not isinstance(value, (int, float, str)):
        return value
    match = _DURATION.match(value) if isinstance(value, str) else None
    try:
        if match is not None:
            return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])
        if not isinstance(value, str):
            return timedelta(seconds=value)
        if value.strip().upper().startswith("P"):       # ISO 8601 (PT5M, P1D), as settings dumped to JSON have it
            return _ISO_DURATION.validate_python(value.strip().upper())
    except (OverflowError, ValidationError):  # .inf or 1e400 seconds was a traceback, not a ConfigError (tests/reliability/test_fuzz_config.py)
        pass
    raise ValueError("a duration like 60s, 5m, 1h, PT5M or a number of seconds")


Duration = Annotated[timedelta, BeforeValidator(_parse_duration)]


def _email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError("an email address like rep@example.com")
    return value.strip().lower()


EmailAddress = Annotated[str, BeforeValidator(lambda v: _email(str(v)))]


def _labels(value: Any) -> Any:
    """One label name or a list of them (`only_labelled: CRM` or `[CRM, Deals]`); blank names are refused."""
    names = [value] if isinstance(value, str) else value
    if isinstance(names, list) and any(not isinstance(n, str) or not n.strip() for n in names):
        raise ValueError("label names, like CRM or [CRM, Deals]")
    return [n.strip() for n in names] if isinstance(names, list) else names


_LABEL_NAME = {"type": "string", "minLength": 1}
Labels = Annotated[list[str], BeforeValidator(_labels),
                   WithJsonSchema({"anyOf": [_LABEL_NAME, {"type": "array", "items": _LABEL_NAME}]})]
_ONLY_LABELLED = ("Log only mail that carries one of these labels (Gmail label, Outlook category, IMAP keyword or "
                  "folder); a label added later gets it logged on the next pull")
_NEVER_LABELLED = ("Never log mail that carries one of these labels; labelling mail that was already logged removes "
                   "its activity from the CRM on the next pull (and the audit says so)")


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StoreSettings(Section):
    url: str = Field("sqlite:///threadline.db", description="SQLAlchemy URL: sqlite:///path or postgresql+psycopg://...")
    retention_days: int = Field(365, ge=1, description="How long message headers and reply context are kept.")
    secret_key_file: Path | None = Field(None, description="File of Fernet keys, one per line, the first encrypts "
                                         "(tokens kept in the store); THREADLINE_SECRET_KEY overrides it. "
                                         "Make a key with `threadline secrets new-key`")

    @field_validator("url")
    @classmethod
    def _known_backend(cls, url: str) -> str:
        if not url.startswith(("sqlite://", "postgresql")):
            raise ValueError("a sqlite:/// or postgresql+psycopg:// URL")
        return url


class ReplyProperties(Section):
    """Contact properties Threadline keeps current (HubSpot internal names)."""

    last_reply_at: str = "threadline_last_reply_at"
    last_reply_snippet: str = "threadline_last_reply_snippet"
    reply_count: str = "threadline_reply_count"


class HubSpotSettings(Section):
    kind: Literal["hubspot"]
    base_url: str = "https://api.hubapi.com"
    token: SecretStr = Field(description="Private-app access token (scopes: crm.objects.contacts.read/write, crm.schemas.contacts.write, sales-email-read, crm.objects.companies.read, crm.objects.deals.read)")
    requests_per_10s: int = Field(190, ge=1, description="Your tier's limit: 100 (Free/Starter), 190 (Pro/Enterprise), 250 (increase)")
    search_per_second: int = Field(4, ge=1)
    search_index_lag: Duration = Field(timedelta(seconds=30), description="How long new records take to appear in HubSpot search; "
                                       "the outbox waits this long before looking up an attempt whose outcome is unknown")
    properties: ReplyProperties = ReplyProperties()
    ca_file: Path | None = Field(None, description="Extra CA bundle to trust (proxies, the sandbox's TLS)")
    daily_reserve: float = Field(0.10, ge=0, lt=1, description="Share of the CRM's daily API limit the contact "
                                 "pull leaves alone (for reply logging and your other integrations): below it a "
                                 "backfill pauses, its place kept, until the day turns")
    daily_reset_timezone: str = Field("UTC", description="The portal's time zone (Settings > Account defaults): "
                                      "HubSpot's daily limit starts again at midnight there")

    @field_validator("daily_reset_timezone")
    @classmethod
    def _reset_zone(cls, value: str) -> str:
        return known_zone(value)


class SalesforceFields(Section):
    """Custom fields Threadline writes in Salesforce (the admin creates them; `threadline check` says how)."""

    email_key: str = "Threadline_Key__c"
    last_reply_at: str = "Threadline_Last_Reply_At__c"
    last_reply_snippet: str = "Threadline_Last_Reply__c"
    reply_count: str = "Threadline_Reply_Count__c"


class SalesforceSettings(Section):
    kind: Literal["salesforce"]
    login_url: str = Field("https://login.salesforce.com", description="https://test.salesforce.com for sandboxes")
    api_version: str = Field("v61.0", pattern=r"^v\d+\.\d$")
    consumer_key: str = Field(description="Connected app consumer key (client id)")
    username: str | None = Field(None, description="JWT bearer flow: the integration user")
    private_key_file: Path | None = Field(None, description="JWT bearer flow: the connected app's private key (PEM)")
    client_secret: SecretStr | None = Field(None, description="Refresh-token flow: consumer secret")
    refresh_token: SecretStr | None = Field(None, description="Refresh-token flow: the user's refresh token")
    email_fields: list[str] = Field(default_factory=list, description="Extra email fields to match on (e.g. Alt_Email__c)")
    properties: SalesforceFields = SalesforceFields()
    ca_file: Path | None = Field(None, description="Extra CA bundle to trust (proxies, the sandbox's TLS)")
    daily_reserve: float = Field(0.10, ge=0, lt=1, description="Share of the CRM's daily API limit the contact "
                                 "pull leaves alone (for reply logging and your other integrations): below it a "
                                 "backfill pauses, its place kept, until the day turns")

    @model_validator(mode="after")
    def _one_flow(self) -> SalesforceSettings:
        if not (self.username and self.private_key_file) and not self.refresh_token:
            raise ValueError("username + private_key_file (JWT bearer), or refresh_token, is required")
        return self


CrmSettings = Annotated[HubSpotSettings | SalesforceSettings, Field(discriminator="kind")]


class MailboxBase(Section):
    address: EmailAddress = Field(description="The rep this mailbox belongs to")
    owner_id: OwnerId | None = Field(None, description="CRM owner id of the rep (logged on activities; sequence "
                                 "email to this owner's contacts is sent from this mailbox)")
    display_name: str | None = Field(None, description="The rep's name: the From name of sequence email and "
                                     "`owner.name` in templates (else the CRM owner's name)")
    timezone: str | None = Field(None, description="The rep's IANA zone: sending windows use it for contacts "
                                 "without a zone of their own")
    only_labelled: Labels | None = Field(None, description=_ONLY_LABELLED + " (this mailbox; replaces sync.only_labelled)")
    never_labelled: Labels | None = Field(None, description=_NEVER_LABELLED + " (this mailbox; replaces "
                                          "sync.never_labelled)")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return None if value is None else known_zone(value)


class ImapMailbox(MailboxBase):
    kind: Literal["imap"]
    host: str
    port: int = Field(993, ge=1, le=65535)
    security: Literal["tls", "starttls", "none"] = "tls"
    username: str
    password: SecretStr | None = None
    oauth2_token: SecretStr | None = Field(None, description="XOAUTH2 access token (Gmail/Outlook over IMAP)")
    ca_file: Path | None = Field(None, description="Extra CA bundle to trust (self-signed servers)")
    smtp_host: str | None = Field(None, description="Submission server for sequence email (same login as IMAP); "
                                  "without it this mailbox only syncs")
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_security: Literal["tls", "starttls", "none"] = "starttls"

    @model_validator(mode="after")
    def _one_login(self) -> ImapMailbox:
        if not self.password and not self.oauth2_token:
            raise ValueError("password or oauth2_token is required")
        return self


_SENT_COPY_DELAY = ("How long after a send whose outcome we did not learn the copy may take to appear in Sent; "
                    "only then is it sent again")


class GmailMailbox(MailboxBase):
    kind: Literal["gmail"]
    base_url: str = "https://gmail.googleapis.com"
    token_uri: str = Field("https://oauth2.googleapis.com/token", description="OAuth token endpoint")
    service_account_file: Path | None = Field(None, description="Service-account JSON with domain-wide delegation")
    client_id: str | None = Field(None, description="Installed-app OAuth client id (with client_secret + refresh_token)")
    client_secret: SecretStr | None = None
    refresh_token: SecretStr | None = None
    quota_units_per_minute: int = Field(15_000, ge=100)
    ca_file: Path | None = Field(None, description="Extra CA bundle to trust (proxies, the sandbox's TLS)")
    sent_copy_delay: Duration = Field(timedelta(seconds=120), description=_SENT_COPY_DELAY)

    @model_validator(mode="after")
    def _one_auth(self) -> GmailMailbox:
        installed = self.client_id and self.client_secret and self.refresh_token
        if not self.service_account_file and not installed:
            raise ValueError("service_account_file, or client_id + client_secret + refresh_token, is required")
        return self


class OutlookMailbox(MailboxBase):
    kind: Literal["outlook"]
    tenant: str = Field(description="Directory (tenant) id or domain")
    client_id: str = Field(description="App registration's application (client) id")
    client_secret: SecretStr | None = Field(None, description="App-only access (application permissions Mail.Read, Mail.Send)")
    delegated: bool = Field(False, description="Delegated access: the user's tokens are kept encrypted in the "
                            "store; sign in once with `threadline auth outlook ADDRESS`")
    token_cache_file: Path | None = Field(None, description="Delegated access, older installs: encrypted MSAL token "
                                          "cache (key in THREADLINE_TOKEN_CACHE_KEY), moved into the store on the "
                                          "first start with a secret key")
    authority_host: str = "https://login.microsoftonline.com"
    base_url: str = Field("https://graph.microsoft.com/v1.0",
                          description="Graph root with version; national clouds: https://graph.microsoft.us/v1.0, ...")
    ca_file: Path | None = Field(None, description="Extra CA bundle to trust (proxies, the sandbox's TLS)")
    sent_copy_delay: Duration = Field(timedelta(seconds=600), description=_SENT_COPY_DELAY)

    @model_validator(mode="after")
    def _one_auth(self) -> OutlookMailbox:
        if not self.client_secret and not self.delegated and not self.token_cache_file:
            raise ValueError("client_secret (app-only) or delegated: true (a signed-in user) is required")
        return self

    @property
    def is_delegated(self) -> bool:
        """Delegated (a user's tokens) rather than app-only; a legacy token_cache_file means delegated."""
        return self.delegated or (self.token_cache_file is not None and not self.client_secret)


Mailbox = Annotated[ImapMailbox | GmailMailbox | OutlookMailbox, Field(discriminator="kind")]
_MAILBOX = TypeAdapter(Mailbox)


class MailboxSource(Section):
    """Every CRM owner's mailbox, found on each CRM pull: one entry for the whole team. Gmail with a service
    account that has domain-wide delegation; Outlook with an app registration's application permissions. The
    other keys are the mailbox settings every found mailbox gets (service_account_file, tenant, client_id,
    client_secret, base_url, ca_file, ...), as under `mailboxes:`."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    kind: Literal["gmail", "outlook"]
    from_: Literal["crm_owners"] = Field("crm_owners", alias="from",
                                         description="crm_owners: HubSpot owners (not archived), Salesforce active Users")
    domains: list[str] = Field(min_length=1, description="Owners whose address is in one of these domains")
    include: list[EmailAddress] = Field(default_factory=list, description="Only these owners (when given)")
    exclude: list[EmailAddress] = Field(default_factory=list, description="Never these owners")

    @field_validator("domains")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        return [d.strip().lower().lstrip("@") for d in value]

    @model_validator(mode="after")
    def _org_wide(self) -> MailboxSource:
        extra = self.model_extra or {}
        if self.kind == "gmail" and not extra.get("service_account_file"):
            raise ValueError("a gmail mailbox source needs service_account_file (a service account with "
                             "domain-wide delegation): one rep's refresh token cannot open the others' mailboxes")
        if self.kind == "outlook" and not extra.get("client_secret"):
            raise ValueError("an outlook mailbox source needs client_secret (an app registration with the "
                             "application permissions Mail.Read and Mail.Send)")
        try:
            self.mailbox_for(f"probe@{self.domains[0]}", None)      # the shared settings, checked once now
        except ValidationError as exc:
            raise ValueError("; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}"
                                       for e in exc.errors())) from None
        return self

    def covers(self, address: str) -> bool:
        """Whether an owner with this address gets a mailbox from this source."""
        address = address.lower()        # include/exclude are EmailAddress: lowercase already
        if address.rsplit("@", 1)[-1] not in self.domains or address in self.exclude:
            return False
        return not self.include or address in self.include

    def mailbox_for(self, address: str, owner_id: str | None) -> ImapMailbox | GmailMailbox | OutlookMailbox:
        """The mailbox entry a found owner gets: this source's settings with the owner's address and id."""
        return _MAILBOX.validate_python({**(self.model_extra or {}), "kind": self.kind, "address": address,
                                         "owner_id": owner_id})


class SyncSettings(Section):
    internal_domains: list[str] = Field(default_factory=list, description="Threads with no outside party are never logged")
    exclude_domains: list[str] = Field(default_factory=list, description="Mail to/from these domains is never logged")
    exclude_addresses: list[EmailAddress] = Field(default_factory=list)
    poll_interval: Duration = timedelta(seconds=60)
    crm_poll_interval: Duration | None = Field(None, description="Pull CRM changes this often between full cycles "
                                               "(e.g. 15s for Salesforce, which has no webhooks here)")
    backfill_days: int = Field(30, ge=0, le=3650, description="How far back the first sync reads")
    log_outgoing: bool = Field(False, description="Also log the reps' outgoing mail to contacts")
    associate: list[Literal["company", "open_deals"]] = Field(
        ["company", "open_deals"], description="Where logged mail and rule tasks land "
        "besides the contact: HubSpot associates them with the contact's primary company and open deals; "
        "Salesforce relates a Contact's Task (WhatId) to its newest open Opportunity, else its Account. [] turns it off")
    associate_max_deals: int = Field(5, ge=1, le=100, description="HubSpot: at most this many open deals per "
                                     "email or task, most recently modified first")
    only_labelled: Labels = Field(default_factory=list, description=_ONLY_LABELLED)
    never_labelled: Labels = Field(default_factory=list, description=_NEVER_LABELLED)
    create_contacts: Literal["none", "rep_emailed", "all_external"] = Field(
        "none", description="Create a CRM contact (Salesforce: a Lead) for mail from a person the CRM does not "
        "have: none (never), rep_emailed (an outside person answers mail a rep sent them), all_external (any "
        "outside sender). Never from auto-replies, bounces, bulk mail, internal, excluded or role addresses "
        "(noreply@...), nor personal mailbox providers unless create_contacts_personal_domains")
    create_contacts_personal_domains: bool = Field(False, description="Also create contacts for addresses at "
                                                   "personal mailbox providers (gmail.com, outlook.com, yahoo.com, "
                                                   "icloud.com, ...: the list is in the README)")
    plus_addressing: bool = Field(True, description="Treat jane+tag@x.com as jane@x.com when matching")
    aliases: dict[EmailAddress, EmailAddress] = Field(default_factory=dict, description="alias -> address known to the CRM")
    snippet_chars: int = Field(200, ge=20, le=2000)
    lease_time: Duration = Field(timedelta(minutes=2), description="How long a replica may hold a unit of work (a "
                                 "mailbox, the CRM pull, an outbox row) without renewing it; a killed replica's "
                                 "work moves to the others after at most this")
    mailbox_concurrency: int = Field(16, ge=1, le=64, description="Mailboxes one replica pulls at once, each under "
                                     "its own lease; every provider limit (per mailbox, per project or app) still "
                                     "holds, so more only helps while those limits leave room")
    gmail_project_units_per_minute: int = Field(1_200_000, ge=100, description="Gmail's per-project quota, shared by "
                                                "every Gmail mailbox of one Google Cloud project (one OAuth client or "
                                                "service account) on this replica; with several replicas, give each its share")
    shutdown_timeout: Duration = Field(timedelta(seconds=20), description="On SIGTERM, how long `threadline run` "
                                       "may take to finish the work in hand, commit cursors and release its leases")
    retry_first_delay: Duration = Field(timedelta(seconds=2), description="After a CRM write or send fails, the "
                                        "first wait before it is tried again; each further failure doubles it")
    retry_max_delay: Duration = Field(timedelta(hours=1), description="The longest wait between two attempts")
    give_up_after: Duration = Field(timedelta(days=1), description="A CRM write or send still failing this long "
                                    "after its first failed attempt is marked failed (shown in `threadline status`); "
                                    "waiting for another write or a throttle does not count as an attempt")

    @field_validator("retry_first_delay", "retry_max_delay", "give_up_after")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("a duration above zero, like 2s, 1h or 1d")
        return value

    @field_validator("internal_domains", "exclude_domains")
    @classmethod
    def _domains(cls, domains: list[str]) -> list[str]:
        for domain in domains:
            if "@" in domain or "." not in domain:
                raise ValueError(f"domain names like example.com (got {domain!r})")
        return [d.strip().lower() for d in domains]


class ServerLimits(Section):
    """What one request or one client may cost the HTTP server (every route is public to the internet).

    Body limits are checked before a body is buffered: a `Content-Length` over the limit is refused (413) unread,
    a chunked body is cut off (413) as soon as it passes. Each default is sized from what the provider sends, with
    room to spare; a genuine push refused for size loses only a wake-up (the pull that follows reads from the
    stored cursor, and polling catches up anyway), so raising one is never urgent."""

    hubspot_webhook_bytes: int = Field(
        1_048_576, ge=1024, description="POST /webhooks/hubspot: HubSpot batches up to 100 events per delivery, "
        "about 300-600 bytes each (a property change carries the new value); 1 MiB leaves room for long values")
    gmail_push_bytes: int = Field(
        65_536, ge=1024, description="POST /push/gmail: a Pub/Sub push envelope around Gmail's "
        "{emailAddress, historyId} (well under 1 KiB); Pub/Sub allows 10 MB messages, but only Gmail publishes to "
        "this topic")
    graph_push_bytes: int = Field(
        1_048_576, ge=1024, description="POST /push/graph and /push/graph/lifecycle: a batch of change "
        "notifications without resource data, under 1 KiB each")
    events_bytes: int = Field(
        1_048_576, ge=1024, description="POST /events: at most 100 events, each with its data under 16 KiB")
    form_bytes: int = Field(
        8192, ge=1024, description="The login form, the status page's and connect pages' buttons, and the one-click "
        "unsubscribe POST (RFC 8058: `List-Unsubscribe=One-Click`), and any other route")
    in_flight_per_route: int = Field(
        32, ge=1, description="Requests one route handles at once; more are answered 503 with Retry-After (HubSpot "
        "and Pub/Sub retry). /healthz and /readyz are not capped")
    max_connections: int = Field(
        1000, ge=10, description="Open connections; at the cap a new connection closes the one idle the longest "
        "(waiting for headers or between requests), so idle clients cannot crowd out honest ones")
    header_timeout: Duration = Field(timedelta(seconds=10), description="A request's line and headers must arrive "
                                     "within this (slow-loris clients are closed with 408)")
    body_timeout: Duration = Field(timedelta(seconds=20), description="A request's body must arrive within this "
                                   "after its headers (408)")
    keep_alive: Duration = Field(timedelta(seconds=5), description="An idle keep-alive connection is closed after "
                                 "this; keep it below the reverse proxy's upstream keep-alive timeout")
    failures_per_minute: int = Field(
        30, ge=0, description="Refused requests (401, 403, 404, 405, 408, 413) one client address may make in a "
        "minute before every request from it is answered 429 with Retry-After; 0 turns it off. Genuine deliveries "
        "are never refused, so providers' retries are not affected")
    trusted_proxies: list[str] = Field(
        default_factory=list, description="Addresses or networks (10.0.0.0/8) of reverse proxies whose "
        "X-Forwarded-For and X-Forwarded-Proto are believed; otherwise the client address is the TCP peer (behind a "
        "proxy that is not listed here, every client shares the proxy's address)")

    @field_validator("header_timeout", "body_timeout", "keep_alive")
    @classmethod
    def _at_least_a_second(cls, value: timedelta) -> timedelta:
        # Shorter would refuse honest senders on an ordinary round trip (and uvicorn counts keep-alive in seconds).
        if value < timedelta(seconds=1):
            raise ValueError("must be at least 1s")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network") from None
        return value


class ServerSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535, description="0 picks a free port (tests)")
    public_url: str | None = Field(None, description="How providers reach this server (https://threadline.example.com); "
                                   "needed to verify HubSpot webhook signatures behind a proxy")
    events_token: SecretStr | None = Field(None, description="Bearer token for POST /events (custom events from a "
                                           "website or forms tool); the endpoint is off without it")
    unsubscribe_secret: SecretStr | None = Field(None, description="Signs the unsubscribe links in sequence emails "
                                                 "(List-Unsubscribe, RFC 8058 one-click); required for sequences")
    unsubscribe_previous_secrets: list[SecretStr] = Field(
        default_factory=list, description="Secrets rotated out of unsubscribe_secret: links they signed (in email "
        "already sent) still unsubscribe; new links are signed with unsubscribe_secret only")
    admin_token: SecretStr | None = Field(None, description="Bearer token for /metrics, /api/status and the status "
                                          "page login; those endpoints are off (404) without it")
    readiness_floor: Duration = Field(timedelta(minutes=2), description="/readyz fails a source whose last success is "
                                      "older than 3 poll intervals, but never sooner than this")
    limits: ServerLimits = Field(default_factory=ServerLimits, description="Body sizes, timeouts, connection and "
                                 "rate limits of the HTTP server")

    @field_validator("admin_token")
    @classmethod
    def _long_admin_token(cls, value: SecretStr | None) -> SecretStr | None:
        # It guards every admin endpoint and signs status-page sessions: too short to guess is the point.
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("use at least 16 random characters (e.g. `openssl rand -hex 24`)")
        return value

    @field_validator("unsubscribe_secret", "unsubscribe_previous_secrets")
    @classmethod
    def _no_empty_unsubscribe_secret(cls, value: SecretStr | list[SecretStr] | None) -> SecretStr | list[SecretStr] | None:
        # An empty key (an unset `${VAR:-}`) signs links anyone can compute: every contact could be unsubscribed.
        secrets = value if isinstance(value, list) else [value] if value is not None else []
        if any(not secret.get_secret_value() for secret in secrets):
            raise ValueError("must not be empty")
        return value

    @model_validator(mode="after")
    def _previous_needs_current(self) -> ServerSettings:
        if self.unsubscribe_previous_secrets and self.unsubscribe_secret is None:
            raise ValueError("unsubscribe_previous_secrets must come with unsubscribe_secret, which signs new links")
        return self


class ConnectGmail(Section):
    """The Google OAuth client reps connect their own Gmail with (a "Web application" client in the Google Cloud
    console whose authorized redirect URI is `<server.public_url>/connect/callback/gmail`)."""

    client_id: str = Field(description="OAuth client id (…apps.googleusercontent.com)")
    client_secret: SecretStr = Field(description="The OAuth client's secret")
    auth_uri: str = "https://accounts.google.com/o/oauth2/v2/auth"
    token_uri: str = "https://oauth2.googleapis.com/token"
    revoke_uri: str = "https://oauth2.googleapis.com/revoke"
    base_url: str = "https://gmail.googleapis.com"
    ca_file: Path | None = Field(None, description="Extra CA bundle to trust (proxies, the sandbox's TLS)")


class ConnectOutlook(Section):
    """The Entra app registration reps connect their own Outlook mailbox with (platform "Web", redirect URI
    `<server.public_url>/connect/callback/outlook`, delegated Mail.Read, Mail.Send, offline_access)."""

    tenant: str = Field("organizations", description="Directory (tenant) id or domain; organizations for any "
                        "work account")
    client_id: str = Field(description="Application (client) id")
    client_secret: SecretStr = Field(description="A client secret of the app registration")
    authority_host: str = "https://login.microsoftonline.com"
    base_url: str = "https://graph.microsoft.com/v1.0"
    ca_file: Path | None = Field(None, description="Extra CA bundle to trust (proxies, the sandbox's TLS)")


class ConnectSettings(Section):
    """Connect links: each rep connects their own mailbox through the provider's consent screen."""

    gmail: ConnectGmail | None = None
    outlook: ConnectOutlook | None = None
    link_lifetime: Duration = Field(timedelta(days=7), description="How long a connect link works (single use)")

    @property
    def providers(self) -> list[str]:
        return [name for name in ("gmail", "outlook") if getattr(self, name) is not None]


class GmailPush(Section):
    topic: str = Field(description="Pub/Sub topic Gmail publishes to: projects/PROJECT/topics/TOPIC")
    audience: str = Field(description="Audience of the push subscription's OIDC token (usually the push URL)")
    service_account_email: str | None = Field(None, description="The push subscription's service account, if pinned")
    certs_url: str = "https://www.googleapis.com/oauth2/v1/certs"


class HubSpotWebhooks(Section):
    app_secret: SecretStr = Field(description="The app's client secret: signs webhook deliveries (v3)")


class GraphPush(Section):
    notification_url: str = Field(description="Public URL of /push/graph (Graph posts change notifications there)")
    client_state: SecretStr = Field(description="Shared secret Graph echoes in every notification")


class PushSettings(Section):
    """Push only says what to pull; polling (sync.poll_interval) stays as the fallback."""

    gmail: GmailPush | None = None
    hubspot: HubSpotWebhooks | None = None
    graph: GraphPush | None = None
    imap_idle: bool = Field(True, description="Hold an IMAP IDLE connection per IMAP mailbox")
    imap_idle_max: int = Field(100, ge=0, description="At most this many IMAP mailboxes are held in IDLE (a thread "
                               "and a connection each, per replica); the rest are polled every sync.poll_interval")


class Settings(Section):
    """The whole threadline.yaml."""

    store: StoreSettings = StoreSettings()
    crm: CrmSettings
    mailboxes: list[Mailbox] = Field(default_factory=list)
    mailbox_sources: list[MailboxSource] = Field(default_factory=list, description="Mailboxes found from the "
                                                 "CRM's owners on every CRM pull (an entry under mailboxes: wins)")
    sync: SyncSettings = SyncSettings()
    rules: RulesSettings = RulesSettings()
    server: ServerSettings = ServerSettings()
    push: PushSettings = PushSettings()
    connect: ConnectSettings = ConnectSettings()

    @model_validator(mode="after")
    def _connect_needs_public_url(self) -> Settings:
        if self.connect.providers and not (self.server.public_url or "").strip():
            raise ValueError("connect links need server.public_url: the link and the provider's redirect URI "
                             "(<public_url>/connect/callback/<provider>) live under it")
        return self

    @model_validator(mode="after")
    def _retention_covers_backfill(self) -> Settings:
        if self.store.retention_days <= self.sync.backfill_days:
            raise ValueError(f"store.retention_days ({self.store.retention_days}) must be longer than "
                             f"sync.backfill_days ({self.sync.backfill_days}), or a resync would log old mail again")
        return self

    @model_validator(mode="after")
    def _sequences_can_unsubscribe(self) -> Settings:
        emails = any(step.kind == "email" for seq in self.rules.sequences for step in seq.steps)
        if emails and (self.server.unsubscribe_secret is None or not self.server.public_url):
            raise ValueError("sequences that send email need server.public_url and server.unsubscribe_secret "
                             "(every sequence email carries a signed one-click unsubscribe link)")
        return self

    @model_validator(mode="after")
    def _unique_mailboxes(self) -> Settings:
        seen: set[str] = set()
        for box in self.mailboxes:
            if box.address in seen:
                raise ValueError(f"mailbox {box.address} is configured twice")
            seen.add(box.address)
        return self
