"""Which contact fields the mirror pulls for sequences: only those the admin named."""

from __future__ import annotations

from typing import Any

from threadline.config.models import Settings
from threadline.connector.wiring.build import rule_contact_fields

SALESFORCE = {"kind": "salesforce", "consumer_key": "ck",
              "client_secret": "cs", "refresh_token": "rt"}


def settings(window: dict[str, Any], crm: dict[str, Any] | None = None, **sequence: Any) -> Settings:
    return Settings.model_validate({
        "crm": crm or {"kind": "hubspot", "token": "pat-test"},
        "server": {"public_url": "https://threadline.example", "unsubscribe_secret": "s3cret-s3cret"},
        "rules": {"sequences": [{"name": "welcome", "enroll_on": "form.submitted", "window": window,
                                 "steps": [{"kind": "email", "subject": "Hi", "body": "Hello"}], **sequence}]},
    })


def test_named_sequence_fields_are_pulled_into_the_mirror() -> None:
    fields = rule_contact_fields(settings({"timezone_field": "hs_timezone"},
                                          enroll_when={"contact.jobtitle": {"contains": "VP"}},
                                          exit_on_stage_change_to=["customer"], deal_closed_field="closed_won"))
    assert {"hs_timezone", "jobtitle", "lifecyclestage", "closed_won"} <= set(fields)


def test_default_field_names_the_crm_may_lack_are_not_pulled() -> None:
    """Salesforce has no `timezone` or `lifecyclestage`: asking SOQL for them would fail every contact pull. The
    report's stage field is pulled by its CRM's name (HubSpot's lifecyclestage is on every contact; Salesforce's
    Lead Status is left out of the Contact query by the adapter, which describes each object first)."""
    hubspot = rule_contact_fields(settings({}))
    assert "timezone" not in hubspot and "lifecyclestage" in hubspot
    salesforce = rule_contact_fields(settings({}, SALESFORCE))
    assert "timezone" not in salesforce and "lifecyclestage" not in salesforce and "Status" in salesforce
