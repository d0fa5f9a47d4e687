"""What `threadline check` verifies beyond each adapter's own check: the owner ids the config names, the
fields the rules write and read, against the CRM's schema as it is now (types, options, write access), and
what connect links need (a redirect URI providers accept, a secret key)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from threadline.adapters.errors import ProviderError
from threadline.adapters.records import CheckResult, CrmField, CrmOwner
from threadline.config.models import Mailbox, Settings
from threadline.rules.settings import ReadField, WrittenField


def owner_checks(settings: Settings, owners: list[CrmOwner]) -> list[CheckResult]:
    """`threadline check` lines for every configured owner id (mailboxes, assignment reps): known to the CRM and
    active, or failed with where it is configured and how to find the right one."""
    known = {o.id: o for o in owners}
    configured = [(f"mailboxes[{i}].owner_id", box.owner_id) for i, box in enumerate(settings.mailboxes)
                  if box.owner_id]
    assignment = settings.rules.assignment
    configured += [(f"rules.assignment.reps[{i}].owner_id", rep.owner_id)
                   for i, rep in enumerate(assignment.reps if assignment else [])]
    results = []
    for where, owner_id in configured:
        owner = known.get(owner_id)
        if owner is None:
            detail = f"{owner_id} is not an owner in {settings.crm.kind}; `threadline owners` lists the ids"
        elif not owner.active:
            detail = f"{owner_id} ({owner.name}) is deactivated in {settings.crm.kind}"
        else:
            detail = f"{owner_id}: {owner.name}"
        results.append(CheckResult(target=settings.crm.kind, item=where, ok=owner is not None and owner.active,
                                   detail=detail))
    return results


NUMBER_TYPES = frozenset({"number", "double", "int", "currency", "percent"})
BOOL_TYPES = frozenset({"bool", "boolean"})


def field_checks(settings: Settings, schema: dict[str, dict[str, CrmField]]) -> list[CheckResult]:
    """`threadline check` lines for every CRM field the rules write (score, tier, stage, owner, the
    unsubscribe flag) and read (conditions, sequence stop rules): present on every record type, writable by
    the API user, of a type that holds the value, and offering every value the rules write or compare."""
    crm = settings.crm.kind
    rules = settings.rules
    results = [_written(crm, written, schema) for written in rules.written_fields()]
    seen = {written.name.lower() for written in rules.written_fields()}
    for read in rules.read_fields():
        if read.name.lower() not in seen or read.values:      # values compared with it are checked too
            seen.add(read.name.lower())
            results.append(_read(crm, read, schema))
    return results


def _written(crm: str, written: WrittenField, schema: dict[str, dict[str, CrmField]]) -> CheckResult:
    item = f"field {written.name}"
    found = {record: fields.get(written.name.lower()) for record, fields in schema.items()}
    missing = [record for record, field in found.items() if field is None]
    if missing and written.custom and crm == "hubspot":   # HubSpot gets Threadline's score properties at start
        return CheckResult(target=crm, item=item, ok=True,
                           detail=f"missing; created at start (written by {written.setting})")
    if missing:
        return CheckResult(target=crm, item=item, ok=False, detail=(
            f"{crm} {' and '.join(missing)} have no field {written.name!r}, which {written.setting} writes: "
            f"create it in {crm}{_field_to_create(crm, written)}, or set {written.setting} to a field it has"))
    problems = [problem for record, field in found.items() if field is not None
                for problem in _write_problems(crm, record, field, written)]
    if problems:
        return CheckResult(target=crm, item=item, ok=False, detail="; ".join(problems))
    return CheckResult(target=crm, item=item, ok=True, detail=f"written by {written.setting}")


def _field_to_create(crm: str, written: WrittenField) -> str:
    """The field type to create for what the rules write, in the words of the CRM's setup screens."""
    if written.values and not written.custom:         # the stage: a picklist; a tier may be text
        kind = ("Picklist" if crm == "salesforce" else "Dropdown select") + f" with {', '.join(written.values)}"
    else:
        kind = {"number": "Number(18, 0)" if crm == "salesforce" else "Number",
                "string": "Text(255)" if crm == "salesforce" else "Single-line text",
                "bool": "Checkbox" if crm == "salesforce" else "Single checkbox"}.get(written.kind or "", "")
    return f" ({kind})" if kind else ""


def _write_problems(crm: str, record: str, field: CrmField, written: WrittenField) -> list[str]:
    where = f"{crm} {record}.{field.name}"
    if not field.writable:
        fix = (f"grant the API user Edit access to {record}.{field.name} (Setup > Object Manager > {record} > "
               "Fields & Relationships > Set Field-Level Security)" if crm == "salesforce" else
               f"it is read-only or calculated in {crm}: set {written.setting} to a property integrations may write")
        return [f"{where} is read-only for Threadline's API user, but {written.setting} writes it: {fix}"]
    expected = _type_problem(field, written)
    if expected:
        return [f"{where} is a {field.type} field; {written.setting} writes {expected}: set {written.setting} "
                f"to a {expected} field"]
    values = written.values + (("true",) if written.kind == "bool" and field.type not in BOOL_TYPES else ())
    absent = [v for v in values if field.restricted and field.options and v not in field.options]
    if absent:
        return [f"{where} offers no {', '.join(map(repr, absent))} (it offers {', '.join(field.options)}), which "
                f"{written.values_setting or written.setting} writes: add the values to the field in {crm}, or "
                f"change {written.values_setting or written.setting}"]
    return []


def _type_problem(field: CrmField, written: WrittenField) -> str | None:
    """What the rules write, when the field cannot hold it (None: it can)."""
    if written.kind == "number" and field.type not in NUMBER_TYPES:
        return "numbers"
    if written.kind == "string" and field.type in NUMBER_TYPES | BOOL_TYPES:
        return "text values"
    if written.kind == "bool" and field.type not in BOOL_TYPES and not (field.options and "true" in field.options):
        return "true/false"
    return None


def _read(crm: str, read: ReadField, schema: dict[str, dict[str, CrmField]]) -> CheckResult:
    item = f"field {read.name}"
    found = {record: fields.get(read.name.lower()) for record, fields in schema.items()}
    missing = [record for record, field in found.items() if field is None]
    if missing:
        effect = ("every contact pull would fail" if crm == "salesforce" else "its conditions would never match")
        return CheckResult(target=crm, item=item, ok=False, detail=(
            f"{crm} {' and '.join(missing)} have no field {read.name!r}, which {read.setting} reads ({effect}): "
            f"create it in {crm}, or change {read.setting}"))
    for record, field in found.items():
        absent = [v for v in read.values if field and field.restricted and field.options and v not in field.options]
        if field is not None and absent:
            return CheckResult(target=crm, item=item, ok=False, detail=(
                f"{crm} {record}.{field.name} offers no {', '.join(map(repr, absent))} (it offers "
                f"{', '.join(field.options)}), which {read.setting} waits for: it would never match"))
    return CheckResult(target=crm, item=item, ok=True, detail=f"read by {read.setting}")


_REGISTER = {"gmail": "Google Cloud console > APIs & Services > Credentials > the OAuth client > Authorized "
                      "redirect URIs",
             "outlook": "Entra admin center > App registrations > the app > Authentication > Web > Redirect URIs"}


def connect_checks(settings: Settings, keys_configured: bool) -> list[CheckResult]:
    """For each provider under `connect:`: the redirect URI to register (https, or http on loopback only, as
    Google and Microsoft accept), and the secret key the reps' refresh tokens are encrypted with."""
    from threadline.connector.wiring.consent import redirect_uri

    results = []
    for provider in settings.connect.providers:
        target = f"connect.{provider}"
        uri = redirect_uri(settings, provider)
        parts = urlsplit(uri)
        loopback = parts.hostname in ("localhost", "127.0.0.1", "::1")
        ok = parts.scheme == "https" or (parts.scheme == "http" and loopback)
        results.append(CheckResult(target=target, item="redirect URI", ok=ok, detail=(
            f"register exactly {uri} ({_REGISTER[provider]})" if ok else
            f"{uri} is not https: providers accept http redirect URIs on loopback only; set server.public_url "
            "to the https address reps reach Threadline at")))
        results.append(CheckResult(target=target, item="secret key", ok=keys_configured, detail=(
            "reps' refresh tokens are kept encrypted in the store" if keys_configured else
            "connect links need a secret key to keep reps' refresh tokens encrypted: set THREADLINE_SECRET_KEY "
            "or store.secret_key_file (`threadline secrets new-key`)")))
    return results


_LABEL_KIND = {"gmail": "Gmail label", "outlook": "Outlook category", "imap": "IMAP folder or keyword"}


def label_checks(settings: Settings, box: Mailbox, mailbox: Any) -> list[CheckResult]:
    """One line per label the mailbox's `only_labelled`/`never_labelled` names: does the mailbox have it (Gmail
    labels.list, Outlook masterCategories, IMAP folders and keywords)? A misspelt opt-out label protects nothing,
    and a misspelt opt-in label logs nothing."""
    from threadline.connector.wiring.build import label_rule

    rule = label_rule(settings, box)
    if rule is None:
        return []
    target = f"{box.kind} {box.address}"
    try:
        have = {name.casefold() for name in mailbox.label_names()}
    except Exception as exc:  # noqa: BLE001 - check reports, never raises
        detail = f"{exc.kind}: {str(exc)[:300]}" if isinstance(exc, ProviderError) else type(exc).__name__
        hint = " (the app needs MailboxSettings.Read to read the master category list)" if box.kind == "outlook" else ""
        return [CheckResult(target=target, item="labels", ok=False, detail=f"could not list labels: {detail}{hint}")]
    results = []
    for setting, names in (("only_labelled", rule.only), ("never_labelled", rule.never)):
        for name in names:
            ok = name.casefold() in have
            results.append(CheckResult(target=target, item=f"{setting} {name}", ok=ok, detail=(
                f"{_LABEL_KIND[box.kind]} found" if ok else
                f"no {_LABEL_KIND[box.kind]} named {name!r} in this mailbox: "
                + ("no mail would ever be logged" if setting == "only_labelled" else "it would never keep mail out")
                + (" (a keyword shows once a message in INBOX or Sent carries it)" if box.kind == "imap" else ""))))
    return results
