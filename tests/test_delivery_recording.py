"""Sends are recorded in batches (``Service`` keeps them in a log written by one transaction): what crosses
the store boundary, and what happens when the process stops between a send and its record.

The notifier here is an honest channel: it keeps what was posted and, as the ``Notifier`` contract asks,
looks for the key before posting again when ``outcome_unknown`` is set. A second post shows in ``posts``.
"""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta, timezone

from bot.adapters.memory import MemoryStore
from bot.adapters.sql_store import open_store
from bot.core.models import Delivery, DeliveryStatus, FeedStatus, FeedUpdate, NewDelivery, SendResult
from bot.service import Service, ServiceConfig

LEASE_S = 30.0
DESTINATIONS = ("webhook:a", "webhook:b", "webhook:c")
PER_DESTINATION = 5


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 26, 8, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now


class Channel:
    """Posts by key; reconciles an unknown outcome by looking first. ``hold_at``: the send of this key
    waits until cancelled (a slow platform while the bot shuts down)."""

    def __init__(self, hold_at: str | None = None) -> None:
        self.posts: list[str] = []
        self.hold_at = hold_at
        self.holding = asyncio.Event()

    async def send(self, delivery: Delivery) -> SendResult:
        key = f"{delivery.destination}/{delivery.dedupe_key}"
        if delivery.outcome_unknown and key in self.posts:
            return SendResult.sent(message_ref=key)
        if key == self.hold_at:
            self.holding.set()
            await asyncio.Future()  # never posts: cancelled first
        await asyncio.sleep(0)  # a send hands the loop back, as a real one does
        self.posts.append(key)
        return SendResult.sent(message_ref=key)


class CountingStore(MemoryStore):
    """Counts the writes that record sends."""

    def __init__(self) -> None:
        super().__init__()
        self.batch_writes = 0

    async def mark_sent_many(self, sent) -> int:
        self.batch_writes += 1
        return await super().mark_sent_many(sent)


def service(store, notifier, clock) -> Service:
    return Service(store, None, None, {"webhook": notifier}, clock=clock, rng=random.Random(1),
                   config=ServiceConfig(delivery_lease_s=LEASE_S))


async def fill_outbox(store, clock) -> list[str]:
    """PER_DESTINATION rows for each destination, interleaved, created the way a poll creates them."""
    feed, _ = await store.add_feed("https://outbox.example/feed", interval_s=600, baseline=False, now=clock(),
                                   first_poll_at=clock())
    [claim] = await store.claim_due_feeds(clock(), limit=1, lease_s=60, feed_ids=[feed.id], force=True)
    rows = [NewDelivery(d, f"k{n}", "alert", {"title": f"alert {n}"})
            for n in range(PER_DESTINATION) for d in DESTINATIONS]
    update = FeedUpdate(status=FeedStatus.OK, next_poll_at=clock() + timedelta(hours=1), polled_at=clock())
    await store.finish_poll(claim, update, [], rows)
    return [f"{r.destination}/{r.dedupe_key}" for r in rows]


async def test_the_sends_of_every_destination_are_recorded_together():
    clock, channel, store = Clock(), Channel(), CountingStore()
    keys = await fill_outbox(store, clock)
    report = await service(store, channel, clock).deliver_all()
    assert report.sent == len(keys) and sorted(channel.posts) == sorted(keys)
    assert 1 <= store.batch_writes < len(keys), "a write per send is what made ten destinations queue"
    assert len(await store.list_deliveries("sent")) == len(keys)


async def test_sends_not_yet_recorded_at_a_crash_are_not_posted_again_after_the_restart(tmp_path):
    """The process dies after its sends and before their record: every row of every destination is still
    ``sending``. After the lease they come back with ``outcome_unknown`` and the channel is asked first."""
    url = f"sqlite:///{tmp_path / 'ww.db'}"
    clock, channel = Clock(), Channel()
    store = await open_store(url)
    keys = await fill_outbox(store, clock)

    class DiesBeforeRecording:  # the SQLite store, but the records of sends never reach it
        def __getattr__(self, name):
            return getattr(store, name)

        async def mark_sent_many(self, sent) -> int:
            return 0

    await service(DiesBeforeRecording(), channel, clock).deliver_all()
    await store.close()
    assert sorted(channel.posts) == sorted(keys)
    restarted = await open_store(url)
    assert {d.status for d in await restarted.list_deliveries()} == {DeliveryStatus.SENDING}

    clock.now += timedelta(seconds=LEASE_S + 1)
    report = await service(restarted, channel, clock).deliver_all()
    assert report.sent == len(keys)
    assert sorted(channel.posts) == sorted(keys), "posted twice after the restart"
    assert len(await restarted.list_deliveries("sent")) == len(keys)
    await restarted.close()


async def test_a_cancelled_pass_records_the_sends_it_made_and_nothing_is_posted_twice(tmp_path):
    """Shutdown cancels delivery while one send hangs: the sends already made are recorded before the
    pass ends (not left to the reconcile), and the restart posts the rest once."""
    url = f"sqlite:///{tmp_path / 'ww.db'}"
    clock = Clock()
    store = await open_store(url)
    keys = await fill_outbox(store, clock)
    channel = Channel(hold_at=keys[-1])
    task = asyncio.create_task(service(store, channel, clock).deliver_all())
    await channel.holding.wait()
    await asyncio.sleep(0.01)  # the other destinations finish their sends; none is recorded yet
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    recorded = {f"{d.destination}/{d.dedupe_key}" for d in await store.list_deliveries("sent")}
    assert recorded == set(channel.posts) and len(recorded) == len(keys) - 1
    await store.close()

    restarted = await open_store(url)
    clock.now += timedelta(seconds=LEASE_S + 1)
    channel.hold_at = None
    await service(restarted, channel, clock).deliver_all()
    assert sorted(channel.posts) == sorted(keys)
    assert len(await restarted.list_deliveries("sent")) == len(keys)
    await restarted.close()


async def test_a_write_cut_short_by_cancellation_is_written_again_when_the_pass_ends():
    """One busy destination fills its share of the log, so its sender writes it itself; shutdown cancels
    that write. Its rows go back to the log and the pass's last flush records them."""

    class FirstWriteHangs(MemoryStore):
        def __init__(self) -> None:
            super().__init__()
            self.writing = asyncio.Event()

        async def mark_sent_many(self, sent) -> int:
            if not self.writing.is_set():
                self.writing.set()
                await asyncio.Future()  # cancelled here
            return await super().mark_sent_many(sent)

    clock, channel, store = Clock(), Channel(), FirstWriteHangs()
    feed, _ = await store.add_feed("https://outbox.example/feed", interval_s=600, baseline=False, now=clock(),
                                   first_poll_at=clock())
    [claim] = await store.claim_due_feeds(clock(), limit=1, lease_s=60, feed_ids=[feed.id], force=True)
    update = FeedUpdate(status=FeedStatus.OK, next_poll_at=clock() + timedelta(hours=1), polled_at=clock())
    await store.finish_poll(claim, update, [], [NewDelivery("webhook:busy", f"k{n}", "alert", {}) for n in range(60)])
    task = asyncio.create_task(service(store, channel, clock).deliver_all())
    await store.writing.wait()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    recorded = sorted(f"{d.destination}/{d.dedupe_key}" for d in await store.list_deliveries("sent"))
    assert recorded == sorted(channel.posts) and recorded
