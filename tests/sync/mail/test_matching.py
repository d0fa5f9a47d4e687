"""Matching decisions as plain data: who a message is logged on, and why it is not."""

from __future__ import annotations

from email.message import EmailMessage

from threadline.sync.mail.classify import classify
from threadline.sync.mail.matching import AddressPolicy, decide
from threadline.sync.mail.message import parse_message

REP = "alex@northwind.example"
POLICY = AddressPolicy(internal_domains=frozenset({"northwind.example"}), exclude_domains=frozenset({"lawfirm.example"}),
                       aliases={"j.doe@acme-mail.example": "jane@acme.example"})
CONTACTS = {"jane@acme.example": ["101"], "bob@beta.example": ["202"]}


def message(sender: str, to: str, cc: str = "", subject: str = "Re: Pilot", **headers: str):  # type: ignore[no-untyped-def]
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    if cc:
        msg["Cc"] = cc
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content("Sounds good.")
    return parse_message(msg.as_bytes())


def run(parsed, folder: str = "inbox", policy: AddressPolicy = POLICY, thread: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    return decide(parsed, classify(parsed), folder, REP, policy, lambda a: CONTACTS.get(a, []), lambda: thread)


def test_reply_from_a_contact_is_logged_on_that_contact() -> None:
    decision = run(message("Jane <JANE@Acme.example>", REP))
    assert (decision.action, decision.contact_ids, decision.matched_by) == ("log", ("101",), "address")


def test_plus_address_and_alias_match_the_known_address() -> None:
    assert run(message("jane+crm@acme.example", REP)).contact_ids == ("101",)
    assert run(message("j.doe@acme-mail.example", REP)).contact_ids == ("101",)
    strict = AddressPolicy(internal_domains=POLICY.internal_domains, plus_addressing=False)
    assert run(message("jane+crm@acme.example", REP), policy=strict).action == "skip"


def test_internal_only_thread_is_never_logged_even_if_a_contact_address_is_internal() -> None:
    decision = run(message("dana@northwind.example", REP, cc="ops@northwind.example"))
    assert (decision.action, decision.reason) == ("skip", "internal-only thread")


def test_excluded_sender_domain_is_never_logged() -> None:
    assert run(message("counsel@lawfirm.example", REP)).reason.startswith("sender is excluded")


def test_auto_reply_and_bounce_from_a_contact_are_recorded_not_logged() -> None:
    ooo = run(message("jane@acme.example", REP, subject="Automatic reply: Pilot", Auto_Submitted="auto-replied"))
    assert ooo.action == "skip" and ooo.reason.startswith("auto-reply")


def test_unknown_sender_in_a_logged_thread_is_matched_by_thread() -> None:
    decision = run(message("colleague@acme.example", REP), thread=("101",))
    assert (decision.action, decision.contact_ids, decision.matched_by) == ("log", ("101",), "thread")


def test_stranger_is_skipped_with_the_reason() -> None:
    assert run(message("someone@else.example", REP)).reason == "no known contact among the outside parties"


def test_outgoing_mail_is_logged_on_every_contact_recipient_only_when_enabled() -> None:
    sent = message(REP, "jane@acme.example", cc="bob@beta.example, dana@northwind.example", subject="Pilot")
    assert run(sent, folder="sent").action == "skip"
    enabled = AddressPolicy(internal_domains=POLICY.internal_domains, log_outgoing=True)
    decision = run(sent, folder="sent", policy=enabled)
    assert (decision.action, decision.direction, decision.contact_ids) == ("log", "outgoing", ("101", "202"))
