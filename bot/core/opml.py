"""OPML feed catalogues: read one (import) and write one (export).

OPML 2.0 (http://opml.org/spec2.opml) is the one format every feed reader imports and exports: a ``<head>``
with a title and dates, and a ``<body>`` of nested ``<outline>`` elements. An outline with an ``xmlUrl`` is a
feed; an outline without one that has children is a folder. wirewatch reads, besides the standard attributes
(``text``, ``title``, ``xmlUrl``, ``htmlUrl``, ``language``), two of its own that other readers ignore:
``outlet`` (the publication behind the feed) and ``outletType`` (wire, national, state-media ...), because
sourcing and corroboration reason about outlets, not feeds.

Pure: bytes in, values out. Parsing uses the stdlib expat parser directly, with every DOCTYPE refused: OPML
needs no DTD, and a DOCTYPE is the only door to entity tricks (external entities that read local files or
fetch URLs, "billion laughs" expansion). Refusing it outright is simpler to trust than configuring what an
entity may do, and defusedxml is not a dependency.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from typing import Iterable
from urllib.parse import urlsplit, urlunsplit
from xml.parsers import expat

from bot.core.errors import UsageError

__all__ = ["OpmlFeed", "OpmlDocument", "read_opml", "parse_opml", "render_opml"]

#: Deeper nesting than this is refused: no real catalogue needs it, and the walk is recursive.
MAX_DEPTH = 64

#: Schemes a feed URL may have. ``feed:`` is an old browser convention for "this http URL is a feed".
_FEED_SCHEMES = ("http", "https")


@dataclass(frozen=True, slots=True)
class OpmlFeed:
    """One feed of a catalogue, with the folders it sat in (outermost first)."""

    url: str
    title: str = ""
    html_url: str = ""
    language: str = ""  # BCP 47 ("uk", "ru", "en"); OPML 2.0's own ``language`` attribute
    outlet: str = ""  # the publication's name (custom attribute ``outlet``)
    outlet_type: str = ""  # wire, national, international, state-media ... (custom ``outletType``)
    category: tuple[str, ...] = ()  # folder path, e.g. ("Ukrainian outlets", "Regional")


@dataclass(frozen=True, slots=True)
class OpmlDocument:
    """A parsed catalogue: its title, its feeds, and the outlines skipped with the reason, in words."""

    title: str = ""
    feeds: tuple[OpmlFeed, ...] = ()
    skipped: tuple[str, ...] = field(default=())


def parse_opml(data: bytes) -> list[OpmlFeed]:
    """The feeds of an OPML document, flattened, duplicates removed, in document order.

    Raises ``UsageError("not an OPML file: ...")`` for anything that is not a well-formed, DOCTYPE-free
    ``<opml>`` document with a ``<body>``.
    """
    return list(read_opml(data).feeds)


def read_opml(data: bytes) -> OpmlDocument:
    """Like ``parse_opml``, but also returns the catalogue's title and what was skipped and why."""
    if not data or not data.strip():
        raise UsageError("not an OPML file: it is empty")
    root = _parse_xml(data)
    if root.name != "opml":
        raise UsageError(f"not an OPML file: the root element is <{root.name}>, expected <opml>")
    head = root.child("head")
    body = root.child("body")
    if body is None:
        raise UsageError("not an OPML file: it has no <body> element")
    title = ""
    if head is not None and (title_el := head.child("title")) is not None:
        title = title_el.text.strip()

    feeds: list[OpmlFeed] = []
    skipped: list[str] = []
    seen: set[str] = set()
    _walk(body, (), feeds, skipped, seen)
    return OpmlDocument(title=title, feeds=tuple(feeds), skipped=tuple(skipped))


def render_opml(feeds: Iterable[OpmlFeed], title: str, now: datetime) -> bytes:
    """An OPML 2.0 document (UTF-8 bytes) of ``feeds``, nested in folders by their category path.

    Folders appear in the order their first feed appears, and each folder's feeds keep their order, so
    ``parse_opml(render_opml(feeds, ...))`` gives back ``feeds`` whenever the input was already grouped by
    category (as ``parse_opml`` returns it). ``now`` must be timezone-aware; it becomes ``dateCreated``.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("render_opml needs a timezone-aware 'now'")
    tree = _Folder("")
    for feed in feeds:
        folder = tree
        for name in feed.category:
            folder = folder.subfolder(name)
        folder.items.append(feed)

    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<opml version="2.0">',
        "  <head>",
        f"    <title>{_text(title)}</title>",
        f"    <dateCreated>{format_datetime(now)}</dateCreated>",
        "    <docs>http://opml.org/spec2.opml</docs>",
        "  </head>",
        "  <body>",
    ]
    _render_folder(tree, 2, lines)
    lines += ["  </body>", "</opml>", ""]
    return "\n".join(lines).encode("utf-8")


# --------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------


class _Node:
    """The bit of an element tree OPML needs: name, attributes, children, text."""

    __slots__ = ("name", "attrs", "children", "parts", "line")

    def __init__(self, name: str, attrs: dict[str, str], line: int):
        self.name = name
        self.attrs = attrs
        self.children: list[_Node] = []
        self.parts: list[str] = []
        self.line = line

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def child(self, name: str) -> "_Node | None":
        return next((c for c in self.children if c.name == name), None)

    def attr(self, name: str) -> str:
        """An attribute, looked up case-insensitively, stripped.

        Why case-insensitive: real exports write ``xmlUrl``, ``xmlURL`` and ``xmlurl``; the spec's
        spelling is ``xmlUrl``, and an exact match is tried first.
        """
        if name in self.attrs:
            return self.attrs[name].strip()
        lowered = name.lower()
        for key, value in self.attrs.items():
            if key.lower() == lowered:
                return value.strip()
        return ""


class _Refused(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _parse_xml(data: bytes) -> _Node:
    parser = expat.ParserCreate()
    # Never read external DTD subsets or parameter entities, whatever the document says.
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    stack: list[_Node] = []
    roots: list[_Node] = []

    def refuse_doctype(name, sysid, pubid, has_internal_subset):  # noqa: ANN001 - expat callback
        raise _Refused(
            f"DOCTYPE declarations are refused (line {parser.CurrentLineNumber}); OPML needs none, "
            "and they are how XML entity attacks get in"
        )

    def refuse_entity(*_args):  # noqa: ANN002 - expat callback; unreachable without a DOCTYPE
        raise _Refused(f"entity declarations are refused (line {parser.CurrentLineNumber})")

    def start(name: str, attrs: dict[str, str]) -> None:
        if len(stack) >= MAX_DEPTH:
            raise _Refused(f"elements nested more than {MAX_DEPTH} deep (line {parser.CurrentLineNumber})")
        node = _Node(name, attrs, parser.CurrentLineNumber)
        if stack:
            stack[-1].children.append(node)
        else:
            roots.append(node)
        stack.append(node)

    def end(_name: str) -> None:
        stack.pop()

    def chars(text: str) -> None:
        if stack:
            stack[-1].parts.append(text)

    parser.StartDoctypeDeclHandler = refuse_doctype
    parser.EntityDeclHandler = refuse_entity
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    try:
        parser.Parse(data, True)
    except _Refused as refused:
        raise UsageError(f"not an OPML file: {refused.message}") from None
    except expat.ExpatError as error:
        reason = expat.ErrorString(error.code)
        raise UsageError(
            f"not an OPML file: XML syntax error at line {error.lineno}, column {error.offset + 1}: {reason}"
        ) from None
    except (LookupError, ValueError) as error:  # an encoding Python has no codec for
        raise UsageError(f"not an OPML file: {error}") from None
    if not roots:
        raise UsageError("not an OPML file: it has no root element")
    return roots[0]


def _walk(
    node: _Node,
    path: tuple[str, ...],
    feeds: list[OpmlFeed],
    skipped: list[str],
    seen: set[str],
) -> None:
    """Flatten outlines depth-first, carrying the folder path.

    Rules, in order: an outline with ``xmlUrl`` is a feed (even if some exporter also gave it children:
    those are walked as if in a folder named after it); an outline without ``xmlUrl`` but with children is a
    folder; an empty outline without ``xmlUrl`` (a note, a link, a separator) is skipped. A feed URL seen
    before is skipped: the *first* occurrence wins, so its folder and title are the ones the author put
    first, and importing a catalogue that lists a feed under two topics creates one feed, not two.
    """
    for outline in node.children:
        if outline.name != "outline":
            continue
        name = outline.attr("text") or outline.attr("title")
        raw_url = outline.attr("xmlUrl")
        if raw_url:
            url = _feed_url(raw_url)
            label = name or raw_url
            if url is None:
                skipped.append(f"line {outline.line}: {label!r}: not an http(s) feed URL: {raw_url!r}")
            elif (key := _dedupe_key(url)) in seen:
                skipped.append(f"line {outline.line}: {label!r}: duplicate of a feed listed earlier")
            else:
                seen.add(key)
                feeds.append(
                    OpmlFeed(
                        url=url,
                        title=outline.attr("title") or outline.attr("text"),
                        html_url=outline.attr("htmlUrl"),
                        language=outline.attr("language"),
                        outlet=outline.attr("outlet"),
                        outlet_type=outline.attr("outletType"),
                        category=path,
                    )
                )
        elif not outline.children:
            if outline.attr("type").lower() in ("rss", "atom"):
                skipped.append(f"line {outline.line}: {name or 'an outline'!r}: no xmlUrl")
            continue
        _walk(outline, path + (name,) if name else path, feeds, skipped, seen)


def _feed_url(raw: str) -> str | None:
    """The URL to poll, or None when it is not one. ``feed://host/x`` and ``feed:https://host/x`` are the
    old browser forms of an http(s) feed link and are rewritten; anything not http(s) is refused."""
    url = raw.strip()
    lowered = url.lower()
    if lowered.startswith("feed:"):
        rest = url[5:]
        url = rest if rest.lower().startswith(("http://", "https://")) else "http:" + rest
    parts = urlsplit(url)
    if parts.scheme.lower() not in _FEED_SCHEMES or not parts.netloc:
        return None
    return url


def _dedupe_key(url: str) -> str:
    """Scheme and host are case-insensitive (RFC 3986 §6.2.2.1), the rest of the URL is not: only those
    are folded. Tracking parameters are left alone here: a catalogue rarely carries them, and
    ``core.urls.canonical_url`` is the place for that when the feed is stored."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, parts.query, ""))


# --------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------


class _Folder:
    __slots__ = ("name", "items")

    def __init__(self, name: str):
        self.name = name
        self.items: list[OpmlFeed | _Folder] = []

    def subfolder(self, name: str) -> "_Folder":
        for item in self.items:
            if isinstance(item, _Folder) and item.name == name:
                return item
        folder = _Folder(name)
        self.items.append(folder)
        return folder


def _render_folder(folder: _Folder, depth: int, lines: list[str]) -> None:
    pad = "  " * depth
    for item in folder.items:
        if isinstance(item, _Folder):
            lines.append(f'{pad}<outline text="{_attr(item.name)}" title="{_attr(item.name)}">')
            _render_folder(item, depth + 1, lines)
            lines.append(f"{pad}</outline>")
            continue
        attrs = [
            ("type", "rss"),
            ("text", item.title or item.url),
            ("title", item.title or item.url),
            ("xmlUrl", item.url),
            ("htmlUrl", item.html_url),
            ("language", item.language),
            ("outlet", item.outlet),
            ("outletType", item.outlet_type),
        ]
        rendered = " ".join(f'{k}="{_attr(v)}"' for k, v in attrs if v)
        lines.append(f"{pad}<outline {rendered}/>")


# XML 1.0 forbids these characters even as character references; a feed title can carry them.
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text(value: str) -> str:
    value = _INVALID_XML.sub("", value)
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attr(value: str) -> str:
    """Escaped for a double-quoted attribute; tabs and newlines as references so they survive parsing
    (a literal newline in an attribute is normalised to a space by every XML parser)."""
    return (
        _text(value)
        .replace('"', "&quot;")
        .replace("\t", "&#9;")
        .replace("\n", "&#10;")
        .replace("\r", "&#13;")
    )
