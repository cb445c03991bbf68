"""Plain text from provider text fields: HTML bodies become text, everything is clipped.

Bodies are read up to :data:`MAX_SCAN` characters only, so a hostile or huge body costs a
bounded amount of work; the text kept is at most :data:`MAX_DESCRIPTION` characters.
Markup, attributes (inline images, tracking pixels, ``data:`` URIs, links' targets),
scripts, styles, the head and comments are never copied: only text between tags is. The
result is text for display, never HTML to render.
"""

from __future__ import annotations

import re
from html import unescape

__all__ = ["MAX_DESCRIPTION", "MAX_SCAN", "MAX_SHORT", "clip", "plain_text"]

MAX_SCAN = 65_536
MAX_DESCRIPTION = 8_000
MAX_SHORT = 1_000

_LOOKS_HTML = re.compile(r"<\s*/?\s*[a-zA-Z!][^>]*>")
# Whole elements whose content is not text for people, and comments (unterminated: to the end).
_HIDDEN = re.compile(
    r"<!--.*?(?:-->|\Z)|<(script|style|head|title|template|xml)\b.*?(?:</\1\s*>|\Z)",
    re.IGNORECASE | re.DOTALL,
)
# A tag's inside: a '>' within quotes does not end it; an unclosed quote runs to the end.
_ATTRS = r"(?:[^>\"']|\"[^\"]*(?:\"|\Z)|'[^']*(?:'|\Z))*"
# Tags that end a line of text.
_BREAK = re.compile(
    r"<\s*/?\s*(?:br|p|div|li|tr|h[1-6]|table|ul|ol|blockquote|pre)\b" + _ATTRS + r"(?:>|\Z)",
    re.IGNORECASE,
)
# Any other tag.
_TAG = re.compile(r"<[!/?a-zA-Z]" + _ATTRS + r"(?:>|\Z)")
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_AROUND_NEWLINES = re.compile(r" *\n *")
_BLANK_LINES = re.compile(r"\n{3,}")


def clip(value: object, limit: int = MAX_SHORT) -> str:
    """A single-line string field: strings only, trimmed, at most ``limit`` characters."""
    if not isinstance(value, str):
        return ""
    return value.strip()[:limit]


def plain_text(value: object, *, html: bool | None = None, limit: int = MAX_DESCRIPTION) -> str:
    """Text of a description or body. ``html`` None: detect markup."""
    if not isinstance(value, str) or not value:
        return ""
    text = value[:MAX_SCAN]
    if html is None:
        html = "<" in text and _LOOKS_HTML.search(text) is not None
    if html:
        text = _HIDDEN.sub("", text)
        text = _BREAK.sub("\n", text)
        text = unescape(_TAG.sub("", text))
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    text = _SPACES.sub(" ", text)
    text = _AROUND_NEWLINES.sub("\n", text)
    text = _BLANK_LINES.sub("\n\n", text).strip()
    return text[:limit]
