"""Fault 1, double polls: four ``wirewatch run --role poller`` processes share one PostgreSQL database and
2,000 feeds served on loopback. No feed is fetched twice within its interval, no two fetches of one feed
overlap, and no feed starves; the lag figures (p50/p99) are printed for the record.

What is measured, from both sides of the wire:
- the feed server records when each request for each feed started and ended (the truth about polls);
- each poller logs, per poll, the ``next_poll_at`` it wrote; the next request for that feed minus that
  time is the poll's lag (how late after it came due it was fetched).

``WIREWATCH_MIN_INTERVAL`` equals the feeds' interval, so the policy has no room to jitter (it never
schedules before the minimum) and any gap shorter than the interval is a double poll. Size of the run (a
2-core CI machine also runs PostgreSQL, the feed server and the test): 2,000 feeds, 10 s interval, until
every feed was fetched twice (4,000 polls, about 15 s when the machine is otherwise idle); the first
answer is a tiny feed with an ETag, later ones are 304s, as most polls of real feeds are. The lag figures
depend on the machine, so they are printed, not asserted; on a machine too busy to reach two polls per
feed within 90 s, "none starved" is judged as fairness (no feed more than one poll behind the others).
"""

from __future__ import annotations

import asyncio
import os
import random
import threading
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone

import pytest
from aiohttp import web

from bot.adapters.sql_store import open_store
from tests.conftest import _run
from tests.feedserver import FeedServer
from tests.test_scale_harness import Bot, base_env, log_records, rss, tail

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(300)]

# The 2,000 feeds need ~100 s and sometimes more than the 90 s deadline on a 2-core CI machine that
# also runs PostgreSQL and the server: the suite uses 600, WIREWATCH_FAULT_FEEDS=2000 runs the full size.
N_FEEDS = int(os.environ.get("WIREWATCH_FAULT_FEEDS", "600"))
WORKERS = 4
INTERVAL_S = 10
POLLS_EACH = 2  # the run lasts until every feed was fetched this often (about one interval and a half)
DEADLINE_S = 90.0  # on a machine too busy to get there, the run ends here and fairness is judged instead
SLACK_S = 0.05  # server and bot read the same clock; this covers rounding of the logged times


class Recorder:
    """Per feed path: (start, end) of every request, on the server's clock (time.time())."""

    def __init__(self) -> None:
        self.spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
        self.lock = threading.Lock()
        self.body = rss("Loopback outlet", [("only", "Nothing to see", "quiet day")])

    async def handle(self, request: web.Request) -> web.StreamResponse:
        started = time.time()
        if request.headers.get("If-None-Match") == '"v1"':
            response = web.Response(status=304, headers={"ETag": '"v1"'})
        else:
            response = web.Response(body=self.body, headers={"ETag": '"v1"', "Content-Type": "application/rss+xml"})
        with self.lock:
            self.spans[request.path].append((started, time.time()))
        return response


async def _add_feeds(url: str, feed_urls: list[str], seed: int) -> dict[int, str]:
    """The feeds, first polls spread over one interval from now (as ``feed add`` spreads them)."""
    rng = random.Random(seed)
    store = await open_store(url)
    now = datetime.now(timezone.utc)
    ids = {}
    try:
        async def add(feed_url: str) -> None:
            first = now + timedelta(seconds=rng.uniform(0, INTERVAL_S))
            feed, _ = await store.add_feed(feed_url, interval_s=INTERVAL_S, baseline=True, now=now, first_poll_at=first)
            ids[feed.id] = feed_url.rsplit(":", 1)[1].split("/", 1)[1]

        for i in range(0, len(feed_urls), 8):
            await asyncio.gather(*(add(u) for u in feed_urls[i:i + 8]))
    finally:
        await store.close()
    return {i: "/" + p for i, p in ids.items()}


async def _migrate(url: str) -> None:
    store = await open_store(url)
    await store.close()


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def test_four_pollers_never_poll_a_feed_twice_within_its_interval(tmp_path, pg_url):
    recorder = Recorder()
    _run(_migrate(pg_url))
    with FeedServer() as feeds:
        for n in range(N_FEEDS):
            feeds.handler(f"/f{n}.xml", recorder.handle)
        env = base_env(tmp_path, pg_url, WIREWATCH_MIN_INTERVAL=str(INTERVAL_S), WIREWATCH_POLL_LEASE="30",
                       WIREWATCH_FETCH_TIMEOUT="10", WIREWATCH_PARSE_TIMEOUT="10", WIREWATCH_TICK_SECONDS="0.2")
        workers = [Bot(env, tmp_path / f"poller{n}.log", role="poller").start() for n in range(WORKERS)]
        try:
            deadline = time.monotonic() + 120
            while not all(w.ready() for w in workers):
                assert time.monotonic() < deadline and all(w.alive() for w in workers), \
                    "\n".join(tail(w.log_path) for w in workers)
                time.sleep(0.1)
            paths = _run(_add_feeds(pg_url, [feeds.url(f"/f{n}.xml") for n in range(N_FEEDS)], seed=2000))
            began = time.time()
            stop_at = time.monotonic() + DEADLINE_S
            while time.monotonic() < stop_at:
                with recorder.lock:
                    done = len(recorder.spans) == N_FEEDS and all(
                        len(s) >= POLLS_EACH for s in recorder.spans.values())
                if done:
                    break
                time.sleep(0.5)
            ended = time.time()
        finally:
            codes = [w.stop() for w in workers]
        with recorder.lock:
            spans = {path: sorted(s) for path, s in recorder.spans.items()}

    logs = [r for w in workers for r in log_records(w.log_path)]
    early, overlaps, gaps = [], [], []
    for path, requests in spans.items():
        for (s1, e1), (s2, _) in zip(requests, requests[1:]):
            gaps.append(s2 - s1)
            if s2 < e1:
                overlaps.append((path, s1, s2))
            elif s2 - s1 < INTERVAL_S - SLACK_S:
                early.append((path, round(s2 - s1, 3)))

    # lag: the next request for a feed minus the next_poll_at the previous poll wrote
    due: dict[str, list[float]] = defaultdict(list)
    for r in logs:
        if r.get("message") == "polled" and r.get("next_poll_at"):
            due[paths[r["feed_id"]]].append(datetime.fromisoformat(r["next_poll_at"]).timestamp())
    lags = []
    for path, dues in due.items():
        starts = [s for s, _ in spans.get(path, [])]
        for when in dues:
            later = [s for s in starts if s >= when - SLACK_S]
            if later and later[0] <= ended:
                lags.append(max(0.0, later[0] - when))
    polls = sum(len(s) for s in spans.values())
    per_worker = [sum(1 for r in log_records(w.log_path) if r.get("message") == "polled") for w in workers]
    print(f"\n{N_FEEDS} feeds, {WORKERS} pollers, interval {INTERVAL_S}s, {ended - began:.0f}s: {polls} polls "
          f"({per_worker} per worker), early repolls {len(early)}, overlaps {len(overlaps)}, lag p50 "
          f"{_pct(lags, 0.5) * 1000:.0f} ms / p99 {_pct(lags, 0.99) * 1000:.0f} ms / max "
          f"{max(lags, default=0) * 1000:.0f} ms over {len(lags)} polls; shortest gap {min(gaps, default=0):.2f}s")

    assert codes == [0] * WORKERS, "\n".join(tail(w.log_path) for w in workers)
    assert not overlaps, f"{len(overlaps)} overlapping fetches of one feed, e.g. {overlaps[:3]}"
    assert not early, f"{len(early)} feeds polled again within their interval, e.g. {early[:5]}"
    assert len(spans) == N_FEEDS, f"{N_FEEDS - len(spans)} feeds were never polled"
    # None starved: however busy the machine, due feeds are taken oldest first, so no feed falls more than
    # one poll behind the most-polled one (a starving feed would sit at 1 while others reach 3).
    counts = {p: sum(1 for a, _ in s if a <= ended) for p, s in spans.items()}
    starved = [p for p, n in counts.items() if n < max(counts.values()) - 1]
    assert not starved, f"{len(starved)} feeds fell behind the others, e.g. {[(p, counts[p]) for p in starved[:5]]}"
    assert all(n > 0 for n in per_worker), f"every poller took a share: {per_worker}"
    assert lags, "the lag figures were measured"
