"""The pipeline end to end inside one process: real HTTP on loopback, the real parser, real stores,
and a notifier that records what crossed the boundary."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta, timezone

import pytest

from bot.adapters.http_fetcher import HttpFetcher
from bot.adapters.jsonl import JsonlNotifier
from bot.adapters.memory import MemoryStore
from bot.adapters.parse_pool import InlineParser
from bot.adapters.sql_store import open_store
from bot.core.models import Delivery, DeliveryStatus, FeedStatus, SendResult
from bot.core.polling import PollPolicy
from bot.service import Service, ServiceConfig
from tests.feedserver import FeedServer


def rss(items: list[tuple[str, str]], *, title="Test Wire", guid_prefix="g") -> bytes:
    """A small RSS 2.0 document: items are (title, link); GUIDs are derived from the link unless shared."""
    body = "".join(
        f"<item><title>{t}</title><link>{link}</link><guid isPermaLink=\"false\">{guid_prefix}:{link}</guid>"
        f"<description>{t}. Officials said more in a statement.</description>"
        f"<pubDate>Thu, 26 Nov 2026 06:{i:02d}:00 +0000</pubDate></item>"
        for i, (t, link) in enumerate(items)
    )
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{title}</title>'
            f"<link>https://example.org/</link><description>x</description>{body}</channel></rss>").encode()


class Recorder:
    """A notifier that records every delivery it is handed; scripted results for failure tests."""

    def __init__(self, script=None):
        self.sent: list[Delivery] = []
        self.script = list(script or [])

    async def send(self, delivery: Delivery) -> SendResult:
        if self.script:
            result = self.script.pop(0)
            if result.status.value != "sent":
                return result
        self.sent.append(delivery)
        return SendResult.sent(message_ref=f"m{len(self.sent)}")

    @property
    def titles(self) -> list[str]:
        return [d.payload["title"] for d in self.sent]


class Clock:
    def __init__(self):
        self.now = datetime(2026, 11, 26, 8, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
async def server():
    async with FeedServer() as srv:
        yield srv


@pytest.fixture
async def fetcher():
    f = HttpFetcher(timeout_s=5, allow_private_networks=True)
    yield f
    await f.close()


def make_service(store, fetcher, notifiers, clock=None, **config) -> Service:
    return Service(
        store, fetcher, InlineParser(), notifiers, clock=clock or Clock(), rng=random.Random(1),
        config=ServiceConfig(policy=PollPolicy(min_interval_s=1), **config),
    )


async def test_first_poll_is_a_silent_baseline_then_only_new_items_alert(server, fetcher):
    server.serve("/a.xml", rss([("Drone strike near Kupiansk", "https://ex.org/1")]))
    rec = Recorder()
    svc = make_service(MemoryStore(), fetcher, {"console": rec})
    feed, _ = await svc.add_feed(server.url("/a.xml"), interval_s=60)
    await svc.add_watch("Kupiansk", "console")

    report = await svc.poll_due_feeds(force=True)
    assert report.new_entries == 1 and report.alerts == 0
    await svc.deliver_all()
    assert rec.sent == []

    server.serve("/a.xml", rss([("Shelling in Kupiansk overnight", "https://ex.org/2"),
                                ("Drone strike near Kupiansk", "https://ex.org/1")]))
    await svc.poll_due_feeds(force=True)
    await svc.deliver_all()
    assert rec.titles == ["Shelling in Kupiansk overnight"]


async def test_no_baseline_alerts_current_items_and_only_matching_ones(server, fetcher):
    server.serve("/a.xml", rss([("Drone strike near Kupiansk", "https://ex.org/1"),
                                ("Weather in Lviv", "https://ex.org/2")]))
    rec = Recorder()
    svc = make_service(MemoryStore(), fetcher, {"console": rec})
    await svc.add_feed(server.url("/a.xml"), interval_s=60, baseline=False)
    await svc.add_watch("kupiansk AND NOT exercise", "console")
    await svc.poll_due_feeds(force=True)
    await svc.deliver_all()
    assert rec.titles == ["Drone strike near Kupiansk"]
    hit = rec.sent[0].payload["hits"][0]
    assert hit["matched_text"] == "Kupiansk"


async def test_the_same_story_in_two_feeds_is_one_alert_per_destination(server, fetcher, tmp_path):
    story = ("Bridge over the Oskil destroyed", "https://wire.example/story?utm_source=rss")
    server.serve("/a.xml", rss([story], title="Wire"))
    server.serve("/b.xml", rss([(story[0], "https://wire.example/story#top")], title="Reprint", guid_prefix="other"))
    rec = Recorder()
    svc = make_service(MemoryStore(), fetcher, {"console": rec, "jsonl": JsonlNotifier()})
    for path in ("/a.xml", "/b.xml"):
        await svc.add_feed(server.url(path), interval_s=60, baseline=False)
    await svc.add_watch("Oskil", "console")
    await svc.add_watch('"Oskil" OR Oskol', f"jsonl:{tmp_path / 'a.jsonl'}")
    await svc.poll_due_feeds(force=True)
    await svc.deliver_all()
    assert rec.titles == ["Bridge over the Oskil destroyed"]
    assert len((tmp_path / "a.jsonl").read_text().splitlines()) == 1


async def test_unchanged_feed_gets_304_and_costs_no_parse(server, fetcher):
    server.serve("/a.xml", rss([("x", "https://ex.org/1")]), etag='"v1"')
    svc = make_service(MemoryStore(), fetcher, {})
    feed, _ = await svc.add_feed(server.url("/a.xml"), interval_s=60)
    await svc.poll_due_feeds(force=True)
    report = await svc.poll_due_feeds(force=True)
    assert [f.outcome for f in report.feeds] == ["not_modified"]
    assert server.requests[-1].headers.get("if-none-match") == '"v1"'
    stored = await svc.store.get_feed(feed.id)
    assert stored.etag == '"v1"' and stored.status is FeedStatus.OK


async def test_a_broken_feed_says_what_happened_and_does_not_stop_the_others(server, fetcher):
    server.serve("/good.xml", rss([("Kupiansk update", "https://ex.org/1")]))
    server.status("/bad.xml", 500)
    server.serve("/page.html", b"<html><head><link rel='alternate' type='application/rss+xml' href='/feed.xml'>"
                               b"</head><body>Hello</body></html>", content_type="text/html")
    rec = Recorder()
    svc = make_service(MemoryStore(), fetcher, {"console": rec})
    good, _ = await svc.add_feed(server.url("/good.xml"), interval_s=60, baseline=False)
    bad, _ = await svc.add_feed(server.url("/bad.xml"), interval_s=60, baseline=False)
    page, _ = await svc.add_feed(server.url("/page.html"), interval_s=60, baseline=False)
    await svc.add_watch("Kupiansk", "console")
    await svc.poll_due_feeds(force=True)
    await svc.deliver_all()
    assert rec.titles == ["Kupiansk update"]
    bad_now = await svc.store.get_feed(bad.id)
    assert bad_now.status is FeedStatus.FAILING and "500" in bad_now.last_error
    page_now = await svc.store.get_feed(page.id)
    assert "not a feed" in page_now.last_error and server.url("/feed.xml") in page_now.last_error
    assert (await svc.store.get_feed(good.id)).status is FeedStatus.OK


async def test_every_item_with_the_same_guid_is_still_every_item(server, fetcher):
    items = "".join(
        f"<item><title>Kupiansk item {i}</title><link>https://ex.org/{i}</link><guid>same</guid></item>"
        for i in range(3)
    )
    server.serve("/a.xml", f'<rss version="2.0"><channel><title>t</title>{items}</channel></rss>'.encode())
    rec = Recorder()
    svc = make_service(MemoryStore(), fetcher, {"console": rec})
    await svc.add_feed(server.url("/a.xml"), interval_s=60, baseline=False)
    await svc.add_watch("Kupiansk", "console")
    report = await svc.poll_due_feeds(force=True)
    await svc.deliver_all()
    assert report.new_entries == 3
    assert sorted(rec.titles) == ["Kupiansk item 0", "Kupiansk item 1", "Kupiansk item 2"]


async def test_transient_failures_retry_in_order_and_permanent_ones_dead_letter(server, fetcher):
    server.serve("/a.xml", rss([(f"Kupiansk {i}", f"https://ex.org/{i}") for i in range(3)]))
    clock = Clock()
    flaky = Recorder(script=[SendResult.retry("HTTP 500 from chat", retry_after_s=30)])
    broken = Recorder(script=[SendResult.permanent("channel_not_found")] * 3)
    svc = make_service(MemoryStore(), fetcher, {"console": flaky, "jsonl": broken}, clock=clock)
    await svc.add_feed(server.url("/a.xml"), interval_s=60, baseline=False)
    await svc.add_watch("Kupiansk", "console")
    await svc.add_watch("Kupiansk", "jsonl:/nonexistent/never.jsonl")
    await svc.poll_due_feeds(force=True)

    first = await svc.deliver_all()
    assert flaky.sent == [] and first.retried == 1 and first.dead == 3
    dead = await svc.store.list_deliveries("dead")
    assert {d.last_error for d in dead} == {"channel_not_found"}

    clock.advance(10)  # before Retry-After: nothing is sent, order is held
    await svc.deliver_all()
    assert flaky.sent == []
    clock.advance(30)
    await svc.deliver_all()
    published_order = [d.payload["title"] for d in sorted(flaky.sent, key=lambda d: d.id)]
    assert flaky.titles == published_order and len(flaky.sent) == 3


async def test_unconfigured_platform_waits_in_the_outbox(server, fetcher):
    server.serve("/a.xml", rss([("Kupiansk", "https://ex.org/1")]))
    svc = make_service(MemoryStore(), fetcher, {})
    await svc.add_feed(server.url("/a.xml"), interval_s=60, baseline=False)
    await svc.add_watch("Kupiansk", "slack:C0123456789")
    await svc.poll_due_feeds(force=True)
    report = await svc.deliver_all()
    assert report.retried == 1 and "slack is not configured" in report.errors[0]
    [pending] = await svc.store.list_deliveries("pending")
    assert pending.destination == "slack:C0123456789"


async def test_a_restart_posts_nothing_twice(server, fetcher, tmp_path):
    server.serve("/a.xml", rss([("Kupiansk A", "https://ex.org/1"), ("Kupiansk B", "https://ex.org/2")]))
    url = f"sqlite:///{tmp_path / 'ww.db'}"
    rec = Recorder()
    store = await open_store(url)
    svc = make_service(store, fetcher, {"console": rec})
    await svc.add_feed(server.url("/a.xml"), interval_s=60, baseline=False)
    await svc.add_watch("Kupiansk", "console")
    await svc.poll_due_feeds(force=True)
    await svc.deliver_all()
    await store.close()
    assert len(rec.sent) == 2

    store = await open_store(url)
    svc = make_service(store, fetcher, {"console": rec})
    await svc.poll_due_feeds(force=True)
    await svc.deliver_all()
    await store.close()
    assert len(rec.sent) == 2


async def test_a_lapsed_send_is_reconciled_not_repeated(server, fetcher, tmp_path):
    """A sender died after writing but before recording: the next claim checks the file first."""
    server.serve("/a.xml", rss([("Kupiansk A", "https://ex.org/1")]))
    clock = Clock()
    path = tmp_path / "alerts.jsonl"
    svc = make_service(MemoryStore(), fetcher, {"jsonl": JsonlNotifier()}, clock=clock, delivery_lease_s=30)
    await svc.add_feed(server.url("/a.xml"), interval_s=60, baseline=False)
    await svc.add_watch("Kupiansk", f"jsonl:{path}")
    await svc.poll_due_feeds(force=True)
    [claimed] = await svc.store.claim_deliveries(clock(), limit=10, lease_s=30)
    await JsonlNotifier().send(claimed)  # written, then the process "dies" before mark_sent
    clock.advance(31)
    report = await svc.deliver_all()
    assert report.sent == 1
    assert len(path.read_text().splitlines()) == 1
    [sent] = await svc.store.list_deliveries("sent")
    assert sent.status is DeliveryStatus.SENT


async def test_a_muted_watch_records_matches_but_sends_nothing_until_the_mute_ends(server, fetcher):
    clock = Clock()
    rec = Recorder()
    svc = make_service(MemoryStore(), fetcher, {"console": rec}, clock=clock)
    server.serve("/a.xml", rss([("Kupiansk A", "https://ex.org/1")]))
    await svc.add_feed(server.url("/a.xml"), interval_s=60, baseline=False)
    watch = await svc.add_watch("Kupiansk", "console")
    await svc.mute_watch(watch.id, 3600, destination="console")
    await svc.poll_due_feeds(force=True)
    await svc.deliver_all()
    assert rec.sent == []

    clock.advance(3601)
    server.serve("/a.xml", rss([("Kupiansk B", "https://ex.org/2"), ("Kupiansk A", "https://ex.org/1")]))
    await svc.poll_due_feeds(force=True)
    await svc.deliver_all()
    assert rec.titles == ["Kupiansk B"]


class WatchListCounter:
    """The store, recording how often the watches were loaded (what crossed the boundary)."""

    def __init__(self, inner):
        self.inner = inner
        self.loads = 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    async def list_watches(self, destination=None):
        self.loads += 1
        return await self.inner.list_watches(destination)


async def test_a_watch_added_by_another_process_is_used_by_the_next_batch_and_unchanged_ones_are_not_reloaded(
    server, fetcher, tmp_path
):
    """A chat process and a poller process share the database: the poller rebuilds its matcher at its next
    batch after the chat added a watch (no restart), and does not reload the watches while none changed."""
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    poller_store, chat_store = WatchListCounter(await open_store(url)), await open_store(url)
    clock, rec = Clock(), Recorder()
    poller = make_service(poller_store, fetcher, {"console": rec}, clock=clock)
    chat = make_service(chat_store, fetcher, {}, clock=clock)
    try:
        server.serve("/a.xml", rss([("Kupiansk A", "https://ex.org/1")]))
        await chat.add_feed(server.url("/a.xml"), interval_s=60)
        await chat.add_watch("Izium", "console")
        for _ in range(3):  # the baseline, then two polls with nothing new
            await poller.poll_due_feeds(force=True)
        assert poller_store.loads == 1, "the watches were reloaded although none changed"

        await chat.add_watch("Kupiansk", "console")
        server.serve("/a.xml", rss([("Kupiansk B", "https://ex.org/2"), ("Kupiansk A", "https://ex.org/1")]))
        await poller.poll_due_feeds(force=True)
        await poller.deliver_all()
        assert rec.titles == ["Kupiansk B"]
        assert poller_store.loads == 2
    finally:
        await poller_store.inner.close()
        await chat_store.close()


class TogetherFetcher:
    """A Fetcher whose answers are all handed back at once, when the last of ``n`` requests is answered:
    the polls of a batch then finish together, as 304s from one fast server do."""

    def __init__(self, inner, n):
        self.inner, self.n, self.answered, self.all_in = inner, n, 0, asyncio.Event()

    async def fetch(self, url, **kwargs):
        result = await self.inner.fetch(url, **kwargs)
        self.answered += 1
        if self.answered == self.n:
            self.all_in.set()
        await self.all_in.wait()
        return result


class GroupFinishes:
    """The store, recording the groups of finished polls written together. With ``fail_groups``, a group of
    two or more fails, and so does the later single finish of its first feed (that feed's bad value)."""

    def __init__(self, inner, fail_groups=False):
        self.inner, self.fail_groups = inner, fail_groups
        self.groups: list[list[int]] = []
        self.bad: int | None = None

    def __getattr__(self, name):
        return getattr(self.inner, name)

    async def finish_polls(self, polls):
        self.groups.append([p.claim.feed.id for p in polls])
        if self.fail_groups and len(polls) > 1:
            self.bad = self.bad or polls[0].claim.feed.id
            raise RuntimeError("bad value")
        return await self.inner.finish_polls(polls)

    async def finish_poll(self, claim, *args):
        if claim.feed.id == self.bad:
            raise RuntimeError("bad value")
        return await self.inner.finish_poll(claim, *args)


async def feeds_answering_304(server, fetcher, store, n):
    """A service over ``n`` feeds polled once (baseline), so that the next poll of each is a 304."""
    svc = make_service(store, fetcher, {})
    for i in range(n):
        server.serve(f"/{i}.xml", rss([(f"item {i}", f"https://ex.org/{i}")]), etag=f'"{i}"')
        await svc.add_feed(server.url(f"/{i}.xml"), interval_s=60)
    await svc.poll_due_feeds(force=True)
    svc.fetcher = TogetherFetcher(fetcher, n)
    return svc


async def test_polls_finishing_together_are_written_together(server, fetcher, tmp_path):
    """Group commit: while one finished poll is being written, the others that finish queue up and are
    written in one transaction, not one each (a commit per feed made every 304 wait for SQLite)."""
    store = GroupFinishes(await open_store(f"sqlite:///{tmp_path / 'groups.db'}"))
    try:
        svc = await feeds_answering_304(server, fetcher, store, 10)
        store.groups.clear()
        report = await svc.poll_due_feeds(force=True)
        assert [f.outcome for f in report.feeds] == ["not_modified"] * 10
        assert sorted(i for g in store.groups for i in g) == sorted(f.feed_id for f in report.feeds)
        assert len(store.groups) == 1, f"the batch's polls were not written in one commit: {store.groups}"
        assert {f.status for f in await store.list_feeds()} == {FeedStatus.OK}
    finally:
        await store.inner.close()


async def test_a_slow_feed_holds_back_the_write_of_its_batch_only_briefly(server, fetcher, tmp_path):
    """The writer waits for the rest of the batch only a moment: a feed whose server hangs does not keep
    the others' results (and alerts) unwritten until it answers."""
    store = GroupFinishes(await open_store(f"sqlite:///{tmp_path / 'groups.db'}"))
    try:
        svc = await feeds_answering_304(server, fetcher, store, 2)
        store.groups.clear()
        answer = asyncio.Event()

        class OneHangs:
            async def fetch(self, url, **kwargs):
                if url.endswith("/1.xml"):
                    await answer.wait()
                return await fetcher.fetch(url, **kwargs)

        svc.fetcher = OneHangs()
        polling = asyncio.create_task(svc.poll_due_feeds(force=True))

        async def first_written():
            while not store.groups:
                await asyncio.sleep(0.01)

        await asyncio.wait_for(first_written(), 5)
        answer.set()
        report = await polling
        assert [f.outcome for f in report.feeds] == ["not_modified"] * 2
        assert len(store.groups) == 2
    finally:
        await store.inner.close()


async def test_a_group_that_fails_is_written_poll_by_poll_so_only_the_bad_feed_fails(server, fetcher, tmp_path):
    store = GroupFinishes(await open_store(f"sqlite:///{tmp_path / 'groups.db'}"))
    try:
        svc = await feeds_answering_304(server, fetcher, store, 10)
        store.fail_groups = True
        report = await svc.poll_due_feeds(force=True)
        assert store.bad is not None, "no group formed"
        outcomes = {f.feed_id: f.outcome for f in report.feeds}
        assert outcomes.pop(store.bad) == "internal error"
        assert set(outcomes.values()) == {"not_modified"}
        free = await store.claim_due_feeds(svc.clock(), limit=10, lease_s=60, force=True)
        assert sorted(c.feed.id for c in free) == sorted(outcomes), "only the bad feed's finish was not written"
    finally:
        await store.inner.close()


async def test_polling_many_feeds_at_once_works_in_batches(server, fetcher, tmp_path):
    """`poll --force` on a large install: batches keep leases short and database connections free."""
    store = await open_store(f"sqlite:///{tmp_path / 'many.db'}")
    svc = make_service(store, fetcher, {}, poll_batch=20)
    for i in range(70):
        server.serve(f"/{i}.xml", rss([(f"item {i}", f"https://ex.org/{i}")]))
        await svc.add_feed(server.url(f"/{i}.xml"), interval_s=60)
    report = await svc.poll_due_feeds(force=True)
    await store.close()
    assert len(report.feeds) == 70 and report.new_entries == 70
    assert {f.outcome for f in report.feeds} == {"modified"}
