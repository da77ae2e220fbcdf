"""Plain text out of feed markup, safe to store and to match against.

Watches match words, alerts quote text, and PostgreSQL ``text`` rejects NUL: so every title and summary
is stored as plain text with entities decoded, scripts and styles dropped, whitespace collapsed and control
characters removed. The standard library's ``html.parser`` is enough (it is forgiving and linear); the
feedparser sanitiser is switched off because it costs 70 % of the parse and its output is HTML anyway.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

# C0 controls (NUL included), DEL, C1 controls, lone surrogates (not encodable to UTF-8, so the database
# would reject them) and the two non-characters U+FFFE/U+FFFF. Tab, LF and CR are whitespace, kept here
# and collapsed later by callers that want one line.
_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_SPACE_RE = re.compile(r"\s+")

# Elements whose content is never reader-visible text.
_DROP = frozenset({"script", "style", "noscript", "template", "head", "title", "iframe", "object", "svg"})
# Elements that separate words: without a space, "<p>one</p><p>two</p>" would read "onetwo".
_BREAK = frozenset(
    {
        "br", "p", "div", "li", "ul", "ol", "tr", "td", "th", "table", "h1", "h2", "h3", "h4", "h5", "h6",
        "blockquote", "pre", "section", "article", "header", "footer", "figure", "figcaption", "hr",
        "dd", "dt", "dl", "img", "aside", "nav", "main", "address", "caption",
    }
)


def strip_controls(text: str) -> str:
    """Remove NUL, C0/C1 controls (except tab, LF, CR), DEL and lone surrogates."""
    return _CONTROL_RE.sub("", text)


def collapse_space(text: str) -> str:
    """One space between words, none at the ends."""
    return _SPACE_RE.sub(" ", text).strip()


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._drop_depth = 0

    def handle_starttag(self, tag: str, attrs) -> None:  # noqa: ANN001 - html.parser's signature
        if tag in _DROP:
            self._drop_depth += 1
        elif tag in _BREAK:
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs) -> None:  # noqa: ANN001
        if tag in _BREAK:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROP:
            self._drop_depth = max(0, self._drop_depth - 1)
        elif tag in _BREAK:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._drop_depth:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Visible text of an HTML fragment, on one line: entities decoded, tags and scripts gone.

    Never raises: ``html.parser`` accepts any string, and control characters are removed first so that a
    NUL cannot survive inside the result."""
    if not markup:
        return ""
    markup = strip_controls(markup)
    if "<" not in markup and "&" not in markup:
        return collapse_space(markup)
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    # Entities can decode to controls (&#1;), so strip once more after decoding.
    return collapse_space(strip_controls("".join(parser.parts)))


def plain_text(value: str, *, is_html: bool) -> str:
    """Text of a feed field: HTML-stripped when the feed says it is markup, else only cleaned.

    A plain-text title such as ``x < y`` must stay as it is, so the field's declared type decides."""
    if is_html:
        return html_to_text(value)
    return collapse_space(strip_controls(value or ""))
