"""The schedule policy, one row per case. A FixedRandom pins the jitter so every row has one answer."""

from __future__ import annotations

import math
import random
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from bot.core.models import Feed, FeedStatus, FeedUpdate, FetchOutcome, FetchResult, ParsedFeed
from bot.core.polling import (
    PollPolicy,
    backoff_s,
    first_poll_at,
    freshness_s,
    next_poll_after_success,
    plan_after_fetch,
    retry_after_delay,
)

NOW = datetime(2026, 3, 4, 12, 0, 0, tzinfo=timezone.utc)
HTTP_NOW = "Wed, 04 Mar 2026 12:00:00 GMT"
DAY = 86400


class FixedRandom(random.Random):
    """``random()`` always returns ``r``: 0.0 is the low end of every range, 1.0 the high end."""

    def __init__(self, r: float):
        super().__init__(0)
        self.r = r

    def random(self) -> float:
        return self.r


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


# ---- freshness ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers, ttl_s, expected",
    [
        ({}, None, None),
        ({"cache-control": "max-age=600"}, None, 600),
        ({"cache-control": "public, max-age=900, must-revalidate"}, None, 900),
        ({"cache-control": 'max-age="300"'}, None, 300),
        ({"cache-control": "max-age=600", "age": "100"}, None, 500),
        ({"cache-control": "max-age=600", "age": "9000"}, None, 0),
        ({"cache-control": "s-maxage=900"}, None, None),
        ({"cache-control": "no-cache"}, None, 0),
        ({"expires": "Wed, 04 Mar 2026 13:00:00 GMT"}, None, 3600),
        ({"expires": "Wed, 04 Mar 2026 13:00:00 GMT", "date": "Wed, 04 Mar 2026 12:30:00 GMT"}, None, 1800),
        ({"expires": "Wed, 04 Mar 2026 11:00:00 GMT"}, None, 0),
        ({"expires": "0"}, None, 0),
        ({}, 1800, 1800),
        ({"cache-control": "max-age=600"}, 3600, 3600),
        ({"cache-control": "max-age=7200", "expires": "Wed, 04 Mar 2026 13:00:00 GMT"}, 60, 7200),
    ],
    ids=[
        "nothing", "max-age", "max-age-among-others", "max-age-quoted", "max-age-minus-age",
        "age-past-max-age", "s-maxage-is-not-ours", "no-cache", "expires-vs-now", "expires-vs-date",
        "expires-past", "expires-garbage", "ttl-only", "ttl-wins", "max-age-wins",
    ],
)
def test_freshness_s(headers, ttl_s, expected):
    assert freshness_s(headers, ttl_s, NOW) == expected


# ---- delays -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "interval_s, fresh, min_s, max_s, tick_s, r, expected_s",
    [
        (600, None, 60, DAY, 0, 0.5, 570),
        (600, None, 60, DAY, 0, 0.0, 540),
        (600, None, 60, DAY, 0, 1.0, 600),  # jitter never polls later than the interval
        (600, None, 60, DAY, 5, 1.0, 595),  # aimed a tick early: the tick that notices it lands by 600
        (600, None, 60, DAY, 5, 0.0, 540),
        (600, 3600, 60, DAY, 0, 0.5, 3600),
        (600, 3600, 60, DAY, 5, 0.0, 3600),  # never before the server says it is stale
        (600, 3600, 60, DAY, 5, 1.0, 3600),  # a feed asking for longer gets it, not more
        (600, 570, 60, DAY, 0, 0.0, 570),  # freshness inside the jitter band cuts it
        (600, 598, 60, DAY, 5, 1.0, 598),  # ... and beats aiming a tick early
        (30, None, 60, DAY, 0, 0.5, 60),
        (60, None, 60, DAY, 1, 0.0, 60),  # nor below the operator's minimum (issue 9's 60 s interval)
        (60, None, 60, DAY, 1, 1.0, 60),
        (62, None, 60, DAY, 1, 1.0, 61),
        (62, None, 60, DAY, 1, 0.0, 60),
        (600, 365 * DAY, 60, DAY, 0, 1.0, DAY),  # nor beyond the daily maximum
        (100_000, None, 60, DAY, 0, 0.0, 0.9 * DAY),
        (100_000, None, 60, DAY, 5, 1.0, DAY - 5),
        (600, 0, 60, DAY, 0, 0.5, 570),
    ],
    ids=[
        "interval", "interval-earliest", "interval-latest", "tick-aims-early", "tick-earliest",
        "freshness-wins", "freshness-is-a-floor", "freshness-is-not-jittered-up", "freshness-in-the-band",
        "freshness-beats-the-tick", "min-clamp", "at-the-minimum", "at-the-minimum-no-room",
        "just-above-the-minimum", "just-above-the-minimum-earliest", "max-clamp", "interval-over-max",
        "interval-over-max-tick", "zero-freshness",
    ],
)
def test_next_poll_after_success(interval_s, fresh, min_s, max_s, tick_s, r, expected_s):
    got = next_poll_after_success(NOW, interval_s, fresh, min_s=min_s, max_s=max_s, rng=FixedRandom(r),
                                  tick_s=tick_s)
    assert got == at(expected_s)


BOUND_CASES = [
    # id, interval, freshness, min, max, tick
    ("ten-minutes", 600, None, 60, DAY, 1),
    ("ten-minutes-slow-tick", 600, None, 60, DAY, 5),
    ("at-the-minimum", 60, None, 60, DAY, 1),
    ("below-the-minimum", 30, None, 60, DAY, 5),
    ("a-tick-above-the-minimum", 61, None, 60, DAY, 1),
    ("freshness-longer", 900, 1200, 300, DAY, 5),
    ("freshness-shorter", 900, 870, 300, DAY, 5),
    ("freshness-past-the-max", 600, 10 * DAY, 60, DAY, 5),
    ("no-tick", 300, None, 60, DAY, 0),
]


@pytest.mark.parametrize("interval_s, fresh, min_s, max_s, tick_s", [c[1:] for c in BOUND_CASES],
                         ids=[c[0] for c in BOUND_CASES])
def test_next_poll_keeps_its_promises_with_real_randomness(interval_s, fresh, min_s, max_s, tick_s):
    """Over many draws: never before the floor (the server's freshness, the operator's minimum), never
    after the daily maximum, and the tick that notices the feed (up to ``tick_s`` after its due time) lands
    within the interval, unless the floor leaves less than a tick of room (then within a tick of it)."""
    target = min(max(interval_s, fresh or 0, min_s), max_s)
    floor = min(max(fresh or 0, min_s), max_s)
    rng = random.Random(7)
    delays = [(next_poll_after_success(NOW, interval_s, fresh, min_s=min_s, max_s=max_s, rng=rng,
                                       tick_s=tick_s) - NOW).total_seconds() for _ in range(500)]
    assert min(delays) >= floor
    assert max(delays) <= max_s
    assert max(delays) + tick_s <= max(target, floor + tick_s)


def _tick_at_or_after(t: float, tick_s: float) -> float:
    return math.ceil(t / tick_s) * tick_s


def _busiest_tick(starts: list[float], *, interval_s: float, fresh: float | None, polls: int, tick_s: float,
                  fetch_s: tuple[float, float], rng: random.Random) -> int:
    """Feeds first due at ``starts``, each polled at the first tick at or after its due time and rescheduled
    from the end of its fetch, ``polls`` times; the most feeds polled in one tick over the last interval."""
    last: list[float] = []
    for due in starts:
        for _ in range(polls):
            polled = _tick_at_or_after(due, tick_s)
            fetched = NOW + timedelta(seconds=polled + rng.uniform(*fetch_s))
            due = (next_poll_after_success(fetched, interval_s, fresh, min_s=60, max_s=DAY, rng=rng,
                                           tick_s=tick_s) - NOW).total_seconds()
        last.append(_tick_at_or_after(due, tick_s))
    return max(Counter(last).values())


SPREAD_CASES = [
    # id, interval, freshness, spread first polls over the interval (else all in one tick), most in one tick
    ("added-together-at-the-minimum-stay-spread", 60, None, True, 7),
    ("added-together-stay-spread", 600, None, True, 4),
    ("polled-together-drift-apart", 600, None, False, 6),
    ("polled-together-with-a-freshness-band-drift-apart", 600, 570, False, 10),
]


@pytest.mark.parametrize("interval_s, fresh, spread_first, most", [c[1:] for c in SPREAD_CASES],
                         ids=[c[0] for c in SPREAD_CASES])
def test_feeds_do_not_poll_in_lockstep(interval_s, fresh, spread_first, most):
    """120 feeds added at once (first polls spread by ``first_poll_at``) stay spread after 50 polls each, and
    120 feeds polled in one tick (a backlog after downtime) are spread by the jitter when the interval leaves
    room for it: no tick holds more than ``most`` of them (an even spread is 120 / interval per second)."""
    rng = random.Random(3)
    starts = [(first_poll_at(NOW, interval_s, rng) - NOW).total_seconds() if spread_first else 0.0
              for _ in range(120)]
    busiest = _busiest_tick(starts, interval_s=interval_s, fresh=fresh, polls=50, tick_s=1.0,
                            fetch_s=(0.05, 0.5), rng=rng)
    assert busiest <= most


@pytest.mark.parametrize(
    "failures, r, expected",
    [
        (1, 0.0, 60),  # the floor: never retried at once
        (1, 1.0, 120),
        (3, 0.5, 240),
        (20, 1.0, 21600),
        (20, 0.5, 10800),
        (0, 1.0, 60),
        (10_000, 0.25, 5400),  # no overflow on absurd counts
    ],
    ids=["first-floor", "first-ceiling", "third", "capped", "capped-jittered", "zero", "huge"],
)
def test_backoff_s(failures, r, expected):
    assert backoff_s(failures, base_s=60, cap_s=21600, rng=FixedRandom(r)) == expected


@pytest.mark.parametrize(
    "retry_after, expected",
    [(0, 60), (120, 120), (3600.5, 3600.5), (10**9, 48 * 3600)],
    ids=["zero-is-not-an-invitation", "honoured", "fractional", "absurd-capped"],
)
def test_retry_after_delay(retry_after, expected):
    assert retry_after_delay(retry_after) == expected


@pytest.mark.parametrize("r, expected_s", [(0.0, 0), (0.5, 300), (1.0, 600)], ids=["start", "middle", "end"])
def test_first_poll_at_spreads_over_the_interval(r, expected_s):
    assert first_poll_at(NOW, 600, FixedRandom(r)) == at(expected_s)


# ---- plan_after_fetch ---------------------------------------------------------------------------------

URL = "https://news.example/feed.xml"
NEW_URL = "https://news.example/rss/all.xml"
LM_OLD = "Mon, 02 Mar 2026 08:00:00 GMT"
LM_NEW = "Wed, 04 Mar 2026 11:00:00 GMT"
POLICY = PollPolicy(min_interval_s=60)
A_FEED = ParsedFeed(is_feed=True, title="Example News", version="rss20")
FAILING_SINCE = NOW - timedelta(hours=5)


def feed(**kw) -> Feed:
    base = dict(id=1, url=URL, interval_s=600, status=FeedStatus.OK, baseline_pending=False)
    return Feed(**{**base, **kw})


def fetched(outcome: FetchOutcome, status: int | None, **kw) -> FetchResult:
    return FetchResult(outcome, url=kw.pop("url", URL), final_url=kw.pop("final_url", URL), status=status, **kw)


def ok(next_s: float = 570, **kw) -> FeedUpdate:  # FixedRandom(0.5): mid-way in the last 10 % of 600 s
    base = dict(
        status=FeedStatus.OK, next_poll_at=at(next_s), polled_at=NOW, last_success_at=NOW, clear_error=True,
        consecutive_failures=0, clear_failing_since=True, baseline_done=True,
    )
    return FeedUpdate(**{**base, **kw})


def failing(next_s: float, error: str, failures: int = 1, since: datetime = NOW, **kw) -> FeedUpdate:
    base = dict(
        status=FeedStatus.FAILING, next_poll_at=at(next_s), polled_at=NOW, last_error=error,
        consecutive_failures=failures, failing_since=since,
    )
    return FeedUpdate(**{**base, **kw})


MODIFIED_HEADERS = {"etag": '"v2"', "last-modified": LM_NEW, "content-type": "application/rss+xml"}

PLAN_CASES = [
    # --- 200 with a feed ----------------------------------------------------------------------------
    ("200-first-poll-takes-the-baseline",
     feed(status=FeedStatus.NEW, baseline_pending=True),
     fetched(FetchOutcome.MODIFIED, 200, headers=MODIFIED_HEADERS), A_FEED, POLICY,
     ok(title="Example News", etag='"v2"', last_modified=LM_NEW)),
    ("200-ttl-sets-the-pace",
     feed(), fetched(FetchOutcome.MODIFIED, 200, headers=MODIFIED_HEADERS),
     ParsedFeed(is_feed=True, title="Example News", ttl_s=3600), POLICY,
     ok(3600, title="Example News", etag='"v2"', last_modified=LM_NEW)),
    ("200-cache-control-sets-the-pace",
     feed(), fetched(FetchOutcome.MODIFIED, 200, headers={"cache-control": "max-age=1800"}), A_FEED, POLICY,
     ok(1800, title="Example News")),
    ("200-recovers-a-failing-feed",
     feed(status=FeedStatus.FAILING, consecutive_failures=4, failing_since=FAILING_SINCE, last_error="HTTP 500"),
     fetched(FetchOutcome.MODIFIED, 200, headers=MODIFIED_HEADERS), A_FEED, POLICY,
     ok(title="Example News", etag='"v2"', last_modified=LM_NEW)),
    ("200-without-validators-clears-stale-ones",
     feed(etag='"v1"', last_modified=LM_OLD), fetched(FetchOutcome.MODIFIED, 200, headers={}), A_FEED, POLICY,
     ok(title="Example News", clear_validators=True)),
    ("200-with-only-an-etag-clears-the-old-last-modified",
     feed(etag='"v1"', last_modified=LM_OLD), fetched(FetchOutcome.MODIFIED, 200, headers={"etag": '"v2"'}),
     A_FEED, POLICY, ok(title="Example News", etag='"v2"', clear_validators=True)),
    ("200-all-permanent-redirects-to-a-feed-move-it",
     feed(etag='"v1"'),
     fetched(FetchOutcome.MODIFIED, 200, final_url=NEW_URL, moved_permanently=True, headers={"etag": '"n1"'}),
     A_FEED, POLICY, ok(url=NEW_URL, title="Example News", etag='"n1"', clear_validators=True)),
    ("200-temporary-redirect-keeps-the-url",
     feed(), fetched(FetchOutcome.MODIFIED, 200, final_url=NEW_URL, moved_permanently=False), A_FEED, POLICY,
     ok(title="Example News")),
    ("200-permanent-redirect-back-to-the-same-url-changes-nothing",
     feed(), fetched(FetchOutcome.MODIFIED, 200, final_url=URL, moved_permanently=True), A_FEED, POLICY,
     ok(title="Example News")),
    ("200-not-parsed-is-still-a-success",
     feed(), fetched(FetchOutcome.MODIFIED, 200, final_url=NEW_URL, moved_permanently=True), None, POLICY,
     ok()),
    ("200-untitled-feed-leaves-the-title",
     feed(), fetched(FetchOutcome.MODIFIED, 200), ParsedFeed(is_feed=True), POLICY, ok()),
    ("200-aims-a-tick-before-the-end-of-the-interval",
     feed(), fetched(FetchOutcome.MODIFIED, 200), None, PollPolicy(min_interval_s=60, tick_s=5), ok(567.5)),
    ("200-at-the-minimum-interval-is-polled-at-the-minimum",
     feed(interval_s=60), fetched(FetchOutcome.MODIFIED, 200), None, PollPolicy(min_interval_s=60, tick_s=1),
     ok(60)),
    # --- 200 that is not a feed ---------------------------------------------------------------------
    ("not-a-feed-names-the-feed-the-page-links-to",
     feed(), fetched(FetchOutcome.MODIFIED, 200, final_url=NEW_URL, moved_permanently=True, headers=MODIFIED_HEADERS),
     ParsedFeed(is_feed=False, problem="got text/html", alternates=("https://x/feed.xml",)), POLICY,
     failing(60, "not a feed: got text/html; it links to the feed https://x/feed.xml")),
    ("not-a-feed-with-two-alternates",
     feed(), fetched(FetchOutcome.MODIFIED, 200),
     ParsedFeed(is_feed=False, problem="got text/html", alternates=("https://x/a.xml", "https://x/b.xml")), POLICY,
     failing(60, "not a feed: got text/html; it links to the feeds https://x/a.xml, https://x/b.xml")),
    ("not-a-feed-plain",
     feed(), fetched(FetchOutcome.MODIFIED, 200), ParsedFeed(is_feed=False), POLICY, failing(60, "not a feed")),
    # --- 304 ----------------------------------------------------------------------------------------
    ("304-keeps-the-etag-and-stores-a-new-last-modified",
     feed(etag='"v1"', last_modified=LM_OLD),
     fetched(FetchOutcome.NOT_MODIFIED, 304, headers={"etag": '"v1"', "last-modified": LM_NEW}), None, POLICY,
     ok(last_modified=LM_NEW)),
    ("304-without-last-modified-leaves-validators",
     feed(etag='"v1"'), fetched(FetchOutcome.NOT_MODIFIED, 304), None, POLICY, ok()),
    ("304-honours-cache-control",
     feed(etag='"v1"'), fetched(FetchOutcome.NOT_MODIFIED, 304, headers={"cache-control": "max-age=7200"}), None,
     POLICY, ok(7200)),
    ("304-while-the-baseline-is-pending-leaves-it-pending",
     feed(baseline_pending=True, etag='"v1"'), fetched(FetchOutcome.NOT_MODIFIED, 304), None, POLICY,
     ok(baseline_done=False)),
    ("304-recovers-a-failing-feed",
     feed(status=FeedStatus.FAILING, consecutive_failures=2, failing_since=FAILING_SINCE, etag='"v1"'),
     fetched(FetchOutcome.NOT_MODIFIED, 304), None, POLICY, ok()),
    # --- rate limits --------------------------------------------------------------------------------
    ("429-waits-as-asked",
     feed(), fetched(FetchOutcome.RATE_LIMITED, 429, retry_after_s=900), None, POLICY,
     failing(900, "rate limited by the server (HTTP 429); it asked us to wait 15 min")),
    ("429-retry-after-too-short-is-raised-to-a-minute",
     feed(), fetched(FetchOutcome.RATE_LIMITED, 429, retry_after_s=1), None, POLICY,
     failing(60, "rate limited by the server (HTTP 429); it asked us to wait 60 s")),
    ("503-retry-after-too-long-is-capped-at-two-days",
     feed(), fetched(FetchOutcome.RATE_LIMITED, 503, retry_after_s=30 * DAY), None, POLICY,
     failing(2 * DAY, "rate limited by the server (HTTP 503); it asked us to wait 2 d")),
    ("429-without-retry-after-backs-off",
     feed(consecutive_failures=3, failing_since=FAILING_SINCE, status=FeedStatus.FAILING),
     fetched(FetchOutcome.RATE_LIMITED, 429), None, POLICY,
     failing(480, "rate limited by the server (HTTP 429); backing off", failures=4, since=FAILING_SINCE)),
    # --- gone ---------------------------------------------------------------------------------------
    ("410-retires",
     feed(), fetched(FetchOutcome.GONE, 410, error="HTTP 410 Gone"), None, POLICY,
     failing(60, "the server says the feed is gone (HTTP 410); retired, add it again to resume",
             status=FeedStatus.RETIRED)),
    # --- errors -------------------------------------------------------------------------------------
    ("first-error-backs-off-from-the-base",
     feed(), fetched(FetchOutcome.ERROR, 500, error="HTTP 500 Internal Server Error"), None, POLICY,
     failing(60, "HTTP 500 Internal Server Error")),
    ("fifth-error-backs-off-further-and-keeps-failing-since",
     feed(status=FeedStatus.FAILING, consecutive_failures=4, failing_since=FAILING_SINCE),
     fetched(FetchOutcome.ERROR, None, error="connection refused by news.example:443"), None, POLICY,
     failing(960, "connection refused by news.example:443", failures=5, since=FAILING_SINCE)),
    ("failing-three-days-is-dead-and-retried-at-the-cap",
     feed(status=FeedStatus.FAILING, consecutive_failures=40, failing_since=NOW - timedelta(days=3)),
     fetched(FetchOutcome.ERROR, None, error="timed out after 30 s"), None, POLICY,
     failing(6 * 3600, "timed out after 30 s", failures=41, since=NOW - timedelta(days=3),
             status=FeedStatus.DEAD)),
    ("error-without-words-still-says-something",
     feed(), fetched(FetchOutcome.ERROR, None), None, POLICY, failing(60, "fetch failed")),
    ("error-never-polls-faster-than-the-minimum-interval",
     feed(), fetched(FetchOutcome.ERROR, 502, error="HTTP 502 Bad Gateway"), None, PollPolicy(min_interval_s=900),
     failing(900, "HTTP 502 Bad Gateway")),
]


@pytest.mark.parametrize(
    "the_feed, result, parsed, policy, expected", [c[1:] for c in PLAN_CASES], ids=[c[0] for c in PLAN_CASES]
)
def test_plan_after_fetch(the_feed, result, parsed, policy, expected):
    got = plan_after_fetch(the_feed, result, parsed, now=NOW, rng=FixedRandom(0.5), policy=policy)
    assert got == expected

