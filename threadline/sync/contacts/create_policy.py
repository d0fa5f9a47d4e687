"""Whether mail from nobody the CRM knows creates a contact, and the contact it creates. Pure: plain data in and out.

`sync.create_contacts` says when: `none` (never: the default), `rep_emailed` (an outside person answers mail a rep
sent them) or `all_external` (any outside sender). Whatever the mode, a contact is never created from auto-replies,
bounces or bulk mail, from internal, excluded or role addresses (noreply@, mailer-daemon@...), or, unless
`sync.create_contacts_personal_domains` allows it, from personal mailbox providers (PERSONAL_DOMAINS): a gmail.com
address says nothing about a company, and a rep's friends write from there too.

The contact gets the normalised address, a first and last name read from the From header's display name (or from
a `first.last` address when there is none), and a company named after the address's domain (`acme-corp.co.uk` ->
"Acme Corp").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Literal

from threadline.sync.mail.matching import NO_CONTACT, AddressPolicy, Decision

Mode = Literal["none", "rep_emailed", "all_external"]
MODES: tuple[Mode, ...] = ("none", "rep_emailed", "all_external")

#: Personal mailbox providers: an address there names a person, never a company (documented in the README).
PERSONAL_DOMAINS = frozenset({
    "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "hotmail.co.uk", "live.com", "msn.com",
    "yahoo.com", "yahoo.co.uk", "yahoo.fr", "yahoo.de", "ymail.com", "rocketmail.com", "icloud.com", "me.com",
    "mac.com", "aol.com", "proton.me", "protonmail.com", "pm.me", "gmx.com", "gmx.de", "gmx.net", "web.de",
    "mail.com", "yandex.com", "yandex.ru", "mail.ru", "zoho.com", "fastmail.com", "hey.com", "tutanota.com",
    "qq.com", "163.com", "126.com", "orange.fr", "free.fr", "laposte.net", "t-online.de", "libero.it",
})
#: Local parts of addresses no person reads or answers from (bulk and auto-reply detection can miss them).
ROLE_LOCAL_PARTS = frozenset({
    "noreply", "no-reply", "no_reply", "donotreply", "do-not-reply", "do_not_reply", "mailer-daemon",
    "postmaster", "bounce", "bounces", "notifications", "notification", "notify", "alerts", "newsletter",
    "unsubscribe", "auto-confirm", "autoreply", "daemon",
})
#: Second-level labels under a country code that are not the company (co.uk, com.au, ...).
GENERIC_SECOND_LEVEL = frozenset({"co", "com", "org", "net", "ac", "gov", "edu", "ltd", "plc", "ne", "or", "gv"})
#: What a contact is created from: only mail a person wrote (classify.py's other kinds are never a person's word).
PERSON_KINDS = frozenset({"reply", "message"})


@dataclass(frozen=True)
class ContactCreation:
    """The admin's `sync.create_contacts` settings, as plain data for the sync layer."""

    mode: Mode = "none"
    personal_domains: bool = False          # sync.create_contacts_personal_domains

    @property
    def on(self) -> bool:
        return self.mode != "none"


@dataclass(frozen=True)
class NewContactFields:
    """The contact a message creates: its normalised address, name and company."""

    email: str
    first_name: str | None
    last_name: str | None
    company: str | None


def why_not(creation: ContactCreation, decision: Decision, kind: str, folder: str, sender: str,
            policy: AddressPolicy, answers_rep: Callable[[], bool], mailbox: str = "") -> str | None:
    """None when the message creates a contact for `sender` (already normalised); otherwise why not, in words.

    `answers_rep()` says whether the message answers mail a rep sent (asked only in `rep_emailed` mode, last,
    as it reads the store)."""
    if not creation.on:
        return "sync.create_contacts is none"
    if decision.action == "log" or decision.reason != NO_CONTACT:
        return "not mail from an unknown sender"
    if folder == "sent" or decision.direction != "incoming":
        return "outgoing mail"
    if kind not in PERSON_KINDS:
        return f"{kind} mail"
    refusal = address_refusal(sender, policy, creation, mailbox)
    if refusal:
        return refusal
    if creation.mode == "rep_emailed" and not answers_rep():
        return "does not answer mail a rep sent"
    return None


def address_refusal(address: str, policy: AddressPolicy, creation: ContactCreation, mailbox: str = "") -> str | None:
    """Why `address` (normalised) can never become a contact, or None."""
    local, at, domain = address.rpartition("@")
    if not at or not local or "." not in domain:
        return "not a usable address"
    if mailbox and address == policy.normalize(mailbox):
        return "the mailbox's own address"
    if policy.is_internal(address):
        return "internal address"
    if policy.is_excluded(address):
        return "excluded address"
    if local in ROLE_LOCAL_PARTS or local.split("+", 1)[0] in ROLE_LOCAL_PARTS:
        return "role address"
    if domain in PERSONAL_DOMAINS and not creation.personal_domains:
        return "personal mailbox provider (sync.create_contacts_personal_domains is off)"
    return None


def answers_one_of(refs: Collection[str], sent_message_ids: Collection[str]) -> bool:
    """Whether any of a message's In-Reply-To/References is the Message-ID of mail a rep sent."""
    wanted = {r.strip().lower() for r in refs if r}
    return any(m.strip().lower() in wanted for m in sent_message_ids if m)


def contact_fields(address: str, display_name: str) -> NewContactFields:
    """The contact for `address` (normalised): name from `display_name` (else a first.last address), company
    from the domain."""
    first, last = split_name(display_name)
    if first is None and last is None:
        first, last = name_from_address(address)
    return NewContactFields(email=address, first_name=first, last_name=last,
                            company=company_from_domain(address.rpartition("@")[2]))


def split_name(display_name: str) -> tuple[str | None, str | None]:
    """("Quinn", "Hale") from "Quinn Hale", "Hale, Quinn", "\"Quinn Hale (Acme)\""; a single word is a first name.
    A display name that is an address (or empty) gives (None, None)."""
    name = re.sub(r"\([^)]*\)|\[[^]]*\]", " ", display_name or "").strip().strip("'\"").strip()
    name = " ".join(name.split())
    if not name or "@" in name:
        return None, None
    if "," in name:
        last, _, first = name.partition(",")
        return (first.strip() or None), (last.strip() or None)
    parts = name.split(" ")
    if len(parts) == 1:
        return parts[0], None
    return " ".join(parts[:-1]), parts[-1]


def name_from_address(address: str) -> tuple[str | None, str | None]:
    """("Quinn", "Hale") from quinn.hale@ or quinn_hale@; nothing from a local part that is not two words."""
    parts = [p for p in re.split(r"[._]", address.rpartition("@")[0]) if p]
    if len(parts) == 2 and all(p.isalpha() and len(p) > 1 for p in parts):
        return parts[0].capitalize(), parts[1].capitalize()
    return None, None


def company_from_domain(domain: str) -> str | None:
    """The company a domain names: its registrable label, words capitalised (mail.acme-corp.co.uk -> Acme Corp)."""
    labels = [label for label in domain.lower().strip(".").split(".") if label]
    if len(labels) < 2:
        return None
    labels = labels[:-1]                                   # the top-level domain
    if len(labels) > 1 and labels[-1] in GENERIC_SECOND_LEVEL and len(labels[-1]) <= 3:
        labels = labels[:-1]                               # co.uk, com.au, ...
    words = re.split(r"[-_]+", labels[-1])
    company = " ".join(w.capitalize() for w in words if w)
    return company or None
