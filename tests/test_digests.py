"""Pure digest rules: due-ness (zones, DST in Europe/Kyiv, late start, already sent), composition from a
fixture of stored stories, ranking, counts against the previous day, top N, quiet days, text, packing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from bot.core import digests
from bot.core.digests import (
    Digest,
    DigestSchedule,
    DueDigest,
    MatchedArticle,
    compose,
    due_digest,
    scheduled_instant,
)
from bot.core.errors import UsageError

KYIV = digests.zone_of("Europe/Kyiv")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# ---- when a digest is sent ---------------------------------------------------------------------------


@pytest.mark.parametrize("day, at, zone, expected", [
    ("2025-03-29", "08:00", "Europe/Kyiv", "2025-03-29 06:00"),  # EET, UTC+2
    ("2025-03-30", "08:00", "Europe/Kyiv", "2025-03-30 05:00"),  # spring forward: EEST, UTC+3
    ("2025-03-30", "03:30", "Europe/Kyiv", "2025-03-30 01:00"),  # inside the gap: when it ends (04:00)
    ("2025-03-30", "03:00", "Europe/Kyiv", "2025-03-30 01:00"),  # 03:00 itself does not exist either
    ("2025-03-30", "02:59", "Europe/Kyiv", "2025-03-30 00:59"),  # just before the gap
    ("2025-10-26", "08:00", "Europe/Kyiv", "2025-10-26 06:00"),  # fall back: EET again
    ("2025-10-26", "03:30", "Europe/Kyiv", "2025-10-26 00:30"),  # happens twice: the first one
    ("2025-10-25", "08:00", "Europe/Kyiv", "2025-10-25 05:00"),
    ("2025-06-01", "08:00", "America/New_York", "2025-06-01 12:00"),
    ("2025-06-01", "23:45", "Asia/Kolkata", "2025-06-01 18:15"),
    ("2025-06-01", "00:00", "UTC", "2025-06-01 00:00"),
], ids=["kyiv-winter", "kyiv-spring-day", "kyiv-gap", "kyiv-gap-start", "kyiv-before-gap", "kyiv-fallback-day",
        "kyiv-repeated-hour", "kyiv-day-before-fallback", "new-york", "half-hour-zone", "utc-midnight"])
def test_scheduled_instant(day, at, zone, expected):
    assert scheduled_instant(date.fromisoformat(day), at, digests.zone_of(zone)) == utc(expected)


def sched(at="08:00", zone="Europe/Kyiv", **kw) -> DigestSchedule:
    return DigestSchedule(destination="slack:C1", at=at, timezone=zone, **kw)


@pytest.mark.parametrize("schedule, now, expected", [
    (sched(), "2025-03-29 05:59", ("2025-03-28", True)),  # yesterday's never recorded: owed, late
    (sched(last_date="2025-03-28"), "2025-03-29 05:59", None),  # before 08:00 EET
    (sched(last_date="2025-03-28"), "2025-03-29 06:00", ("2025-03-29", False)),  # on time
    (sched(last_date="2025-03-28"), "2025-03-29 06:14", ("2025-03-29", False)),  # a slow tick is not late
    (sched(last_date="2025-03-29"), "2025-03-29 06:01", None),  # already sent today
    (sched(last_date="2025-03-28"), "2025-03-29 11:00", ("2025-03-29", True)),  # down at 08:00: late, once
    (sched(last_date="2025-03-25"), "2025-03-29 11:00", ("2025-03-29", True)),  # down for days: one digest
    (sched(last_date="2025-03-29"), "2025-03-30 04:59", None),  # spring-forward day, 07:59 EEST
    (sched(last_date="2025-03-29"), "2025-03-30 05:00", ("2025-03-30", False)),  # 08:00 EEST
    (sched(last_date="2025-03-30"), "2025-03-30 06:00", None),  # 09:00 EEST: sent an hour ago
    (sched(last_date="2025-10-25"), "2025-10-26 05:30", None),  # fall-back day, 07:30 EET
    (sched(last_date="2025-10-25"), "2025-10-26 06:00", ("2025-10-26", False)),  # 08:00 EET
    (sched("03:30", last_date="2025-10-25"), "2025-10-26 00:30", ("2025-10-26", False)),  # first 03:30
    (sched("03:30", last_date="2025-10-26"), "2025-10-26 01:30", None),  # the second 03:30: not again
    (sched("03:30", last_date="2025-03-29"), "2025-03-30 01:00", ("2025-03-30", False)),  # gap: at 04:00
    (sched(last_date="2025-03-28", set_at=utc("2025-03-29 07:00")), "2025-03-29 07:01", None),  # set at 09:00
    (sched(last_date="2025-03-28", set_at=utc("2025-03-29 05:00")), "2025-03-29 06:00", ("2025-03-29", False)),
    (sched(enabled=False), "2025-03-29 06:00", None),  # /digest off
    (sched(at=None), "2025-03-29 06:00", None),  # never scheduled
    (sched(zone=None, last_date="2025-03-28"), "2025-03-29 08:00", ("2025-03-29", False)),  # default UTC
    (sched(zone="America/New_York", last_date="2025-03-28"), "2025-03-29 11:59", None),
    (sched(zone="America/New_York", last_date="2025-03-28"), "2025-03-29 12:00", ("2025-03-29", False)),
    (sched(last_date="2025-03-30"), "2025-03-29 06:00", None),  # /digest now ran "later" (clock skew)
], ids=["owed-since-yesterday", "before-time", "on-time", "slow-tick", "already-sent", "late", "down-days",
        "spring-before", "spring-on-time", "spring-after-sent", "fall-before", "fall-on-time",
        "fall-first-0330", "fall-second-0330", "spring-gap-0330", "set-after-time", "set-before-time",
        "off", "unscheduled", "default-zone", "new-york-before", "new-york-on-time", "newer-recorded"])
def test_due_digest(schedule, now, expected):
    due = due_digest(schedule, utc(now))
    assert (None if due is None else (due.local_date, due.late)) == expected


def test_late_is_counted_from_the_scheduled_instant():
    due = due_digest(sched(last_date="2025-03-28"), utc("2025-03-29 11:00"))
    assert due is not None and due.scheduled_for == utc("2025-03-29 06:00") and due.zone == "Europe/Kyiv"


@pytest.mark.parametrize("schedule, now, expected", [
    (None, "2025-03-29 23:30", "2025-03-29"),  # no destination yet: UTC
    (sched(), "2025-03-29 23:30", "2025-03-30"),  # 01:30 in Kyiv: already tomorrow there
    (sched(last_date="2025-03-30"), "2025-03-29 23:30", None),  # that day's digest went already
    (sched(last_date="2025-03-29"), "2025-03-30 06:00", "2025-03-30"),
], ids=["no-schedule", "zone-date", "already", "next-day"])
def test_digest_now_is_that_days_digest(schedule, now, expected):
    due = digests.digest_now(schedule, "slack:C1", utc(now))
    assert (None if due is None else due.local_date) == expected
    if due is not None:
        assert due.scheduled_for is None and not due.late


@pytest.mark.parametrize("schedule, now, expected", [
    (None, "2025-03-29 12:00", "2025-03-28 12:00"),
    (sched(last_at=utc("2025-03-28 06:00")), "2025-03-29 06:00", "2025-03-28 06:00"),
    (sched(last_at=utc("2025-03-01 06:00")), "2025-03-29 06:00", "2025-03-22 06:00"),  # capped at 7 days
], ids=["first-day", "since-last", "capped"])
def test_window_start(schedule, now, expected):
    assert digests.window_start(schedule, utc(now)) == utc(expected)


@pytest.mark.parametrize("bad", ["Mars/Olympus", "../etc/passwd", "Europe/Kiev2"])
def test_unknown_zone_is_a_usage_error(bad):
    with pytest.raises(UsageError, match="time zone"):
        digests.zone_of(bad)


# ---- what goes in it ------------------------------------------------------------------------------------

END = utc("2025-03-30 05:00")  # 08:00 EEST
START = END - timedelta(hours=24)
DUE = DueDigest("slack:C1", "2025-03-30", "Europe/Kyiv", END)
PLACE_KUP = ("Kupiansk",)


def art(story, outlet, hours_ago, *, watch=(1, "place:Kupiansk"), places=PLACE_KUP, grade="", origins=0,
        title=None, published=None) -> MatchedArticle:
    return MatchedArticle(
        story=story, title=title or f"Story {story}", url=f"https://news.example/{story}/{outlet}",
        outlet=outlet, seen_at=END - timedelta(hours=hours_ago), watch_id=watch[0], watch_query=watch[1],
        places=places, grade=grade, origins=origins, published=published,
    )


STORED = [
    # Kupiansk: four stories today (one carried by three feeds), two yesterday
    art("k-shelling", "Kharkiv Courier", 20, grade="moderate", origins=2),
    art("k-shelling", "Northern Wire", 19, grade="strong", origins=2),
    art("k-shelling", "Look", 18, grade="weak", origins=2),
    art("k-bridge", "Look", 3, grade="weak", origins=1),
    art("k-evac", "Northern Wire", 5, grade="strong", origins=1),
    art("k-drone", "Slobidski", 1, origins=1),
    art("k-old1", "Look", 30), art("k-old2", "Look", 40),
    # Izium (a place watch too): one today, three yesterday
    art("i-1", "Look", 2, watch=(2, "place:Izium"), places=("Izium",), grade="moderate"),
    *(art(f"i-y{n}", "Look", 25 + n, watch=(2, "place:Izium"), places=("Izium",)) for n in range(3)),
    # a word watch with no place: its own group
    art("oskil", "Northern Wire", 6, watch=(3, "Oskil OR Oskol"), places=()),
    # a story matched by the place watch and the word watch: once, under the bigger group
    art("k-bridge", "Look", 3, watch=(3, "Oskil OR Oskol"), places=()),
    # a near: hit names the distance; grouped under the place itself
    art("k-near", "Look", 4, places=("Kupiansk (12 km from Kupiansk)",)),
]


def test_compose_groups_by_place_then_watch_each_story_once():
    d = compose(STORED, due=DUE, start=START, end=END, top=3, watches=3)
    assert [(g.kind, g.label, g.count, g.previous) for g in d.groups] == [
        ("place", "Kupiansk", 5, 2), ("place", "Izium", 1, 3), ("watch", "Oskil OR Oskol", 1, 0)]
    assert d.total == 7 == sum(g.count for g in d.groups), "each story counted once"
    assert [g.heading for g in d.groups] == [
        "Kupiansk: 5 stories, up from 2", "Izium: 1 story, down from 3", "Oskil OR Oskol: 1 story, up from 0"]


def test_compose_ranks_by_origins_then_grade_then_recency_and_cuts_at_top_n():
    kup = compose(STORED, due=DUE, start=START, end=END, top=3).groups[0]
    assert [s.title for s in kup.stories] == ["Story k-shelling", "Story k-evac", "Story k-bridge"]
    assert (kup.more, kup.more_command) == (2, "/watch test place:Kupiansk")
    shelling = kup.stories[0]
    assert (shelling.outlets, shelling.origins, shelling.grade) == (3, 2, "strong"), "best grade of its articles"
    assert shelling.first_seen_at == END - timedelta(hours=20)
    assert shelling.url == "https://news.example/k-shelling/Kharkiv Courier", "the first report's link"


def test_hourly_series_counts_stories_at_their_first_seen_hour():
    d = compose(STORED, due=DUE, start=START, end=END)
    kup = d.groups[0]
    assert len(kup.hourly) == digests.CHART_HOURS and sum(kup.hourly) == kup.count
    assert kup.hourly[-1] == 1, "k-drone, first seen an hour before the end"
    assert datetime.fromisoformat(d.chart_start) == END - timedelta(hours=24)


def test_quiet_day():
    d = compose([art("old", "Look", 30)], due=DUE, start=START, end=END, watches=2)
    assert d.quiet and d.groups == ()
    text = digests.render_text(d)
    assert "Quiet day: nothing new matched this channel's 2 watches" in text
    assert len(text.splitlines()) == 2, "a quiet day says so in one line under the headline"


def test_payload_round_trip_is_json_and_equal():
    d = compose(STORED, due=DUE, start=START, end=END)
    payload = d.to_payload()
    assert Digest.from_payload(payload) == d
    assert payload["groups"][0]["stories"][0]["first_seen"].endswith("+00:00")


def test_render_text_has_sparkline_links_and_more_lines():
    late = DueDigest("console", "2025-03-30", "Europe/Kyiv", END - timedelta(hours=3), late=True)
    text = digests.render_text(compose(STORED, due=late, start=START, end=END, top=2))
    assert "This digest is late: it was due at 05:00 EEST on 2025-03-30" in text
    assert "▸ Kupiansk: 5 stories, up from 2" in text
    assert "3 outlets · 2 independent origins · strong sourcing · first seen" in text
    assert "https://news.example/k-shelling/Kharkiv Courier" in text
    assert "… and 3 more: /watch test place:Kupiansk" in text
    assert any(ch in text for ch in digests.SPARK[1:])


@pytest.mark.parametrize("values, expected", [
    ([0, 0, 0], "▁▁▁"),
    ([0, 1, 2, 4], "▁▃▅█"),
    ([5], "█"),
    ([], ""),
], ids=["empty", "scaled", "single", "none"])
def test_sparkline(values, expected):
    assert digests.sparkline(values) == expected


@pytest.mark.parametrize("items, limit, expected", [
    (["aaa", "bbb", "ccc"], 7, ["aaa\nbbb", "ccc"]),
    (["aaa", "bbb"], 100, ["aaa\nbbb"]),
    (["a" * 10, "b"], 5, ["a" * 10, "b"]),
    ([], 5, []),
], ids=["split-in-order", "fits", "overlong-item-alone", "empty"])
def test_pack_never_splits_an_item(items, limit, expected):
    assert digests.pack(items, limit) == expected


@pytest.mark.parametrize("payload, expected", [
    ({"independent_origins": 3}, 3),
    ({"corroboration_detail": {"independent_origins": 4}}, 4),
    ({"corroboration": "corroborated by 2 independent outlets (Look, Wire)"}, 2),
    ({"corroboration": "not yet corroborated"}, 1),
    ({}, 0),
], ids=["structured", "detail", "line", "single-origin", "unknown"])
def test_origins_of(payload, expected):
    assert digests.origins_of(payload) == expected
