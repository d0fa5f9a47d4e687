"""ContactFacts: what rules may read about a contact, built from the mirror.

Rules see a snapshot, never the store: the engine builds one ContactFacts per contact
(CRM properties by name plus ``owner_id``) and hands it to scoring and assignment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

#: Mailbox providers whose domain says nothing about the contact's company; sticky
#: ownership by domain must never glue all Gmail users to one rep.
FREE_MAIL_DOMAINS = frozenset({
    "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "msn.com",
    "yahoo.com", "ymail.com", "icloud.com", "me.com", "mac.com", "aol.com", "proton.me",
    "protonmail.com", "gmx.de", "gmx.net", "web.de", "mail.com", "yandex.ru", "qq.com",
})

#: Names every contact has, whatever the CRM's schema: usable as ``contact.id`` etc. in conditions.
CONTACT_BUILTIN_NAMES = frozenset({"id", "domain", "owner_id"})


@dataclass(frozen=True)
class ContactFacts:
    """A contact as rules see it: its id and its CRM properties (plus ``owner_id``) by name."""

    id: str
    fields: Mapping[str, Any] = field(default_factory=dict)

    @cached_property
    def domain(self) -> str | None:
        """The company email domain, lower-cased; None without an email or for free-mail providers."""
        email = self.fields.get("email")
        if not isinstance(email, str) or "@" not in email:
            return None
        domain = email.rsplit("@", 1)[1].strip().lower().rstrip(".")
        if not domain or domain in FREE_MAIL_DOMAINS:
            return None
        return domain

    def value(self, name: str) -> Any:
        """The value a condition on ``contact.<name>`` reads: a property, ``id`` or ``domain``; None if unset."""
        if name == "id":
            return self.id
        if name == "domain":
            return self.domain
        return self.fields.get(name)

    def flat(self) -> dict[str, Any]:
        """The contact's part of the flat condition namespace: {"contact.<name>": value}."""
        names = {**self.fields, "id": self.id, "domain": self.domain}
        return {f"contact.{name}": value for name, value in names.items()}
