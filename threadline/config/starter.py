"""The commented starter threadline.yaml that `threadline init` writes, for any CRM and mailbox kind.

One template per section (threadline/config/starters/) lays out the keys and says what each one is and where
to get it; the values come from a config-shaped dict: `production_config` (the providers' own URLs, every
secret a ${VAR}) or whatever the caller builds, such as a sandbox's values. Rendering checks that every value
of the dict is in the file, so a template can never silently drop a setting.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from threadline.config.loading import ENV_REFERENCE
from threadline.config.models import GmailMailbox, HubSpotSettings, OutlookMailbox, SalesforceSettings

CRMS = ("hubspot", "salesforce")
MAILBOXES = ("imap", "gmail", "outlook")
TEMPLATES = Path(__file__).parent / "starters"


def _default(model: Any, key: str) -> Any:
    return model.model_fields[key].default


_REP = {"address": "rep@example.com", "owner_id": None}
PRODUCTION_CRM: dict[str, dict[str, Any]] = {
    "hubspot": {"kind": "hubspot", "base_url": _default(HubSpotSettings, "base_url"), "token": "${HUBSPOT_TOKEN}"},
    "salesforce": {"kind": "salesforce", "login_url": _default(SalesforceSettings, "login_url"),
                   "consumer_key": "${SALESFORCE_CONSUMER_KEY}", "client_secret": "${SALESFORCE_CONSUMER_SECRET}",
                   "refresh_token": "${SALESFORCE_REFRESH_TOKEN}"},
}
PRODUCTION_MAILBOX: dict[str, dict[str, Any]] = {
    "imap": {"kind": "imap", **_REP, "host": "imap.example.com", "port": 993, "security": "tls",
             "username": "rep@example.com", "password": "${IMAP_PASSWORD}"},
    "gmail": {"kind": "gmail", **_REP, "service_account_file": "/run/secrets/gmail-service-account.json",
              "token_uri": _default(GmailMailbox, "token_uri"), "base_url": _default(GmailMailbox, "base_url")},
    "outlook": {"kind": "outlook", **_REP, "tenant": "${GRAPH_TENANT_ID}", "client_id": "${GRAPH_CLIENT_ID}",
                "client_secret": "${GRAPH_CLIENT_SECRET}", "authority_host": _default(OutlookMailbox, "authority_host"),
                "base_url": _default(OutlookMailbox, "base_url")},
}


def production_config(crm: str, mailbox: str, ca_file: str | None = None) -> dict[str, Any]:
    """The config dict for the real `crm` and `mailbox` (kinds from CRMS and MAILBOXES): the providers' own
    URLs, every secret a ${VAR}; `ca_file` is trusted by the CRM and an HTTPS mailbox (not by IMAP)."""
    trust = {"ca_file": ca_file} if ca_file else {}
    box = {**PRODUCTION_MAILBOX[mailbox], **(trust if mailbox != "imap" else {})}
    return {"store": {"url": "sqlite:///threadline.db"}, "crm": {**PRODUCTION_CRM[crm], **trust},
            "mailboxes": [box], "sync": {"internal_domains": ["example.com"]}}


def render_starter(config: Mapping[str, Any], *, gmail_scopes: Sequence[str], graph_permissions: Sequence[str],
                   sandbox_url: str | None = None) -> str:
    """The commented YAML of `config` (shaped like threadline.yaml: store, crm, mailboxes, sync). The scopes and
    permissions are the ones the adapters ask for, named where the admin grants them; `sandbox_url` says in the
    header that the file points at that sandbox. Raises ValueError if a template leaves out one of the values."""
    env = _environment()
    crm, boxes = config["crm"], config["mailboxes"]
    facts = {"crm": crm["kind"], "mailbox": "+".join(b["kind"] for b in boxes), "sandbox_url": sandbox_url,
             "gmail_scopes": list(gmail_scopes), "graph_permissions": list(graph_permissions)}
    text = "".join([
        env.get_template("header.yaml").render(facts),
        env.get_template("store.yaml").render(facts, s=config["store"]),
        env.get_template(f"crm-{crm['kind']}.yaml").render(facts, s=crm),
        env.get_template("mailboxes.yaml").render(facts, boxes=boxes),
        env.get_template("sync.yaml").render(facts, s=config["sync"]),
        env.get_template("server.yaml").render(facts),
    ])
    _every_value_written(config, yaml.safe_load(text))
    return text


def environment_variables(config: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """The ${VAR}s the config reads: (those it needs, those with a default), each once, in file order."""
    needed: dict[str, None] = {}
    defaulted: dict[str, None] = {}
    for value in _values(config):
        for match in ENV_REFERENCE.finditer(value):
            (defaulted if match.group(2) is not None else needed)[match.group(1)] = None
    return list(needed), [name for name in defaulted if name not in needed]


def files_to_provide(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(key path, file) for each *_file setting whose file is not there yet (a key, a certificate)."""
    sections = [("crm", config["crm"])] + [(f"mailboxes[{i}]", box) for i, box in enumerate(config["mailboxes"])]
    return [(f"{where}.{key}", str(value)) for where, section in sections for key, value in section.items()
            if key.endswith("_file") and value and not ENV_REFERENCE.search(str(value)) and not Path(value).exists()]


@cache
def _environment() -> Environment:
    # YAML, not HTML: nothing is escaped; a template naming a value the dict lacks is an error, not a blank.
    env = Environment(loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined, autoescape=False,
                      keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    env.filters["yaml"] = _scalar
    env.globals["setting"] = _setting
    return env


def _scalar(value: Any) -> str:
    """`value` as it is written after `key: ` (quoted where YAML would read it as something else)."""
    dumped = yaml.safe_dump(value, default_flow_style=True, width=math.inf)
    return dumped.strip().removesuffix("...").strip()


def _setting(key: str, value: Any, example: str) -> str:
    """`key: value`, or, without a value, the key commented out with an example."""
    return f"{key}: {_scalar(value)}" if value is not None else f"# {key}: {example}"


def _every_value_written(config: Mapping[str, Any], written: Mapping[str, Any]) -> None:
    pairs = [("store", config["store"], written["store"]), ("crm", config["crm"], written["crm"]),
             ("sync", config["sync"], written["sync"])]
    pairs += [(f"mailboxes[{i}]", box, written["mailboxes"][i]) for i, box in enumerate(config["mailboxes"])]
    for where, given, section in pairs:
        for key, value in given.items():
            if value is not None and section.get(key) != value:
                raise ValueError(f"the starter template for {where} does not write {key}: {value!r}")


def _values(node: Any) -> Iterator[str]:
    if isinstance(node, Mapping):
        for value in node.values():
            yield from _values(value)
    elif isinstance(node, list):
        for value in node:
            yield from _values(value)
    elif isinstance(node, str):
        yield node
