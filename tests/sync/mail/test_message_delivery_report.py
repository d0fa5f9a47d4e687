"""Delivery status notifications (RFC 3464) as parse_message reads them."""

from __future__ import annotations

from email.message import EmailMessage, Message

from threadline.sync.mail.message import parse_message


def delivery_report(action: str = "failed", status: str = "5.1.1",
                    recipient: str = "Gone@Client.example") -> bytes:
    """A real multipart/report the way Postfix builds one."""
    report = EmailMessage()
    report["From"] = "MAILER-DAEMON@mx.example.com (Mail Delivery System)"
    report["To"] = "rep@example.com"
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report["Auto-Submitted"] = "auto-replied"
    report.set_type("multipart/report")
    report.set_param("report-type", "delivery-status")
    human = Message()
    human.set_payload("I'm sorry to have to inform you that your message could not be delivered.\n")
    human.set_type("text/plain")
    status_part = Message()
    status_part.set_type("message/delivery-status")
    per_message = Message()
    per_message["Reporting-MTA"] = "dns; mx.example.com"
    per_recipient = Message()
    per_recipient["Final-Recipient"] = f"rfc822; {recipient}"
    per_recipient["Original-Recipient"] = f"rfc822;{recipient}"
    per_recipient["Action"] = action
    per_recipient["Status"] = status
    per_recipient["Diagnostic-Code"] = "smtp; 550 5.1.1 <gone@client.example>: Recipient address rejected"
    status_part.set_payload([per_message, per_recipient])
    original = Message()
    original.set_type("text/rfc822-headers")
    original.set_payload("From: rep@example.com\nTo: gone@client.example\nMessage-ID: <step-1@example.com>\n"
                         "Subject: Quick question\n")
    report.set_payload([human, status_part, original])
    return report.as_bytes()


def test_dsn_fields_are_read_per_recipient():
    parsed = parse_message(delivery_report())
    assert parsed.is_delivery_report
    (recipient,) = parsed.delivery_status
    assert recipient.final_recipient == "gone@client.example"
    assert recipient.action == "failed"
    assert recipient.status == "5.1.1"
    assert "Recipient address rejected" in recipient.diagnostic


def test_dsn_names_the_message_that_bounced():
    assert parse_message(delivery_report()).bounced_message_id == "<step-1@example.com>"


def test_dsn_text_is_the_human_readable_part():
    assert parse_message(delivery_report()).text.startswith("I'm sorry to have to inform you")


def test_ordinary_mail_is_not_a_delivery_report():
    msg = EmailMessage()
    msg["From"] = "a@client.example"
    msg.set_content("hi")
    parsed = parse_message(msg.as_bytes())
    assert not parsed.is_delivery_report
    assert parsed.delivery_status == ()
