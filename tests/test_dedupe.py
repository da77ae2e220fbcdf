"""Entry identity and story keys: the rules in core/dedupe.py's docstring, one row each."""

from dataclasses import dataclass

import pytest

from bot.core.dedupe import RawItem, assign_identities, entry_identity, normalise_title, story_key
from bot.core.models import Entry

SAME = [
    # Two versions of one item that must keep one identity (an edit is not a new item).
    (RawItem(guid="g-1", url="https://a.example/1", title="Old", published="2024-05-01T10:00:00+00:00"),
     RawItem(guid="g-1", url="https://a.example/1b", title="New title", published="2024-05-02T10:00:00+00:00")),
    (RawItem(guid="  g-1 "), RawItem(guid="g-1")),
    (RawItem(url="https://a.example/1?utm_source=rss#xtor=RSS-1", published="2024-05-01"),
     RawItem(url="https://A.example:443/1", published="2024-05-03")),
    (RawItem(guid="https://a.example/p/1?utm_medium=feed"), RawItem(guid="https://a.example/p/1")),
    (RawItem(title="Only a  title", published="2024-05-01"), RawItem(title="Only a title", published="2024-05-01")),
]
SAME_IDS = ["guid-survives-edits", "guid-trimmed", "canonical-link-ignores-tracking-and-date",
            "url-guid-ignores-tracking", "title-whitespace"]


@pytest.mark.parametrize(("a", "b"), SAME, ids=SAME_IDS)
def test_same_identity(a, b):
    assert assign_identities([a]) == assign_identities([b])


DIFFERENT = [
    (RawItem(guid="x"), RawItem(url="https://x.example/")),
    (RawItem(guid="https://a.example/page#item-1"), RawItem(guid="https://a.example/page#item-2")),
    (RawItem(guid="g-1"), RawItem(guid="G-1")),
    (RawItem(url="https://a.example/1?id=1"), RawItem(url="https://a.example/1?id=2")),
    (RawItem(title="Same title", published="2024-05-01"), RawItem(title="Same title", published="2024-05-02")),
    (RawItem(published="2024-05-01", summary="one"), RawItem(published="2024-05-01", summary="two")),
]
DIFFERENT_IDS = ["guid-vs-link-namespaces", "guid-fragments-are-items", "opaque-guid-case-sensitive",
                 "meaningful-query", "titles-on-different-days", "summary-when-no-title"]


@pytest.mark.parametrize(("a", "b"), DIFFERENT, ids=DIFFERENT_IDS)
def test_different_identity(a, b):
    assert assign_identities([a]) != assign_identities([b])


def test_identity_is_bounded_hex():
    identity = entry_identity(guid="x" * 100_000)
    assert len(identity) == 64 and int(identity, 16) >= 0


def test_entry_identity_matches_a_single_item_document():
    item = RawItem(guid="g", url="https://a.example/", title="t")
    assert entry_identity(guid="g", url="https://a.example/", title="t") == assign_identities([item])[0]


def test_repeated_guid_keeps_first_stable_and_loses_nothing():
    """A CMS gives every item one GUID: all items survive, and the first keeps the plain GUID identity,
    so the identity it had before the duplicates appeared (or after they are fixed) does not change."""
    alone = assign_identities([RawItem(guid="live", url="https://a.example/live?u=1", title="Update 1")])
    items = [
        RawItem(guid="live", url="https://a.example/live?u=1", title="Update 1"),
        RawItem(guid="live", url="https://a.example/live?u=2", title="Update 2"),
        RawItem(guid="live", url="https://a.example/live?u=2", title="Update 3"),  # same link: by title
        RawItem(guid="live", url="https://a.example/live?u=2", title="Update 3"),  # same all: by position
    ]
    ids = assign_identities(items)
    assert len(set(ids)) == len(items)
    assert ids[0] == alone[0]


def test_later_duplicates_stable_when_a_new_item_is_prepended():
    """Disambiguation by link and title (not position) keeps later duplicates' identities across polls."""
    poll1 = [RawItem(guid="live", url=f"https://a.example/u{i}", title=f"U{i}") for i in (1, 2)]
    poll2 = [RawItem(guid="live", url="https://a.example/u0", title="U0")] + poll1
    first, second = assign_identities(poll1), assign_identities(poll2)
    assert first[1] == second[2]


def test_no_key_at_all_falls_back_to_position_and_stays_distinct():
    ids = assign_identities([RawItem(), RawItem(), RawItem()])
    assert len(set(ids)) == 3


def test_date_alone_is_never_an_identity():
    a = assign_identities([RawItem(published="2024-05-01T10:00:00+00:00")])
    b = assign_identities([RawItem(published="2024-05-01T10:00:00+00:00")])
    c = assign_identities([RawItem(published="2024-05-02T10:00:00+00:00")])
    # Without title or summary the date is not used: the identity is positional, the same for a and c.
    assert a == b == c


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Kupiansk: Shelling!", "kupiansk shelling"),
        ("  KUPIANSK   shelling ", "kupiansk shelling"),
        ("Куп’янськ — обстріл", "куп янськ обстріл"),
        ("ＦＵＬＬＷＩＤＴＨ ２０２４", "fullwidth 2024"),
        ("snake_case and-dash", "snake case and dash"),
        ("", ""),
    ],
    ids=["punctuation-case", "spacing", "cyrillic-apostrophe-dash", "nfkc", "underscore-dash", "empty"],
)
def test_normalise_title(title, expected):
    assert normalise_title(title) == expected


@dataclass
class _Item:
    url: str = ""
    title: str = ""
    feed_id: int = 1
    identity: str = "abc"


STORY_SAME = [
    (_Item(url="https://www.outlet.example/a/story/?utm_source=x", feed_id=1),
     _Item(url="http://outlet.example/a/story", feed_id=2)),
    (_Item(title="Bridge reopens!"), _Item(title="bridge  reopens", feed_id=2)),
    (_Item(url="https://outlet.example/a", title="One"), _Item(url="https://outlet.example/a#c", title="Two")),
]
STORY_DIFFERENT = [
    (_Item(url="https://outlet.example/a"), _Item(url="https://outlet.example/b")),
    (_Item(url="https://outlet.example/a", title="T"), _Item(title="T")),
    (_Item(identity="x"), _Item(identity="y")),
    (_Item(feed_id=1), _Item(feed_id=2)),
]


@pytest.mark.parametrize(("a", "b"), STORY_SAME, ids=["scheme-www-slash-tracking", "title-folded", "url-wins"])
def test_same_story(a, b):
    assert story_key(a) == story_key(b)


@pytest.mark.parametrize(("a", "b"), STORY_DIFFERENT,
                         ids=["different-urls", "url-vs-title", "empty-never-merge", "empty-per-feed"])
def test_different_story(a, b):
    assert story_key(a) != story_key(b)


def test_story_key_accepts_entries():
    entry = Entry(feed_id=3, identity="i", title="T", url="https://outlet.example/x")
    assert story_key(entry) == "url:outlet.example/x"
