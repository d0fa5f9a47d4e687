"""Extract the visible new text of a reply: no quoted history, no signature.

Why our own rules rather than a library: on the shared corpus (bench/reply_accuracy.py)
mail-parser-reply and email-reply-parser each miss whole families of quote headers
(Gmail's split "On … <\\naddr> wrote:" lines, non-English attributions, Outlook header
blocks without a separator, HTML-only mail) and neither strips mobile footers in other
languages; the rules below score markedly higher on the same scorer (numbers in the
benchmark output). The language tables live in quote_patterns.py.

How: HTML quote containers are removed on the tree first (html_text.py). Then, line by
line from the top, `>`-quoted blocks (with the attribution line above them) are
dropped and scanning continues, so bottom-posted and inline answers survive; a hard
boundary (Outlook/forward separator, a quoted header block, an attribution not
followed by `>` lines) ends the new text. Finally the signature goes: a `-- ` block,
trailing mobile footers, and a closing block ("Thanks,\\nAlex") when something
precedes it; signoff.py adds disclaimers, legal footers, gateway banners and sign-off
blocks without a closing line, and never leaves nothing where there was text.

Guarantees: never raises; examines at most MAX_TEXT_CHARS; patterns run on bounded
lines only, so time is linear in the input.
"""

from __future__ import annotations

import re

from threadline.sync.mail import quote_patterns as qp
from threadline.sync.mail.html_text import parse_html, strip_quoted_html, tree_to_text
from threadline.sync.mail.signoff import drop_legal_notices, drop_signoff_block, introduced, is_signature_line

MAX_TEXT_CHARS = 64 * 1024       # the new text sits at the top; the rest is history
MAX_PATTERN_LINE = 400           # longer lines are prose, never headers
ATTRIBUTION_MAX_LINES = 3        # Gmail wraps long attributions over up to three lines
HEADER_WINDOW = 7
MAX_SIGNATURE_LINES = 8
INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u1427]")


def extract_reply(text: str, html: str | None = None, sender_name: str = "") -> str:
    """The new text of a reply, whitespace-normalised; "" when nothing new was written.

    `html`, when given, is used if it carries a recognised quote container (or `text`
    is empty). `sender_name` (the From display name, if any) lets a sign-off that is just
    the sender's name go, and keeps a name that is someone else's. Never raises.
    """
    try:
        return _extract(text if isinstance(text, str) else "", html if isinstance(html, str) else None,
                        sender_name if isinstance(sender_name, str) else "")
    except Exception:  # last resort: a reply context with history beats a failed sync
        return _tidy(_lines((text or "")[:MAX_TEXT_CHARS]) if isinstance(text, str) else [])


def _extract(text: str, html: str | None, sender_name: str = "") -> str:
    if html:
        tree = parse_html(html)
        if strip_quoted_html(tree) or not text.strip():
            text = tree_to_text(tree)
    lines = _drop_quoted_history(_lines(text[:MAX_TEXT_CHARS]))
    return _tidy(_drop_signature(lines, sender_name))


def _lines(text: str) -> list[str]:
    text = INVISIBLE.sub("", text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " "))
    return [line if line == "-- " else line.rstrip() for line in text.split("\n")]


def _is_quoted(line: str) -> bool:
    return line.lstrip().startswith(">")


def _drop_quoted_history(lines: list[str]) -> list[str]:
    """Lines of new text: quoted blocks removed, everything after a hard boundary cut."""
    kept: list[str] = []
    at_top = True                           # nothing but blank lines kept so far
    i = 0
    while i < len(lines):
        if _is_quoted(lines[i]):
            i += 1
            continue
        if _is_hard_boundary(lines, i):
            break
        span = _attribution_span(lines, i)
        if span:
            following = _next_nonblank(lines, i + span)
            if following is not None and _is_quoted(lines[following]):
                i = following               # the quote block is skipped above; text below survives
                continue
            if not at_top:
                break                       # unquoted history follows the attribution
            i += span                       # attribution on top of the text: the text is the reply
            continue
        if _starts_header_block(lines, i):
            if not at_top:
                break
            i = _end_of_header_block(lines, i)   # headers pasted above the text (forwards from webmail)
            continue
        kept.append(lines[i])
        at_top = at_top and not lines[i].strip()
        i += 1
    return kept


def _next_nonblank(lines: list[str], start: int) -> int | None:
    for j in range(start, min(len(lines), start + 4)):
        if lines[j].strip():
            return j
    return None


def _attribution_span(lines: list[str], i: int) -> int:
    """How many lines (1-3) from `i` form an "On … wrote:" attribution; 0 if none."""
    first = lines[i].strip() if i < len(lines) else ""
    if len(first) > MAX_PATTERN_LINE or _is_quoted(first):
        return 0
    if qp.ON_WEEKDAY_TIME.match(first) or qp.ISO_DATE_ATTRIBUTION.match(first):
        return 1
    joined = ""
    for k in range(ATTRIBUTION_MAX_LINES):
        line = lines[i + k].strip() if i + k < len(lines) else ""
        if not line or (_is_quoted(line) and not (k > 0 and len(line) <= 3)):   # ">:" wrapped off
            return 0
        joined = f"{joined} {line}".strip()
        if len(joined) > MAX_PATTERN_LINE:
            return 0
        if _is_attribution(joined, lines, i + k + 1):
            # A wrapped attribution starts with its opener; otherwise line i is text above it.
            opener = qp.ATTRIBUTION_START.match(first) or "@" in first
            return k + 1 if k == 0 or opener else 0
    return 0


def _end_of_header_block(lines: list[str], i: int) -> int:
    while i < len(lines) and lines[i].strip():
        i += 1
    return i


def _is_attribution(candidate: str, lines: list[str], after: int) -> bool:
    if (qp.ATTRIBUTION_START.match(candidate) and candidate.endswith((":", "："))
            and qp.WROTE_INSIDE.search(candidate) and qp.DATEISH.search(candidate)):
        return True
    if (candidate.endswith((":", "：")) and "@" in candidate and qp.WROTE_INSIDE.search(candidate)
            and qp.STRICT_DATEISH.search(candidate)):
        return True                 # "Name <addr> schrieb am Fr., 28. Apr. 2017 um 11:53 Uhr:"
    if qp.ATTRIBUTION_END.search(candidate):
        return bool(qp.ATTRIBUTION_START.match(candidate) or qp.DATEISH.search(candidate)
                    or _quote_follows(lines, after))
    # Clients that write only "<date> <who>:" (Gmail in CJK locales): needs a date and quoted lines.
    return (candidate.endswith((":", "：")) and bool(qp.STRICT_DATEISH.search(candidate))
            and "@" in candidate and _quote_follows(lines, after))


def _quote_follows(lines: list[str], after: int) -> bool:
    following = _next_nonblank(lines, after)
    return following is not None and _is_quoted(lines[following])


def _is_hard_boundary(lines: list[str], i: int) -> bool:
    line = lines[i]
    if len(line) > MAX_PATTERN_LINE or not line.strip():
        return False
    if qp.SEPARATOR.match(line) or qp.FORWARD_INTRO.match(line) or qp.REPLY_ABOVE.match(line):
        return True
    if qp.UNDERSCORE_RULE.match(line) or qp.DASHED_ATTRIBUTION.match(line):
        return True
    if qp.RULE.match(line):
        following = _next_nonblank(lines, i + 1)
        return following is not None and bool(qp.HEADER_LINE.match(lines[following]))
    return False


def _starts_header_block(lines: list[str], i: int) -> bool:
    """'From: …' followed by more message headers ('Sent:', 'To:', 'Subject:'…) close below."""
    if not qp.HEADER_LINE.match(lines[i]):
        return False
    window = [line for line in lines[i:i + HEADER_WINDOW] if line.strip()][:5]
    labels = [line for line in window if len(line) <= MAX_PATTERN_LINE and qp.HEADER_LINE.match(line)]
    return len(labels) >= 2 and any(qp.FROM_LINE.match(line) for line in labels[:4])


def _drop_signature(lines: list[str], sender_name: str = "") -> list[str]:
    # Outermost first: a gateway's disclaimer sits below the client's footer, which sits below
    # the sign-off. Each layer removed can expose the next, hence the short loop.
    for _ in range(3):
        before = len(lines)
        lines = drop_legal_notices(lines)
        lines = _cut_at_delimiter(lines)
        lines = _strip_trailing_footers(lines)
        lines = _cut_contact_block(lines)
        lines = _cut_closing_block(lines)
        lines = drop_signoff_block(lines, sender_name)
        if len(lines) == before:
            break
    return lines


def _cut_at_delimiter(lines: list[str]) -> list[str]:
    remaining = sum(1 for line in lines if line.strip())
    for i, line in enumerate(lines):
        remaining -= bool(line.strip())
        if qp.SIGNATURE_DELIMITER.match(line):
            # "-- " (with the space) is RFC 3676's own marker; bare "--" only ends a short block.
            if line == "-- " or line.startswith("—") or remaining <= 2 * MAX_SIGNATURE_LINES:
                return lines[:i]
    return lines


def _strip_trailing_footers(lines: list[str]) -> list[str]:
    """Drop trailing blank lines, mobile footers and symbol-only rulers ('***', '===='),
    and a lone name line signed right above a mobile footer ("Alex\nSent from my iPhone")."""
    end = len(lines)
    footer_seen = False
    while end > 0:
        line = lines[end - 1].strip()
        if line and not _is_footer(line):
            break
        footer_seen = footer_seen or bool(line)
        end -= 1
    if footer_seen and end > 1 and qp.NAME_LINE.match(lines[end - 1].strip()) and lines[end - 2].strip() == "":
        end -= 1
    return lines[:end]


def _cut_contact_block(lines: list[str]) -> list[str]:
    """Drop the largest trailing run of short paragraphs that is mostly contact details,
    as long as some text stays above it."""
    first_text = next((i for i, line in enumerate(lines) if line.strip()), len(lines))
    best = len(lines)
    contact = taken = 0
    i = len(lines)
    while i > first_text + 1 and taken < 12:
        line = lines[i - 1].strip()
        if len(line) > 70:
            break
        if line:
            taken += 1
            contact += bool(qp.CONTACT_LINE.match(line) and qp.CONTACT_EVIDENCE.search(line))
        i -= 1
        if line and not lines[i - 1].strip() and contact >= 2 and contact * 3 >= taken and _opens_contact_block(lines, i):
            best = i
    return lines[:best]


def _opens_contact_block(lines: list[str], start: int) -> bool:
    """The paragraph at `start` is sign-off material (a contact line, or only name/title/company
    lines) and no "...:" above introduces it: "Tuesday works." above a short signature is text."""
    if introduced(lines, start):
        return False
    end = next((j for j in range(start, len(lines)) if not lines[j].strip()), len(lines))
    paragraph = [line.strip() for line in lines[start:end]]
    return any(qp.CONTACT_LINE.match(line) and qp.CONTACT_EVIDENCE.search(line) for line in paragraph) or all(
        is_signature_line(line) for line in paragraph)


def _is_footer(line: str) -> bool:
    if len(line) <= qp.MAX_FOOTER_CHARS and qp.MOBILE_FOOTER.match(line):
        return True
    return bool(qp.RULER.match(line))


def _cut_closing_block(lines: list[str]) -> list[str]:
    """Remove "Thanks,\\nAlex" style closings (and "-Alex") at the end, keeping the text above."""
    content = [i for i, line in enumerate(lines) if line.strip()]
    for idx in range(len(content) - 1, max(-1, len(content) - 1 - MAX_SIGNATURE_LINES), -1):
        line = lines[content[idx]].strip()
        tail_is_short = len(content) - idx <= 6 and all(len(lines[j]) <= 60 for j in content[idx:])
        is_closing = qp.CLOSING.match(line) or (idx == len(content) - 1 and qp.DASH_NAME.match(line))
        if is_closing and tail_is_short and idx > 0:
            return lines[:content[idx]]
    return lines


def _tidy(lines: list[str]) -> str:
    """Blank-line runs folded to one, outer blank lines removed."""
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
