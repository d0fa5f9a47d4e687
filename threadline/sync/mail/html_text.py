"""HTML mail bodies to plain text, and removal of the quoted history HTML clients mark up.

Mail clients wrap the message being replied to in recognisable containers
(Gmail's `gmail_quote`, Apple Mail/Thunderbird `blockquote type=cite`, Outlook's
`divRplyFwdMsg` or border-top header div, Yahoo's `yahoo_quoted`...). Those are a
stronger signal than anything left after conversion to text, so quote removal
happens on the tree, before `html_to_text`.
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser, LexborNode

MAX_HTML_CHARS = 512 * 1024          # larger bodies are cut: the new text sits at the top
MAX_TAGS = 8000

# Elements that are quoted history themselves: removed, siblings kept (inline replies survive).
QUOTE_ELEMENTS = (
    "div.gmail_quote, blockquote.gmail_quote, div.gmail_extra, blockquote[type=cite], "
    "div.yahoo_quoted, blockquote.yahoo_quoted, div.moz-cite-prefix, div.gmail_signature, "
    "div.moz-signature, div#Signature, div.OutlookMessageHeader, blockquote#mailru-quote, "
    "div[data-marker=__QUOTED_TEXT__], blockquote"
)
# Elements where the quoted history begins: everything from them to the end of the document goes.
CUT_FROM_ELEMENTS = (
    "div#divRplyFwdMsg, div#appendonsend, span#OLK_SRC_BODY_SECTION, hr#stopSpelling, "
    "div#mail-editor-reference-message-container, div.zmail_extra, div.ms-outlook-mobile-reference-message"
)
OUTLOOK_HEADER_BORDER = re.compile(r"border-top\s*:\s*solid", re.IGNORECASE)
HEADER_START = re.compile(r"^\W{0,3}(From|Von|De|Van|Från|Fra|Od|От|Da|Lähettäjä)\s?:", re.IGNORECASE)

BLOCK_TAGS = {
    "p", "div", "br", "li", "tr", "table", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6",
    "pre", "hr", "ul", "ol", "dl", "dt", "dd", "section", "article", "header", "footer", "address",
}
# iframe/noembed/noframes hold raw text no mail client shows: "<iframe><script>…" was logged as reply text
# (found by tests/reliability/test_fuzz_mime.py).
DROPPED_TAGS = ("head", "style", "script", "title", "template", "noscript", "iframe", "noembed", "noframes")
QUOTE_PLACEHOLDER = ">"
BREAK = "\ue000"                      # private-use marker for a line break during conversion
SPACES = re.compile(r"[ \t\r\n\f\v\u00a0\u200b\u2007\u202f]+")
BREAK_RUN = re.compile(BREAK + r"(?:\s*" + BREAK + ")+")


def parse_html(html: str) -> LexborHTMLParser:
    """A lexbor tree of the head of `html`: at most MAX_HTML_CHARS and MAX_TAGS tags, because
    parsing time grows faster than linearly with nesting depth (a hostile <div>*50000 takes seconds)."""
    head = html[:MAX_HTML_CHARS]
    position = -1
    for _ in range(MAX_TAGS):
        position = head.find("<", position + 1)
        if position < 0:
            break
    if position >= 0:
        head = head[:position]
    return LexborHTMLParser(head)


def strip_quoted_html(tree: LexborHTMLParser) -> bool:
    """Remove quoted history from `tree` in place; True when any quote container was found."""
    found = False
    for node in tree.css(CUT_FROM_ELEMENTS):
        _cut_from(node)
        found = True
        break
    border = _outlook_header_div(tree)
    if border is not None:
        _cut_from(border)
        found = True
    for node in tree.css(QUOTE_ELEMENTS):
        # Left as a '>' line so the text rules also drop the attribution line above it.
        node.replace_with(BREAK + QUOTE_PLACEHOLDER + BREAK)
        found = True
    return found


def _outlook_header_div(tree: LexborHTMLParser) -> LexborNode | None:
    """Desktop Outlook puts 'From: … Sent: …' in a div with a solid top border."""
    for node in tree.css("div[style]"):
        style = node.attributes.get("style") or ""
        if OUTLOOK_HEADER_BORDER.search(style) and HEADER_START.search(node.text(deep=True).strip()):
            return node
    return None


def _cut_from(node: LexborNode) -> None:
    """Delete `node` and everything after it in document order."""
    current: LexborNode | None = node
    while current is not None and current.tag not in ("body", "html", "-document"):
        sibling = current.next
        while sibling is not None:
            following = sibling.next
            sibling.decompose()
            sibling = following
        current = current.parent
    node.decompose()


def tree_to_text(tree: LexborHTMLParser) -> str:
    """Visible text of `tree` with block elements as line breaks and whitespace folded."""
    for node in tree.css(", ".join(DROPPED_TAGS)):
        node.decompose()
    for node in tree.css(", ".join(sorted(BLOCK_TAGS))):
        node.insert_before(BREAK)
        if node.tag != "br":
            node.insert_after(BREAK)
    root = tree.body or tree.root
    if root is None:
        return ""
    text = SPACES.sub(" ", root.text(deep=True))
    text = BREAK_RUN.sub(lambda m: "\n\n" if m.group(0).count(BREAK) > 2 else "\n", text)
    lines = (line.strip() for line in text.replace(BREAK, "\n").split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def html_to_text(html: str) -> str:
    """Plain text of an HTML body (quoted history kept)."""
    return tree_to_text(parse_html(html))
