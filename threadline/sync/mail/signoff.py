"""Sign-off blocks, legal disclaimers and gateway banners around the text of a reply.

reply_text.py drops `-- ` signatures, mobile footers and short closings ("Thanks,\\nAlex").
This module drops what those leave: a disclaimer appended below everything ("CONFIDENTIALITY
NOTICE: …", "Diese E-Mail enthält vertrauliche…"), a company's register or print footer, a
gateway's "This email originated from outside…" banner on top, and a sign-off block with no
closing line ("Quinn Hale\\nDirector of Security\\n+1 555…") or a long one after a closing.

It is conservative because a lost line of the prospect's own text costs more than a kept
signature:
- only blocks at the very end (or a banner at the very top) go, never text between them;
- each block needs positive evidence: a disclaimer names what is confidential *and* who may
  read it (or carries a notice heading); a name needs a title, company or contact line below
  it, or to be the sender's own name;
- a block introduced by a line ending in ":" is an answer ("Please talk to:\\nQuinn Hale…");
- a name that is not the sender's (when the sender's name is known) is someone the prospect
  is pointing to, and stays;
- nothing is dropped when dropping it would leave no text at all.
The vocabulary, in the corpus's languages, is in signoff_patterns.py.
"""

from __future__ import annotations

import re
import unicodedata

from threadline.sync.mail import quote_patterns as qp
from threadline.sync.mail import signoff_patterns as sp

MAX_BLOCK_LINES = 12         # a sign-off block longer than this is more than a sign-off
MAX_SIG_LINE = 80            # sign-off lines are short; longer lines are prose
MAX_UNIT_CHARS = 4000        # disclaimer paragraphs are checked on this much text at most
MAX_BANNER_CHARS = 400
MAX_FILLERS = 2              # unclassified short lines ("Acme Robotics") a name-led block may hold
MAX_PATTERN_LINE = 4 * qp.MAX_FOOTER_CHARS   # a notice heading line is at most this long
MIN_DISCLAIMER_CHARS = 100
MAX_FOOTER_CHARS = 600       # a register or print footer is a line or two


def strip_signoff(lines: list[str], sender_name: str = "") -> list[str]:
    """`lines` without a gateway banner on top, trailing disclaimers and legal footers, and a
    trailing sign-off block. Returns `lines` itself when nothing (or everything) would go."""
    lines = drop_legal_notices(lines)
    return drop_signoff_block(lines, sender_name)


# --- disclaimers, legal footers, banners --------------------------------------------------------

def drop_legal_notices(lines: list[str]) -> list[str]:
    """Trailing disclaimer/legal-footer units (with rulers and contact lines among them) and a
    leading external-sender banner, as long as some other text stays."""
    units = _units(lines)
    if len(units) < 2:
        return lines
    first = 1 if _is_banner(lines, units[0]) else 0
    cut = _legal_tail_start(lines, units)
    if cut is None or cut <= first or introduced(lines, units[cut][0]):
        cut = len(units)                   # "Our legal team wants this clause:" — the clause is the reply
    end = units[cut][0] if cut < len(units) else len(lines)
    start = units[first][0]
    if start == 0 and end == len(lines):
        return lines
    kept = lines[start:end]
    return kept if _has_text(kept) else lines


def _units(lines: list[str]) -> list[tuple[int, int]]:
    """(start, end) of each run of non-blank lines, split again before a ruler or a notice heading
    (a disclaimer often follows the signature with no blank line)."""
    units: list[tuple[int, int]] = []
    start: int | None = None
    for i, line in enumerate(lines + [""]):
        text = line.strip()
        boundary = bool(text) and start is not None and (
            qp.RULER.match(text) is not None or qp.RULER.match(lines[i - 1].strip()) is not None
            or (len(text) <= MAX_PATTERN_LINE and sp.NOTICE_HEADING.match(text) is not None))
        if not text or boundary:
            if start is not None:
                units.append((start, i))
            start = i if text else None
        elif start is None:
            start = i
    return units


def _unit_text(lines: list[str], unit: tuple[int, int]) -> str:
    return " ".join(line.strip() for line in lines[unit[0]:unit[1]])[:MAX_UNIT_CHARS]


def _legal_tail_start(lines: list[str], units: list[tuple[int, int]]) -> int | None:
    """Index of the first unit of the trailing run of legal units (rulers and contact lines may
    sit among them); None when the text does not end in one. Read from the end, so a long reply
    is classified only as far up as its notices reach."""
    start = None
    following: str | None = None            # the kind of unit k + 1
    k = len(units) - 1
    while k >= 0:
        kind = _legal_kind(lines, units[k])
        if kind == "heading":                 # a notice's title alone is legal when a notice follows it
            kind = "legal" if following == "legal" else None
        elif kind is None and k > 0 and _legal_kind(lines, units[k - 1]) == "heading" \
                and _mentions_legal(_unit_text(lines, units[k])):
            kind = "legal"                    # the prose under "Disclaimer" is the disclaimer
        if kind is None:
            break
        if kind == "legal":
            start = k
        following = kind
        k -= 1
    return start


def _mentions_legal(text: str) -> bool:
    return len(text.split()) >= 6 and bool(sp.CONFIDENTIAL.search(text) or sp.RECIPIENT.search(text))


def _legal_kind(lines: list[str], unit: tuple[int, int]) -> str | None:
    """"legal", "heading" (a notice's title alone), "ancillary" (rulers, contact lines, mobile
    footers that sit among notices) or None (anything else: the prospect's text)."""
    text = _unit_text(lines, unit)
    first = lines[unit[0]].strip()
    if len(first) <= MAX_PATTERN_LINE and sp.NOTICE_HEADING.match(first):
        if unit[1] - unit[0] == 1 and len(first) <= 60 and len(first.split()) <= 5:
            return "heading"
        return "legal" if _mentions_legal(text) else None      # "Disclaimer: I'm no lawyer, but…" is text
    if _is_disclaimer(text):
        return "legal"
    if unit[1] - unit[0] <= 4 and len(text) <= MAX_FOOTER_CHARS and _is_legal_footer(text):
        return "legal"
    if all(_is_ancillary(line.strip()) for line in lines[unit[0]:unit[1]]):
        return "ancillary"
    return None


def _is_disclaimer(text: str) -> bool:
    """Confidentiality named, the message itself named, and at least two distinct phrases about
    recipients or mistakes: a sentence asking to keep a price confidential has one at most."""
    if len(text) < MIN_DISCLAIMER_CHARS:
        wide = sum(1 for c in text if ord(c) >= 0x2E80)  # a CJK character carries a word's meaning
        if len(text) + 2 * wide < MIN_DISCLAIMER_CHARS:
            return False
    if not sp.CONFIDENTIAL.search(text):
        return False
    if not sp.MESSAGE_REF.search(text):
        return False                       # a notice speaks of "this e-mail"; a prospect of their business
    return len({m.group(0).lower() for m in sp.RECIPIENT.finditer(text)}) >= 2


def _is_legal_footer(text: str) -> bool:
    """A company register / print / virus-scan footer: its phrase and, for register lines, the
    number or the label-colon layout footers have ("Amtsgericht Berlin HRB 123", "VAT No: …")."""
    hits = {m.group(0).lower() for m in sp.LEGAL_FOOTER.finditer(text)}
    if not hits:
        return False
    return len(hits) >= 2 or bool(re.search(r"\d", text)) or "environment" in text.lower() or ":" in text


def _is_ancillary(line: str) -> bool:
    return bool(qp.RULER.match(line) or _is_contact(line)
                or (len(line) <= qp.MAX_FOOTER_CHARS and qp.MOBILE_FOOTER.match(line)))


def _is_banner(lines: list[str], unit: tuple[int, int]) -> bool:
    text = _unit_text(lines, unit)
    if unit[1] - unit[0] == 1 and sp.EXTERNAL_TAG.match(text):
        return True
    return len(text) <= MAX_BANNER_CHARS and len(sp.EXTERNAL_BANNER.findall(text)) >= 2


# --- sign-off blocks ----------------------------------------------------------------------------

def drop_signoff_block(lines: list[str], sender_name: str = "") -> list[str]:
    """The lines above a trailing sign-off block: a closing line or a name, then only name,
    title, company, contact, address and link lines. `lines` when there is none, or when the
    block is all there is."""
    content = [i for i, line in enumerate(lines) if line.strip() and not qp.RULER.match(line.strip())]
    tail: list[int] = []
    for i in reversed(content):
        if len(lines[i].strip()) > MAX_SIG_LINE or len(tail) == MAX_BLOCK_LINES:
            break
        tail.insert(0, i)
    # A block's lines below its first are all sign-off lines, so classifying from the bottom can
    # stop at the first other line: nothing above it can start the block.
    kinds: list[str | None] = []
    for i in reversed(tail):
        kinds.insert(0, _sig_kind(lines[i].strip()))
        if kinds[0] is None:
            break
    tail = tail[len(tail) - len(kinds):]
    sender = _name_tokens(sender_name)
    for pos in range(len(tail)):                # earliest start first: the largest block goes
        start = tail[pos]
        if not _text_above(lines, start) or not _opens_block(lines, start):
            continue
        if _is_signoff(lines[start].strip(), kinds[pos + 1:], sender):
            return lines[:start]
    return lines


def _text_above(lines: list[str], start: int) -> bool:
    """Something other than a closing line stays above `start` ("Best regards," alone is no reply)."""
    return any(line.strip() and not qp.RULER.match(line.strip()) and not qp.CLOSING.match(line.strip())
               for line in lines[:start])


def is_signature_line(line: str) -> bool:
    """`line` could belong to a sign-off: a closing, a name, a title, company, contact or address."""
    line = line.strip()
    return bool(qp.CLOSING.match(line)) or _sig_kind(line) not in (None, "filler")


def introduced(lines: list[str], start: int) -> bool:
    """The last text line above `start` ends in ":" or mid-sentence ("The decision maker is"):
    what follows is what it announces."""
    above = next((lines[j].strip() for j in range(start - 1, -1, -1) if lines[j].strip()), "")
    return above.endswith((":", "：")) or bool(sp.DANGLING.search(above[-40:]))


def _opens_block(lines: list[str], start: int) -> bool:
    """A block starts a paragraph (or follows a finished sentence), and is not what a line
    ending in ":" introduces."""
    if introduced(lines, start):
        return False
    above = next((lines[j].strip() for j in range(start - 1, -1, -1) if lines[j].strip()), "")
    return not lines[start - 1].strip() or above.endswith((".", "!", "?", "…", ")", "。", "！", "？")) \
        or bool(qp.CLOSING.match(above))


def _is_signoff(first: str, rest: list[str | None], sender: set[str]) -> bool:
    """`first` opens a sign-off whose other lines are of the kinds `rest`."""
    if None in rest:
        return False
    strong = sum(kind in ("title", "company", "contact") for kind in rest)
    fillers = sum(kind == "filler" for kind in rest)
    if qp.CLOSING.match(first):
        return bool(rest) and (strong > 0 or len(rest) <= 3)
    name = _name_line(first)
    if name is None:
        return False
    name_words, titled = name
    if sender and not (name_words & sender):
        return False                       # someone else's details: the prospect is pointing to them
    if fillers > MAX_FILLERS or _lists_people(rest):
        return False
    if sender and name_words <= sender and not rest:
        return True                        # the sender signing with their own name: "Sounds good\n\nJordan"
    return titled or strong > 0 or (bool(sender) and name_words <= sender and fillers == len(rest))


def _lists_people(kinds: list[str | None]) -> bool:
    """Another name with its own title below the first: a list of people ("Priya Shah\nHead of IT\n
    Marco Rossi\nCFO"), not one person's sign-off."""
    return any(a == "name" and b == "title" for a, b in zip(kinds, kinds[1:], strict=False))


def _sig_kind(line: str) -> str | None:
    """What a line of a sign-off block is, or None when it is not one."""
    if len(line) > MAX_SIG_LINE or line.endswith(("?", "？")):
        return None
    parts = [part.strip() for part in re.split(r"\s[|·•]\s|\s{3,}", line) if part.strip()]
    if len(parts) > 1:
        kinds = [_single_kind(part) for part in parts]
        if None in kinds:
            return None
        for kind in ("contact", "title", "company", "address"):
            if kind in kinds:
                return kind
        return kinds[0]
    return _single_kind(line)


def _single_kind(line: str) -> str | None:
    words = line.split()
    if _is_contact(line):
        return "contact"
    if sp.SOCIAL.match(line) or sp.PRONOUNS.match(line):
        return "contact"
    ends_sentence = line.endswith(("!", ";", "。", ":", "：")) or (line.endswith(".") and not sp.COMPANY.search(line))
    short = len(words) <= 8 and not ends_sentence
    if short and has_title(line):
        return "title"
    if short and sp.COMPANY.search(line):
        return "company"
    if short and _is_address(line):
        return "address"
    if _name_line(line) is not None:
        return "name"
    if len(words) <= 6 and not line.endswith((".", "!", ":", ";", ",")) and _mostly_capitalised(words):
        return "filler"
    return None


def has_title(line: str) -> bool:
    """`line` names a job title or department, in one of the corpus's languages."""
    if any(word in line for word in sp.TITLE_CJK):
        return True
    words = sp.WORD.findall(line.lower())
    if any(w in sp.TITLE_WORDS or w.startswith(sp.TITLE_STEMS) for w in words):
        return True
    if any(w.endswith(sp.TITLE_COMPOUND_ENDINGS) and len(w) > 8 for w in words):
        return True
    joined = f" {' '.join(words)} "
    return any(f" {phrase} " in joined for phrase in sp.TITLE_PHRASES)


def _is_contact(line: str) -> bool:
    """Only phone numbers, e-mail addresses, links and their labels: "T +1 555 010 0100 | quinn@acme.example"."""
    if len(line) > MAX_SIG_LINE * 2 or not ("@" in line or "." in line or any(c.isdigit() for c in line)):
        return False                       # no address, link or number to be made of
    found = False

    def blank(match: re.Match[str]) -> str:
        nonlocal found
        found = True
        return " "

    rest = sp.EMAIL.sub(blank, line)
    rest = sp.URL.sub(blank, rest)
    rest = sp.PHONE.sub(lambda m: blank(m) if sum(c.isdigit() for c in m.group(0)) >= 7 else m.group(0), rest)
    rest = sp.CONTACT_LABEL.sub(" ", rest)
    return found and len(re.sub(r"[\W_]+", " ", rest).split()) <= 1


def _is_address(line: str) -> bool:
    has_digit = any(c.isdigit() for c in line)
    if has_digit and (sp.STREET.search(line) or sp.POSTCODE.search(line)):
        return True
    return len(line) <= 50 and bool(sp.COUNTRY.search(line))


def _name_line(line: str) -> tuple[set[str], bool] | None:
    """(the name's words, whether a title or company follows on the same line) when `line` is a
    person's name ("Quinn Hale", "Dr. Quinn Hale, PhD", "Quinn Hale | Director of Security")."""
    if len(line) > MAX_SIG_LINE:
        return None
    pieces = sp.NAME_TITLE_SPLIT.split(line, maxsplit=1)
    if len(pieces) == 2 and _is_name(pieces[0]):
        after = _sig_kind(pieces[1].strip())
        if after in ("title", "company", "contact"):
            return _name_tokens(pieces[0]), True
    if _is_name(line):
        return _name_tokens(line), False
    return None


def _is_name(text: str) -> bool:
    text = re.sub(r"\s*\([^()]{1,20}\)\s*$", "", text.strip())     # "(she/her)", "(Acme)"
    text = sp.CREDENTIALS.sub("", sp.HONORIFIC.sub("", text)).strip()
    if not text or len(text) > 40 or any(c.isdigit() for c in text):
        return False
    if sp.CJK_NAME.match(text):
        return True
    words = text.split()
    if not 1 <= len(words) <= 4 or not sp.NAME_WORD.match(words[0]):
        return False
    if not all(sp.NAME_WORD.match(w) or w.lower() in sp.NAME_PARTICLES for w in words):
        return False
    return not (has_title(text) or sp.COMPANY.search(text) or qp.CLOSING.match(text))


def _name_tokens(name: str) -> set[str]:
    """Lower-case, accent-free words of a name, without initials: "Dr. Quinn O'Hale" -> {quinn, o'hale}."""
    if "@" in name:
        name = name.split("@", 1)[0].replace(".", " ")
    folded = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c)).lower()
    return {w for w in re.findall(r"[\w'’-]+", folded) if len(w) > 1 and not w.isdigit()}


def _mostly_capitalised(words: list[str]) -> bool:
    letters = [w for w in words if w[:1].isalpha()]
    return bool(letters) and sum(w[:1].isupper() for w in letters) * 3 >= len(letters) * 2


def _has_text(lines: list[str]) -> bool:
    return any(line.strip() and not qp.RULER.match(line.strip()) for line in lines)
