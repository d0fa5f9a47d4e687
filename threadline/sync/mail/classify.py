"""Decide what kind of mail a parsed message is: reply, auto-reply, bounce, bulk, or a plain message.

Pure function over ParsedMessage. Machine signals (DSN structure, RFC 3834
Auto-Submitted, vendor auto-reply headers, Precedence/List-Id) are trusted before
words in subjects and bodies, and the first rule that fires wins, in the order
bounce > meeting > auto-reply > bulk > reply > message: a bounce often carries Auto-Submitted,
an out-of-office reply often carries In-Reply-To, and neither is a human reply. A meeting
response (an iMIP calendar part read by calendar_reply.py) comes right after bounces: Google
marks its "Accepted: ..." messages Auto-Submitted, yet they record what a person chose.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal

from threadline.adapters.sending import SEQUENCE_ID_PREFIX
from threadline.sync.mail.calendar_reply import CalendarRead, CalendarResponse
from threadline.sync.mail.message import ParsedMessage
from threadline.sync.mail.return_date import read_return_date

Kind = Literal["reply", "auto_reply", "bounce", "bulk", "message", "meeting"]

DAEMON_SENDERS = re.compile(r"^(?:mailer-daemon|postmaster|mail-daemon|maildelivery|mail-delivery-subsystem)@", re.I)
DAEMON_NAMES = re.compile(r"mail delivery (?:subsystem|system)|mailer-daemon|postmaster", re.I)
FAILURE_SUBJECT = re.compile(
    r"undeliver|undelivered mail|delivery status notification \(failure\)|delivery (?:has )?failed|"
    r"mail delivery failed|failure notice|returned mail|delivery failure|could not be delivered|"
    r"non[- ]delivery|unzustellbar|nicht zustellbar|non remis|échec de la remise|onbestelbaar|"
    r"olevererbart|kan inte levereras|no se puede entregar|no entregado|non recapitabile|niedostarczalna",
    re.I,
)
AUTO_SUBJECT = re.compile(
    r"^\W*(?:automatic reply|auto[- ]?reply|auto[- ]?response|autosvar|autoreply|out of (?:the )?office|"
    r"abwesenheitsnotiz|automatische antwort|abwesend|réponse automatique|respuesta automática|"
    r"fuera de la oficina|risposta automatica|fuori sede|automatisch antwoord|afwezig|resposta automática|"
    r"automaattinen vastaus|automatisk svar|frånvaro|fravær|odpowiedź automatyczna|автоматический ответ|"
    r"自动回复|自動回覆|自動応答|ooo\b|vacation reply)",
    re.I,
)
AUTO_BODY = re.compile(
    r"\b(?:i am|i'm|i’m|i will be|i'll be|i’ll be) (?:currently )?(?:out of (?:the )?office|away from (?:the|my) office|"
    r"on (?:annual |parental |sick )?leave|on vacation|on holiday|travell?ing with limited)|"
    r"\bthis is an automatic(?:ally generated)? (?:reply|response|message)|"
    r"\bbin ich (?:nicht im büro|abwesend|im urlaub)|\bich bin (?:bis|derzeit|zurzeit) .{0,40}(?:abwesend|nicht im büro)|"
    r"\bje suis (?:actuellement )?absente?|\bestoy fuera de la oficina|\bsono fuori (?:ufficio|sede)|"
    r"\bik ben (?:momenteel )?afwezig|\bjag är (?:ledig|borta|tjänstledig|på semester)",
    re.I,
)
REPLY_SUBJECT = re.compile(
    r"^\s*(?:\[[^\]]{0,40}\]\s*)?(?:re|aw|sv|vs|antw|antwort|réf|ref|rif|res|odp|ynt|atb|r|回复|回覆|答复|"
    r"отв|ответ|ΑΠ|ΣΧΕΤ|תשובה|vá|tr\s?:\s?re)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]",
    re.I,
)
BULK_PRECEDENCE = {"bulk", "junk"}
AUTO_BODY_MAX_CHARS = 1500          # body phrases count only in short messages (auto-replies are short)


@dataclass(frozen=True)
class Classification:
    """The kind of a message and why; OOO return date and bounced addresses when they can be read."""

    kind: Kind
    reason: str
    return_date: date | None = None
    bounced_recipients: tuple[str, ...] = ()
    calendar: CalendarResponse | None = None        # kind "meeting": the iMIP response it carries


def classify(msg: ParsedMessage, calendar: CalendarRead | None = None) -> Classification:
    """Classify one message (`calendar`: what calendar_reply.read_calendar found in its raw bytes). Pure and
    deterministic; never raises for a ParsedMessage."""
    for rule in (_bounce, lambda m: _meeting(calendar), _auto_reply, _bulk, _reply):
        found = rule(msg)
        if found is not None:
            return found
    return Classification("message", "from a person, not part of a known thread")


def _header(msg: ParsedMessage, name: str) -> str:
    return (msg.headers.get(name) or "").strip()


def _bounce(msg: ParsedMessage) -> Classification | None:
    if msg.is_delivery_report:
        failed = [r for r in msg.delivery_status if r.action == "failed" or r.status.startswith("5.")]
        if failed:
            codes = ", ".join(sorted({r.status for r in failed if r.status})) or "no status"
            return Classification("bounce", f"delivery status report: failed ({codes})",
                                  bounced_recipients=tuple(dict.fromkeys(r.final_recipient for r in failed)))
        if msg.delivery_status:
            actions = ", ".join(sorted({r.action or "?" for r in msg.delivery_status}))
            return Classification("auto_reply", f"delivery status report without failure ({actions})")
    failed_header = _header(msg, "x-failed-recipients")
    if failed_header:
        recipients = tuple(a.strip().lower() for a in failed_header.split(",") if "@" in a)
        return Classification("bounce", "X-Failed-Recipients header", bounced_recipients=recipients)
    from_daemon = DAEMON_SENDERS.match(msg.from_address) or DAEMON_NAMES.search(msg.from_name)
    if from_daemon and FAILURE_SUBJECT.search(msg.subject):
        return Classification("bounce", f"{msg.from_address} reports failure: {msg.subject[:80]}",
                               bounced_recipients=_failed_addresses_in_text(msg))
    return None


def _meeting(calendar: CalendarRead | None) -> Classification | None:
    if calendar is None or calendar.response is None:
        return None
    return Classification("meeting", calendar.response.describe(), calendar=calendar.response)


def _failed_addresses_in_text(msg: ParsedMessage) -> tuple[str, ...]:
    """Addresses a non-standard bounce names in its first lines (best effort)."""
    found = re.findall(r"[\w.+'-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63})+", msg.text[:3000])
    own = {msg.from_address, *msg.to}
    return tuple(dict.fromkeys(a.lower() for a in found if a.lower() not in own))[:20]


def _auto_reply(msg: ParsedMessage) -> Classification | None:
    reason = _auto_reply_signal(msg)
    if reason is None:
        return None
    sent = (msg.date or datetime.now(UTC)).date()
    english = not re.search(r"[äöüéèàåøñ]", msg.subject + msg.text[:500], re.I)
    back = read_return_date(f"{msg.subject}\n{msg.text[:2000]}", sent, english=english)
    return Classification("auto_reply", reason, return_date=back)


def _auto_reply_signal(msg: ParsedMessage) -> str | None:
    submitted = _header(msg, "auto-submitted").lower()
    if submitted and not submitted.startswith("no"):
        return f"Auto-Submitted: {submitted[:40]}"
    for name in ("x-autoreply", "x-autorespond", "x-autoresponse"):
        value = _header(msg, name).lower()
        if value and value not in ("no", "false", "0"):
            return f"{name} header"
    if "oof" in _header(msg, "x-auto-response-suppress").lower():
        return "X-Auto-Response-Suppress includes OOF"
    if AUTO_SUBJECT.search(msg.subject):
        return f"auto-reply subject: {msg.subject[:80]}"
    body = msg.text.strip()
    if len(body) <= AUTO_BODY_MAX_CHARS and AUTO_BODY.search(body[:600]):
        return "out-of-office wording in a short body"
    return None


def _bulk(msg: ParsedMessage) -> Classification | None:
    if (msg.message_id or "").lower().startswith(SEQUENCE_ID_PREFIX):
        return None      # our own sequence email: one person writing to another, unsubscribe header or not
    precedence = (_header(msg, "precedence") or _header(msg, "x-precedence")).lower()
    if precedence in BULK_PRECEDENCE:
        return Classification("bulk", f"Precedence: {precedence}")
    listy = precedence == "list" or _header(msg, "list-id") or _header(msg, "list-unsubscribe")
    if listy and not _has_reply_shape(msg):
        signal = "Precedence: list" if precedence == "list" else ("List-Id" if _header(msg, "list-id") else "List-Unsubscribe")
        return Classification("bulk", f"{signal} without a reply to a thread")
    return None


def _has_reply_shape(msg: ParsedMessage) -> bool:
    return bool(msg.in_reply_to or msg.references or REPLY_SUBJECT.match(msg.subject))


def _reply(msg: ParsedMessage) -> Classification | None:
    if msg.in_reply_to:
        return Classification("reply", "In-Reply-To header")
    if msg.references:
        return Classification("reply", "References header")
    if REPLY_SUBJECT.match(msg.subject):
        return Classification("reply", f"reply subject: {msg.subject[:80]}")
    return None
