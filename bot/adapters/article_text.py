"""Main-text extraction of an article page, for feeds that carry only a summary (trafilatura).

Extraction only: the page is fetched by the project's HttpFetcher (same politeness, limits and SSRF
rules), once per article, and the bytes are handed here. trafilatura's ``extract`` works on the bytes
it is given and never touches the network (its download helpers are not used); the tests prove this by
extracting with sockets disabled.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import lxml.html
import trafilatura

MAX_HTML_BYTES = 5 * 1024 * 1024  # pages above this are cut before parsing: a bounded amount of work


@dataclass(frozen=True, slots=True)
class ExtractedPage:
    """The text used for the assessment (store it, so the assessment can be reproduced), and what the
    page says about itself: title, author and outbound links (for primary-evidence links)."""

    text: str
    title: str = ""
    author: str = ""
    links: tuple[str, ...] = ()


def extract_main_text(html: bytes, url: str) -> str:
    """The article's main text as plain paragraphs separated by newlines; "" when nothing usable."""
    if not html:
        return ""
    text = trafilatura.extract(
        html[:MAX_HTML_BYTES],
        url=url or None,
        output_format="txt",
        include_comments=False,
        include_tables=False,
        include_images=False,
        favor_precision=True,
        deduplicate=False,
        with_metadata=False,
    )
    return (text or "").strip()


def extract_page(html: bytes, url: str) -> ExtractedPage:
    """Main text plus title, author and the absolute outbound links of the page's body."""
    text = extract_main_text(html, url)
    if not html:
        return ExtractedPage(text="")
    title = author = ""
    meta = trafilatura.extract_metadata(html[:MAX_HTML_BYTES], default_url=url or None)
    if meta is not None:
        title = meta.title or ""
        author = meta.author or ""
    links: list[str] = []
    try:
        doc = lxml.html.fromstring(html[:MAX_HTML_BYTES])
    except (ValueError, lxml.etree.ParserError):
        doc = None
    if doc is not None:
        scope = doc.xpath("//article") or doc.xpath("//main") or [doc]
        for a in scope[0].iter("a"):
            href = (a.get("href") or "").strip()
            if not href or href.startswith(("#", "mailto:", "javascript:", "tel:")):
                continue
            absolute = urljoin(url, href) if url else href
            if urlsplit(absolute).scheme in ("http", "https") and absolute not in links:
                links.append(absolute)
    return ExtractedPage(text=text, title=title, author=author, links=tuple(links))
