"""sync.create_contacts' pure decision (create_policy.py): which mail from an unknown sender creates a contact,
and the contact it creates. Messages are real RFC 822 bytes, parsed, classified and decided as ingest does."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from threadline.sync.contacts.create_policy import (
    ContactCreation,
    answers_one_of,
    company_from_domain,
    contact_fields,
    split_name,
    why_not,
)
from threadline.sync.mail.classify import classify
from threadline.sync.mail.matching import AddressPolicy, decide
from threadline.sync.mail.message import parse_message

REP = "alex@northwind.example"
POLICY = AddressPolicy(internal_domains=frozenset({"northwind.example"}),
                       exclude_domains=frozenset({"partner.example"}),
                       exclude_addresses=frozenset({"lawyer@counsel.example"}))
REP_EMAILED = ContactCreation("rep_emailed")
ALL_EXTERNAL = ContactCreation("all_external")


def message(sender: str, *, subject: str = "Re: Pilot", body: str = "Sounds good, let's talk Tuesday.",
            headers: dict[str, str] | None = None, to: str = REP) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Message-ID"] = "<m1@sender.example>"
    msg["In-Reply-To"] = "<outreach-1@northwind.example>"
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    return msg.as_bytes()


def refusal(raw: bytes, creation: ContactCreation = ALL_EXTERNAL, *, folder: str = "inbox",
            rep_wrote: bool = True, known: bool = False) -> str | None:
    parsed = parse_message(raw)
    classification = classify(parsed)
    decision = decide(parsed, classification, folder, REP, POLICY, lambda a: ["c1"] if known else [], lambda: [])
    return why_not(creation, decision, classification.kind, folder, POLICY.normalize(parsed.from_address), POLICY,
                   lambda: rep_wrote, REP)


def test_a_person_answering_a_rep_creates_a_contact_in_both_modes() -> None:
    raw = message("Quinn Hale <Quinn.Hale@Acme-Corp.co.uk>")
    assert refusal(raw, REP_EMAILED) is None
    assert refusal(raw, ALL_EXTERNAL) is None


def test_rep_emailed_needs_the_message_to_answer_mail_a_rep_sent() -> None:
    raw = message("Quinn Hale <quinn@acme.example>")
    assert refusal(raw, REP_EMAILED, rep_wrote=False) == "does not answer mail a rep sent"
    assert refusal(raw, ALL_EXTERNAL, rep_wrote=False) is None


def test_mode_none_never_creates() -> None:
    assert refusal(message("Quinn Hale <quinn@acme.example>"), ContactCreation()) == "sync.create_contacts is none"


@pytest.mark.parametrize(("raw", "why"), [
    (message("Quinn <quinn@acme.example>", subject="Automatic reply: Pilot", body="I am out of office.",
             headers={"Auto-Submitted": "auto-replied"}), "not mail from an unknown sender"),
    (message("Mail Delivery Subsystem <mailer-daemon@acme.example>", subject="Undeliverable: Pilot",
             body="Delivery has failed to these recipients.", headers={"Auto-Submitted": "auto-generated"}),
     "not mail from an unknown sender"),
    (message("Acme News <news@acme.example>", subject="Weekly tips", headers={
        "Precedence": "bulk", "List-Id": "<weekly.acme.example>", "List-Unsubscribe": "<mailto:u@acme.example>"}),
     "not mail from an unknown sender"),
    (message("Robin <robin@northwind.example>", to="quinn@acme.example"), "internal address"),
    (message("Pat <pat@partner.example>"), "not mail from an unknown sender"),
    (message("Counsel <lawyer@counsel.example>"), "not mail from an unknown sender"),
    (message("Acme <noreply@acme.example>"), "role address"),
    (message("Quinn <quinn.hale@gmail.com>"),
     "personal mailbox provider (sync.create_contacts_personal_domains is off)"),
])
def test_never_from_auto_replies_bounces_bulk_internal_excluded_role_or_personal_addresses(raw: bytes,
                                                                                           why: str) -> None:
    assert refusal(raw) == why


def test_an_internal_sender_writing_to_an_outsider_is_not_created() -> None:
    # The outside party is the recipient; the sender is the rep's colleague.
    parsed = parse_message(message("Robin <robin@northwind.example>", to="quinn@acme.example"))
    decision = decide(parsed, classify(parsed), "inbox", REP, POLICY, lambda a: [], lambda: [])
    assert why_not(ALL_EXTERNAL, decision, "message", "inbox", "robin@northwind.example", POLICY,
                   lambda: True, REP) == "internal address"


def test_personal_domains_when_the_admin_allows_them() -> None:
    allowed = ContactCreation("all_external", personal_domains=True)
    assert refusal(message("Quinn <quinn.hale@gmail.com>"), allowed) is None


def test_known_contacts_and_outgoing_mail_create_nothing() -> None:
    assert refusal(message("Quinn <quinn@acme.example>"), known=True) == "not mail from an unknown sender"
    outgoing = message(f"Alex <{REP}>", to="quinn@acme.example")
    assert refusal(outgoing, folder="sent") == "not mail from an unknown sender"


def test_name_from_the_display_name_and_company_from_the_domain() -> None:
    fields = contact_fields("quinn.hale@mail.acme-corp.co.uk", "Quinn Hale")
    assert (fields.email, fields.first_name, fields.last_name, fields.company) == (
        "quinn.hale@mail.acme-corp.co.uk", "Quinn", "Hale", "Acme Corp")
    assert split_name("Hale, Quinn") == ("Quinn", "Hale")
    assert split_name('"Mary Ann Smith (Acme)"') == ("Mary Ann", "Smith")
    assert split_name("Quinn") == ("Quinn", None)
    assert split_name("quinn@acme.example") == (None, None)
    no_name = contact_fields("quinn_hale@acme.com", "")
    assert (no_name.first_name, no_name.last_name, no_name.company) == ("Quinn", "Hale", "Acme")
    assert contact_fields("qh@acme.com", "").last_name is None
    assert company_from_domain("buyer.com.au") == "Buyer"
    assert company_from_domain("localhost") is None


def test_answers_one_of_compares_message_ids_case_blind() -> None:
    assert answers_one_of(["<A@x>", "<b@x>"], ["<a@X>"])
    assert not answers_one_of(["<c@x>"], ["<a@x>"])
