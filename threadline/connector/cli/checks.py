"""What `threadline check` verifies beyond each adapter's own check: the owner ids the config names, and the
fields the rules write, against the CRM as it is now."""

from __future__ import annotations

from threadline.adapters.records import CheckResult, CrmOwner
from threadline.config.models import Settings


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


def written_field_checks(settings: Settings, schema: dict[str, set[str]]) -> list[CheckResult]:
    """`threadline check` lines for every CRM field the rules write: the score fields, the stage field (with
    stages) and the owner field (with assignment). HubSpot creates its missing custom score properties at start;
    anything else missing is named with the setting that writes it and what to do."""
    creates = settings.crm.kind == "hubspot"          # HubSpot gets Threadline's score properties at start
    results = []
    for written in settings.rules.written_fields():
        field, setting, created = written.name, written.setting, written.custom and creates
        missing = [record for record, names in schema.items() if field.lower() not in names]
        if not missing:
            results.append(CheckResult(target=settings.crm.kind, item=f"field {field}", ok=True,
                                       detail=f"written by {setting}"))
        elif created:
            results.append(CheckResult(target=settings.crm.kind, item=f"field {field}", ok=True,
                                       detail=f"missing; created at start (written by {setting})"))
        else:
            results.append(CheckResult(target=settings.crm.kind, item=f"field {field}", ok=False, detail=(
                f"{settings.crm.kind} {' and '.join(missing)} have no field {field!r}, which {setting} writes: "
                f"create it in {settings.crm.kind}, or set {setting} to a field it has")))
    return results
