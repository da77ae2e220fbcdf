"""parse_feed over the feed files in tests/samples/parse/ (written for these tests), one row per sample."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pytest

from bot.core import parsing
from bot.core.parsing import MAX_AUTHOR_CHARS, MAX_ENTRIES, parse_feed, refusal

SAMPLES = Path(__file__).parent / "samples" / "parse"
FEED_URL = "https://feeds.example.com/x/feed.xml"
ANY = object()


@dataclass(frozen=True)
class Expect:
    is_feed: bool = True
    version: str = ANY  # type: ignore[assignment]
    problem: str | None = None  # a substring of the problem; None: there must be no problem
    title: str = ANY  # type: ignore[assignment]
    titles: tuple[str, ...] = ANY  # type: ignore[assignment]
    urls: tuple[str, ...] = ANY  # type: ignore[assignment]
    summaries: tuple[str, ...] = ANY  # type: ignore[assignment]
    alternates: tuple[str, ...] = ()
    headers: dict = field(default_factory=dict)


ROWS = {
    "rss20_basic.xml": Expect(
        version="rss20", title="Oskil Valley Courier",
        titles=("Bridge over the Oskil reopens to light traffic", "Market hall extends opening hours"),
        urls=("https://courier.example.org/2024/05/bridge-reopens", "https://courier.example.org/2024/05/market-hours"),
    ),
    "atom10_basic.xml": Expect(
        version="atom10", title="Frontline Notes",
        titles=("Shelling reported near Kupiansk", "Second note"),
        urls=("https://notes.example.net/posts/41", "https://notes.example.net/posts/40"),
        summaries=("Local officials said the shelling began before dawn. No casualties were reported by noon.",
                   "An xhtml body."),
    ),
    "rdf_basic.rdf": Expect(version="rss10", titles=("First RDF item", "Second RDF item"),
                            urls=("https://rdf.example.com/a", "https://rdf.example.com/b")),
    "relative_links.xml": Expect(
        urls=("https://feeds.example.com/2024/story-one", "https://feeds.example.com/x/story-two.html",
              "https://cdn.example.com/story-three", "https://other.example.org/section/four"),
    ),
    "tracking_params.xml": Expect(
        urls=("https://tracked.example.com/news/1?id=7&page=2", "http://tracked.example.com/news/2"),
    ),
    "html_in_titles.xml": Expect(
        title="Markup & Entities",
        titles=('AT&T bold move — "quoted"', "CDATA title & more", "x < y is plain"),
        summaries=("First para Second para line", "Inside CDATA été", ""),
    ),
    "control_chars.xml": Expect(
        problem="malformed XML", titles=("abcd", "refx\ufffdy\ufffdz"), summaries=("nulhere", ""),
    ),
    "latin1_undeclared.xml": Expect(problem="parsed as windows-1252", title="Café Gazette",
                                    titles=("Café naïve à Paris",)),
    "wrong_charset_latin1_label.xml": Expect(problem="declared iso-8859-1 but the body is UTF-8",
                                             titles=("Café in Київ",)),
    "wrong_charset_utf16_label.xml": Expect(problem="declared utf-16 but the body is UTF-8",
                                            titles=("Naïve Харків",)),
    "cyrillic_utf8.xml": Expect(title="Новини Куп’янська",
                                titles=("Обстріл біля Куп’янська", "Обстрел возле Купянска")),
    "cyrillic_cp1251.xml": Expect(title="Вести", titles=("Купянск: новости дня",)),
    "truncated.xml": Expect(problem="malformed XML", titles=("Complete one", "Complete two")),
    "html_page.html": Expect(
        is_feed=False, problem="not a feed: got text/html",
        headers={"Content-Type": "text/html; charset=utf-8"},
        alternates=("https://www.courier.example.org/news/feed.xml", "https://www.courier.example.org/atom.xml"),
    ),
    "empty.xml": Expect(is_feed=False, problem="empty body"),
    "whitespace_only.xml": Expect(is_feed=False, problem="empty body"),
    "garbage.bin": Expect(is_feed=False, problem="not a feed: got application/octet-stream",
                          headers={"content-type": "application/octet-stream"}),
    "repeated_guids.xml": Expect(titles=("Update 1", "Update 2", "Update 3", "Update 4", "Update 5", "Update 5")),
    "no_guid_no_link.xml": Expect(
        titles=("Only a title", "Only a title", "", "Link, no guid"),
        urls=("", "", "", "https://bare.example.com/article"),
    ),
}


def test_every_sample_has_a_row():
    assert sorted(p.name for p in SAMPLES.iterdir()) == sorted(ROWS)


@pytest.mark.parametrize(("name", "expect"), ROWS.items(), ids=list(ROWS))
def test_sample(name, expect):
    parsed = parse_feed((SAMPLES / name).read_bytes(), expect.headers, FEED_URL, feed_id=7)
    assert parsed.is_feed is expect.is_feed
    if expect.problem is None:
        assert parsed.problem is None
    else:
        assert expect.problem in (parsed.problem or "")
    for attr in ("version", "title"):
        if getattr(expect, attr) is not ANY:
            assert getattr(parsed, attr) == getattr(expect, attr)
    for attr, field_name in (("titles", "title"), ("urls", "url"), ("summaries", "summary")):
        if getattr(expect, attr) is not ANY:
            assert tuple(getattr(e, field_name) for e in parsed.entries) == getattr(expect, attr)
    assert parsed.alternates == expect.alternates
    _assert_invariants(parsed)


def _assert_invariants(parsed):
    """What every consumer relies on, whatever the input."""
    identities = [e.identity for e in parsed.entries]
    assert len(identities) == len(set(identities)), "identities must be unique within a feed"
    assert len(parsed.entries) <= MAX_ENTRIES
    for e in parsed.entries:
        assert e.feed_id == 7 and e.identity and e.story_key
        for text in (e.title, e.summary, e.author, e.guid, e.url, e.language):
            assert "\x00" not in text and not any("\x80" <= c <= "\x9f" or c < " " for c in text)
        assert e.url == "" or e.url.startswith(("http://", "https://"))
        assert e.published is None or e.published.utcoffset().total_seconds() == 0
        assert len(e.author) <= MAX_AUTHOR_CHARS


def _parse(name, **kw):
    return parse_feed((SAMPLES / name).read_bytes(), kw.pop("headers", {}), kw.pop("url", FEED_URL), 7, **kw)


def test_rss_details():
    parsed = _parse("rss20_basic.xml")
    first, second = parsed.entries
    assert parsed.ttl_s == 15 * 60
    assert parsed.language == "en-gb" and first.language == "en-gb"
    assert parsed.link == "https://courier.example.org/"
    assert first.published == datetime(2024, 5, 17, 6, 30, tzinfo=timezone.utc)  # +0300 to UTC
    assert first.author == "Halyna Test" and first.guid == "courier-2024-0517"
    assert second.author == "desk@courier.example.org (News Desk)"
    assert first.story_key == "url:courier.example.org/2024/05/bridge-reopens"


def test_atom_published_falls_back_to_updated_and_uses_longest_text():
    first, second = _parse("atom10_basic.xml").entries
    assert first.published == datetime(2024, 5, 18, 4, 45, tzinfo=timezone.utc)  # only <updated>, +02:00
    assert second.published == datetime(2024, 5, 17, 20, 0, tzinfo=timezone.utc)  # <published> wins
    assert first.summary.startswith("Local officials")  # the content, longer than the teaser summary
    assert first.author == "Olena Sample" and first.language == "uk"


def test_identities_do_not_depend_on_the_feed_url():
    """A moved feed (301, rotating CDN host) must not re-alert: identities ignore where the feed lives,
    even for a permalink GUID like "12345" that feedparser would resolve against Content-Location."""
    here = _parse("relative_links.xml", url="https://feeds.example.com/x/feed.xml")
    moved = _parse("relative_links.xml", url="https://new-host.example.net/rss")
    assert [e.identity for e in here.entries] == [e.identity for e in moved.entries]
    assert here.entries[0].guid == "12345"


def test_content_location_header_is_not_used_for_resolution():
    parsed = _parse("relative_links.xml", headers={"Content-Location": "https://elsewhere.example/"})
    assert parsed.entries[0].url == "https://feeds.example.com/2024/story-one"


def test_html_page_without_content_type_is_still_recognised():
    parsed = _parse("html_page.html")
    assert not parsed.is_feed and parsed.problem == "not a feed: got an HTML page"
    assert parsed.alternates[0] == "https://www.courier.example.org/news/feed.xml"


def test_every_item_with_the_same_guid_survives():
    items = "".join(f"<item><title>Same {i}</title><guid>same</guid></item>" for i in range(50))
    body = f'<rss version="2.0"><channel><title>t</title>{items}</channel></rss>'.encode()
    parsed = parse_feed(body, {}, FEED_URL, 1)
    assert len({e.identity for e in parsed.entries}) == 50


def test_entries_capped():
    items = "".join(f"<item><title>n{i}</title><guid>g{i}</guid></item>" for i in range(MAX_ENTRIES + 20))
    body = f'<rss version="2.0"><channel><title>t</title>{items}</channel></rss>'.encode()
    parsed = parse_feed(body, {}, FEED_URL, 1)
    assert len(parsed.entries) == MAX_ENTRIES and parsed.entries[0].title == "n0"
    assert f"kept the first {MAX_ENTRIES}" in parsed.problem


def test_long_fields_capped():
    author = "A" * 5000
    text = "word " * 10_000
    body = (f'<rss version="2.0"><channel><title>t</title><item><title>x</title><author>{author}</author>'
            f"<description>{text}</description></item></channel></rss>").encode()
    entry = parse_feed(body, {}, FEED_URL, 1).entries[0]
    assert len(entry.author) == MAX_AUTHOR_CHARS
    assert len(entry.summary) == parsing.MAX_TEXT_CHARS


def test_empty_rss_is_a_feed():
    parsed = parse_feed(b'<rss version="2.0"><channel><title>quiet</title></channel></rss>', {}, FEED_URL, 1)
    assert parsed.is_feed and parsed.entries == () and parsed.version == "rss20"


@pytest.mark.parametrize(("ttl", "seconds"), [("15", 900), ("0", None), ("soon", None), ("-5", None), ("", None)],
                         ids=["minutes", "zero", "words", "negative", "empty"])
def test_ttl(ttl, seconds):
    body = f'<rss version="2.0"><channel><title>t</title><ttl>{ttl}</ttl></channel></rss>'.encode()
    assert parse_feed(body, {}, FEED_URL, 1).ttl_s == seconds


@pytest.mark.parametrize(
    ("ref", "expected"),
    [("&#xD800;", "a\ufffdb"), ("&#55296;", "a\ufffdb"), ("&#x110000;", "a\ufffdb"),
     ("&#99999999999;", "a\ufffdb"), ("&#x41;", "aAb"), ("&#0;", "ab")],
    ids=["hex-surrogate", "dec-surrogate", "beyond-unicode", "huge", "ordinary", "nul"],
)
def test_character_references_that_crash_feedparser(ref, expected):
    body = f'<rss version="2.0"><channel><title>t</title><item><title>a{ref}b</title></item></channel></rss>'
    parsed = parse_feed(body.encode(), {}, FEED_URL, 1)
    assert parsed.is_feed and parsed.entries[0].title == expected


def _attributes(n):
    return b" ".join(b'a%d="x"' % i for i in range(n))


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'<rss version="2.0"><channel><title ' + _attributes(200_000) + b">t</title></channel></rss>",
         "refused: an element with 200000 attributes (feedparser would take minutes)"),
        (b'<rss version="2.0"><channel><managingEditor>x@' + b"a." * 20_000 + b"!</managingEditor></channel></rss>",
         "refused: a <managingEditor> of 39 KB"),
        (b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><author><name>' + b"n" * 40_000
         + b"</name></author></entry></feed>", "refused: a <name> of 39 KB"),
        (b'<rss xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><item><dc:creator><![CDATA['
         + b"x@a." * 10_000 + b"]]></dc:creator></item></channel></rss>", "refused: a <dc:creator> of 39 KB"),
        ('<?xml version="1.0" encoding="utf-16"?><rss><channel><title '.encode("utf-16")
         + " ".join(f'a{i}="x"' for i in range(2000)).encode("utf-16-le") + ">t</title></channel></rss>".encode("utf-16-le"),
         "refused: an element with 2000 attributes"),
    ],
    ids=["many-attributes", "long-managing-editor", "long-atom-name", "long-cdata-creator", "utf16-attributes"],
)
def test_prefilter_refuses_pathological_documents(body, problem):
    parsed = parse_feed(body, {}, FEED_URL, 1)
    assert not parsed.is_feed and parsed.problem.startswith(problem)


def test_prefilter_lets_ordinary_feeds_through():
    body = (b'<rss version="2.0"><channel><title t="1" ' + _attributes(900) + b">t</title>"
            b"<item><author>" + b"a" * 30_000 + b"</author><title>x</title></item></channel></rss>")
    assert refusal(body) is None


def test_str_body_is_a_programming_error():
    with pytest.raises(TypeError):
        parse_feed(str(SAMPLES / "rss20_basic.xml"), {}, FEED_URL, 1)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(ROWS), ids=sorted(ROWS))
def test_never_raises_on_truncations(name):
    """Every prefix of every sample parses to a value (is_feed or not), never an exception."""
    body = (SAMPLES / name).read_bytes()
    for cut in range(0, len(body), max(1, len(body) // 40)):
        _assert_invariants(parse_feed(body[:cut], {}, FEED_URL, 7))


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        ("<p>one</p><p>two</p>", "one two"),
        ("a<br>b<br/>c", "a b c"),
        ("<script>var x = '<p>no</p>';</script>kept<style>p{}</style>", "kept"),
        ("&amp; &lt;tag&gt; &eacute; &#233; &#x263A; &nbsp;x", "& <tag> é é ☺ x"),
        ("bare & ampersand", "bare & ampersand"),
        ("<b>bold</b>  \n\t spaced   out", "bold spaced out"),
        ("nul\x00and\x1fctl\x85c1", "nulandctlc1"),
        ("<p>unclosed <b>tags", "unclosed tags"),
        ("", ""),
    ],
    ids=["blocks", "breaks", "script-style", "entities", "bare-amp", "whitespace", "controls", "unclosed", "empty"],
)
def test_html_to_text(markup, text):
    from bot.core.text import html_to_text

    assert html_to_text(markup) == text


@pytest.mark.parametrize(
    ("content_type", "problem"),
    [
        ("text/html; charset=utf-8", None),  # a feed served as HTML is still a feed
        ("text/plain", None),
        ("application/rss+xml; charset=iso-8859-1", "declared iso-8859-1 but the body is UTF-8"),
    ],
    ids=["served-as-html", "served-as-text", "header-charset-wrong"],
)
def test_content_type_headers(content_type, problem):
    parsed = _parse("cyrillic_utf8.xml", headers={"Content-Type": content_type})
    assert parsed.is_feed and parsed.entries[0].title == "Обстріл біля Куп’янська"
    assert (parsed.problem is None) if problem is None else (problem in parsed.problem)


def test_a_declared_external_entity_is_named_and_never_resolved():
    body = (b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY secret SYSTEM "file:///etc/passwd">]>'
            b'<rss version="2.0"><channel><title>X</title><item><title>Leak &secret;</title>'
            b'<link>https://h.example/x</link></item></channel></rss>')
    parsed = parse_feed(body, {}, "https://h.example/feed", 1)
    assert parsed.is_feed and "external entity" in parsed.problem
    assert "root:" not in parsed.entries[0].title
