"""Which objects and fields the simulated org has, and their describe metadata.

Standard fields are fixed; custom fields (`Name__c`) exist only once "the
admin" adds them (`add_custom_field`). Field names are case-insensitive in SOQL
and in JSON bodies, so lookups go through `canonical()`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from threadline.sandbox.salesforce.ids import PREFIXES
from threadline.sandbox.salesforce.responses import SfError

SYSTEM = ("Id", "IsDeleted", "CreatedDate", "LastModifiedDate", "SystemModstamp")
READ_ONLY = {"Id", "IsDeleted", "CreatedDate", "LastModifiedDate", "SystemModstamp", "MasterRecordId",
             "IsConverted", "ConvertedContactId", "ConvertedDate", "Name", "IsClosed"}
FIELD_TYPES = {"string", "textarea", "email", "boolean", "datetime", "date", "double", "int", "reference",
               "id", "picklist", "phone"}


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: str
    custom: bool = False
    external_id: bool = False
    unique: bool = False
    references: tuple[str, ...] = ()
    label: str = ""
    picklist: tuple[str, ...] = ()          # active picklist values
    restricted: bool = False                # restricted picklist: other values are refused
    read_only: bool = False                 # field-level security gives the API user read access only
    writable: bool = False                  # writable though READ_ONLY lists the name (Account.Name)

    @property
    def updateable(self) -> bool:
        return (self.name not in READ_ONLY or self.writable) and not self.read_only

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label or self.name, "type": self.type, "custom": self.custom,
                "externalId": self.external_id, "unique": self.unique, "updateable": self.updateable,
                "createable": self.updateable, "nillable": self.name not in ("Id", "LastName"),
                "idLookup": self.name == "Id" or self.external_id or self.name == "Email",
                "referenceTo": list(self.references), "length": 255 if self.type in ("string", "email") else 0,
                "filterable": True, "sortable": self.type != "textarea",
                "picklistValues": [{"active": True, "defaultValue": False, "label": v, "validFor": None, "value": v}
                                   for v in self.picklist],
                "restrictedPicklist": self.restricted}


def _fields(*specs: tuple[str, str] | FieldSpec) -> list[FieldSpec]:
    return [s if isinstance(s, FieldSpec) else FieldSpec(*s) for s in specs]


#: A new org's opportunity stages: (StageName, closed?). Closed Won and Closed Lost close an Opportunity.
OPPORTUNITY_STAGES = (("Prospecting", False), ("Qualification", False), ("Needs Analysis", False),
                      ("Value Proposition", False), ("Id. Decision Makers", False), ("Perception Analysis", False),
                      ("Proposal/Price Quote", False), ("Negotiation/Review", False), ("Closed Won", True),
                      ("Closed Lost", True))
CONTACT_ROLES = ("Business User", "Decision Maker", "Economic Buyer", "Economic Decision Maker", "Evaluator",
                 "Executive Sponsor", "Influencer", "Technical Buyer", "Other")
#: What a Task's or Event's WhatId may point at in this org ("Related To").
WHAT = ("Account", "Opportunity")
LEAD_SOURCES = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other")
LEAD_STATUSES = ("Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted")
_PERSON = (("FirstName", "string"), ("LastName", "string"), ("Name", "string"), ("Email", "email"),
           ("Title", "string"), ("Phone", "phone"), FieldSpec("OwnerId", "reference", references=("User",)),
           ("HasOptedOutOfEmail", "boolean"), FieldSpec("LeadSource", "picklist", picklist=LEAD_SOURCES))
STANDARD: dict[str, list[FieldSpec]] = {
    "Contact": _fields(*_PERSON, FieldSpec("MasterRecordId", "reference", references=("Contact",)),
                       FieldSpec("AccountId", "reference", references=("Account",))),
    "Lead": _fields(*_PERSON, FieldSpec("MasterRecordId", "reference", references=("Lead",)),
                    ("Company", "string"), FieldSpec("Status", "picklist", picklist=LEAD_STATUSES, restricted=True),
                    FieldSpec("Industry", "picklist", picklist=("Technology", "Finance", "Healthcare", "Retail",
                                                                "Manufacturing", "Other")),
                    ("NumberOfEmployees", "int"), FieldSpec("Rating", "picklist", picklist=("Hot", "Warm", "Cold")),
                    ("IsConverted", "boolean"),
                    FieldSpec("ConvertedContactId", "reference", references=("Contact",)), ("ConvertedDate", "date")),
    "Task": _fields(FieldSpec("WhoId", "reference", references=("Contact", "Lead")),
                    FieldSpec("WhatId", "reference", references=WHAT), FieldSpec("AccountId", "reference",
                                                                                 references=("Account",),
                                                                                 read_only=True),
                    ("Subject", "string"), ("Description", "textarea"), ("Status", "picklist"),
                    ("Priority", "picklist"), ("ActivityDate", "date"), ("TaskSubtype", "picklist"),
                    FieldSpec("OwnerId", "reference", references=("User",)), ("IsClosed", "boolean"),
                    ("IsReminderSet", "boolean"), ("ReminderDateTime", "datetime")),
    "Event": _fields(FieldSpec("WhoId", "reference", references=("Contact", "Lead")),
                     FieldSpec("WhatId", "reference", references=WHAT),
                     ("Subject", "string"), ("Description", "textarea"), ("StartDateTime", "datetime"),
                     ("EndDateTime", "datetime"), ("ActivityDateTime", "datetime"), ("DurationInMinutes", "int"),
                     FieldSpec("OwnerId", "reference", references=("User",))),
    "EmailMessage": _fields(("FromAddress", "email"), ("FromName", "string"), ("ToAddress", "string"),
                            ("CcAddress", "string"), ("Subject", "string"), ("TextBody", "textarea"),
                            ("HtmlBody", "textarea"), ("MessageDate", "datetime"), ("Incoming", "boolean"),
                            ("MessageIdentifier", "string"), ("ThreadIdentifier", "string"), ("Status", "picklist"),
                            ("RelatedToId", "reference")),
    "EmailMessageRelation": _fields(FieldSpec("EmailMessageId", "reference", references=("EmailMessage",)),
                                    FieldSpec("RelationId", "reference", references=("Contact", "Lead", "User")),
                                    ("RelationType", "picklist"), ("RelationAddress", "email")),
    "Account": _fields(FieldSpec("Name", "string", writable=True), ("Website", "string"), ("Industry", "string"),
                       FieldSpec("OwnerId", "reference", references=("User",))),
    "Opportunity": _fields(FieldSpec("Name", "string", writable=True),
                           FieldSpec("StageName", "picklist", picklist=tuple(s for s, _ in OPPORTUNITY_STAGES)),
                           ("CloseDate", "date"), ("Amount", "double"), ("Probability", "double"),
                           FieldSpec("AccountId", "reference", references=("Account",)), ("IsClosed", "boolean"),
                           FieldSpec("IsWon", "boolean", read_only=True),
                           FieldSpec("OwnerId", "reference", references=("User",))),
    "OpportunityContactRole": _fields(FieldSpec("OpportunityId", "reference", references=("Opportunity",)),
                                      FieldSpec("ContactId", "reference", references=("Contact",)),
                                      FieldSpec("Role", "picklist", picklist=CONTACT_ROLES), ("IsPrimary", "boolean")),
    "User": _fields(("Username", "string"), ("Email", "email"), ("FirstName", "string"), ("LastName", "string"),
                    ("Name", "string"), ("IsActive", "boolean")),
}
REQUIRED = {"Contact": ("LastName",), "Lead": ("LastName", "Company"), "User": ("Username", "LastName"),
            "Account": ("Name",), "Opportunity": ("Name", "StageName", "CloseDate"),
            "OpportunityContactRole": ("OpportunityId", "ContactId")}
#: Parent-to-child relationships SOQL subqueries name: (parent, relationship) -> (child object, its lookup field).
CHILD_RELATIONSHIPS = {
    ("Contact", "OpportunityContactRoles"): ("OpportunityContactRole", "ContactId"),
    ("Opportunity", "OpportunityContactRoles"): ("OpportunityContactRole", "OpportunityId"),
    ("Account", "Contacts"): ("Contact", "AccountId"),
    ("Account", "Opportunities"): ("Opportunity", "AccountId"),
}
DEFAULTS: dict[str, dict[str, Any]] = {
    "Task": {"Status": "Not Started", "Priority": "Normal", "TaskSubtype": "Task", "IsClosed": False,
             "IsReminderSet": False},
    "Lead": {"Status": "Open - Not Contacted", "IsConverted": False},
}


@dataclass
class ObjectSchema:
    name: str
    fields: dict[str, FieldSpec] = field(default_factory=dict)   # lower-case name -> spec

    @classmethod
    def standard(cls, name: str) -> ObjectSchema:
        specs = [FieldSpec("Id", "id"), FieldSpec("IsDeleted", "boolean"), FieldSpec("CreatedDate", "datetime"),
                 FieldSpec("LastModifiedDate", "datetime"), FieldSpec("SystemModstamp", "datetime"),
                 *STANDARD[name]]
        return cls(name, {s.name.lower(): s for s in specs})

    def canonical(self, name: str) -> FieldSpec:
        """The field spec for `name` (any case); INVALID_FIELD if the org has no such field."""
        spec = self.fields.get(name.lower())
        if spec is None:
            raise SfError(400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {self.name}", [name])
        return spec

    def describe(self, url_base: str) -> dict[str, Any]:
        return {"name": self.name, "label": self.name, "custom": False, "keyPrefix": PREFIXES[self.name],
                "createable": True, "updateable": True, "queryable": True, "deletable": True,
                "fields": [spec.describe() for spec in self.fields.values()],
                "urls": {"sobject": f"{url_base}/sobjects/{self.name}",
                         "describe": f"{url_base}/sobjects/{self.name}/describe",
                         "rowTemplate": f"{url_base}/sobjects/{self.name}/{{ID}}"}}


class Schema:
    """Every object of the org; custom fields added at run time."""

    def __init__(self) -> None:
        self.objects = {name: ObjectSchema.standard(name) for name in STANDARD}
        self._by_lower = {name.lower(): name for name in STANDARD}

    def object(self, name: str) -> ObjectSchema:
        real = self._by_lower.get(name.lower())
        if real is None:
            raise SfError(404, "NOT_FOUND", f"The requested resource does not exist: sObject type '{name}'")
        return self.objects[real]

    def query_object(self, name: str) -> ObjectSchema:
        """Like `object` but with SOQL's error for an unknown FROM."""
        if name.lower() not in self._by_lower:
            raise SfError(400, "INVALID_TYPE", f"sObject type '{name}' is not supported.")
        return self.object(name)

    def add_custom_field(self, object_name: str, name: str, type: str = "string", *, external_id: bool = False,
                         unique: bool = False, label: str = "", values: Sequence[str] = (),
                         restricted: bool = False) -> FieldSpec:
        if not name.endswith("__c"):
            raise ValueError("custom field API names end in __c")
        if type not in FIELD_TYPES:
            raise ValueError(f"unknown field type {type}")
        spec = FieldSpec(name, type, custom=True, external_id=external_id, unique=unique,
                         label=label or name[:-3].replace("_", " "), picklist=tuple(values), restricted=restricted)
        self.object(object_name).fields[name.lower()] = spec
        return spec

    def set_field_access(self, object_name: str, name: str, *, editable: bool) -> None:
        """Field-level security for the API user: read-only fields describe as not updateable and refuse writes."""
        fields = self.object(object_name).fields
        fields[name.lower()] = replace(self.object(object_name).canonical(name), read_only=not editable)
