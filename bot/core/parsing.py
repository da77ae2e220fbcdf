"""Feed bytes in, normalised entries out: the only parse entry of wirewatch.

``parse_feed`` wraps feedparser 6 (the only parser that passes its own 2,200-case corpus, decodes
mislabelled charsets and gives UTC dates; see reference/polling.md §4-5) and owns every rule that turns its
loose dictionaries into :class:`~bot.core.models.Entry` values: identity (``core.dedupe``), canonical
absolute URLs (``core.urls``), UTC dates and plain text (``core.text``).

Rules that matter, and why:

- feedparser gets BYTES only. Given a ``str`` it fetches a URL or reads a local path, with no timeout
  and no size cap.
- ``sanitize_html=False, resolve_relative_uris=False``: the sanitiser and the content resolver are 70 % of
  the cost and produce HTML we throw away; we strip markup ourselves and resolve links ourselves.
- The feed URL is NOT given to feedparser as ``Content-Location``, although that would resolve relative
  links for us: feedparser also resolves relative GUIDs against it (``<guid>12345</guid>`` becomes
  ``https://host/path/12345``), so every identity of such a feed would change whenever the feed URL changes
  (a permanent redirect, a CDN that redirects to rotating hosts) and the whole feed would alert again.
  Links are resolved against ``xml:base`` by feedparser and against the feed URL here.
- A cheap byte-level pre-filter refuses the two documents known to make feedparser run for minutes
  (thousands of attributes on one element; a huge author text, kurtmckee/feedparser#562). The worker
  process with a time limit (``adapters/parse_pool.py``) is the real guard; the pre-filter saves it the
  work and gives a better message.
- Numeric character references to surrogates or beyond U+10FFFF crash feedparser 6.0.14 with
  ``UnicodeEncodeError``/``ValueError``: one bad ``&#xD800;`` would lose the whole feed, so they become
  U+FFFD first.
- A UTF-8 body that declares a single-byte charset (``iso-8859-1``, ``windows-1251``…) or UTF-16 is read
  as UTF-8: real single-byte text is practically never valid multi-byte UTF-8, and trusting the label
  would store ``cafÃ©``.
- ``bozo`` is a signal, not a rejection: malformed feeds that still yield entries are feeds, with a short
  note in ``problem``.
- Caps: 500 entries, 20,000 characters of text, 256 of author, so one feed cannot flood the store.

``parse_feed`` never raises on bad input: what is wrong comes back in words in ``ParsedFeed.problem``.
"""

from __future__ import annotations

import codecs
import re
from datetime import datetime, timezone
from html.parser import HTMLParser
from typing import Any, Mapping

import feedparser

from bot.core.dedupe import RawItem, assign_identities, story_key
from bot.core.models import Entry, ParsedFeed
from bot.core.text import collapse_space, plain_text, strip_controls
from bot.core.urls import canonical_url

MAX_ENTRIES = 500
MAX_TEXT_CHARS = 20_000
MAX_MARKUP_CHARS = 400_000  # markup stripped per field; beyond this no summary needs more
MAX_TITLE_CHARS = 1_000
MAX_AUTHOR_CHARS = 256
MAX_GUID_CHARS = 2_048
MAX_LANGUAGE_CHARS = 35  # the longest BCP 47 tag in practical use
MAX_ATTRIBUTES = 1_000  # feedparser's SAX handler is quadratic in attributes per element
MAX_AUTHOR_RUN = 32 * 1024  # feedparser's e-mail regex is super-linear (kurtmckee/feedparser#562)
MAX_NOTE_CHARS = 200

_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "html", "xhtml"})
_FEED_LINK_TYPES = frozenset(
    {"application/rss+xml", "application/atom+xml", "application/rdf+xml", "application/feed+json"}
)

# ---- pre-filter --------------------------------------------------------------------------------------

# A start tag with N attributes is at least 5·N bytes long (` a=""`), so only tags that long are counted.
_LONG_TAG_RE = re.compile(rb"<[A-Za-z_][^<>]{%d,}" % (MAX_ATTRIBUTES * 5))
_ATTR_RE = re.compile(rb"""\s[^\s=<>"']+\s*=\s*(?:"[^"]*"|'[^']*')""")
_AUTHORISH_RE = re.compile(
    rb"<((?:[A-Za-z_][\w.-]*:)?(?:author|managingEditor|creator|contributor|name|email|webMaster|owner))"
    rb"(?=[\s/>])[^<>]*>"
)


def _scannable(body: bytes) -> bytes:
    """The body as ASCII-compatible bytes for the byte-level checks (UTF-16/32 would hide every tag)."""
    head = body[:4]
    for bom, codec in (
        (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if head.startswith(bom):
            return body.decode(codec, "replace").encode("utf-8", "replace")
    if b"\x00" in head:
        for codec in ("utf-32-le", "utf-32-be", "utf-16-le", "utf-16-be"):
            try:
                text = body[:64].decode(codec)
            except UnicodeDecodeError:
                continue
            if "<" in text:
                return body.decode(codec, "replace").encode("utf-8", "replace")
    return body


def refusal(body: bytes) -> str | None:
    """Why feedparser should not be given this body at all, or None. Linear in the body size."""
    view = _scannable(body)
    for match in _LONG_TAG_RE.finditer(view):
        count = len(_ATTR_RE.findall(match.group()))
        if count > MAX_ATTRIBUTES:
            return (f"refused: an element with {count} attributes (feedparser would take minutes)")
    for match in _AUTHORISH_RE.finditer(view):
        start = match.end()
        if view.startswith(b"<![CDATA[", start):
            end = view.find(b"]]>", start)
        else:
            end = view.find(b"<", start)
        if end == -1:
            end = len(view)
        if end - start > MAX_AUTHOR_RUN:
            name = match.group(1).decode("ascii", "replace")
            return (f"refused: a <{name}> of {(end - start) // 1024} KB "
                    "(feedparser's e-mail check would take minutes)")
    return None


# ---- byte repairs ------------------------------------------------------------------------------------

_CHARREF_RE = re.compile(rb"&#(?:[xX]([0-9a-fA-F]+)|([0-9]+));")


def _repair_charref(match: re.Match[bytes]) -> bytes:
    hex_digits, dec_digits = match.groups()
    digits = (hex_digits or dec_digits).lstrip(b"0")
    if len(digits) > 8:
        return b"&#xFFFD;"
    code = int(digits or b"0", 16 if hex_digits else 10)
    if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return b"&#xFFFD;"
    return match.group()


def _repair_charrefs(body: bytes) -> bytes:
    """Character references feedparser 6.0.14 crashes on (surrogates, > U+10FFFF) become U+FFFD."""
    if b"&#" not in body:
        return body
    return _CHARREF_RE.sub(_repair_charref, body)


_XML_DECL_ENCODING_RE = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
_SINGLE_BYTE_RE = re.compile(
    r"^(iso[-_]?8859[-_]?\d+|latin[-_]?\d|l\d|windows[-_]?125\d|cp125\d|us[-_]?ascii|ascii|koi8[-_]?[a-z]+"
    r"|mac[-_]?roman|cp8\d\d|ibm8\d\d)$"
)


def _charset_param(content_type: str) -> str:
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip("\"'").lower()
    return ""


def _utf8_mislabelled(body: bytes, headers: Mapping[str, str]) -> str | None:
    """The wrong label when ``body`` is UTF-8 but is declared as something else; else None."""
    if body.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in body[:4]:
        return None
    declared = _charset_param(headers.get("content-type", ""))
    if not declared:
        match = _XML_DECL_ENCODING_RE.match(body[:512])
        declared = match.group(1).decode("ascii").lower() if match else ""
    if not declared:
        return None
    wide = declared.startswith(("utf-16", "utf16", "utf-32", "utf32", "ucs-2", "ucs2"))
    if not wide and not (_SINGLE_BYTE_RE.match(declared) and not body.isascii()):
        return None
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return declared


# ---- HTML pages: where is the feed? ------------------------------------------------------------------


class _AlternateFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.base = ""
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k.lower(): (v or "") for k, v in attrs}
        if tag == "base" and not self.base:
            self.base = values.get("href", "")
        elif tag == "link":
            rels = values.get("rel", "").lower().split()
            kind = values.get("type", "").split(";")[0].strip().lower()
            if "alternate" in rels and kind in _FEED_LINK_TYPES and values.get("href"):
                self.hrefs.append(values["href"])

    handle_startendtag = handle_starttag


def feed_links(html: bytes, page_url: str) -> tuple[str, ...]:
    """The feeds an HTML page announces with ``<link rel="alternate" type="application/rss+xml" …>``,
    absolute, in page order, without repeats. Only the first 512 KB are read: these links live in
    ``<head>``."""
    finder = _AlternateFinder()
    finder.feed(html[:512 * 1024].decode("utf-8", "replace"))
    finder.close()
    base = canonical_url(finder.base, page_url, keep_fragment=True) or page_url
    found: list[str] = []
    for href in finder.hrefs:
        url = canonical_url(href, base)
        if url and url not in found:
            found.append(url)
    return tuple(found)


def _looks_like_html(body: bytes) -> bool:
    head = body[:4096].lstrip().lower()
    return head.startswith(b"<!doctype html") or b"<html" in head or b"<head" in head or b"<body" in head


# ---- normalisation -----------------------------------------------------------------------------------


def _utc(parsed: Any) -> datetime | None:
    """feedparser's ``*_parsed`` is a UTC ``struct_time``; give it its time zone."""
    if not parsed:
        return None
    try:
        return datetime(*parsed[:6], tzinfo=timezone.utc)
    except (TypeError, ValueError, OverflowError):
        return None


def _detail_text(detail: Mapping[str, Any] | None, fallback: str = "") -> str:
    if not detail:
        return plain_text(fallback[:MAX_MARKUP_CHARS], is_html="<" in fallback or "&" in fallback)
    value = str(detail.get("value") or "")[:MAX_MARKUP_CHARS]
    kind = str(detail.get("type") or "").lower()
    return plain_text(value, is_html=kind in _HTML_TYPES)


def _cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _entry_text(raw: Mapping[str, Any]) -> str:
    """The longest of summary and content: feeds put the full text in either, or a teaser in one.

    Stripping markup is as costly as parsing the feed, so candidates are stripped longest markup first
    and a candidate is skipped once the best text is already longer than its markup (text is never
    longer than the markup it came from)."""
    details: list[Mapping[str, Any]] = []
    summary = raw.get("summary_detail")
    if summary:
        details.append(summary)
    elif raw.get("summary"):
        details.append({"value": str(raw["summary"]), "type": "text/html"})
    details.extend(c for c in raw.get("content") or () if c)
    details.sort(key=lambda d: len(str(d.get("value") or "")), reverse=True)
    best = ""
    seen: set[str] = set()
    for detail in details:
        value = str(detail.get("value") or "")
        if len(value) <= len(best):
            break
        if value in seen:  # feedparser often repeats the content as the summary
            continue
        seen.add(value)
        text = _detail_text(detail)
        if len(text) > len(best):
            best = text
    return _cap(best, MAX_TEXT_CHARS)


def _entry_url(raw: Mapping[str, Any], feed_url: str) -> str:
    link = str(raw.get("link") or "")
    if raw.get("guidislink") and link == raw.get("id") and not canonical_url(link):
        # feedparser copies a permalink GUID into ``link``; an opaque "12345" resolved against the feed
        # URL would be a link to nowhere, so a GUID becomes the link only when it is a URL by itself.
        return ""
    return canonical_url(link, feed_url)


def _language(raw: Mapping[str, Any], feed_language: str) -> str:
    for key in ("title_detail", "summary_detail"):
        detail = raw.get(key) or {}
        if detail.get("language"):
            return collapse_space(strip_controls(str(detail["language"])))[:MAX_LANGUAGE_CHARS]
    return feed_language


def _ttl_seconds(value: Any) -> int | None:
    text = str(value or "").strip()
    if not text.isdigit() or len(text) > 7:
        return None
    minutes = int(text)
    return minutes * 60 if minutes > 0 else None


_EXTERNAL_ENTITY = re.compile(rb"<!ENTITY\s+%?\s*[^\s>]+\s+(?:SYSTEM|PUBLIC)\b", re.I)


def _bozo_note(result: Mapping[str, Any]) -> str | None:
    if not result.get("bozo"):
        return None
    exc = result.get("bozo_exception")
    if isinstance(exc, feedparser.NonXMLContentType):
        return None  # served as text/html or without a type: common and harmless when it parses
    if isinstance(exc, feedparser.CharacterEncodingOverride):
        return _cap(f"charset: {exc}", MAX_NOTE_CHARS)
    return _cap(f"malformed XML, read leniently: {exc}", MAX_NOTE_CHARS)


def _not_a_feed(body: bytes, headers: Mapping[str, str], url: str, result: Mapping[str, Any]) -> ParsedFeed:
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    is_html = _looks_like_html(body) or content_type in ("text/html", "application/xhtml+xml")
    alternates = feed_links(body, url) if is_html else ()
    xmlish = "xml" in content_type or content_type.endswith("+json")
    if content_type and not xmlish:
        problem = f"not a feed: got {content_type}"
    elif is_html:
        problem = "not a feed: got an HTML page"
    elif result.get("bozo") and result.get("bozo_exception") is not None:
        problem = _cap(f"not a feed: {result['bozo_exception']}", MAX_NOTE_CHARS)
    else:
        problem = "not a feed: no RSS, Atom or RDF elements found"
    return ParsedFeed(is_feed=False, problem=problem, alternates=alternates)


def parse_feed(body: bytes, headers: Mapping[str, str], url: str, feed_id: int, *,
               prefilter: bool = True) -> ParsedFeed:
    """Parse one fetched body into a :class:`ParsedFeed`. Never raises on bad input.

    ``headers`` are the response headers (any case); ``url`` is the final URL after redirects, used to
    resolve relative links and alternates. ``prefilter=False`` skips the refusal of pathological documents
    (only for proving that the worker-process time limit works)."""
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise TypeError(f"parse_feed needs the body as bytes, not {type(body).__name__}")
    body = bytes(body)
    headers = {str(k).lower(): str(v) for k, v in (headers or {}).items()}
    if not body.strip():
        return ParsedFeed(is_feed=False, problem="empty body")
    if prefilter:
        refused = refusal(body)
        if refused:
            return ParsedFeed(is_feed=False, problem=refused)

    notes: list[str] = []
    if _EXTERNAL_ENTITY.search(body[:65536]):
        # feedparser never resolves them (nothing is fetched or read); a feed that declares one is either
        # broken or probing, and its owner should see that in the feed's health.
        notes.append("external entity declared in the DOCTYPE; ignored, nothing fetched")
    body = _repair_charrefs(body)
    parse_headers = {k: v for k, v in headers.items() if k != "content-location"}
    content_type = parse_headers.get("content-type", "")
    if content_type.lower().startswith("text/") and not _charset_param(content_type):
        # feedparser applies RFC 3023's us-ascii default to text/* without a charset; RFC 7303 withdrew
        # it, and the XML declaration (or BOM) is what the publisher actually wrote.
        del parse_headers["content-type"]
    mislabel = _utf8_mislabelled(body, headers)
    if mislabel:
        parse_headers["content-type"] = "application/xml; charset=utf-8"
        notes.append(f"charset: declared {mislabel} but the body is UTF-8; read as UTF-8")
    try:
        result = feedparser.parse(
            body, response_headers=parse_headers, sanitize_html=False, resolve_relative_uris=False
        )
    except Exception as exc:  # feedparser has crashed on crafted input before; the feed is reported, not fatal
        return ParsedFeed(is_feed=False, problem=_cap(f"feedparser failed: {type(exc).__name__}: {exc}",
                                                      MAX_NOTE_CHARS))

    raw_entries = list(result.get("entries") or ())
    version = str(result.get("version") or "")
    if not version and not raw_entries:
        return _not_a_feed(body, headers, url, result)

    note = _bozo_note(result)
    if note:
        notes.append(note)
    if len(raw_entries) > MAX_ENTRIES:
        notes.append(f"{len(raw_entries)} entries; kept the first {MAX_ENTRIES}")
        raw_entries = raw_entries[:MAX_ENTRIES]

    meta = result.get("feed") or {}
    feed_language = collapse_space(strip_controls(str(meta.get("language") or "")))[:MAX_LANGUAGE_CHARS]
    return ParsedFeed(
        is_feed=True,
        title=_cap(_detail_text(meta.get("title_detail"), str(meta.get("title") or "")), MAX_TITLE_CHARS),
        link=canonical_url(str(meta.get("link") or ""), url),
        language=feed_language,
        ttl_s=_ttl_seconds(meta.get("ttl")),
        entries=_entries(raw_entries, url, feed_id, feed_language),
        problem="; ".join(notes) or None,
        version=version,
    )


def _entries(raw_entries: list[Mapping[str, Any]], url: str, feed_id: int,
             feed_language: str) -> tuple[Entry, ...]:
    drafts = []
    for raw in raw_entries:
        if not any(raw.get(key) for key in ("title", "link", "summary", "content")):
            continue  # nothing to show or match (e.g. the half item of a truncated feed)
        published = _utc(raw.get("published_parsed")) or _utc(raw.get("updated_parsed"))
        guid = collapse_space(strip_controls(str(raw.get("id") or "")))
        drafts.append(
            dict(
                title=_cap(_detail_text(raw.get("title_detail"), str(raw.get("title") or "")), MAX_TITLE_CHARS),
                url=_entry_url(raw, url),
                summary=_entry_text(raw),
                author=_cap(plain_text(str(raw.get("author") or ""), is_html=False), MAX_AUTHOR_CHARS),
                language=_language(raw, feed_language),
                published=published,
                guid=guid,
            )
        )
    identities = assign_identities(
        RawItem(
            guid=d["guid"],
            url=d["url"],
            title=d["title"],
            published=d["published"].isoformat() if d["published"] else "",
            summary=d["summary"],
        )
        for d in drafts
    )
    entries = []
    for draft, identity in zip(drafts, identities):
        draft["guid"] = draft["guid"][:MAX_GUID_CHARS]
        entry = Entry(feed_id=feed_id, identity=identity, **draft)
        entries.append(Entry(feed_id=feed_id, identity=identity, story_key=story_key(entry), **draft))
    return tuple(entries)
