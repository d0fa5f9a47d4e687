"""Read the return date out of an out-of-office reply ("I'm back on 12 May", "bis zum 03.06.2025").

Best effort: None whenever the date is absent, ambiguous beyond repair, or not within a
year after the reply was sent. Sequences use it to pause until the contact is back.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

MONTHS = {
    **dict.fromkeys(["jan", "january", "januar", "janvier", "enero", "januari", "jänner", "gennaio"], 1),
    **dict.fromkeys(["feb", "february", "februar", "février", "fevrier", "febrero", "februari", "febbraio"], 2),
    **dict.fromkeys(["mar", "march", "märz", "maerz", "mars", "marzo", "maart", "mars"], 3),
    **dict.fromkeys(["apr", "april", "avril", "abril", "aprile"], 4),
    **dict.fromkeys(["may", "mai", "mayo", "mei", "maj", "maggio"], 5),
    **dict.fromkeys(["jun", "june", "juni", "juin", "junio", "giugno"], 6),
    **dict.fromkeys(["jul", "july", "juli", "juillet", "julio", "luglio"], 7),
    **dict.fromkeys(["aug", "august", "août", "aout", "agosto", "augustus", "augusti"], 8),
    **dict.fromkeys(["sep", "sept", "september", "septembre", "septiembre", "settembre"], 9),
    **dict.fromkeys(["oct", "october", "oktober", "octobre", "octubre", "ottobre"], 10),
    **dict.fromkeys(["nov", "november", "novembre", "noviembre"], 11),
    **dict.fromkeys(["dec", "december", "dezember", "décembre", "decembre", "diciembre", "dicembre"], 12),
}
MONTH = "|".join(sorted(MONTHS, key=len, reverse=True))
KEYWORD = re.compile(
    r"\b(?:until|till|through|thru|returning(?: on)?|return(?:ing)? to the office on|back(?: in the office)?(?: on)?|"
    r"bis(?: zum| einschließlich| einschliesslich)?|ab dem|jusqu['’]au|jusqu['’]à|de retour le|hasta el|"
    r"fino al|tot en met|t/m|tot|till och med|t\.o\.m\.|frem til|indtil)\b",
    re.IGNORECASE,
)
ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
NUMERIC = re.compile(r"(\d{1,2})[./](\d{1,2})(?:[./](\d{2,4}))?")
DAY_MONTH = re.compile(r"(?<!\d)(\d{1,2})(?:st|nd|rd|th|\.)?\s+(?:of\s+)?(" + MONTH + r")\.?,?(?:\s+(\d{4}))?", re.IGNORECASE)
MONTH_DAY = re.compile(r"\b(" + MONTH + r")\.?\s+(\d{1,2})(?!\d)(?:st|nd|rd|th)?,?(?:\s+(\d{4}))?", re.IGNORECASE)
WINDOW = 60                        # characters after the keyword where the date must start


def read_return_date(text: str, sent: date, english: bool = True) -> date | None:
    """The first plausible return date after a return keyword in `text`, relative to `sent`."""
    for keyword in KEYWORD.finditer(text[:2000]):
        found = _date_at(text[keyword.end():keyword.end() + WINDOW], sent, english)
        if found is not None:
            return found
    return None


def _date_at(snippet: str, sent: date, english: bool) -> date | None:
    candidates: list[tuple[int, int | None, int, int]] = []   # (position, year, month, day)
    if m := ISO.search(snippet):
        candidates.append((m.start(), int(m[1]), int(m[2]), int(m[3])))
    if m := DAY_MONTH.search(snippet):
        candidates.append((m.start(), _year(m[3]), MONTHS[m[2].lower()], int(m[1])))
    if m := MONTH_DAY.search(snippet):
        candidates.append((m.start(), _year(m[3]), MONTHS[m[1].lower()], int(m[2])))
    if m := NUMERIC.search(snippet):
        first, second = int(m[1]), int(m[2])
        month_first = (english and first <= 12) or second > 12
        month, day = (first, second) if month_first else (second, first)
        candidates.append((m.start(), _year(m[3]), month, day))
    if not candidates:
        return None
    _, year, month, day = min(candidates)       # the date written closest to the keyword
    return _resolve(year, month, day, sent)


def _year(text: str | None) -> int | None:
    if not text:
        return None
    year = int(text)
    return year + 2000 if year < 100 else year


def _resolve(year: int | None, month: int, day: int, sent: date) -> date | None:
    """A real date within a year on/after `sent`; a missing year means the next such date."""
    for candidate_year in ([year] if year else [sent.year, sent.year + 1]):
        try:
            found = date(candidate_year, month, day)
        except ValueError:
            return None
        if sent <= found <= sent + timedelta(days=366):
            return found
    return None
