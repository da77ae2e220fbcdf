"""Entry identity within a feed, and story keys across feeds.

Identity answers "have we stored this item of this feed before?"; it must be stable across polls, or an
edit re-alerts (the most common complaint about feed bots, e.g. nextcloud/news#3796 where BBC changed only
``pubDate``). The rules follow Miniflux ``internal/reader/rss/adapter.go``:

1. The GUID when there is one: it is the publisher's own promise of identity, and it survives edits of
   the title, link and date.
2. Else the canonical link: tracking parameters and fragments removed (``core.urls``), because
   publishers append ``#xtor=RSS-1`` or ``utm_*`` that change from poll to poll (Qolors/FeedCord#67).
3. Else title and publication date together (summary when there is no title): the weakest key, used only
   for items that give nothing better. Never the date alone: it changes on edits, and two items can share
   it.

Identity is per feed (the store keys it by ``(feed_id, identity)``), so the same GUID in two feeds is two
entries; the cross-feed question is :func:`story_key`'s.

A GUID repeated inside ONE document (broken CMSs give every item the same GUID) must not collapse the
items into one. The first occurrence keeps the plain key, so that it stays stable when the publisher fixes
the feed or the duplicates scroll away; each later one is disambiguated by its link, else its title, and
only as a last resort by its position (positions shift when items are added, so they are the least stable).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Iterable

from bot.core.urls import canonical_url


@dataclass(frozen=True, slots=True)
class RawItem:
    """The fields of one feed item that identity is made from, before an Entry exists.

    ``url`` should already be canonical and absolute; ``published`` is whatever string the caller has
    for the date (an ISO timestamp is fine); it is used only together with the title."""

    guid: str = ""
    url: str = ""
    title: str = ""
    published: str = ""
    summary: str = ""


def _digest(*parts: str) -> str:
    # The kind prefix in parts[0] keeps a GUID "x" and a link "x" from ever giving the same identity.
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def normalise_guid(guid: str) -> str:
    """The GUID as identity uses it: trimmed; tracking removed when it is a URL.

    Permalink GUIDs carry tracking too (``...?utm_source=rss``), so a URL-shaped GUID goes through
    :func:`canonical_url`, but keeps a real fragment: ``page#item-1`` and ``page#item-2`` are two items.
    Opaque GUIDs (``tag:``, numbers, UUIDs) are compared verbatim."""
    guid = (guid or "").strip()
    if guid.lower().startswith(("http://", "https://")):
        return canonical_url(guid, keep_fragment=True) or guid
    return guid


def entry_identity(guid: str = "", url: str = "", title: str = "", published: str = "",
                   summary: str = "") -> str:
    """The per-feed identity of one item, ignoring any other item of the same document.

    Returns a 64-character hex SHA-256 (bounded length for the database whatever the GUID's length).
    Use :func:`assign_identities` for a whole document: it handles GUIDs repeated within it."""
    return _primary(RawItem(guid=guid, url=url, title=title, published=published, summary=summary))


def _primary(item: RawItem) -> str:
    guid = normalise_guid(item.guid)
    if guid:
        return _digest("guid", guid)
    url = canonical_url(item.url)
    if url:
        return _digest("url", url)
    title = " ".join((item.title or "").split())
    if title:
        return _digest("title", title, item.published or "")
    summary = " ".join((item.summary or "").split())
    if summary:
        return _digest("summary", summary[:2000], item.published or "")
    return ""


def assign_identities(raw_items: Iterable[RawItem]) -> list[str]:
    """Identities for the items of one document, in order, all distinct.

    The first item with a given key keeps it; later items with the same key get the key plus their
    link, else plus their title, else plus their position (see the module docstring for why)."""
    used: set[str] = set()
    out: list[str] = []
    for position, item in enumerate(raw_items):
        base = _primary(item)
        candidates = [base] if base else []
        # Same key as an earlier item: try ever weaker disambiguators, most stable first.
        url = canonical_url(item.url)
        if url:
            candidates.append(_digest("dup+url", base, url))
        title = " ".join((item.title or "").split())
        if title:
            candidates.append(_digest("dup+title", base, title))
        identity = next((c for c in candidates if c not in used), "")
        if not identity:
            identity = _digest("dup+position", base, str(position))
            bump = 0
            while identity in used:  # only reachable by a hash collision of crafted input
                bump += 1
                identity = _digest("dup+position", base, str(position), str(bump))
        used.add(identity)
        out.append(identity)
    return out


# ------------------------------------------------------------------------------------------------------
# Story keys
# ------------------------------------------------------------------------------------------------------

_WORD_RE = re.compile(r"\w+")


def normalise_title(title: str) -> str:
    """Case, accents of compatibility forms, punctuation and spacing folded: ``"Kupiansk: Shelling!"``
    and ``"kupiansk shelling"`` are one title. Letters of every script are kept (Cyrillic stays Cyrillic:
    transliteration is the matcher's business, not identity's)."""
    folded = unicodedata.normalize("NFKC", title or "").casefold()
    return " ".join(_WORD_RE.findall(folded.replace("_", " ")))


def _story_url(url: str) -> str:
    """The URL as a cross-feed key: canonical, then without scheme, ``www.`` and a trailing slash,
    because two outlets' feeds link the same article over http and https, with and without ``www``."""
    url = canonical_url(url)
    if not url:
        return ""
    rest = url.split("://", 1)[1]
    if rest.startswith("www."):
        rest = rest[4:]
    host, slash, tail = rest.partition("/")
    if tail.endswith("/") and "?" not in tail:
        tail = tail.rstrip("/")
    return host + slash + tail if tail else host


def story_key(entry: Any) -> str:
    """The key under which the same story from several feeds becomes one alert.

    This first version says: the same article URL is the same story (``url:`` + the folded canonical URL),
    and without a URL the same normalised title is (``title:`` + :func:`normalise_title`). Near-duplicate
    clustering will replace this; callers use only this function, so it is the one seam to change.

    ``entry`` is anything with ``url`` and ``title`` (an ``Entry``); when it has neither, the key is
    ``entry:<feed_id>:<identity>`` so that it can never merge with anything else."""
    url = _story_url(getattr(entry, "url", "") or "")
    if url:
        return "url:" + url
    title = normalise_title(getattr(entry, "title", "") or "")
    if title:
        return "title:" + title
    return f"entry:{getattr(entry, 'feed_id', '')}:{getattr(entry, 'identity', '')}"
