"""Salesforce Users as CrmOwner records (the users who can own Contacts and Leads)."""

from __future__ import annotations

from typing import Any

from threadline.adapters.records import CrmOwner

USERS_SOQL = "SELECT Id, Email, Name, IsActive FROM User ORDER BY Id"


def to_owner(record: dict[str, Any]) -> CrmOwner:
    return CrmOwner(id=record["Id"], email=record.get("Email") or None, name=record.get("Name") or record["Id"],
                    active=bool(record.get("IsActive")))
