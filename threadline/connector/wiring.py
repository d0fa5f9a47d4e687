"""Build adapters and the engine from settings. The only place that knows every concrete adapter."""

from __future__ import annotations

from datetime import timedelta

import httpx

from threadline.adapters.gmail import GmailAdapter, from_refresh_token, from_service_account
from threadline.adapters.hubspot import HubSpotCrm, SchemaNames
from threadline.adapters.imap import ImapMailbox
from threadline.adapters.protocols import CrmAdapter, MailboxAdapter
from threadline.config.models import GmailMailbox, HubSpotSettings, Settings
from threadline.config.models import ImapMailbox as ImapSettings
from threadline.sync.engine import MailboxBinding, SyncEngine
from threadline.sync.matching import AddressPolicy
from threadline.sync.store.database import Store

USER_AGENT = "threadline"


def build_crm(settings: Settings) -> CrmAdapter:
    crm: HubSpotSettings = settings.crm
    client = httpx.Client(base_url=crm.base_url.rstrip("/"), timeout=httpx.Timeout(30.0, connect=10.0),
                          headers={"User-Agent": USER_AGENT})
    names = SchemaNames(last_reply_at=crm.properties.last_reply_at,
                        last_reply_snippet=crm.properties.last_reply_snippet,
                        reply_count=crm.properties.reply_count)
    return HubSpotCrm(client, token=crm.token.get_secret_value(), requests_per_window=crm.requests_per_10s,
                      searches_per_second=crm.search_per_second, names=names,
                      search_lag_seconds=crm.search_index_lag.total_seconds())


def build_mailbox(settings: Settings, box: GmailMailbox | ImapSettings) -> MailboxAdapter:
    if isinstance(box, GmailMailbox):
        if box.service_account_file:
            credentials = from_service_account(box.service_account_file, box.address, token_uri=box.token_uri)
        else:
            assert box.client_id and box.client_secret and box.refresh_token  # guaranteed by the model
            credentials = from_refresh_token(box.client_id, box.client_secret.get_secret_value(),
                                             box.refresh_token.get_secret_value(), token_uri=box.token_uri)
        return GmailAdapter(box.address, credentials, base_url=box.base_url,
                            units_per_minute=box.quota_units_per_minute, backfill_days=settings.sync.backfill_days)
    token = box.oauth2_token.get_secret_value() if box.oauth2_token else None
    return ImapMailbox(address=box.address, host=box.host, port=box.port, security=box.security,
                       username=box.username, password=box.password.get_secret_value() if box.password else None,
                       access_token=(lambda: token) if token else None,
                       ca_file=str(box.ca_file) if box.ca_file else None, backfill_days=settings.sync.backfill_days)


def address_policy(settings: Settings) -> AddressPolicy:
    sync = settings.sync
    return AddressPolicy(internal_domains=frozenset(sync.internal_domains), exclude_domains=frozenset(sync.exclude_domains),
                         exclude_addresses=frozenset(sync.exclude_addresses), plus_addressing=sync.plus_addressing,
                         aliases=dict(sync.aliases), log_outgoing=sync.log_outgoing)


def build_engine(settings: Settings, store: Store | None = None) -> SyncEngine:
    """The engine for this config: store opened (and migrated), CRM and every mailbox wired."""
    bindings = [MailboxBinding(build_mailbox(settings, box), box.owner_id) for box in settings.mailboxes]
    props = settings.crm.properties
    return SyncEngine(store or Store(settings.store.url), build_crm(settings), bindings, address_policy(settings),
                      property_names={"last_reply_at": props.last_reply_at,
                                      "last_reply_snippet": props.last_reply_snippet, "reply_count": props.reply_count},
                      snippet_chars=settings.sync.snippet_chars,
                      retention=timedelta(days=settings.store.retention_days))
