"""OPML import and export (bot/core/opml.py): table-driven, on documents written here."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bot.core.errors import UsageError
from bot.core.opml import OpmlFeed, parse_opml, read_opml, render_opml

NOW = datetime(2025, 3, 14, 9, 30, tzinfo=timezone.utc)


def opml(body: str, head: str = "<title>Test</title>") -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<opml version="2.0">\n'
        f"<head>{head}</head>\n<body>\n{body}\n</body>\n</opml>\n"
    ).encode("utf-8")


PARSE_CASES = [
    pytest.param(
        '<outline type="rss" text="Wire" xmlUrl="https://wire.example/rss"/>',
        [OpmlFeed(url="https://wire.example/rss", title="Wire")],
        id="one-flat-feed",
    ),
    pytest.param(
        """<outline text="Ukraine"><outline text="Regional">
             <outline type="rss" text="Courier" title="Kharkiv Courier" xmlUrl="https://c.example/feed"
                      htmlUrl="https://c.example/" language="uk" outlet="Kharkiv Courier"
                      outletType="regional"/>
           </outline></outline>
           <outline type="rss" text="Top" xmlUrl="https://top.example/rss"/>""",
        [
            OpmlFeed(
                url="https://c.example/feed",
                title="Kharkiv Courier",
                html_url="https://c.example/",
                language="uk",
                outlet="Kharkiv Courier",
                outlet_type="regional",
                category=("Ukraine", "Regional"),
            ),
            OpmlFeed(url="https://top.example/rss", title="Top"),
        ],
        id="nested-folders-flattened-with-path-and-custom-attributes",
    ),
    pytest.param(
        """<outline type="rss" text="No URL"/>
           <outline type="rss" text="Empty URL" xmlUrl="  "/>
           <outline text="A note, not a feed"/>
           <outline type="rss" text="Kept" xmlUrl="https://k.example/rss"/>""",
        [OpmlFeed(url="https://k.example/rss", title="Kept")],
        id="missing-xmlurl-skipped",
    ),
    pytest.param(
        """<outline text="First"><outline type="rss" text="A" xmlUrl="https://a.example/rss"/></outline>
           <outline text="Second"><outline type="rss" text="A again" xmlUrl="HTTPS://A.EXAMPLE/rss"/></outline>""",
        [OpmlFeed(url="https://a.example/rss", title="A", category=("First",))],
        id="duplicate-url-first-occurrence-wins",
    ),
    pytest.param(
        """<outline type="rss" text="A" xmlUrl="https://a.example/rss"/>
           <outline type="rss" text="B" xmlUrl="https://a.example/RSS"/>""",
        [
            OpmlFeed(url="https://a.example/rss", title="A"),
            OpmlFeed(url="https://a.example/RSS", title="B"),
        ],
        id="path-case-matters-for-duplicates",
    ),
    pytest.param(
        """<outline type="rss" text="Old" xmlURL="https://old.example/rss"/>
           <outline type="rss" text="Lower" xmlurl="https://lower.example/rss"/>""",
        [
            OpmlFeed(url="https://old.example/rss", title="Old"),
            OpmlFeed(url="https://lower.example/rss", title="Lower"),
        ],
        id="attribute-name-case-variants",
    ),
    pytest.param(
        """<outline type="rss" text="Browser" xmlUrl="feed://b.example/rss"/>
           <outline type="rss" text="Local" xmlUrl="file:///etc/passwd"/>
           <outline type="rss" text="Script" xmlUrl="javascript:alert(1)"/>""",
        [OpmlFeed(url="http://b.example/rss", title="Browser")],
        id="feed-scheme-rewritten-other-schemes-skipped",
    ),
    pytest.param(
        '<outline type="rss" text="Kyiv &amp; Kharkiv — «Новини»" xmlUrl="https://n.example/rss?a=1&amp;b=2"/>',
        [OpmlFeed(url="https://n.example/rss?a=1&b=2", title="Kyiv & Kharkiv — «Новини»")],
        id="entities-and-cyrillic-in-attributes",
    ),
    pytest.param("", [], id="empty-body"),
]


@pytest.mark.parametrize("body, expected", PARSE_CASES)
def test_parse(body: str, expected: list[OpmlFeed]) -> None:
    assert parse_opml(opml(body)) == expected


def test_read_reports_title_and_skipped_outlines_with_line_numbers() -> None:
    doc = read_opml(
        opml(
            """<outline type="rss" text="No URL"/>
<outline type="rss" text="A" xmlUrl="https://a.example/rss"/>
<outline type="rss" text="A twice" xmlUrl="https://a.example/rss"/>""",
            head="<title>Ukraine desk</title>",
        )
    )
    assert doc.title == "Ukraine desk"
    assert [f.url for f in doc.feeds] == ["https://a.example/rss"]
    assert len(doc.skipped) == 2
    assert "line 5" in doc.skipped[0] and "No URL" in doc.skipped[0]
    assert "line 7" in doc.skipped[1] and "duplicate" in doc.skipped[1]


def test_other_encodings_are_read() -> None:
    text = (
        '<?xml version="1.0" encoding="windows-1251"?>\n<opml version="2.0"><head><title>t</title></head>'
        '<body><outline type="rss" text="Харьков" xmlUrl="https://x.example/rss"/></body></opml>'
    )
    assert parse_opml(text.encode("cp1251"))[0].title == "Харьков"


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE opml [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<opml version="2.0"><head><title>&lol3;</title></head><body/></opml>
"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE opml [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<opml version="2.0"><head><title>x</title></head>
<body><outline type="rss" text="&secret;" xmlUrl="https://x.example/rss"/></body></opml>
"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE opml SYSTEM "http://127.0.0.1:9/opml.dtd">
<opml version="2.0"><head><title>x</title></head><body/></opml>
"""

REFUSED = [
    pytest.param(b"", "it is empty", id="empty"),
    pytest.param(b"   \n", "it is empty", id="whitespace"),
    pytest.param(b"this is not xml at all", "XML syntax error at line 1", id="plain-text"),
    pytest.param(
        b"<html><body><p>Not found</p></body></html>", "root element is <html>, expected <opml>", id="html-page"
    ),
    pytest.param(
        b'<?xml version="1.0"?>\n<rss version="2.0"><channel/></rss>',
        "root element is <rss>, expected <opml>",
        id="an-rss-feed-instead",
    ),
    pytest.param(
        b'<opml version="2.0">\n<head>\n<title>x</title>\n<body>\n</opml>',
        "XML syntax error at line 5",
        id="truncated-with-line-number",
    ),
    pytest.param(b'<opml version="2.0"><head/></opml>', "no <body>", id="no-body"),
    pytest.param(BILLION_LAUGHS, "DOCTYPE declarations are refused (line 2)", id="doctype-entity-expansion"),
    pytest.param(EXTERNAL_ENTITY, "DOCTYPE declarations are refused", id="doctype-external-entity"),
    pytest.param(EXTERNAL_DTD, "DOCTYPE declarations are refused", id="doctype-external-dtd"),
    pytest.param(
        b'<?xml version="1.0" encoding="no-such-codec"?><opml/>', "not an OPML file", id="unknown-encoding"
    ),
    pytest.param(
        b"<opml><body>" + b"<outline text='x'>" * 5000 + b"</outline>" * 5000 + b"</body></opml>",
        "nested more than 64 deep",
        id="absurdly-deep-nesting",
    ),
]


@pytest.mark.parametrize("data, fragment", REFUSED)
def test_refused_with_a_readable_message(data: bytes, fragment: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_opml(data)
    message = str(caught.value)
    assert message.startswith("not an OPML file: ")
    assert fragment in message


ROUND_TRIPS = [
    pytest.param([], id="no-feeds"),
    pytest.param([OpmlFeed(url="https://a.example/rss", title="A")], id="one-feed-minimal"),
    pytest.param(
        [
            OpmlFeed(
                url="https://uk.example/rss",
                title="Кур'єр — Харків",
                html_url="https://uk.example/",
                language="uk",
                outlet="Kharkiv Courier",
                outlet_type="regional",
                category=("Ukrainian outlets", "Regional"),
            ),
            OpmlFeed(url="https://uk2.example/rss", title="Second", category=("Ukrainian outlets", "Regional")),
            OpmlFeed(url="https://n.example/rss", title="National", category=("Ukrainian outlets",)),
            OpmlFeed(url="https://w.example/rss?x=1&y=2", title='Wire "A" & <B>', outlet_type="wire"),
            OpmlFeed(url="https://r.example/rss", title="ТАСС", language="ru", category=("Russian state media",)),
        ],
        id="folders-unicode-and-escaping",
    ),
    pytest.param(
        [OpmlFeed(url="https://t.example/rss", title="Line one\nline\ttwo")],
        id="newline-and-tab-in-title-survive",
    ),
]


@pytest.mark.parametrize("feeds", ROUND_TRIPS)
def test_round_trip(feeds: list[OpmlFeed]) -> None:
    rendered = render_opml(feeds, "wirewatch export", NOW)
    assert parse_opml(rendered) == feeds
    assert read_opml(rendered).title == "wirewatch export"


def test_render_is_opml_2_with_head_dates() -> None:
    rendered = render_opml(
        [OpmlFeed(url="https://a.example/rss", title="A")], "t", NOW.astimezone(timezone(timedelta(hours=2)))
    ).decode("utf-8")
    assert rendered.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<opml version="2.0">')
    assert "<dateCreated>Fri, 14 Mar 2025 11:30:00 +0200</dateCreated>" in rendered
    assert '<outline type="rss" text="A" title="A" xmlUrl="https://a.example/rss"/>' in rendered


def test_render_groups_interleaved_categories_into_one_folder_each() -> None:
    feeds = [
        OpmlFeed(url="https://1.example/rss", category=("X",)),
        OpmlFeed(url="https://2.example/rss", category=("Y",)),
        OpmlFeed(url="https://3.example/rss", category=("X",)),
    ]
    back = parse_opml(render_opml(feeds, "t", NOW))
    assert [f.url for f in back] == ["https://1.example/rss", "https://3.example/rss", "https://2.example/rss"]
    assert render_opml(feeds, "t", NOW).count(b'<outline text="X"') == 1


def test_render_strips_characters_xml_cannot_hold() -> None:
    feeds = [OpmlFeed(url="https://a.example/rss", title="bell\x07 and nul\x00")]
    assert parse_opml(render_opml(feeds, "t\x01", NOW))[0].title == "bell and nul"


def test_render_needs_an_aware_now() -> None:
    with pytest.raises(ValueError):
        render_opml([], "t", datetime(2025, 1, 1))
