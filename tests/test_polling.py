"""The schedule policy, one row per case. A FixedRandom pins the jitter so every row has one answer."""

from __future__ import annotations

import random
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
    "interval_s, fresh, min_s, max_s, r, expected_s",
    [
        (600, None, 60, DAY, 0.5, 600),
        (600, None, 60, DAY, 0.0, 540),
        (600, None, 60, DAY, 1.0, 660),
        (600, 3600, 60, DAY, 0.5, 3600),
        (600, 3600, 60, DAY, 0.0, 3600),  # jitter never polls before the server says it is stale
        (600, 3600, 60, DAY, 1.0, 3960),
        (30, None, 60, DAY, 0.5, 60),
        (30, None, 60, DAY, 0.0, 60),  # nor below the operator's minimum
        (600, 365 * DAY, 60, DAY, 1.0, DAY),  # nor beyond the daily maximum
        (100_000, None, 60, DAY, 0.0, 0.9 * DAY),
        (600, 0, 60, DAY, 0.5, 600),
    ],
    ids=[
        "interval", "interval-low-jitter", "interval-high-jitter", "freshness-wins", "freshness-is-a-floor",
        "freshness-high-jitter", "min-clamp", "min-is-a-floor", "max-clamp", "interval-over-max",
        "zero-freshness",
    ],
)
def test_next_poll_after_success(interval_s, fresh, min_s, max_s, r, expected_s):
    got = next_poll_after_success(NOW, interval_s, fresh, min_s=min_s, max_s=max_s, rng=FixedRandom(r))
    assert got == at(expected_s)


@pytest.mark.parametrize("seed", range(50), ids=lambda s: f"seed-{s}")
def test_next_poll_stays_inside_its_bounds_with_real_randomness(seed):
    got = next_poll_after_success(NOW, 900, 1200, min_s=300, max_s=DAY, rng=random.Random(seed))
    assert at(1200) <= got <= at(1320)


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


def ok(next_s: float = 600, **kw) -> FeedUpdate:
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

