"""When to poll a feed next, and what one fetch means for the feed's health.

Why these rules (the sources are in ``reference/polling.md`` §1-2):

- **Freshness is a floor, not a hint.** A server that says ``Cache-Control: max-age=3600``, ``Expires``
  an hour away, or RSS ``<ttl>60</ttl>`` is telling us that asking sooner is wasted work for both sides.
  The next poll is ``max(feed interval, freshness)``; of the three signals the *largest* wins (Miniflux
  ``refreshDelay = max(TTL, max-age, Expires)``), because each is the publisher asking for patience.
- **Clamped to [min, max].** ``min`` is ``WIREWATCH_MIN_INTERVAL``: the shortest interval anyone may ask
  for. ``max`` (24 h) keeps a feed that claims to be fresh for a year from being forgotten.
- **Jitter on every reschedule, downwards only, and first polls spread over the interval.** Feeds added
  together (an OPML import) would otherwise be polled together forever, in bursts aligned to the minute.
  The next poll lands in the last 10 % of the interval, never after it: the interval is a promise to the
  people waiting for alerts (issue 9: publish-to-alert p99 <= interval + 2 s), so jitter may only make a
  poll earlier, and the mean interval is ~5 % below the configured one. The hard limits above win over
  jitter: we never poll before the freshness floor or ``min``, nor after ``max``. When the floor *is* the
  interval (an interval at ``WIREWATCH_MIN_INTERVAL``, or a server asking for more than the interval) there
  is no room and no jitter: feeds keep the phases their first polls and their own fetch times gave them,
  which never pulls two feeds together, but feeds polled together at the floor (a backlog after downtime,
  at most a claim batch per tick) drift apart only by the differences of their fetch times: slowly.
- **The poll tick is part of the schedule.** A feed is polled at the first tick (``tick_s``,
  ``WIREWATCH_TICK_SECONDS``) at or after its due time, so up to a tick late; the due time is aimed a tick
  before the end of the interval so that the poll still lands inside it. Only when the floor leaves less
  than a tick of room can the poll be up to one tick past the interval (never before the floor).
- **Errors back off exponentially with full jitter** (``min(cap, base * 2**n) * U(0, 1)``) so a broken
  host is not hammered and many failing feeds do not retry in lockstep; a floor (``base``) keeps the
  jitter from retrying almost at once.
- **Retry-After is honoured** (429, and 503 with the header), clamped to 1 min - 48 h so that a typo on the
  server cannot make us poll every second or never again.
- **A 301/308 chain moves the feed only when every hop was permanent AND the answer is a real feed.** A
  temporary redirect, or a permanent one to a login or parking page, must not lose the real URL.
- **410 Gone retires the feed**; a human can add it again.
- **Continuous failure for days marks the feed DEAD** (visible in ``feed list``) but it is still retried,
  at the backoff cap, because sites come back.

Everything here is pure: ``now`` and the random source are passed in.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Mapping

from bot.core.models import Feed, FeedStatus, FeedUpdate, FetchOutcome, FetchResult, ParsedFeed

HOUR = 3600
DAY = 24 * HOUR
JITTER = 0.10  # the next poll lands in the last 10 % of the interval
MAX_BACKOFF_EXPONENT = 32  # 2**32 * base is far past any cap; stops float overflow on absurd counts


@dataclass(frozen=True, slots=True)
class PollPolicy:
    """The knobs of the schedule. ``min_interval_s`` comes from ``WIREWATCH_MIN_INTERVAL``."""

    min_interval_s: int = 60
    max_interval_s: int = DAY
    tick_s: float = 0.0  # WIREWATCH_TICK_SECONDS: how late after its due time a feed may be noticed
    backoff_base_s: float = 60.0
    backoff_cap_s: float = 6 * HOUR
    dead_after_days: float = 3.0
    retry_after_min_s: float = 60.0
    retry_after_max_s: float = 48 * HOUR


# --------------------------------------------------------------------------------------------------
# Freshness
# --------------------------------------------------------------------------------------------------

_MAX_AGE = re.compile(r'(?:^|,)\s*max-age\s*=\s*"?(\d+)"?\s*(?:,|$)', re.IGNORECASE)
_NO_CACHE = re.compile(r"(?:^|,)\s*(?:no-cache|no-store)\s*(?:,|=|$)", re.IGNORECASE)


def _http_date(value: str | None) -> datetime | None:
    """An HTTP-date as an aware datetime, or None when absent or malformed (``Expires: 0`` is common)."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:  # "-0000" means UTC in an HTTP-date
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed


def _int_header(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


def freshness_s(headers: Mapping[str, str], ttl_s: int | None, now: datetime) -> float | None:
    """How long the server says this answer stays fresh, in seconds; None when it says nothing.

    The largest of: ``Cache-Control: max-age`` minus ``Age``; ``Expires`` minus ``Date`` (the server's
    own clock, so our clock skew does not matter) or minus ``now`` without a ``Date``; the RSS ``<ttl>``.
    ``no-cache``/``no-store`` and an unparseable ``Expires`` count as 0 (stale now), never as an error.
    Header names are expected in lower case (as ``FetchResult.headers`` has them).
    """
    candidates: list[float] = []
    cache_control = headers.get("cache-control", "")
    if cache_control:
        match = _MAX_AGE.search(cache_control)
        if match:
            age = _int_header(headers.get("age")) or 0
            candidates.append(max(0.0, float(int(match.group(1)) - max(age, 0))))
        elif _NO_CACHE.search(cache_control):
            candidates.append(0.0)
    if "expires" in headers:
        expires = _http_date(headers.get("expires"))
        if expires is None:
            candidates.append(0.0)
        else:
            origin = _http_date(headers.get("date")) or now
            candidates.append(max(0.0, (expires - origin).total_seconds()))
    if ttl_s is not None and ttl_s >= 0:
        candidates.append(float(ttl_s))
    return max(candidates) if candidates else None


# --------------------------------------------------------------------------------------------------
# Delays
# --------------------------------------------------------------------------------------------------


def next_poll_after_success(
    now: datetime,
    interval_s: float,
    freshness_s: float | None,
    *,
    min_s: float,
    max_s: float,
    rng: random.Random,
    tick_s: float = 0.0,
) -> datetime:
    """The due time of the next poll: within the last 10 % of ``max(interval, freshness)`` clamped to
    ``[min_s, max_s]``, aimed ``tick_s`` early because the tick that notices it may come up to ``tick_s``
    after it.

    Never before the freshness floor or ``min_s`` (promises to the server and to the operator), never after
    ``max_s``; when the floor leaves no room the due time is the floor itself. Ties at the floor do not
    re-synchronise feeds, because their polls already happen at different moments.
    """
    fresh = max(0.0, freshness_s or 0.0)
    target = min(max(float(interval_s), fresh, min_s), max_s)  # the latest the poll should happen
    floor = min(max(fresh, min_s), max_s)  # the earliest it may happen
    latest_due = max(floor, target - max(0.0, tick_s))
    earliest_due = min(max(floor, target * (1 - JITTER)), latest_due)
    return now + timedelta(seconds=rng.uniform(earliest_due, latest_due))


def backoff_s(failures: int, *, base_s: float, cap_s: float, rng: random.Random) -> float:
    """Delay before the next try after ``failures`` consecutive failures (1 = the first one).

    Full jitter, ``min(cap, base * 2**failures) * U(0, 1)``, so retries of many feeds spread out; never
    below ``base_s`` so that an unlucky draw does not retry at once and hammer a broken host.
    """
    exponent = min(max(failures, 0), MAX_BACKOFF_EXPONENT)
    ceiling = min(cap_s, base_s * (2**exponent))
    return min(max(ceiling * rng.random(), base_s), max(cap_s, base_s))


def retry_after_delay(retry_after_s: float, *, min_s: float = 60.0, max_s: float = 48 * HOUR) -> float:
    """The server's Retry-After, clamped: at least a minute (a ``Retry-After: 0`` is not an invitation
    to hammer), at most two days (a date far in the future is more likely a bug than a wish)."""
    return min(max(float(retry_after_s), min_s), max_s)


def first_poll_at(now: datetime, interval_s: float, rng: random.Random) -> datetime:
    """Spread first polls uniformly over the interval, so feeds added together are not polled together."""
    return now + timedelta(seconds=rng.uniform(0.0, float(interval_s)))


# --------------------------------------------------------------------------------------------------
# One fetch -> one feed update
# --------------------------------------------------------------------------------------------------


def not_a_feed_error(parsed: ParsedFeed) -> str:
    """``not a feed: got text/html; it links to the feed https://x/feed.xml`` - say what came back and,
    when the page advertises feeds, where the real one probably is."""
    text = "not a feed"
    if parsed.problem:
        text += f": {parsed.problem}"
    if parsed.alternates:
        noun = "the feed" if len(parsed.alternates) == 1 else "the feeds"
        text += f"; it links to {noun} {', '.join(parsed.alternates)}"
    return text


def _failure(
    feed: Feed, now: datetime, policy: PollPolicy, rng: random.Random, error: str,
    retry_after_s: float | None = None, status: FeedStatus | None = None,
) -> FeedUpdate:
    failures = feed.consecutive_failures + 1
    failing_since = feed.failing_since or now
    if status is None:
        dead = now - failing_since >= timedelta(days=policy.dead_after_days)
        status = FeedStatus.DEAD if dead else FeedStatus.FAILING
    if retry_after_s is not None:
        delay = retry_after_delay(retry_after_s, min_s=policy.retry_after_min_s, max_s=policy.retry_after_max_s)
    elif status is FeedStatus.DEAD:
        delay = policy.backoff_cap_s * rng.uniform(1 - JITTER, 1 + JITTER)
    else:
        delay = backoff_s(failures, base_s=policy.backoff_base_s, cap_s=policy.backoff_cap_s, rng=rng)
    # A failing feed is never polled more often than a healthy one may be.
    delay = max(delay, policy.min_interval_s)
    return FeedUpdate(
        status=status,
        next_poll_at=now + timedelta(seconds=delay),
        polled_at=now,
        last_error=error,
        consecutive_failures=failures,
        failing_since=failing_since,
    )


def _success(
    feed: Feed, result: FetchResult, parsed: ParsedFeed | None, now: datetime, policy: PollPolicy,
    rng: random.Random,
) -> FeedUpdate:
    headers = result.headers
    fresh = freshness_s(headers, parsed.ttl_s if parsed else None, now)
    next_at = next_poll_after_success(
        now, feed.interval_s, fresh, min_s=policy.min_interval_s, max_s=policy.max_interval_s, rng=rng,
        tick_s=policy.tick_s,
    )
    url = None
    etag = None
    last_modified = headers.get("last-modified") or None
    clear_validators = False
    if result.outcome is FetchOutcome.MODIFIED:
        # A 200 replaces the validators: the old ones describe a body we no longer hold. If this answer
        # lacks one we clear it, else a stale ETag could earn a wrong 304 later.
        etag = headers.get("etag") or None
        clear_validators = (feed.etag is not None and etag is None) or (
            feed.last_modified is not None and last_modified is None
        )
        moved_to = result.final_url
        if result.moved_permanently and parsed is not None and parsed.is_feed and moved_to and moved_to != feed.url:
            url = moved_to
            clear_validators = True  # validators belong to a URL; the ones from this answer are kept
        baseline_done = True
    else:
        # 304: the old ETag still holds (brief: keep it); a fresh Last-Modified replaces the old one.
        # A baseline still pending was never taken (no body came), so it stays pending.
        baseline_done = not feed.baseline_pending
    return FeedUpdate(
        status=FeedStatus.OK,
        next_poll_at=next_at,
        polled_at=now,
        url=url,
        title=(parsed.title or None) if parsed is not None else None,
        etag=etag,
        last_modified=last_modified,
        clear_validators=clear_validators,
        last_success_at=now,
        clear_error=True,
        consecutive_failures=0,
        clear_failing_since=True,
        baseline_done=baseline_done,
    )


def plan_after_fetch(
    feed: Feed,
    result: FetchResult,
    parsed: ParsedFeed | None,
    *,
    now: datetime,
    rng: random.Random,
    policy: PollPolicy = PollPolicy(),
) -> FeedUpdate:
    """What one fetch (and, for a 200, its parse) means for the feed: health and next poll.

    - 200 and a feed (or not parsed): OK; validators, title and (for an all-permanent redirect chain to
      a real feed) the new URL are stored; the baseline is done.
    - 200 that is not a feed: a failure saying what came instead; its validators are NOT stored, so the
      next poll gets a full answer rather than a 304 that would hide the problem.
    - 304: OK; keep the ETag, store a new Last-Modified if one came.
    - 429 / 503 with Retry-After: a failure that waits at least as long as the server asked.
    - 410: RETIRED.
    - anything else: FAILING with backoff, DEAD after ``dead_after_days`` of continuous failure.

    ``clear_validators`` means "replace the stored validators with exactly ``etag``/``last_modified`` of
    this update" (None clears): stores apply the clear before the new values.
    """
    outcome = result.outcome
    if outcome is FetchOutcome.MODIFIED:
        if parsed is not None and not parsed.is_feed:
            return _failure(feed, now, policy, rng, not_a_feed_error(parsed))
        return _success(feed, result, parsed, now, policy, rng)
    if outcome is FetchOutcome.NOT_MODIFIED:
        return _success(feed, result, None, now, policy, rng)
    if outcome is FetchOutcome.GONE:
        return _failure(
            feed, now, policy, rng,
            f"the server says the feed is gone (HTTP {result.status or 410}); retired, add it again to resume",
            status=FeedStatus.RETIRED,
        )
    if outcome is FetchOutcome.RATE_LIMITED:
        code = result.status or 429
        if result.retry_after_s is not None:
            wait = retry_after_delay(
                result.retry_after_s, min_s=policy.retry_after_min_s, max_s=policy.retry_after_max_s
            )
            error = f"rate limited by the server (HTTP {code}); it asked us to wait {_duration(wait)}"
        else:
            error = f"rate limited by the server (HTTP {code}); backing off"
        return _failure(feed, now, policy, rng, error, retry_after_s=result.retry_after_s)
    return _failure(feed, now, policy, rng, result.error or (f"HTTP {result.status}" if result.status else "fetch failed"))


def _duration(seconds: float) -> str:
    """``90 s``, ``2 min``, ``3 h``, ``2 d``: short, for people."""
    s = int(round(seconds))
    if s < 120:
        return f"{s} s"
    if s < 2 * HOUR:
        return f"{s // 60} min"
    if s < 2 * DAY:
        return f"{s // HOUR} h"
    return f"{s // DAY} d"
