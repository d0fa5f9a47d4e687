"""classify: machine signals first, then words; bounce > auto-reply > bulk > reply > message."""

from __future__ import annotations

from datetime import date
from email.message import EmailMessage

import pytest

from tests.sync.mail.test_message_delivery_report import delivery_report
from threadline.sync.mail.classify import classify
from threadline.sync.mail.message import parse_message


def mail(body: str = "Sounds good, see you Tuesday.", **headers: str):
    msg = EmailMessage()
    msg["From"] = headers.pop("From", "Dana Reyes <dana@client.example>")
    msg["To"] = "rep@example.com"
    msg["Subject"] = headers.pop("Subject", "Pricing")
    msg["Date"] = headers.pop("Date", "Mon, 03 Mar 2025 09:00:00 +0000")
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return parse_message(msg.as_bytes())


def test_failed_dsn_is_a_bounce_naming_the_recipient():
    result = classify(parse_message(delivery_report()))
    assert result.kind == "bounce"
    assert result.bounced_recipients == ("gone@client.example",)
    assert "5.1.1" in result.reason


def test_delayed_dsn_is_not_a_bounce():
    result = classify(parse_message(delivery_report(action="delayed", status="4.4.1")))
    assert result.kind == "auto_reply"
    assert "delayed" in result.reason


def test_mailer_daemon_with_failure_subject_is_a_bounce():
    result = classify(mail("Delivery to the following recipient failed permanently:\n\n     gone@client.example\n",
                           From="Mail Delivery Subsystem <mailer-daemon@googlemail.com>",
                           Subject="Delivery Status Notification (Failure)"))
    assert result.kind == "bounce"
    assert result.bounced_recipients == ("gone@client.example",)


def test_postmaster_without_failure_subject_is_not_a_bounce():
    assert classify(mail(From="postmaster@client.example", Subject="Quarterly maintenance")).kind == "message"


def test_x_failed_recipients_marks_a_bounce():
    result = classify(mail(X_Failed_Recipients="Gone@Client.example"))
    assert (result.kind, result.bounced_recipients) == ("bounce", ("gone@client.example",))


@pytest.mark.parametrize("header, value", [
    ("Auto-Submitted", "auto-replied"),
    ("Auto-Submitted", "auto-generated"),
    ("X-Autoreply", "yes"),
    ("X-Autorespond", "Out of office"),
    ("X-Auto-Response-Suppress", "DR, OOF, AutoReply"),
])
def test_auto_reply_headers(header, value):
    result = classify(mail(In_Reply_To="<step-1@example.com>", **{header.replace("-", "_"): value}))
    assert result.kind == "auto_reply"
    assert header.lower() in result.reason.lower()


def test_auto_submitted_no_is_a_human_message():
    assert classify(mail(Auto_Submitted="no", In_Reply_To="<step-1@example.com>")).kind == "reply"


@pytest.mark.parametrize("subject", [
    "Automatic reply: Pricing", "Out of Office: Pricing", "Autosvar: Pricing", "Abwesenheitsnotiz: Pricing",
    "Réponse automatique : Pricing", "Respuesta automática: Pricing", "Automatisch antwoord: Pricing",
    "Auto-Reply: Pricing", "Risposta automatica: Pricing",
])
def test_auto_reply_subjects(subject):
    assert classify(mail(Subject=subject)).kind == "auto_reply"


def test_short_out_of_office_body_is_an_auto_reply():
    result = classify(mail("Hello,\n\nI am currently out of the office with limited access to email.\n",
                           Subject="Re: Pricing", In_Reply_To="<step-1@example.com>"))
    assert result.kind == "auto_reply"


def test_long_human_reply_mentioning_leave_is_still_a_reply():
    body = "Thanks for the deck. " * 100 + "\nI'm out of the office next week, so let's talk today."
    assert classify(mail(body, Subject="Re: Pricing", In_Reply_To="<step-1@example.com>")).kind == "reply"


@pytest.mark.parametrize("body, expected", [
    ("I am out of the office until March 10, 2025.", date(2025, 3, 10)),
    ("I'm out of office and back on 12 March.", date(2025, 3, 12)),
    ("Ich bin bis zum 14.03.2025 nicht im Büro.", date(2025, 3, 14)),
    ("Je suis absente jusqu'au 17/03/2025.", date(2025, 3, 17)),
    ("I will be out of the office until 2025-03-20.", date(2025, 3, 20)),
    ("I am out of the office.", None),
])
def test_out_of_office_return_date(body, expected):
    result = classify(mail(body, Subject="Automatic reply: Pricing"))
    assert result.kind == "auto_reply"
    assert result.return_date == expected


def test_return_date_in_the_past_is_ignored():
    assert classify(mail("Out of office until 1 January 2020.", Subject="Out of Office")).return_date is None


@pytest.mark.parametrize("headers", [{"Precedence": "bulk"}, {"Precedence": "junk"},
                                     {"List_Id": "<news.client.example>"},
                                     {"List_Unsubscribe": "<mailto:unsub@client.example>"}])
def test_bulk_mail(headers):
    assert classify(mail(Subject="Our March newsletter", **headers)).kind == "bulk"


def test_list_reply_from_a_person_is_a_reply():
    result = classify(mail(Subject="Re: Pricing", In_Reply_To="<step-1@example.com>", List_Id="<team.client.example>"))
    assert result.kind == "reply"


def test_precedence_bulk_wins_over_reply_shape():
    assert classify(mail(Subject="Re: Pricing", Precedence="bulk", In_Reply_To="<x@y>")).kind == "bulk"


@pytest.mark.parametrize("subject", ["Re: Pricing", "RE: Pricing", "AW: Pricing", "SV: Pricing", "Antw: Pricing",
                                     "Réf : Pricing", "RIF: Pricing", "Odp: Pricing", "[EXT] Re: Pricing",
                                     "Re[2]: Pricing", "回复：Pricing"])
def test_reply_subjects(subject):
    assert classify(mail(Subject=subject)).kind == "reply"


def test_thread_headers_make_a_reply_without_re_subject():
    assert classify(mail(In_Reply_To="<step-1@example.com>")).kind == "reply"
    assert classify(mail(References="<step-1@example.com>")).kind == "reply"


@pytest.mark.parametrize("subject", ["Pricing", "Fwd: Pricing", "Regarding pricing", "Reminder: call"])
def test_new_human_mail_is_a_message(subject):
    assert classify(mail(Subject=subject)).kind == "message"


def test_our_own_sequence_email_is_not_bulk_despite_its_unsubscribe_header():
    """Step 1 of a sequence seen again in the rep's Sent folder is a person's mail, not a newsletter."""
    ours = mail(**{"Message-ID": "<tl-ss-0123abcd@northwind.example>", "Subject": "Welcome, Jane",
                   "List-Unsubscribe": "<https://threadline.example/unsubscribe/t>"})
    newsletter = mail(**{"Message-ID": "<news-1@lists.example>", "Subject": "Our spring offers",
                         "List-Unsubscribe": "<https://lists.example/u>"})
    assert classify(ours).kind != "bulk"
    assert classify(newsletter).kind == "bulk"
