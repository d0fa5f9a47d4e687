"""Header values as plain str, read from the raw header lines.

policy.default parses structured headers lazily, which is slow (superlinear on huge
address lists) and can raise or blank out hostile values. Threadline reads the raw
values, caps their length, and decodes RFC 2047 words itself.
"""

from __future__ import annotations

from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses

MAX_HEADER_CHARS = 8192
MAX_ADDRESS_HEADER_CHARS = 64 * 1024      # about 2,000 recipients


def _raw_values(msg: Message, name: str) -> list[str]:
    return [str(value) for key, value in msg.raw_items() if key.lower() == name]


def header_text(msg: Message, name: str, all_values: bool = False) -> str:
    """The (first, or all comma-joined) value of header `name`, unfolded and decoded; "" when absent."""
    values = _raw_values(msg, name)
    chosen = values if all_values else values[:1]
    return ", ".join(decode_words(_unfold(value)[:MAX_HEADER_CHARS]) for value in chosen)


def raw_header_text(msg: Message, name: str) -> str:
    """The first value of header `name` as written (unfolded, not decoded)."""
    values = _raw_values(msg, name)
    return _unfold(values[0])[:MAX_HEADER_CHARS] if values else ""


def header_addresses(msg: Message, name: str) -> list[tuple[str, str]]:
    """(display name, addr-spec) pairs of every `name` header; names decoded after splitting,
    so an encoded comma in a name cannot split an address."""
    joined = ", ".join(_unfold(value) for value in _raw_values(msg, name))[:MAX_ADDRESS_HEADER_CHARS]
    if not joined.strip():
        return []
    return [(decode_words(display), addr) for display, addr in getaddresses([joined])]


def _unfold(value: str) -> str:
    return " ".join(value.split())


def decode_words(text: str) -> str:
    """RFC 2047 encoded-words decoded; undecodable bytes replaced, never raises."""
    if "=?" in text:
        try:
            text = str(make_header(decode_header(text)))
        except Exception:  # unknown charset or broken encoded-word: keep it as written
            pass
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
