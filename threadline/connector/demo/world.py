"""The demo's world: a small sales team at northwind.example, its HubSpot contacts and a rep's inbox.

Every message is written here (no external data), covering what Threadline must
tell apart: real replies (plain, HTML-only, German, with quoted history and
signatures), an out-of-office, a bounce, an internal-only thread, a newsletter
and mail from a stranger.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

REP = "alex@northwind.example"
INTERNAL_DOMAIN = "northwind.example"


@dataclass(frozen=True)
class DemoContact:
    email: str
    first: str
    last: str
    company: str
    additional: tuple[str, ...] = ()


CONTACTS = (
    DemoContact("jane.doe@acme-corp.example", "Jane", "Doe", "Acme Corp"),
    DemoContact("carlos@globex.example", "Carlos", "Ruiz", "Globex"),
    DemoContact("petra.schmidt@initech.example", "Petra", "Schmidt", "Initech", ("p.schmidt@initech-group.example",)),
    DemoContact("sam.lee@umbrella.example", "Sam", "Lee", "Umbrella"),
    DemoContact("olga@hooli.example", "Olga", "Ivanova", "Hooli"),
)


def _mail(sender: str, to: str, subject: str, body: str, when: datetime, *, reply_to_id: str | None = None,
          html: str | None = None, headers: dict[str, str] | None = None) -> tuple[bytes, str]:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Date"] = format_datetime(when)
    msg_id = make_msgid(domain=sender.split("@")[-1].strip(">"))
    msg["Message-ID"] = msg_id
    if reply_to_id:
        msg["In-Reply-To"] = reply_to_id
        msg["References"] = reply_to_id
    for name, value in (headers or {}).items():
        msg[name] = value
    if html is not None and not body:
        msg.set_content(html, subtype="html")
    else:
        msg.set_content(body)
        if html:
            msg.add_alternative(html, subtype="html")
    return msg.as_bytes(), msg_id


def outreach_and_replies(now: datetime | None = None) -> list[tuple[bytes, tuple[str, ...]]]:
    """(raw message, Gmail labels) in arrival order: the rep's outreach in SENT, the answers in INBOX."""
    t = (now or datetime.now(UTC)) - timedelta(days=2)
    out: list[tuple[bytes, tuple[str, ...]]] = []

    def sent(to: str, subject: str, body: str) -> str:
        nonlocal t
        t += timedelta(minutes=7)
        raw, msg_id = _mail(f"Alex Morgan <{REP}>", to, subject, body, t)
        out.append((raw, ("SENT",)))
        return msg_id

    def inbox(sender: str, subject: str, body: str, reply_to_id: str | None = None, *, html: str | None = None,
              headers: dict[str, str] | None = None) -> None:
        nonlocal t
        t += timedelta(minutes=11)
        out.append((_mail(sender, REP, subject, body, t, reply_to_id=reply_to_id, html=html, headers=headers)[0],
                    ("INBOX",)))

    jane = sent("Jane Doe <jane.doe@acme-corp.example>", "Northwind pilot for Acme", "Hi Jane,\n\nWould a two-week pilot help your team evaluate Northwind?\n\nAlex")
    inbox("Jane Doe <jane.doe@acme-corp.example>", "Re: Northwind pilot for Acme",
          "Hi Alex,\n\nYes - a pilot works for us. Can we start on the 3rd with five seats?\n\nBest,\nJane\n--\nJane Doe | VP Operations | Acme Corp\n+1 555 0100\n\n"
          "On Mon, Nov 2, 2026 at 9:14 AM Alex Morgan <alex@northwind.example> wrote:\n> Hi Jane,\n>\n> Would a two-week pilot help your team evaluate Northwind?\n>\n> Alex\n", jane)
    carlos = sent("Carlos Ruiz <carlos@globex.example>", "Pricing for Globex", "Hi Carlos, attached is our pricing.")
    inbox("Carlos Ruiz <carlos@globex.example>", "RE: Pricing for Globex", "",
          carlos, html="<html><body><div>Thanks Alex. The annual plan looks right; please send the order form.</div>"
          "<div>Carlos</div><div id=\"divRplyFwdMsg\"><hr><b>From:</b> Alex Morgan<br><b>Sent:</b> Monday<br>"
          "<b>Subject:</b> Pricing for Globex</div><div>Hi Carlos, attached is our pricing.</div></body></html>")
    petra = sent("Petra Schmidt <p.schmidt@initech-group.example>", "Termin", "Hallo Petra, passt Ihnen Donnerstag?")
    inbox("Petra Schmidt <p.schmidt@initech-group.example>", "AW: Termin",
          "Hallo Alex,\n\nDonnerstag um 10 Uhr passt gut.\n\nViele Grüße\nPetra\n\nAm 02.11.2026 um 10:00 schrieb Alex Morgan <alex@northwind.example>:\n> Hallo Petra, passt Ihnen Donnerstag?\n", petra)
    sam = sent("Sam Lee <sam.lee@umbrella.example>", "Quick question", "Hi Sam, do you own procurement at Umbrella?")
    inbox("Sam Lee <sam.lee@umbrella.example>", "Automatic reply: Quick question",
          "I am out of the office until Monday with limited access to email.", sam,
          headers={"Auto-Submitted": "auto-replied", "X-Auto-Response-Suppress": "All"})
    inbox("Mail Delivery Subsystem <mailer-daemon@umbrella.example>", "Delivery Status Notification (Failure)",
          "Your message to sam.lee@umbrella.example could not be delivered: 550 5.1.1 user unknown.",
          headers={"Auto-Submitted": "auto-replied"})
    inbox("Dana Kim <dana@northwind.example>", "Forecast review", "Alex, can you update the Q4 forecast before Friday?")
    inbox("Acme Weekly <news@newsletters.example>", "This week at Acme", "Ten tips for better pipelines...",
          headers={"Precedence": "bulk", "List-Id": "<weekly.newsletters.example>",
                   "List-Unsubscribe": "<mailto:unsubscribe@newsletters.example>"})
    inbox("Random Person <someone@unknown.example>", "Hello", "Hi, are you hiring?")
    return out


def late_reply(now: datetime | None = None) -> bytes:
    """A reply that arrives after the first sync, to show an incremental pass."""
    when = now or datetime.now(UTC)
    return _mail("Olga Ivanova <olga@hooli.example>", REP, "Intro call",
                 "Hi Alex, I saw your note. Tuesday at 2pm works for an intro call.\n\nSent from my iPhone", when)[0]


#: The sequence part of the demo: a prospect who fills in the demo form, gets step 1 and answers it.
PROSPECT = DemoContact("mia.chen@contoso.example", "Mia", "Chen", "Contoso")


def prospect_reply(step_message_id: str, step_subject: str, now: datetime | None = None) -> bytes:
    """Mia's answer to the sequence's first email, threaded to it (In-Reply-To/References), with the usual
    quoted history below her text."""
    # The Date header has whole seconds: a second later than now keeps the reply after the send it answers.
    when = (now or datetime.now(UTC)).replace(microsecond=0) + timedelta(seconds=1)
    body = ("Hi Alex,\n\nthanks for the quick note. Thursday at 10:00 works for a call; can you bring pricing for "
            "20 seats?\n\nMia\n\n"
            f"On {format_datetime(when)} Alex Morgan <{REP}> wrote:\n> Hi Mia,\n> thanks for reaching out.\n")
    return _mail(f"Mia Chen <{PROSPECT.email}>", REP, f"Re: {step_subject}", body, when,
                 reply_to_id=step_message_id)[0]


#: The A/B month (ab_month.py): prospects who download the onboarding guide, made from these names and companies.
GUIDE_FIRST_NAMES = ("Ava", "Ben", "Chloe", "Dev", "Elena", "Finn", "Grace", "Hugo", "Isla", "Jonas", "Kira", "Luca",
                     "Maya", "Noah", "Olivia", "Priya")
GUIDE_LAST_NAMES = ("Novak", "Okafor", "Lindqvist", "Moreau", "Tanaka", "Silva", "Berg")
GUIDE_COMPANIES = (("Brightwave", "brightwave"), ("Cobalt Labs", "cobaltlabs"), ("Dunmore", "dunmore"))
GUIDE_ANSWERS = (
    "Honestly, about six weeks per hire right now, which is why I grabbed the guide. Could we talk Thursday?",
    "Thanks. Onboarding is on our list for Q1; can you send a short overview I can forward to our HR lead?",
    "We are rolling out a new process next month, so the timing is good. Tuesday afternoon works for a call.",
    "Not a priority before spring, but the checklist is useful. Please check back with me in March.",
)


def guide_prospects(count: int) -> list[DemoContact]:
    """`count` distinct prospects (first name x company), the same ones on every run."""
    people = [(first, company) for company in GUIDE_COMPANIES for first in GUIDE_FIRST_NAMES]
    if count > len(people):
        raise ValueError(f"at most {len(people)} guide prospects")
    return [DemoContact(f"{first.lower()}@{domain}.example", first, GUIDE_LAST_NAMES[n % len(GUIDE_LAST_NAMES)], name)
            for n, (first, (name, domain)) in enumerate(people[:count])]


def guide_answer(prospect: DemoContact, step_message_id: str, step_subject: str, when: datetime,
                 variation: int) -> bytes:
    """A prospect's answer to a sequence email, written at `when` (its Date header) and threaded to it."""
    body = f"Hi Alex,\n\n{GUIDE_ANSWERS[variation % len(GUIDE_ANSWERS)]}\n\n{prospect.first}\n"
    return _mail(f"{prospect.first} {prospect.last} <{prospect.email}>", REP, f"Re: {step_subject}", body,
                 when.replace(microsecond=0), reply_to_id=step_message_id)[0]
