"""Who a routing rule can assign to, and the contact's current owner."""

from __future__ import annotations

from threadline.rules.assignment.config import AssignmentSettings, Rep, RoutingRule
from threadline.rules.contact_facts import ContactFacts


def rule_reps(rule: RoutingRule, settings: AssignmentSettings) -> list[Rep]:
    """The rule's candidates in rotation order: its `reps` as listed, or the team's members in `reps` order.

    Unknown owner ids are left out (compile_assignment reports them).
    """
    if rule.reps is not None:
        by_id = {rep.owner_id: rep for rep in settings.reps}
        return [by_id[owner_id] for owner_id in rule.reps if owner_id in by_id]
    return [rep for rep in settings.reps if rule.team in rep.teams]


def current_owner(contact: ContactFacts, settings: AssignmentSettings) -> str | None:
    """The contact's owner id from the mirror (`owner_id`, else the configured CRM owner field); None if unowned."""
    for name in ("owner_id", settings.owner_field):
        value = contact.fields.get(name)
        if value not in (None, ""):
            return str(value)
    return None


def owner_label(owner_id: str | None, settings: AssignmentSettings) -> str:
    """The rep's name when configured, else the raw owner id."""
    if owner_id is None:
        return "nobody"
    rep = settings.rep(owner_id)
    return rep.label if rep else owner_id
