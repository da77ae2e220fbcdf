"""Sourcing and corroboration through the whole service: the alert carries the sourcing line, copies of
one wire story are one alert and no follow-up, an independent confirmation is one threaded follow-up,
and a restart keeps the story (the next confirmation is a follow-up, not a new alert)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from xml.sax.saxutils import escape

import pytest

from bot.adapters.http_fetcher import HttpFetcher
from bot.adapters.lexicons import load_lexicons
from bot.adapters.parse_pool import InlineParser
from bot.adapters.sql_store import open_store
from bot.core.models import Delivery, SendResult
from bot.core.polling import PollPolicy
from bot.service import Service, ServiceConfig
from tests.feedserver import FeedServer

WIRE_TITLE = "Glide bomb hits Kupiansk apartment block, wounding 7"
WIRE = (
    "KYIV, Ukraine (AP) — A Russian glide bomb hit an apartment block in Kupiansk on Tuesday, wounding 7 "
    "people, Kharkiv Governor Oleh Syniehubov said. \"The building is partly destroyed and people are still "
    "under the rubble,\" Syniehubov told reporters. The Ukrainian General Staff said in a statement that 14 "
    "Russian attacks were repelled near the city overnight."
)
INDEPENDENT_TITLE = "Seven wounded as bomb hits five-storey building in Kupiansk"
INDEPENDENT = (
    "Seven people were wounded in Kupiansk when a Russian aerial bomb hit a five-storey building, the head of "
    "the city military administration Andriy Besedin told Suspilne. Our correspondent saw rescuers clearing "
    "rubble in the courtyard. Police said in a statement that a criminal investigation had been opened."
)
THIRD_TITLE = "Russian guided bomb strikes Kupiansk apartment block, seven wounded"
THIRD = (
    "KUPIANSK (Reuters) - A Russian guided bomb struck an apartment block in Kupiansk on Tuesday, wounding "
    "seven people, regional prosecutors said in a statement. Prosecutor Ivan Marchenko said the bomb was a "
    "FAB-500. A Reuters witness saw firefighters at the scene."
)


def rss(title: str, items: list[tuple[str, str, str]]) -> bytes:
    body = "".join(
        f"<item><title>{escape(t)}</title><link>{link}</link><guid>{link}</guid>"
        f"<description>{escape(text)}</description><pubDate>Tue, 03 Mar 2026 08:{i:02d}:00 +0000</pubDate></item>"
        for i, (t, link, text) in enumerate(items)
    )
    return f'<rss version="2.0"><channel><title>{title}</title>{body}</channel></rss>'.encode()


class Recorder:
    def __init__(self):
        self.sent: list[Delivery] = []

    async def send(self, delivery: Delivery) -> SendResult:
        self.sent.append(delivery)
        return SendResult.sent(message_ref=f"ts-{len(self.sent)}")


@pytest.fixture(scope="module")
def lexicons():
    return load_lexicons()


@pytest.fixture
async def fetcher():
    f = HttpFetcher(timeout_s=5, allow_private_networks=True)
    yield f
    await f.close()


def service(store, fetcher, notifiers, lexicons, clock):
    return Service(store, fetcher, InlineParser(), notifiers, clock=clock, rng=random.Random(5), lexicons=lexicons,
                   config=ServiceConfig(policy=PollPolicy(min_interval_s=1)))


async def test_alerts_carry_sourcing_and_confirmations_arrive_as_one_threaded_follow_up(
    tmp_path, fetcher, lexicons
):
    now = [datetime(2026, 3, 3, 9, 0, tzinfo=timezone.utc)]
    clock = lambda: now[0]  # noqa: E731
    rec = Recorder()
    url = f"sqlite:///{tmp_path / 'ww.db'}"
    async with FeedServer() as server:
        server.serve("/wire.xml", rss("Wire Service", [(WIRE_TITLE, "https://wire.example/1", WIRE)]))
        server.serve("/copy.xml", rss("Daily Reprint", []))
        server.serve("/local.xml", rss("Suspilne Kharkiv", []))
        server.serve("/third.xml", rss("Reuters", []))
        store = await open_store(url)
        svc = service(store, fetcher, {"console": rec}, lexicons, clock)
        for path in ("/wire.xml", "/copy.xml", "/local.xml", "/third.xml"):
            await svc.add_feed(server.url(path), interval_s=60, baseline=False)
        await svc.add_watch("Kupiansk", "console")
        await svc.poll_due_feeds(force=True)
        await svc.deliver_all()

        [alert] = rec.sent
        assert alert.kind == "alert" and alert.payload["title"] == WIRE_TITLE
        assert alert.payload["grade"] in ("strong", "moderate")
        assert alert.payload["sourcing"].startswith(("Strong sourcing", "Moderate sourcing"))
        assert alert.payload["corroboration"] == "not yet corroborated"

        # A reprint of the wire story on another site: the same story, no new alert, no follow-up.
        now[0] += timedelta(minutes=10)
        server.serve("/copy.xml", rss("Daily Reprint", [(WIRE_TITLE, "https://reprint.example/a", WIRE)]))
        await svc.poll_due_feeds(force=True)
        await svc.deliver_all()
        assert len(rec.sent) == 1

        # An independent report: one follow-up, in the alert's thread.
        now[0] += timedelta(minutes=10)
        server.serve("/local.xml", rss("Suspilne Kharkiv", [(INDEPENDENT_TITLE, "https://suspilne.example/k", INDEPENDENT)]))
        await svc.poll_due_feeds(force=True)
        await svc.deliver_all()
        assert [d.kind for d in rec.sent] == ["alert", "followup"]
        follow = rec.sent[1]
        assert follow.payload["parent_key"] == alert.dedupe_key
        assert follow.payload["thread_ref"] == "ts-1"
        assert "corroborated by 2 independent outlets" in follow.payload["text"]
        await store.close()

        # After a restart the story is still the same story: a third origin is a second follow-up.
        store = await open_store(url)
        svc = service(store, fetcher, {"console": rec}, lexicons, clock)
        now[0] += timedelta(minutes=10)
        server.serve("/third.xml", rss("Reuters", [(THIRD_TITLE, "https://reuters.example/k", THIRD)]))
        await svc.poll_due_feeds(force=True)
        await svc.deliver_all()
        await svc.poll_due_feeds(force=True)
        await svc.deliver_all()
        await store.close()
    assert [d.kind for d in rec.sent] == ["alert", "followup", "followup"]
    assert "corroborated by 3 independent outlets" in rec.sent[2].payload["text"]


async def test_rebuilding_the_story_index_at_start_hands_the_event_loop_back(tmp_path, lexicons):
    """The first poll after a start places every stored entry of the window into the story index (a few ms
    each: minutes for 100,000). Meanwhile the rest of the bot must go on (Slack wants its ack within 3 s):
    another task gets to run again and again during the rebuild, and the rebuild still places everything."""
    import asyncio

    from bot.core.models import Entry, FeedStatus, FeedUpdate
    from bot.service import SYNC_YIELD_EVERY

    store = await open_store(f"sqlite:///{tmp_path / 'stories.db'}")
    when = datetime(2026, 3, 3, 8, tzinfo=timezone.utc)
    try:
        feed, _ = await store.add_feed("https://wire.example/feed", interval_s=600, baseline=False, now=when,
                                       first_poll_at=when, title="Wire", outlet="Northern Wire")
        count = SYNC_YIELD_EVERY * 6
        entries = [Entry(feed_id=0, identity=f"e{i}", title=f"Bridge {i} repaired near Oskil river crossing {i}",
                         summary=f"Crews repaired bridge number {i} on the Oskil overnight.",
                         url=f"https://wire.example/{i}", story_key=f"story:s{i}", fetched_at=when)
                   for i in range(count)]
        [claim] = await store.claim_due_feeds(when, limit=1, lease_s=60, feed_ids=[feed.id], force=True)
        await store.finish_poll(claim, FeedUpdate(status=FeedStatus.OK, next_poll_at=when + timedelta(hours=1),
                                                  polled_at=when), entries, [], [])
        svc = service(store, None, {}, lexicons, lambda: when + timedelta(minutes=1))
        during = 0  # turns the other task got while the index was partly built
        sync = asyncio.ensure_future(svc._desk.sync(when + timedelta(minutes=1)))
        while not sync.done():
            during += 0 < len(svc._desk.index) < count
            await asyncio.sleep(0)
        await sync
        assert during >= count // SYNC_YIELD_EVERY - 1  # it ran between the chunks, not only before and after
        assert len(svc._desk.index) == count
        # a story keeps the key its entries were stored with (the alias), so alert keys do not change
        assert svc._desk._story_id("story:s0") is not None
    finally:
        await store.close()


class FeedReads:
    """The store, counting how often every feed was read (what crossed the boundary)."""

    def __init__(self, inner):
        self.inner = inner
        self.reads = 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    async def list_feeds(self):
        self.reads += 1
        return await self.inner.list_feeds()


async def test_the_story_desk_reads_the_feeds_only_for_an_entry_of_a_feed_it_cannot_name(tmp_path, fetcher, lexicons):
    """The desk syncs every poll batch; reading every feed each time took 370 ms on 10,000 feeds. It reads
    them at the first sync and again only when an entry comes from a feed it has not read, or read before
    the feed had a name (an outlet, or the title its first poll gives it)."""
    now = [datetime(2026, 3, 3, 9, 0, tzinfo=timezone.utc)]
    store = FeedReads(await open_store(f"sqlite:///{tmp_path / 'ww.db'}"))
    reads = []
    try:
        async with FeedServer() as server:
            server.serve("/wire.xml", rss("Wire Service", [(WIRE_TITLE, "https://wire.example/1", WIRE)]))
            server.serve("/local.xml", rss("Suspilne Kharkiv", [(INDEPENDENT_TITLE, "https://suspilne.example/k",
                                                                 INDEPENDENT)]))
            svc = service(store, fetcher, {}, lexicons, lambda: now[0])

            async def poll(feed) -> None:
                await svc.poll_due_feeds(feed_ids=[feed.id])  # by id: a forced poll of all would read the feeds
                reads.append(store.reads)
                now[0] += timedelta(minutes=1)

            wire, _ = await svc.add_feed(server.url("/wire.xml"), interval_s=60, baseline=False)
            for _ in range(3):
                await poll(wire)
            local, _ = await svc.add_feed(server.url("/local.xml"), interval_s=60, baseline=False)
            for _ in range(2):
                await poll(local)
            assert svc._desk._outlets[local.id] == "Suspilne Kharkiv"
    finally:
        await store.inner.close()
    # first sync; the wire's entry (read before its first poll named it); nothing new; the new feed's entry
    assert reads == [1, 2, 2, 2, 3]
