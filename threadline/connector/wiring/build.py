"""Build adapters and the engine from settings. The only place that knows every concrete adapter."""

from __future__ import annotations

import functools
import json
import ssl
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import httplib2
import httpx
import structlog

from threadline.adapters.daily_budget import BudgetMeter
from threadline.adapters.errors import ProviderError
from threadline.adapters.gmail import GmailAdapter, from_refresh_token, from_service_account
from threadline.adapters.gmail import project_limiter as gmail_project_limiter
from threadline.adapters.gmail.credentials import SharedTokenCredentials
from threadline.adapters.hubspot import HubSpotCrm, SchemaNames
from threadline.adapters.imap import ImapMailbox
from threadline.adapters.outlook import (
    ClientCredentials,
    Delegated,
    EncryptedTokenCache,
    OutlookAdapter,
    PersistentTokenCache,
    StoredTokenCache,
    app_limiter,
    import_file_once,
)
from threadline.adapters.outlook import consent as outlook_consent
from threadline.adapters.protocols import CrmAdapter, MailboxAdapter
from threadline.adapters.ratelimit import LimiterRegistry, RateLimiter
from threadline.adapters.salesforce import JwtBearerGrant, RefreshTokenGrant, SalesforceCrm, SalesforceNames
from threadline.adapters.sending import MailSender
from threadline.adapters.smtp import SmtpSender
from threadline.adapters.token_store import MemoryTokenStore, TokenStore
from threadline.config.models import (
    GmailMailbox,
    HubSpotSettings,
    Mailbox,
    OutlookMailbox,
    SalesforceSettings,
    Settings,
)
from threadline.config.models import ImapMailbox as ImapSettings
from threadline.connector.wiring.consent import connected_mailbox
from threadline.connector.wiring.secret_keys import (
    KEY_ENV,
    SecretsUnusable,
    load_keys,
    no_key_message,
    token_store,
)
from threadline.connector.wiring.team import TeamDirectory, source_of
from threadline.rules.runner import RuleRunner, RuleSet, compile_rules
from threadline.rules.sequences import Sequencer
from threadline.rules.sequences.reporting.settings import stage_order
from threadline.rules.sequences.runner import SendingMailbox, SequenceRunner
from threadline.rules.sequences.send_check import why_not_send
from threadline.rules.settings import MIRRORED
from threadline.sync.contacts.create_policy import ContactCreation
from threadline.sync.engine import MailboxBinding, SyncEngine
from threadline.sync.mail.matching import AddressPolicy
from threadline.sync.mailboxes.found import CONNECTED
from threadline.sync.mailboxes.labels import LabelRule
from threadline.sync.outbox.retry_policy import RetryPolicy
from threadline.sync.store.database import Store
from threadline.sync.store.tables import FoundMailboxRow

log = structlog.get_logger("threadline.wiring")
USER_AGENT = "threadline"
TIMEOUT = httpx.Timeout(30.0, connect=10.0)


def _verify(ca_file: Path | None) -> ssl.SSLContext | bool:
    return ssl.create_default_context(cafile=str(ca_file)) if ca_file else True


def build_crm(settings: Settings, tokens: TokenStore | None = None) -> CrmAdapter:
    """The CRM adapter. `tokens` keeps OAuth sessions (the encrypted store; default: this process's memory)."""
    crm = settings.crm
    extra = rule_contact_fields(settings)
    # Where logged mail and rule tasks land besides the contact (company, open deals): sync.associate.
    associate = tuple(settings.sync.associate)
    if isinstance(crm, SalesforceSettings):
        return _salesforce(crm, extra, tokens or MemoryTokenStore(), associate)
    return _hubspot(crm, extra, associate, settings.sync.associate_max_deals)


def _hubspot(crm: HubSpotSettings, extra: list[str], associate: tuple[str, ...], max_deals: int) -> HubSpotCrm:
    client = httpx.Client(base_url=crm.base_url.rstrip("/"), timeout=TIMEOUT, headers={"User-Agent": USER_AGENT},
                          verify=_verify(crm.ca_file))
    names = SchemaNames(last_reply_at=crm.properties.last_reply_at,
                        last_reply_snippet=crm.properties.last_reply_snippet,
                        reply_count=crm.properties.reply_count)
    return HubSpotCrm(client, token=crm.token.get_secret_value(), requests_per_window=crm.requests_per_10s,
                      searches_per_second=crm.search_per_second, names=names,
                      search_lag_seconds=crm.search_index_lag.total_seconds(), extra_properties=extra,
                      daily_budget=BudgetMeter.for_hubspot(crm.daily_reset_timezone), associate=associate,
                      associate_max_deals=max_deals)


def _salesforce(crm: SalesforceSettings, extra: list[str], tokens: TokenStore,
                associate: tuple[str, ...]) -> SalesforceCrm:
    grant: JwtBearerGrant | RefreshTokenGrant
    if crm.username and crm.private_key_file:
        grant = JwtBearerGrant(crm.consumer_key, crm.username, crm.private_key_file.read_text(), crm.login_url)
    else:
        assert crm.refresh_token is not None  # guaranteed by the model
        grant = RefreshTokenGrant(crm.consumer_key, crm.refresh_token.get_secret_value(),
                                  crm.client_secret.get_secret_value() if crm.client_secret else None, crm.login_url)
    client = httpx.Client(timeout=TIMEOUT, headers={"User-Agent": USER_AGENT}, verify=_verify(crm.ca_file))
    fields = crm.properties
    names = SalesforceNames(email_key=fields.email_key, last_reply_at=fields.last_reply_at,
                            last_reply_snippet=fields.last_reply_snippet, reply_count=fields.reply_count)
    return SalesforceCrm(client, grant, version=crm.api_version, names=names, email_fields=crm.email_fields,
                         extra_fields=extra, tokens=tokens, associate=associate)


def build_mailbox(settings: Settings, box: GmailMailbox | ImapSettings | OutlookMailbox,
                  tokens: TokenStore | None = None, shared: LimiterRegistry | None = None) -> MailboxAdapter:
    """The mailbox adapter. `tokens` keeps its OAuth tokens (default: memory; a delegated Outlook mailbox,
    whose refresh token only the store holds, then opens the store). `shared` holds the limits mailboxes share
    (a Gmail project's quota, a Graph app's limit): the engine's one registry, so that every adapter of a
    project or app spends from the same limiter (default: none). May raise SecretsUnusable (exit 2)."""
    backfill = settings.sync.backfill_days
    if isinstance(box, GmailMailbox):
        if box.service_account_file:
            credentials = from_service_account(box.service_account_file, box.address, token_uri=box.token_uri)
        else:
            assert box.client_id and box.client_secret and box.refresh_token  # guaranteed by the model
            credentials = from_refresh_token(box.client_id, box.client_secret.get_secret_value(),
                                             box.refresh_token.get_secret_value(), token_uri=box.token_uri)
        credentials = SharedTokenCredentials(credentials, tokens or MemoryTokenStore(),
                                             f"gmail/{box.address}/access-token")
        http = httplib2.Http(timeout=60, ca_certs=str(box.ca_file)) if box.ca_file else None
        return GmailAdapter(box.address, credentials, base_url=box.base_url, http=http,
                            project_limiter=_gmail_project(settings, box, shared),
                            units_per_minute=box.quota_units_per_minute, backfill_days=backfill,
                            sent_copy_delay=box.sent_copy_delay, label_changes=label_rule(settings, box) is not None)
    if isinstance(box, OutlookMailbox):
        return _outlook(settings, box, backfill, tokens, shared)
    token = box.oauth2_token.get_secret_value() if box.oauth2_token else None
    labels = label_rule(settings, box)
    return ImapMailbox(address=box.address, host=box.host, port=box.port, security=box.security,
                       username=box.username, password=box.password.get_secret_value() if box.password else None,
                       access_token=(lambda: token) if token else None,
                       ca_file=str(box.ca_file) if box.ca_file else None, backfill_days=backfill,
                       label_changes=labels is not None, label_folders=(*labels.only, *labels.never) if labels else ())


def _gmail_project(settings: Settings, box: GmailMailbox, shared: LimiterRegistry | None) -> RateLimiter | None:
    """The per-project quota's limiter of the Google Cloud project `box` calls Gmail through (None: no registry)."""
    if shared is None:
        return None
    project = (f"service-account:{_service_account_project(box.service_account_file)}" if box.service_account_file
               else f"oauth-client:{box.client_id}")
    units = settings.sync.gmail_project_units_per_minute
    made = gmail_project_limiter(units)
    return shared.get("gmail", project, made.capacity, made.window)


@functools.lru_cache(maxsize=64)
def _service_account_project(path: Path) -> str:
    """A service-account key's project (read once per file: a team's thousand mailboxes share one key)."""
    try:
        info = json.loads(path.read_text())
        return str(info.get("project_id") or info.get("client_id") or path)
    except (OSError, ValueError, AttributeError):
        return str(path)           # the credentials themselves say what is wrong with the file


def _outlook(settings: Settings, box: OutlookMailbox, backfill_days: int,
             tokens: TokenStore | None, shared: LimiterRegistry | None = None) -> OutlookAdapter:
    verify = _verify(box.ca_file)
    msal_verify = str(box.ca_file) if box.ca_file else True     # MSAL's requests wants a path
    source: ClientCredentials | Delegated
    if box.is_delegated:
        source = delegated_source(settings, box, tokens)
    else:
        assert box.client_secret is not None  # guaranteed by the model
        cache = StoredTokenCache(tokens or MemoryTokenStore(), f"outlook/{box.tenant}/{box.client_id}/app-tokens")
        source = ClientCredentials(box.tenant, box.client_id, box.client_secret.get_secret_value(),
                                   authority_host=box.authority_host, verify=msal_verify, cache=cache)
    http = httpx.Client(timeout=TIMEOUT, headers={"User-Agent": USER_AGENT}, verify=verify)
    app = app_limiter()
    return OutlookAdapter(box.address, source, base_url=box.base_url, http=http, owns_http=True,
                          app_limiter=shared.get("outlook", box.client_id, app.capacity, app.window) if shared else None,
                          backfill_days=backfill_days, sent_copy_delay=box.sent_copy_delay)


def delegated_source(settings: Settings, box: OutlookMailbox, tokens: TokenStore | None = None) -> Delegated:
    """The delegated token source of an Outlook mailbox (also what `threadline auth outlook` signs in with)."""
    secret = box.client_secret.get_secret_value() if box.client_secret else None
    return Delegated(box.tenant, box.client_id, delegated_cache(settings, box, tokens), box.address,
                     client_secret=secret, authority_host=box.authority_host,
                     verify=str(box.ca_file) if box.ca_file else True)


def delegated_cache(settings: Settings, box: OutlookMailbox, tokens: TokenStore | None) -> PersistentTokenCache:
    """A delegated mailbox's MSAL cache (it holds the user's refresh token): in the store under a secret key.

    A legacy `token_cache_file` is imported into the store once; with no secret key it is still used
    in place (as before). Without either, SecretsUnusable (exit 2) says how to make a key.
    """
    if load_keys(settings) is None:
        if box.token_cache_file is not None:
            log.warning("outlook.token_cache_in_file", mailbox=box.address,
                        note=f"set {KEY_ENV} to keep the tokens encrypted in the store instead")
            return EncryptedTokenCache.from_env(box.token_cache_file)
        raise SecretsUnusable(no_key_message(f"delegated Outlook mailbox {box.address}"))
    if tokens is None or isinstance(tokens, MemoryTokenStore):
        tokens = token_store(settings)
    name = outlook_cache_name(box.address)
    if box.token_cache_file is not None:
        import_file_once(tokens, name, box.token_cache_file)
    return StoredTokenCache(tokens, name)


def outlook_cache_name(address: str) -> str:
    """Where a delegated mailbox's MSAL cache lives in the secrets table."""
    return outlook_consent.stored_name(address)


def build_binding(settings: Settings, box: GmailMailbox | ImapSettings | OutlookMailbox,
                  tokens: TokenStore | None = None, shared: LimiterRegistry | None = None) -> MailboxBinding:
    """The mailbox's adapter, its owner, and its sender (None: an IMAP mailbox without `smtp_host`)."""
    adapter = build_mailbox(settings, box, tokens, shared)
    labels = label_rule(settings, box)
    if isinstance(adapter, ImapMailbox):
        assert isinstance(box, ImapSettings)
        return MailboxBinding(adapter, box.owner_id, _smtp_sender(box, adapter) if box.smtp_host else None,
                              labels=labels)
    assert isinstance(adapter, GmailAdapter | OutlookAdapter)     # they send through their own API
    return MailboxBinding(adapter, box.owner_id, adapter, labels=labels)


def label_rule(settings: Settings, box: GmailMailbox | ImapSettings | OutlookMailbox) -> LabelRule | None:
    """The mailbox's opt-in/opt-out labels: its own `only_labelled`/`never_labelled`, else the sync section's."""
    only = box.only_labelled if box.only_labelled is not None else settings.sync.only_labelled
    never = box.never_labelled if box.never_labelled is not None else settings.sync.never_labelled
    return LabelRule(only=tuple(only), never=tuple(never)) if only or never else None


def found_binding(settings: Settings, row: FoundMailboxRow, tokens: TokenStore | None = None,
                  shared: LimiterRegistry | None = None) -> MailboxBinding | None:
    """The binding of a mailbox found from the CRM's owners: its source entry's settings with the owner's
    address and id (None when the config no longer has that source)."""
    if row.source == CONNECTED:
        connected = connected_mailbox(settings, row.address, row.kind, row.owner_id, tokens or MemoryTokenStore())
        return build_binding(settings, connected, tokens, shared) if connected is not None else None
    index = source_of(settings, row)
    if index is None:
        return None
    box = settings.mailbox_sources[index].mailbox_for(row.address, row.owner_id)
    assert not isinstance(box, ImapSettings)          # sources are gmail or outlook
    return build_binding(settings, box, tokens, shared)


def _smtp_sender(box: ImapSettings, mailbox: ImapMailbox) -> MailSender:
    """SMTP submission with the IMAP login; the Sent copy is filed, and looked for, through IMAP."""
    assert box.smtp_host is not None
    token = box.oauth2_token.get_secret_value() if box.oauth2_token else None
    return SmtpSender(box.smtp_host, box.smtp_port, box.smtp_security, username=box.username,
                      password=box.password.get_secret_value() if box.password else None,
                      access_token=(lambda: token) if token else None,
                      ca_file=str(box.ca_file) if box.ca_file else None,
                      sent_folder_lookup=mailbox.find_in_sent, append_to_sent=mailbox.append_sent)


def address_policy(settings: Settings) -> AddressPolicy:
    sync = settings.sync
    return AddressPolicy(internal_domains=frozenset(sync.internal_domains), exclude_domains=frozenset(sync.exclude_domains),
                         exclude_addresses=frozenset(sync.exclude_addresses), plus_addressing=sync.plus_addressing,
                         aliases=dict(sync.aliases), log_outgoing=sync.log_outgoing)


def build_engine(settings: Settings, store: Store | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> SyncEngine:
    """The engine for this config: store opened (and migrated), CRM, every mailbox and the rules wired.
    `clock` is the time the rules and sequences run at (tests move it over simulated weeks).

    Raises RuleError when the rules do not validate, SecretsUnusable (exit 2) when the secret key is wrong.
    """
    store = store or Store(settings.store.url)
    tokens = token_store(settings, store)     # SecretsUnusable (exit 2) if the key is not the rows' key
    shared = LimiterRegistry()      # a Gmail project's and a Graph app's limits: one limiter for all their mailboxes
    bindings = [build_binding(settings, box, tokens, shared) for box in settings.mailboxes]
    props = settings.crm.properties
    rules = compile_rules(settings.rules, owner_timezones={box.owner_id: box.timezone for box in settings.mailboxes
                                                           if box.owner_id and box.timezone})
    runner = RuleRunner(store, rules) if rules.contact_rules else None
    crm = build_crm(settings, tokens)
    sequences = _sequence_runner(settings, store, rules, crm, bindings)
    engine = SyncEngine(store, crm, bindings, address_policy(settings),
                      property_names={"last_reply_at": props.last_reply_at,
                                      "last_reply_snippet": props.last_reply_snippet, "reply_count": props.reply_count},
                      snippet_chars=settings.sync.snippet_chars,
                      retention=timedelta(days=settings.store.retention_days),
                      unsubscribe_field=settings.rules.unsubscribe_field,
                      rules_step=(lambda: runner.run_pending(clock())) if runner else None,
                      sequence_step=(lambda: sequences.run(clock())) if sequences else None,
                      send_check=partial(why_not_send, meeting_goes_on=frozenset(
                          s.name for s in settings.rules.sequences if not s.exit_on_meeting)),
                      rule_fields=_written_fields(settings), poll_interval=settings.sync.poll_interval,
                      crm_poll_interval=settings.sync.crm_poll_interval, lease_time=settings.sync.lease_time,
                      retry=RetryPolicy(settings.sync.retry_first_delay, settings.sync.retry_max_delay,
                                        settings.sync.give_up_after), clock=clock,
                      daily_reserve=settings.crm.daily_reserve,
                      directory=TeamDirectory(settings, store, lambda s, row: found_binding(s, row, tokens, shared))
                      if settings.mailbox_sources or settings.connect.providers else None,
                      mailbox_concurrency=settings.sync.mailbox_concurrency,
                      contact_creation=ContactCreation(settings.sync.create_contacts,
                                                       settings.sync.create_contacts_personal_domains))
    if sequences is not None and engine.directory is not None:
        sequences.team = lambda: team_senders(engine.mailboxes)
    return engine


def team_senders(bindings: Sequence[MailboxBinding]) -> list[SendingMailbox]:
    """The engine's mailboxes as sequences see them (found and connected ones included, as they come and go)."""
    return [SendingMailbox(b.adapter.address, b.owner_id, can_send=b.sender is not None) for b in bindings]


def _sequence_runner(settings: Settings, store: Store, rules: RuleSet, crm: CrmAdapter,
                     bindings: Sequence[MailboxBinding]) -> SequenceRunner | None:
    if rules.sequencer is None:
        return None
    by_address = {b.adapter.address: b for b in bindings}
    return sequence_runner(settings, store, rules.sequencer, lambda box: by_address[box.address].sender is not None,
                           owner_names(crm))


def sequence_runner(settings: Settings, store: Store, sequencer: Sequencer, can_send: Callable[[Mailbox], bool],
                    names: Callable[[], Mapping[str, str]]) -> SequenceRunner:
    """The SequenceRunner for this config (the daemon's, and `plan`'s dry run, which connects no mailbox)."""
    mailboxes = [SendingMailbox(box.address, box.owner_id, box.display_name, box.timezone, can_send=can_send(box))
                 for box in settings.mailboxes]
    secret = settings.server.unsubscribe_secret
    scoring = settings.rules.scoring
    # Sequences see score.* as the values scoring wrote onto the contact (they are in the mirror).
    score_fields = {"total": scoring.fields.total, "fit": scoring.fields.fit, "intent": scoring.fields.intent,
                    "tier": scoring.fields.tier} if scoring else {}
    # Both are required by the Settings validator whenever a sequence has an email step.
    return SequenceRunner(store, sequencer, mailboxes, public_url=settings.server.public_url or "",
                          unsubscribe_secret=secret.get_secret_value() if secret else "",
                          owner_names=names, score_fields=score_fields)


def owner_names(crm: CrmAdapter) -> Callable[[], Mapping[str, str]]:
    """The CRM's owner id -> name, fetched on first use and kept (an unreachable CRM is asked again next time)."""
    names: dict[str, str] = {}
    fetched = False

    def get() -> Mapping[str, str]:
        nonlocal fetched
        if not fetched:
            try:
                names.update({owner.id: owner.name for owner in crm.list_owners()})
                fetched = True
            except ProviderError as exc:
                log.warning("crm.owners_unavailable", error=exc.kind)
        return names

    return get


def _written_fields(settings: Settings) -> list[tuple[str, str]]:
    """Threadline's own score fields the rules write (the stage and owner fields are the CRM's own)."""
    return [(f.name, f.kind) for f in settings.rules.written_fields() if f.custom and f.kind]


def rule_contact_fields(settings: Settings) -> list[str]:
    """Contact fields the rules read or write: the CRM adapter pulls these into the mirror."""
    rules = settings.rules
    names = {f.name for f in rules.read_fields()} | {f.name for f in rules.written_fields() if f.kind != "owner"}
    stages = stage_order(rules.reporting, settings.crm.kind) if rules.sequences else None
    if stages is not None:      # the report's stage progression reads its changes (Salesforce: Lead only; the
        names.add(stages.field)  # pull leaves a field out of the objects that lack it)
    return sorted(names - MIRRORED)         # the owner is mirrored as owner_id by every adapter
