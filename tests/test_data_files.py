"""The data wirewatch ships with loads: feed catalogues, demo feeds, default watches.

CONVENTIONS §15: tests keep data honest. These read the real files in feeds/ and seeds/.
"""

from __future__ import annotations

import re
from email.utils import parsedate_to_datetime
from pathlib import Path

import feedparser
import pytest

from bot.core.opml import parse_opml, read_opml

ROOT = Path(__file__).resolve().parent.parent
CATALOGUES = sorted((ROOT / "feeds").glob("*.opml"))
DEMO = ROOT / "seeds" / "demo"
DEMO_FEEDS = sorted(p for p in DEMO.iterdir() if p.suffix in (".xml", ".atom"))
UPDATE = DEMO / "update"
WATCHES = ROOT / "seeds" / "watches.txt"

OUTLET_TYPES = {
    "wire",
    "national",
    "regional",
    "international",
    "state-media",
    "independent-exile",
    "think-tank",
    "osint",
    "official",
    "aggregator",
}
BCP47 = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


def ids(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


# --------------------------------------------------------------------------------------------------
# feeds/*.opml
# --------------------------------------------------------------------------------------------------


def test_there_are_catalogues() -> None:
    assert "ukraine-war.opml" in ids(CATALOGUES)


@pytest.mark.parametrize("path", CATALOGUES, ids=ids(CATALOGUES))
def test_catalogue_parses_with_enough_labelled_feeds(path: Path) -> None:
    data = path.read_bytes()
    doc = read_opml(data)
    assert doc.title, "head/title is required"
    assert b"<dateCreated>" in data, "head/dateCreated is required"
    assert doc.skipped == (), f"outlines skipped: {doc.skipped}"
    feeds = doc.feeds
    assert len(feeds) >= 20
    for feed in feeds:
        where = f"{path.name}: {feed.title or feed.url}"
        assert feed.url.startswith("https://") or feed.url.startswith("http://"), where
        assert feed.title, where
        assert BCP47.match(feed.language), f"{where}: language {feed.language!r}"
        assert feed.outlet_type in OUTLET_TYPES, f"{where}: outletType {feed.outlet_type!r}"
        assert feed.outlet, f"{where}: outlet missing"
        assert feed.category, f"{where}: every feed sits in a folder"


def test_ukraine_catalogue_covers_the_languages_and_labels_state_media() -> None:
    feeds = parse_opml((ROOT / "feeds" / "ukraine-war.opml").read_bytes())
    assert {"en", "uk", "ru"} <= {f.language for f in feeds}
    state = [f for f in feeds if f.outlet_type == "state-media"]
    assert {"TASS", "RIA Novosti"} <= {f.outlet for f in state}
    assert all("state" in f.category[0].lower() for f in state), "state media have their own folder"
    assert len({f.outlet_type for f in feeds}) >= 6


# --------------------------------------------------------------------------------------------------
# seeds/demo
# --------------------------------------------------------------------------------------------------


def parse(path: Path) -> feedparser.FeedParserDict:
    return feedparser.parse(path.read_bytes())  # bytes, never a URL or a path: no I/O inside feedparser


@pytest.mark.parametrize("path", DEMO_FEEDS + sorted(UPDATE.iterdir()), ids=lambda p: str(p.relative_to(DEMO)))
def test_demo_feed_parses_cleanly(path: Path) -> None:
    parsed = parse(path)
    assert not parsed.bozo, f"{path.name}: {parsed.get('bozo_exception')}"
    assert parsed.version in ("rss20", "atom10")
    assert 4 <= len(parsed.entries) <= 8
    for entry in parsed.entries:
        assert entry.get("id"), f"{path.name}: {entry.title}: no guid/id"
        assert entry.get("published_parsed"), f"{path.name}: {entry.title}: no pubDate"
        assert entry.get("link", "").startswith("https://")


def test_demo_has_five_to_seven_feeds_and_the_same_files_in_update() -> None:
    assert 5 <= len(DEMO_FEEDS) <= 7
    assert ids(DEMO_FEEDS) == sorted(p.name for p in UPDATE.iterdir())


def test_demo_guids_are_unique_across_feeds() -> None:
    guids = [e.id for p in DEMO_FEEDS for e in parse(p).entries]
    assert len(guids) == len(set(guids))


def entries_by_id(path: Path) -> dict[str, feedparser.FeedParserDict]:
    return {e.id: e for e in parse(path).entries}


def test_update_adds_new_items_on_top_and_keeps_the_rest() -> None:
    new_ids: list[str] = []
    for path in DEMO_FEEDS:
        before, after = entries_by_id(path), entries_by_id(UPDATE / path.name)
        assert set(before) <= set(after), f"{path.name}: an item disappeared"
        added = [i for i in after if i not in before]
        order = list(after)
        assert order[: len(added)] == added, f"{path.name}: new items go on top"
        new_ids += added
    assert 2 <= len(new_ids) <= 4


def test_update_edits_exactly_one_pubdate_and_nothing_else_of_old_items() -> None:
    edited = []
    for path in DEMO_FEEDS:
        before, after = entries_by_id(path), entries_by_id(UPDATE / path.name)
        for guid, old in before.items():
            new = after[guid]
            assert (new.title, new.link, new.get("summary")) == (old.title, old.link, old.get("summary"))
            if new.published_parsed != old.published_parsed:
                edited.append((path.name, guid))
    assert len(edited) == 1, edited


def test_update_leaves_some_files_byte_identical() -> None:
    same = [p.name for p in DEMO_FEEDS if p.read_bytes() == (UPDATE / p.name).read_bytes()]
    assert same, "at least one feed is unchanged between polls (a 304 in the demo)"


def all_demo_text() -> str:
    parts = []
    for path in DEMO_FEEDS:
        for e in parse(path).entries:
            parts += [e.title, e.get("summary", "")]
            parts += [c.value for c in e.get("content", [])]
    return "\n".join(parts)


SPELLINGS = [
    "Kupiansk", "Kupyansk", "Kup'yansk", "Куп'янськ", "Куп’янськ", "Купянск", "Купянске",
    "Kharkiv", "Kharkov", "Харків", "Харькове",
    "Izium", "Izyum", "Ізюм",
    "Balakliia", "Balakleya",
    "Petropavlivka", "Oskil", "Oskol",
]  # fmt: skip


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_demo_spells_places_every_way(spelling: str) -> None:
    assert spelling in all_demo_text()


DEMO_FEATURES = [
    pytest.param(r"<!channel>", id="slack-channel-mention"),
    pytest.param(r"@everyone", id="discord-everyone-mention"),
    pytest.param(r"\(Northern Wire\)", id="wire-credit"),
    pytest.param(r"according to (the )?Kharkiv Courier|according to Look|сообщает издание Look", id="relay"),
    pytest.param(r"sources close to", id="anonymous-source"),
    pytest.param(r"reportedly", id="hedge-reportedly"),
    pytest.param(r"allegedly", id="hedge-allegedly"),
    pytest.param(r"\bcould\b", id="hedge-could"),
    pytest.param(r"said in a statement", id="document"),
    pytest.param(r"^(KUPIANSK|KHARKIV|IZIUM), Ukraine, March 10", id="dateline"),
    pytest.param(r"^Opinion:", id="opinion-piece"),
]


@pytest.mark.parametrize("pattern", DEMO_FEATURES)
def test_demo_contains(pattern: str) -> None:
    assert re.search(pattern, all_demo_text(), re.MULTILINE)


def test_demo_has_html_descriptions() -> None:
    html = [
        e.title
        for p in DEMO_FEEDS
        for e in parse(p).entries
        for detail in [e.get("summary_detail"), *e.get("content", [])]
        if detail and detail.get("type") == "text/html" and re.search(r"<(p|a|ul|strong)\b", detail.value)
    ]
    assert len(html) >= 2


def test_demo_rss_dates_use_several_time_zones() -> None:
    zones = set()
    for path in DEMO_FEEDS:
        for match in re.finditer(rb"<pubDate>([^<]+)</pubDate>", path.read_bytes()):
            text = match.group(1).decode()
            assert parsedate_to_datetime(text).tzinfo is not None, text
            zones.add(text.rsplit(" ", 1)[1])
    assert len(zones) >= 4, zones


def test_the_wire_story_is_republished_with_tracking_parameters() -> None:
    links = [e.link for p in DEMO_FEEDS for e in parse(p).entries if "kupiansk-depot-drone" in e.link]
    assert len(links) == 3
    assert any("utm_source=" in link for link in links)
    assert len({link.split("?")[0] for link in links}) == 1


# --------------------------------------------------------------------------------------------------
# seeds/watches.txt
# --------------------------------------------------------------------------------------------------


def watch_lines() -> list[str]:
    lines = WATCHES.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def test_watches_are_valid_queries() -> None:
    from bot.core.query import parse

    queries = watch_lines()
    assert len(queries) >= 3
    for query in queries:
        parse(query)  # raises QueryError, with the column, on a bad line


def test_every_default_watch_alerts_on_some_demo_item() -> None:
    """Each default watch earns its place: it matches at least one demo item through the real matcher."""
    from bot.app.demo import demo_feed_files
    from bot.core.matching import match_query
    from bot.core.parsing import parse_feed

    entries = []
    for path in demo_feed_files(ROOT / "seeds" / "demo"):
        entries += parse_feed(path.read_bytes(), {}, f"https://demo.example/{path.name}", 1).entries
    for query in watch_lines():
        assert any(match_query(query, e.title, e.summary)[0] for e in entries), f"matches nothing: {query}"
