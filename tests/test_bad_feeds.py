"""Bad input gets a clear error and loses nothing.

Each row serves one kind of broken or hostile feed next to a good one, through the real fetcher, parser
and service: the broken feed's health must say what happened in words, it must be retried later (not at
once, not never), what it had stored before must still be there, and the good feed's alert must arrive.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from bot.adapters.http_fetcher import HttpFetcher
from bot.adapters.memory import MemoryStore
from bot.adapters.parse_pool import ParsePool
from bot.core.models import Delivery, FeedStatus, SendResult
from bot.core.polling import PollPolicy
from bot.service import Service, ServiceConfig
from tests.feedserver import FeedServer, unused_port

GOOD = b"""<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Good</title>
<item><title>Kupiansk: rail depot hit</title><link>https://good.example/1</link><guid>g1</guid></item>
</channel></rss>"""
BEFORE = b"""<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Flaky</title>
<item><title>Earlier report</title><link>https://flaky.example/0</link><guid>f0</guid></item>
</channel></rss>"""


def _same_guid() -> bytes:
    items = "".join(f"<item><title>Kupiansk {i}</title><link>https://flaky.example/{i}</link><guid>x</guid></item>"
                    for i in range(1, 4))
    return f'<rss version="2.0"><channel><title>Flaky</title>{items}</channel></rss>'.encode()


def _attributes(n: int) -> bytes:
    attrs = " ".join(f'a{i}="v"' for i in range(n))
    return f'<rss version="2.0"><channel><title>t</title><item {attrs}><title>x</title></item></channel></rss>'.encode()


class Recorder:
    def __init__(self):
        self.sent: list[Delivery] = []

    async def send(self, delivery: Delivery) -> SendResult:
        self.sent.append(delivery)
        return SendResult.sent()


# (id, how to serve the bad answer at /flaky.xml, words the health must contain, still failing?)
CASES = [
    ("html-page", lambda s: s.serve("/flaky.xml", b"<html><head><link rel='alternate' type='application/rss+xml'"
                                    b" href='/real.xml'></head><body>Welcome</body></html>", content_type="text/html"),
     ["not a feed", "text/html", "/real.xml"], True),
    ("empty-body", lambda s: s.serve("/flaky.xml", b""), ["empty"], True),
    ("garbage", lambda s: s.serve("/flaky.xml", bytes(range(256)) * 40), ["not a feed"], True),
    ("over-cap", lambda s: s.large("/flaky.xml", 6_000_000), ["larger than"], True),
    ("gzip-bomb", lambda s: s.gzip_bomb("/flaky.xml", 20_000_000), ["larger than"], True),
    ("trickle", lambda s: s.slow("/flaky.xml", 20), ["timed out"], True),
    ("redirect-loop", lambda s: (s.redirect("/flaky.xml", "/loop.xml", 302), s.redirect("/loop.xml", "/flaky.xml", 302)),
     ["redirect"], True),
    ("not-found", lambda s: s.status("/flaky.xml", 404), ["HTTP 404"], True),
    ("server-error", lambda s: s.status("/flaky.xml", 500), ["HTTP 500"], True),
    ("rate-limited", lambda s: s.status("/flaky.xml", 429, headers={"Retry-After": "3600"}), ["429"], True),
    ("hostile-attributes", lambda s: s.serve("/flaky.xml", _attributes(200_000)), ["attributes"], True),
    ("malformed-but-readable", lambda s: s.serve("/flaky.xml", BEFORE.replace(b"</channel></rss>", b"<item><title>Kupiansk half")),
     [], False),
    ("latin1-undeclared", lambda s: s.serve("/flaky.xml", '<rss version="2.0"><channel><title>Caf\xe9</title>'
                                            '<item><title>Kupiansk caf\xe9</title><guid>c1</guid></item></channel></rss>'
                                            .encode("latin-1"), content_type="application/xml"), [], False),
    ("same-guid-everywhere", lambda s: s.serve("/flaky.xml", _same_guid()), [], False),
]


@pytest.fixture
async def parser():
    pool = ParsePool(workers=1, timeout_s=10)
    yield pool
    await pool.close()


@pytest.mark.parametrize("case,serve_bad,words,failing", CASES, ids=[c[0] for c in CASES])
async def test_a_bad_feed_is_reported_retried_and_loses_nothing(parser, case, serve_bad, words, failing):
    now = datetime(2026, 11, 26, 8, 0, tzinfo=timezone.utc)
    fetcher = HttpFetcher(timeout_s=2, max_body_bytes=4 * 1024 * 1024, allow_private_networks=True)
    rec = Recorder()
    store = MemoryStore()
    svc = Service(store, fetcher, parser, {"console": rec}, clock=lambda: now, rng=random.Random(3),
                  config=ServiceConfig(policy=PollPolicy(min_interval_s=60)))
    try:
        async with FeedServer() as server:
            server.serve("/good.xml", GOOD)
            server.serve("/flaky.xml", BEFORE)
            good, _ = await svc.add_feed(server.url("/good.xml"), interval_s=600)
            flaky, _ = await svc.add_feed(server.url("/flaky.xml"), interval_s=600)
            await svc.poll_due_feeds(force=True)  # baselines: both feeds stored what they had
            await svc.add_watch("Kupiansk", "console")

            server.serve("/good.xml", GOOD.replace(b"</channel>", b"<item><title>Kupiansk: bridge"
                                                  b" damaged</title><link>https://good.example/2</link>"
                                                  b"<guid>g2</guid></item></channel>"))
            serve_bad(server)
            report = await svc.poll_due_feeds(force=True)
            await svc.deliver_all()
    finally:
        await fetcher.close()

    assert {r.feed_id for r in report.feeds} == {good.id, flaky.id}
    assert [d.payload["title"] for d in rec.sent if d.payload["feed_id"] == good.id] == ["Kupiansk: bridge damaged"]
    after = await store.get_feed(flaky.id)
    stored = {e.title for e in await store.recent_entries(now - timedelta(days=1))}
    assert "Earlier report" in stored, "what the feed had stored before must survive its failure"
    if failing:
        assert after.status is FeedStatus.FAILING
        for word in words:
            assert word in (after.last_error or ""), f"{case}: health says {after.last_error!r}"
        assert after.next_poll_at > now + timedelta(seconds=30), "retried politely, not at once"
        assert after.next_poll_at < now + timedelta(days=2), "retried, not abandoned"
    else:
        assert after.status is FeedStatus.OK, after.last_error
        assert any(t.startswith("Kupiansk") for t in stored)


@pytest.mark.parametrize(
    "case,url,words",
    [
        ("dns-failure", "http://no-such-host.invalid/feed.xml", ["resolve"]),
        ("connection-refused", f"http://127.0.0.1:{unused_port()}/feed.xml", ["refused"]),
    ],
    ids=["dns-failure", "connection-refused"],
)
async def test_unreachable_feeds_say_why(case, url, words):
    now = datetime(2026, 11, 26, 8, 0, tzinfo=timezone.utc)
    fetcher = HttpFetcher(timeout_s=5, allow_private_networks=True)
    store = MemoryStore()
    from bot.adapters.parse_pool import InlineParser

    svc = Service(store, fetcher, InlineParser(), {}, clock=lambda: now, rng=random.Random(3))
    try:
        feed, _ = await svc.add_feed(url, interval_s=600)
        await svc.poll_due_feeds(force=True)
    finally:
        await fetcher.close()
    after = await store.get_feed(feed.id)
    assert after.status is FeedStatus.FAILING and after.consecutive_failures == 1
    for word in words:
        assert word in after.last_error, after.last_error
