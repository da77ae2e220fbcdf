"""One contract suite for every Store: MemoryStore, SqlStore on SQLite, SqlStore on PostgreSQL.

The ``store`` fixture (tests/conftest.py) runs each test against all three, each fresh and empty. Time is
passed in: ``at(seconds)`` is a fixed instant plus an offset, so leases lapse by arithmetic, not by sleeping.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.core.models import (
    DeliveryStatus,
    Entry,
    FeedStatus,
    FeedUpdate,
    FinishedPoll,
    NewDelivery,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
LEASE = 120.0


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def entry(identity: str, title: str = "", **kw) -> Entry:
    return Entry(feed_id=0, identity=identity, title=title or f"Title {identity}", **kw)


def ok(polled_s: float = 0, next_s: float = 600, **kw) -> FeedUpdate:
    return FeedUpdate(status=FeedStatus.OK, next_poll_at=at(next_s), polled_at=at(polled_s), **kw)


def alert(destination: str, key: str, **payload) -> NewDelivery:
    return NewDelivery(destination=destination, dedupe_key=key, kind="alert", payload=payload or {"k": key})


async def add(store, url: str, *, due_s: float = 0, interval_s: int = 600):
    feed, _ = await store.add_feed(url, interval_s=interval_s, baseline=True, now=T0, first_poll_at=at(due_s))
    return feed


async def poll(store, feed, entries=(), deliveries=(), now_s: float = 0, matches=()):
    """Claim this one feed (forced) and finish it with the given entries and deliveries."""
    [claim] = await store.claim_due_feeds(at(now_s), limit=1, lease_s=LEASE, feed_ids=[feed.id], force=True)
    return await store.finish_poll(claim, ok(now_s, now_s + 600), list(entries), list(deliveries), list(matches))


async def outbox(store, *pairs: tuple[str, str]) -> None:
    """Create outbox rows, in this order, through a poll (the only way the Protocol makes them)."""
    feed = await add(store, "https://outbox.example/feed")
    await poll(store, feed, deliveries=[alert(d, k) for d, k in pairs])


async def mark_sent(store, delivery, *, message_ref, now) -> None:
    """Record one send, as the service's batched writer does."""
    await store.mark_sent_many([dataclasses.replace(delivery, message_ref=message_ref, sent_at=now)])


def keys(deliveries) -> list[tuple[str, str]]:
    return [(d.destination, d.dedupe_key) for d in deliveries]


# ---- feeds --------------------------------------------------------------------------------------------


async def test_add_feed_is_idempotent_on_url(store):
    first, new1 = await store.add_feed(
        "https://a.example/rss", interval_s=300, baseline=True, now=T0, first_poll_at=T0, title="A", outlet="Ao"
    )
    second, new2 = await store.add_feed(
        "https://a.example/rss", interval_s=900, baseline=False, now=at(5), first_poll_at=at(5), title="other"
    )
    assert (new1, new2) == (True, False)
    assert second == first
    assert (first.title, first.outlet, first.interval_s, first.status, first.baseline_pending) == (
        "A", "Ao", 300, FeedStatus.NEW, True,
    )
    assert [f.id for f in await store.list_feeds()] == [first.id]
    assert await store.get_feed(first.id) == first
    assert await store.get_feed(first.id + 999) is None


async def test_claims_only_due_feeds_oldest_first(store):
    late = await add(store, "https://late.example/feed", due_s=60)
    early = await add(store, "https://early.example/feed", due_s=-60)
    now_due = await add(store, "https://now.example/feed", due_s=0)
    claims = await store.claim_due_feeds(at(0), limit=10, lease_s=LEASE)
    assert sorted(c.feed.id for c in claims) == sorted([early.id, now_due.id])
    assert all(c.feed.next_poll_at == at(LEASE) for c in claims), "the lease pushes next_poll_at forward"
    assert len({c.token for c in claims}) == 1 and claims[0].token
    [later] = await store.claim_due_feeds(at(61), limit=10, lease_s=LEASE)
    assert later.feed.id == late.id


async def test_limit_takes_the_longest_overdue(store):
    feeds = [await add(store, f"https://f{i}.example/feed", due_s=-i) for i in range(5)]
    claims = await store.claim_due_feeds(at(0), limit=2, lease_s=LEASE)
    assert sorted(c.feed.id for c in claims) == sorted([feeds[4].id, feeds[3].id])


async def test_claimed_feed_is_not_claimed_again_until_the_lease_lapses(store):
    feed = await add(store, "https://a.example/feed")
    [claim] = await store.claim_due_feeds(at(0), limit=10, lease_s=LEASE)
    assert await store.claim_due_feeds(at(1), limit=10, lease_s=LEASE) == []
    assert await store.claim_due_feeds(at(LEASE - 1), limit=10, lease_s=LEASE) == []
    assert await store.claim_due_feeds(at(1), limit=10, lease_s=LEASE, force=True) == [], "force respects leases"
    [again] = await store.claim_due_feeds(at(LEASE), limit=10, lease_s=LEASE)
    assert again.feed.id == feed.id and again.token != claim.token


async def test_a_stale_claim_cannot_finish_after_the_lease_was_taken_over(store):
    feed = await add(store, "https://a.example/feed")
    [stale] = await store.claim_due_feeds(at(0), limit=1, lease_s=LEASE)
    [fresh] = await store.claim_due_feeds(at(LEASE + 1), limit=1, lease_s=LEASE)

    result = await store.finish_poll(
        stale, ok(130, 9999, etag='"stale"', baseline_done=True), [entry("a")], [alert("console", "a")],
        [("a", 1, "[]")],
    )
    assert result is None
    assert await store.known_identities(feed.id, ["a"]) == set()
    assert await store.list_deliveries() == []
    unchanged = await store.get_feed(feed.id)
    assert (unchanged.status, unchanged.etag, unchanged.baseline_pending) == (FeedStatus.NEW, None, True)

    stored = await store.finish_poll(fresh, ok(130, 730, etag='"fresh"'), [entry("a")], [alert("console", "a")])
    assert [e.identity for e in stored] == ["a"]
    assert (await store.get_feed(feed.id)).etag == '"fresh"'


async def test_finish_polls_writes_a_group_in_one_go_each_poll_fenced_on_its_own(store):
    """A batch of polls finished together: a 304, a poll with new entries, matches and an alert, and a
    poll whose lease another poller took over. The stale one writes nothing; the others are all written."""
    quiet, busy, taken = [await add(store, f"https://{n}.example/feed") for n in ("quiet", "busy", "taken")]
    claims = {c.feed.id: c for c in await store.claim_due_feeds(at(0), limit=3, lease_s=LEASE)}
    [fresh] = await store.claim_due_feeds(at(LEASE + 1), limit=1, lease_s=LEASE, feed_ids=[taken.id], force=True)
    results = await store.finish_polls([
        FinishedPoll(claims[quiet.id], ok(5, 600, etag='"q"')),
        FinishedPoll(claims[busy.id], ok(5, 700, etag='"b"', baseline_done=True), (entry("a"), entry("b")),
                     (alert("console", "a"),), (("a", 7, "[]"),)),
        FinishedPoll(claims[taken.id], ok(5, 9999, etag='"stale"'), (entry("x"),), (alert("console", "x"),)),
    ])
    assert results[0] == [] and results[2] is None
    assert [e.identity for e in results[1]] == ["a", "b"] and all(e.id for e in results[1])
    assert ((await store.get_feed(quiet.id)).etag, (await store.get_feed(busy.id)).etag) == ('"q"', '"b"')
    assert (await store.get_feed(busy.id)).entries_seen == 2
    assert keys(await store.list_deliveries()) == [("console", "a")], "the stale poll's alert is not written"
    assert await store.known_identities(taken.id, ["x"]) == set()
    assert (await store.get_feed(taken.id)).etag is None
    assert await store.finish_poll(fresh, ok(130, 730, etag='"fresh"'), [entry("x")], []) is not None
    assert await store.claim_due_feeds(at(599), limit=3, lease_s=LEASE) == [], "the written polls ended their leases"
    assert [c.feed.id for c in await store.claim_due_feeds(at(600), limit=3, lease_s=LEASE)] == [quiet.id]
    assert await store.finish_polls([]) == []


async def test_finish_polls_of_feed_updates_only_are_fenced_one_by_one(store):
    """A group of 304s and errors (nothing but the feed row to write, in two shapes of update), one of them
    stale: each current one gets exactly its own update, the stale one writes nothing."""
    a, b, c, stale = [await add(store, f"https://{n}.example/feed") for n in ("a", "b", "c", "stale")]
    claims = {k.feed.id: k for k in await store.claim_due_feeds(at(0), limit=4, lease_s=LEASE)}
    [fresh] = await store.claim_due_feeds(at(LEASE + 1), limit=1, lease_s=LEASE, feed_ids=[stale.id], force=True)
    failing = FeedUpdate(status=FeedStatus.FAILING, next_poll_at=at(900), polled_at=at(5), last_error="HTTP 500",
                         consecutive_failures=1, failing_since=at(5))
    results = await store.finish_polls([
        FinishedPoll(claims[a.id], ok(5, 600, etag='"a"')),
        FinishedPoll(claims[stale.id], ok(5, 9999, etag='"stale"')),
        FinishedPoll(claims[b.id], failing),
        FinishedPoll(claims[c.id], ok(5, 700, etag='"c"')),
        FinishedPoll(claims[c.id], ok(5, 9999, etag='"twice"')),
    ])
    assert results == [[], None, [], [], None], "a spent claim cannot finish twice"
    got = {f.id: f for f in await store.list_feeds()}
    assert (got[a.id].etag, got[a.id].next_poll_at, got[a.id].status) == ('"a"', at(600), FeedStatus.OK)
    assert (got[b.id].last_error, got[b.id].status, got[b.id].etag, got[b.id].failing_since) == (
        "HTTP 500", FeedStatus.FAILING, None, at(5))
    assert (got[c.id].etag, got[c.id].next_poll_at) == ('"c"', at(700))
    assert (got[stale.id].etag, got[stale.id].next_poll_at) == (None, at(2 * LEASE + 1)), "the new lease stands"
    assert await store.finish_poll(fresh, ok(130, 730), [], []) == []
    assert await store.claim_due_feeds(at(599), limit=4, lease_s=LEASE) == []


async def test_finish_polls_is_all_or_nothing_for_the_group(store):
    """One bad value (a naive datetime) in the group: nothing of any poll is written, every lease stays."""
    good, bad = await add(store, "https://good.example/feed"), await add(store, "https://bad.example/feed")
    claims = {c.feed.id: c for c in await store.claim_due_feeds(at(0), limit=2, lease_s=LEASE)}
    with pytest.raises(ValueError):
        await store.finish_polls([
            FinishedPoll(claims[good.id], ok(5, 600, etag='"g"'), (entry("a"),), (alert("console", "a"),)),
            FinishedPoll(claims[bad.id], ok(5, 600), (entry("b", published=datetime(2025, 3, 1, 12, 0)),)),
        ])
    assert (await store.get_feed(good.id)).etag is None
    assert await store.known_identities(good.id, ["a"]) == set() and await store.list_deliveries() == []
    assert await store.claim_due_feeds(at(1), limit=2, lease_s=LEASE) == [], "the leases still run"
    assert await store.finish_polls([FinishedPoll(claims[good.id], ok(5, 600, etag='"g"'))]) == [[]]


async def test_finish_poll_writes_the_update_and_ends_the_lease(store):
    feed = await add(store, "https://a.example/feed")
    [claim] = await store.claim_due_feeds(at(0), limit=1, lease_s=LEASE)
    update = FeedUpdate(
        status=FeedStatus.OK, next_poll_at=at(600), polled_at=at(3), title="Desk", etag='W/"1"',
        last_modified="Sat, 01 Mar 2025 11:00:00 GMT", last_success_at=at(3), baseline_done=True,
    )
    assert await store.finish_poll(claim, update, [entry("a"), entry("b")], []) is not None
    done = await store.get_feed(feed.id)
    assert (done.status, done.title, done.etag, done.last_modified) == (
        FeedStatus.OK, "Desk", 'W/"1"', "Sat, 01 Mar 2025 11:00:00 GMT",
    )
    assert (done.next_poll_at, done.last_polled_at, done.last_success_at) == (at(600), at(3), at(3))
    assert (done.baseline_pending, done.entries_seen) == (False, 2)
    assert await store.finish_poll(claim, update, [], []) is None, "a finished claim is spent"
    assert await store.claim_due_feeds(at(599), limit=1, lease_s=LEASE) == []
    assert len(await store.claim_due_feeds(at(600), limit=1, lease_s=LEASE)) == 1


async def test_failure_update_keeps_validators_and_records_the_error(store):
    feed = await add(store, "https://a.example/feed")
    await poll(store, feed, [entry("a")])
    [claim] = await store.claim_due_feeds(at(700), limit=1, lease_s=LEASE, force=True)
    await store.finish_poll(claim, ok(700, 800, etag='"e"'), [], [])
    [claim] = await store.claim_due_feeds(at(900), limit=1, lease_s=LEASE, force=True)
    failing = FeedUpdate(
        status=FeedStatus.FAILING, next_poll_at=at(1000), polled_at=at(900), last_error="timed out after 30 s",
        consecutive_failures=1, failing_since=at(900),
    )
    await store.finish_poll(claim, failing, [], [])
    got = await store.get_feed(feed.id)
    assert (got.status, got.etag, got.last_error, got.consecutive_failures, got.failing_since) == (
        FeedStatus.FAILING, '"e"', "timed out after 30 s", 1, at(900),
    )
    [claim] = await store.claim_due_feeds(at(1000), limit=1, lease_s=LEASE)
    recovered = ok(1000, 1600, clear_error=True, clear_failing_since=True, clear_validators=True,
                   url="https://moved.example/feed")
    await store.finish_poll(claim, recovered, [], [])
    got = await store.get_feed(feed.id)
    assert (got.status, got.etag, got.last_error, got.failing_since, got.url, got.consecutive_failures) == (
        FeedStatus.OK, None, None, None, "https://moved.example/feed", 0,
    )


async def test_finish_poll_returns_only_new_entries_with_ids(store):
    feed = await add(store, "https://a.example/feed")
    first = await poll(store, feed, [entry("a"), entry("b"), entry("a", "repeat in one body")])
    assert [e.identity for e in first] == ["a", "b"]
    assert first[0].title == "Title a", "a repeated identity keeps its first occurrence"
    assert all(e.id is not None and e.feed_id == feed.id for e in first)
    assert len({e.id for e in first}) == 2
    assert await poll(store, feed, [entry("a"), entry("b"), entry("c")], now_s=700) != []
    assert await poll(store, feed, [entry("a"), entry("b"), entry("c")], now_s=1400) == []
    assert await store.known_identities(feed.id, ["a", "c", "zzz"]) == {"a", "c"}
    assert (await store.get_feed(feed.id)).entries_seen == 3


async def test_same_identity_in_two_feeds_is_two_entries(store):
    one = await add(store, "https://one.example/feed")
    two = await add(store, "https://two.example/feed")
    [a1] = await poll(store, one, [entry("urn:same")])
    [a2] = await poll(store, two, [entry("urn:same")])
    assert a1.id != a2.id and (a1.feed_id, a2.feed_id) == (one.id, two.id)
    assert await store.known_identities(one.id, ["urn:same"]) == {"urn:same"}
    assert len(await store.recent_entries(T0)) == 2


async def test_deliveries_are_unique_per_destination_and_key_across_polls_and_feeds(store):
    one = await add(store, "https://one.example/feed")
    two = await add(store, "https://two.example/feed")
    await poll(store, one, [entry("a")], [alert("slack:C1", "story-1"), alert("slack:C1", "story-1")])
    await poll(store, one, [entry("b")], [alert("slack:C1", "story-1"), alert("slack:C2", "story-1")], now_s=700)
    await poll(store, two, [entry("a")], [alert("slack:C1", "story-1"), alert("slack:C1", "story-2")])
    rows = await store.list_deliveries()
    assert sorted(keys(rows)) == [("slack:C1", "story-1"), ("slack:C1", "story-2"), ("slack:C2", "story-1")]
    first = next(d for d in rows if keys([d]) == [("slack:C1", "story-1")])
    assert (first.kind, dict(first.payload), first.status, first.attempts) == (
        "alert", {"k": "story-1"}, DeliveryStatus.PENDING, 0,
    )


async def test_retired_feeds_are_never_claimed(store):
    feed = await add(store, "https://gone.example/feed")
    [claim] = await store.claim_due_feeds(at(0), limit=1, lease_s=LEASE)
    gone = FeedUpdate(status=FeedStatus.RETIRED, next_poll_at=at(1), polled_at=at(0), last_error="410 Gone")
    await store.finish_poll(claim, gone, [], [])
    for kwargs in ({}, {"force": True}, {"force": True, "feed_ids": [feed.id]}, {"feed_ids": [feed.id]}):
        assert await store.claim_due_feeds(at(10_000), limit=10, lease_s=LEASE, **kwargs) == [], kwargs


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        pytest.param({}, {"due"}, id="due-only"),
        pytest.param({"force": True}, {"due", "later-1", "later-2"}, id="force-all"),
        pytest.param({"force": True, "feed_ids": ["later-2"]}, {"later-2"}, id="force-named"),
        pytest.param({"feed_ids": ["later-2", "due"]}, {"due"}, id="named-but-due-only"),
        pytest.param({"feed_ids": []}, set(), id="no-names"),
    ],
)
async def test_force_and_feed_ids(store, kwargs, expected):
    feeds = {
        "due": await add(store, "https://due.example/feed", due_s=0),
        "later-1": await add(store, "https://l1.example/feed", due_s=3600),
        "later-2": await add(store, "https://l2.example/feed", due_s=7200),
    }
    if "feed_ids" in kwargs:
        kwargs = {**kwargs, "feed_ids": [feeds[n].id for n in kwargs["feed_ids"]]}
    claims = await store.claim_due_feeds(at(0), limit=10, lease_s=LEASE, **kwargs)
    by_id = {f.id: n for n, f in feeds.items()}
    assert {by_id[c.feed.id] for c in claims} == expected


async def test_remove_feed_removes_its_entries(store):
    feed = await add(store, "https://a.example/feed")
    other = await add(store, "https://b.example/feed")
    await poll(store, feed, [entry("a"), entry("b")], [alert("console", "a")], matches=[("a", 1, '["x"]')])
    await poll(store, other, [entry("c")])
    assert await store.remove_feed(feed.id) is True
    assert await store.remove_feed(feed.id) is False
    assert await store.get_feed(feed.id) is None
    assert await store.known_identities(feed.id, ["a", "b"]) == set()
    assert [e.identity for e in await store.recent_entries(T0)] == ["c"]
    again, new = await store.add_feed("https://a.example/feed", interval_s=60, baseline=True, now=T0, first_poll_at=T0)
    assert new and again.id != feed.id and again.entries_seen == 0


async def test_recent_entries_since_and_limit(store):
    feed = await add(store, "https://a.example/feed")
    await poll(store, feed, [entry("old")], now_s=0)
    await poll(store, feed, [entry("mid")], now_s=700)
    await poll(store, feed, [entry("new")], now_s=1400)
    assert [e.identity for e in await store.recent_entries(at(700))] == ["mid", "new"]
    assert [e.identity for e in await store.recent_entries(T0, limit=2)] == ["mid", "new"]
    [newest] = await store.recent_entries(at(1400))
    assert (newest.feed_id, newest.fetched_at, newest.title) == (feed.id, at(1400), "Title new")


# ---- watches ------------------------------------------------------------------------------------------


async def test_watches_add_list_remove(store):
    w1 = await store.add_watch("place:Kupiansk", "slack:C1", created_by="U1", now=T0)
    w2 = await store.add_watch('"Oskil river" OR Oskol', "discord:9", created_by="U2", now=at(1))
    w3 = await store.add_watch("drone", "slack:C1", created_by="U1", now=at(2))
    assert (w1.query, w1.destination, w1.created_by, w1.created_at, w1.muted_until) == (
        "place:Kupiansk", "slack:C1", "U1", T0, None,
    )
    assert len({w1.id, w2.id, w3.id}) == 3
    assert await store.list_watches() == [w1, w2, w3]
    assert await store.list_watches("slack:C1") == [w1, w3]
    assert await store.list_watches("slack:nobody") == []
    assert await store.remove_watch(w1.id) is True
    assert await store.remove_watch(w1.id) is False
    assert await store.list_watches("slack:C1") == [w3]


async def test_watch_mute_is_set_and_cleared(store):
    w = await store.add_watch("drone", "slack:C1", created_by="U1", now=T0)
    assert await store.set_watch_muted(w.id, at(7200)) is True
    [muted] = await store.list_watches()
    assert muted.muted_until == at(7200)
    assert await store.set_watch_muted(w.id, None) is True
    assert (await store.list_watches())[0].muted_until is None
    assert await store.set_watch_muted(w.id + 100, at(1)) is False


async def test_the_watch_generation_moves_with_every_watch_change_and_only_then(store):
    """Pollers reload the watches only when this number moved: every change must move it, and reads and
    changes that change nothing should not (each move costs every poller a reload)."""
    seen = [await store.watch_generation()]

    async def moved() -> bool:
        seen.append(await store.watch_generation())
        return seen[-1] != seen[-2]

    w = await store.add_watch("drone", "slack:C1", created_by="U1", now=T0)
    assert await moved(), "add_watch"
    await store.list_watches()
    await poll(store, await add(store, "https://a.example/feed"), [entry("a")])
    assert not await moved(), "reads and polls are not watch changes"
    assert await store.set_watch_muted(w.id, at(60)) is True
    assert await moved(), "set_watch_muted"
    assert await store.set_watch_muted(w.id, None) is True
    assert await moved(), "clearing a mute"
    assert await store.set_watch_muted(w.id + 100, at(1)) is False
    assert await store.remove_watch(w.id + 100) is False
    assert not await moved(), "nothing changed"
    assert await store.remove_watch(w.id) is True
    assert await moved(), "remove_watch"
    assert len(set(seen)) == 5, "a generation never comes back to an earlier value"


async def test_a_watch_change_through_one_handle_moves_the_generation_another_reads(store, store_url):
    """A chat process adds the watch; a poller process, with its own connections, must see the change."""
    if store_url == "memory":
        pytest.skip("two MemoryStores do not share data")
    from bot.adapters.sql_store import open_store

    other = await open_store(store_url)
    try:
        before = await other.watch_generation()
        await store.add_watch("drone", "slack:C1", created_by="U1", now=T0)
        assert await other.watch_generation() != before
    finally:
        await other.close()


# ---- outbox -------------------------------------------------------------------------------------------


async def test_outbox_claims_oldest_first_keeping_destination_order(store):
    await outbox(store, ("A", "a1"), ("B", "b1"), ("A", "a2"), ("A", "a3"), ("B", "b2"))
    claimed = await store.claim_deliveries(at(1), limit=3, lease_s=60)
    assert keys(claimed) == [("A", "a1"), ("B", "b1"), ("A", "a2")]
    assert all(d.status is DeliveryStatus.SENDING and d.attempts == 1 and d.claim_token for d in claimed)
    assert not any(d.outcome_unknown for d in claimed)
    # A is held by a live claim, so a3 must wait for it; B's head is claimed too: nothing is claimable.
    assert await store.claim_deliveries(at(2), limit=10, lease_s=60) == []
    for d in claimed:
        await mark_sent(store, d, message_ref=f"ref-{d.dedupe_key}", now=at(3))
    assert keys(await store.claim_deliveries(at(4), limit=10, lease_s=60)) == [("A", "a3"), ("B", "b2")]
    sent = await store.list_deliveries("sent")
    assert [(d.dedupe_key, d.message_ref, d.sent_at) for d in sent] == [
        ("a1", "ref-a1", at(3)), ("b1", "ref-b1", at(3)), ("a2", "ref-a2", at(3)),
    ]


async def test_a_retry_holds_back_its_destination_but_not_others(store):
    await outbox(store, ("A", "a1"), ("A", "a2"), ("B", "b1"), ("B", "b2"))
    claimed = await store.claim_deliveries(at(1), limit=10, lease_s=60)
    assert keys(claimed) == [("A", "a1"), ("A", "a2"), ("B", "b1"), ("B", "b2")]
    a1, a2, b1, b2 = claimed
    await store.mark_retry(a1, next_attempt_at=at(300), error="HTTP 503")
    await store.release([a2, b1, b2])
    b_rows = await store.claim_deliveries(at(2), limit=10, lease_s=60)
    assert keys(b_rows) == [("B", "b1"), ("B", "b2")]
    for d in b_rows:
        await mark_sent(store, d, message_ref=None, now=at(3))
    again = await store.claim_deliveries(at(300), limit=10, lease_s=60)
    assert keys(again) == [("A", "a1"), ("A", "a2")]
    assert [(d.attempts, d.last_error) for d in again] == [(2, "HTTP 503"), (1, None)]


async def test_release_gives_rows_back_without_counting_an_attempt(store):
    await outbox(store, ("A", "a1"))
    [claimed] = await store.claim_deliveries(at(1), limit=10, lease_s=60)
    await store.release([claimed])
    [pending] = await store.list_deliveries("pending")
    assert (pending.attempts, pending.claim_token, pending.outcome_unknown) == (0, "", False)
    [again] = await store.claim_deliveries(at(2), limit=10, lease_s=60)
    assert again.attempts == 1 and not again.outcome_unknown


async def test_a_lapsed_sending_row_comes_back_with_outcome_unknown(store):
    await outbox(store, ("A", "a1"), ("A", "a2"))
    first = await store.claim_deliveries(at(1), limit=1, lease_s=60)
    assert keys(first) == [("A", "a1")]
    assert await store.claim_deliveries(at(60), limit=10, lease_s=60) == []
    [again, nxt] = await store.claim_deliveries(at(61), limit=10, lease_s=60)
    assert (again.dedupe_key, again.outcome_unknown, again.attempts) == ("a1", True, 2)
    assert (nxt.dedupe_key, nxt.outcome_unknown) == ("a2", False)
    assert again.claim_token != first[0].claim_token

    await mark_sent(store, first[0], message_ref="stale", now=at(62))  # the stalled sender wakes up: fenced
    [still] = [d for d in await store.list_deliveries() if d.dedupe_key == "a1"]
    assert (still.status, still.message_ref) == (DeliveryStatus.SENDING, None)
    await mark_sent(store, again, message_ref="ts-1", now=at(63))
    [done] = [d for d in await store.list_deliveries("sent")]
    assert (done.dedupe_key, done.message_ref, done.outcome_unknown) == ("a1", "ts-1", False)


async def test_mark_sent_many_records_each_row_with_its_own_ref_and_time(store):
    await outbox(store, ("A", "a1"), ("B", "b1"), ("A", "a2"))
    claimed = await store.claim_deliveries(at(1), limit=10, lease_s=60)
    sent = [dataclasses.replace(d, message_ref=f"ref-{d.dedupe_key}", sent_at=at(2 + n)) for n, d in enumerate(claimed)]
    assert await store.mark_sent_many(sent) == 3
    assert await store.mark_sent_many([]) == 0
    rows = await store.list_deliveries("sent")
    assert [(d.dedupe_key, d.message_ref, d.sent_at, d.outcome_unknown) for d in rows] == [
        ("a1", "ref-a1", at(2), False), ("b1", "ref-b1", at(3), False), ("a2", "ref-a2", at(4), False),
    ]
    assert await store.claim_deliveries(at(10), limit=10, lease_s=60) == [], "sent rows are never claimed again"


async def test_mark_sent_many_is_fenced_row_by_row(store):
    """A batch written late (its sender stalled past the lease) records only the rows still its own: a row
    another sender took over keeps that sender's claim, and its reconcile decides."""
    await outbox(store, ("A", "a1"), ("B", "b1"))
    a1, b1 = await store.claim_deliveries(at(1), limit=10, lease_s=60)
    await mark_sent(store, b1, message_ref="early", now=at(2))
    [a1_again] = await store.claim_deliveries(at(61), limit=10, lease_s=60)
    stale = [dataclasses.replace(d, message_ref="stale", sent_at=at(62)) for d in (a1, b1)]
    assert await store.mark_sent_many(stale) == 1, "b1 stands recorded under its claim; a1 is another's now"
    rows = {d.dedupe_key: d for d in await store.list_deliveries()}
    assert (rows["a1"].status, rows["a1"].message_ref, rows["a1"].claim_token) == (
        DeliveryStatus.SENDING, None, a1_again.claim_token)
    assert (rows["b1"].message_ref, rows["b1"].sent_at) == ("early", at(2))
    assert await store.mark_sent_many([dataclasses.replace(a1_again, message_ref="ts-1", sent_at=at(63))]) == 1
    [done] = [d for d in await store.list_deliveries("sent") if d.dedupe_key == "a1"]
    assert (done.message_ref, done.outcome_unknown) == ("ts-1", False)


async def test_outcome_unknown_survives_a_release(store):
    await outbox(store, ("A", "a1"))
    await store.claim_deliveries(at(1), limit=1, lease_s=60)
    [lapsed] = await store.claim_deliveries(at(100), limit=1, lease_s=60)
    await store.release([lapsed])
    [again] = await store.claim_deliveries(at(101), limit=1, lease_s=60)
    assert again.outcome_unknown, "nothing has shown that the lapsed attempt did not post"


async def test_mark_dead_keeps_the_reason_and_frees_the_destination(store):
    await outbox(store, ("A", "a1"), ("A", "a2"))
    [a1] = await store.claim_deliveries(at(1), limit=1, lease_s=60)
    await store.mark_dead(a1, error="channel_not_found", now=at(2))
    [dead] = await store.list_deliveries("dead")
    assert (dead.dedupe_key, dead.status, dead.last_error, dead.attempts) == (
        "a1", DeliveryStatus.DEAD, "channel_not_found", 1,
    )
    [a2] = await store.claim_deliveries(at(3), limit=10, lease_s=60)
    assert a2.dedupe_key == "a2"
    await mark_sent(store, a2, message_ref=None, now=at(4))
    assert await store.claim_deliveries(at(10_000), limit=10, lease_s=60) == [], "dead rows are never claimed"


async def test_list_deliveries_filters_and_limits(store):
    await outbox(store, ("A", "a1"), ("B", "b1"), ("C", "c1"))
    [a1] = await store.claim_deliveries(at(1), limit=1, lease_s=60)
    assert keys(await store.list_deliveries("sending")) == [("A", "a1")]
    assert keys(await store.list_deliveries("pending")) == [("B", "b1"), ("C", "c1")]
    assert keys(await store.list_deliveries(limit=2)) == [("A", "a1"), ("B", "b1")]


# ---- values on the way in and out ---------------------------------------------------------------------


async def test_timestamps_come_back_as_aware_utc(store):
    kyiv = timezone(timedelta(hours=2))
    local = datetime(2025, 3, 1, 14, 0, tzinfo=kyiv)  # == T0
    feed, _ = await store.add_feed("https://a.example/feed", interval_s=60, baseline=True, now=local,
                                   first_poll_at=local)
    [claim] = await store.claim_due_feeds(local, limit=1, lease_s=LEASE)
    update = FeedUpdate(status=FeedStatus.OK, next_poll_at=local + timedelta(minutes=5), polled_at=local)
    published = datetime(2025, 3, 1, 9, 30, tzinfo=kyiv)
    [stored] = await store.finish_poll(claim, update, [entry("a", published=published)], [alert("A", "a")])
    got = await store.get_feed(feed.id)
    [recent] = await store.recent_entries(T0)
    [delivery] = await store.list_deliveries()
    watch = await store.add_watch("x", "A", created_by="", now=local)
    values = [got.created_at, got.next_poll_at, got.last_polled_at, recent.published, recent.fetched_at,
              stored.published, delivery.created_at, delivery.next_attempt_at, watch.created_at]
    assert all(v.utcoffset() == timedelta(0) for v in values), values
    assert values == [T0, T0 + timedelta(minutes=5), T0, at(-16200), T0, at(-16200), T0, T0, T0]


async def test_a_naive_datetime_is_refused(store):
    with pytest.raises(ValueError, match="naive"):
        await store.add_feed("https://a.example/feed", interval_s=60, baseline=True,
                             now=datetime(2025, 3, 1, 12), first_poll_at=datetime(2025, 3, 1, 12))


async def test_nul_characters_are_stripped_not_fatal(store):
    feed = await add(store, "https://a.example/feed")
    [stored] = await poll(store, feed, [entry("a\x00", "Kupi\x00ansk shelling", summary="x\x00y")],
                          [alert("A", "k\x00", title="t\x00")])
    assert (stored.identity, stored.title, stored.summary) == ("a", "Kupiansk shelling", "xy")
    [recent] = await store.recent_entries(T0)
    assert (recent.identity, recent.title, recent.summary) == ("a", "Kupiansk shelling", "xy")
    [delivery] = await store.list_deliveries()
    assert delivery.dedupe_key == "k"
    assert delivery.payload["title"] in ("t", "t\x00")  # JSON escapes NUL, so the payload may keep it


# ---- several workers ----------------------------------------------------------------------------------


async def test_two_stores_claiming_concurrently_never_get_the_same_feed(store, store_url):
    if store_url == "memory":
        pytest.skip("two MemoryStores do not share data")
    from bot.adapters.sql_store import open_store

    feeds = [await add(store, f"https://f{i}.example/feed", due_s=-i) for i in range(60)]
    other = await open_store(store_url)
    try:
        async def worker(s) -> list[int]:
            got: list[int] = []
            for _ in range(40):
                claims = await s.claim_due_feeds(at(0), limit=3, lease_s=LEASE)
                got.extend(c.feed.id for c in claims)
            return got

        results = await asyncio.gather(worker(store), worker(other), worker(store), worker(other))
    finally:
        await other.close()
    claimed = [i for r in results for i in r]
    assert len(claimed) == len(set(claimed)), "a feed was claimed twice"
    assert set(claimed) == {f.id for f in feeds}


# ---- retention and backlog (issue 8) ----------------------------------------------------------------


async def test_pruned_entries_leave_tombstones_so_old_items_never_come_back(store):
    feed = await add(store, "https://prune.example/feed")
    await poll(store, feed, [entry("old", fetched_at=at(0))], [alert("console", "old")], now_s=0,
               matches=[("old", 1, "[]")])
    [sent] = await store.claim_deliveries(at(1), limit=10, lease_s=LEASE)
    await mark_sent(store, sent, message_ref="m", now=at(1))
    await poll(store, feed, [entry("new", fetched_at=at(5000))], [alert("console", "new")], now_s=5000)

    assert await store.prune(at(1000), now=at(6000)) == 1
    assert [e.identity for e in await store.recent_entries(at(-1))] == ["new"]
    assert await store.known_identities(feed.id, ["old", "new", "never"]) == {"old", "new"}
    assert keys(await store.list_deliveries()) == [("console", "new")], "sent rows older than the cut go too"

    again = await poll(store, feed, [entry("old", fetched_at=at(7000))], now_s=7000)
    assert again == [], "a feed re-serving a pruned item stores nothing new"
    assert [e.identity for e in await store.recent_entries(at(-1))] == ["new"]
    assert await store.prune(at(1000), now=at(8000)) == 0

    await store.prune(at(1000), now=at(9000), tombstones_before=at(6001))
    assert await store.known_identities(feed.id, ["old"]) == set(), "old tombstones are dropped in their turn"


async def test_prune_keeps_unsent_deliveries_and_recent_entries(store):
    feed = await add(store, "https://keep.example/feed")
    await poll(store, feed, [entry("a", fetched_at=at(0))], [alert("console", "a")], now_s=0)
    assert await store.prune(at(-10), now=at(10)) == 0
    assert await store.prune(at(100), now=at(200)) == 1
    assert keys(await store.list_deliveries("pending")) == [("console", "a")], "a pending alert is never pruned"


async def test_article_texts_keep_the_first_text_of_a_url_and_go_with_retention(store):
    from bot.core.sourcing import ArticleText

    url = "https://news.example/a/1"
    first = ArticleText(url, "Mayor Ivan Petrenko said in a statement\u2026 \u00ab\u0442\u0435\u043a\u0441\u0442\u00bb",
                        "page", at(0), links=("https://gov.example/order.pdf",))
    assert await store.article_texts([url]) == {}
    await store.save_article_texts([first, ArticleText("https://news.example/a/2", "", "failed: HTTP 403", at(0))])
    await store.save_article_texts([ArticleText(url, "a second reading", "page", at(50))])
    found = await store.article_texts([url, "https://news.example/a/2", "https://news.example/none"])
    assert found[url] == first, "a page is read once: the first text stays, so the assessment is reproducible"
    assert found["https://news.example/a/2"].source == "failed: HTTP 403" and not found["https://news.example/a/2"].usable
    assert set(found) == {url, "https://news.example/a/2"}
    await store.save_article_texts([ArticleText("https://news.example/a/3", "later", "page", at(5000))])
    await store.prune(at(1000), now=at(6000))
    assert set(await store.article_texts([url, "https://news.example/a/3"])) == {"https://news.example/a/3"}


async def test_backlog_counts_due_feeds_and_open_deliveries(store):
    assert await store.backlog(at(0)) == {"feeds_due": 0, "poll_lag_s": 0, "outbox_depth": 0, "outbox_age_s": 0}
    await add(store, "https://a.example/feed", due_s=-30)
    await add(store, "https://b.example/feed", due_s=-10)
    await add(store, "https://c.example/feed", due_s=60)
    figures = await store.backlog(at(0))
    assert (figures["feeds_due"], figures["poll_lag_s"]) == (2, 30)
    await store.claim_due_feeds(at(0), limit=1, lease_s=LEASE)  # takes the 30 s late one
    assert (await store.backlog(at(0)))["poll_lag_s"] == 10, "a leased feed is being polled, not waiting"

    await outbox(store, ("console", "k1"), ("console", "k2"))  # created at T0
    figures = await store.backlog(at(45))
    assert (figures["outbox_depth"], figures["outbox_age_s"]) == (2, 45)


# ---- digests ---------------------------------------------------------------------------------------


def digest_row(destination: str, day: str) -> NewDelivery:
    return NewDelivery(destination=destination, dedupe_key=f"digest:{day}", kind="digest", payload={"day": day})


async def test_digest_schedule_is_set_and_read_back_with_the_newest_digest(store):
    await store.add_watch("kupiansk", "slack:C1", created_by="u", now=T0)
    [fresh] = await store.digest_schedules("slack:C1")
    assert (fresh.at, fresh.timezone, fresh.enabled, fresh.last_date) == (None, None, True, None)

    await store.set_digest_schedule("slack:C1", at="08:00", timezone="Europe/Kyiv", enabled=True,
                                    set_at=at(5), now=at(5))
    await store.set_digest_schedule("console", at="07:30", timezone=None, enabled=False, set_at=None, now=at(5))
    assert await store.record_digest(digest_row("slack:C1", "2025-03-01"), local_date="2025-03-01", now=at(60))
    assert await store.record_digest(digest_row("slack:C1", "2025-03-02"), local_date="2025-03-02", now=at(90))

    schedules = {s.destination: s for s in await store.digest_schedules()}
    assert set(schedules) == {"console", "slack:C1"}
    c1 = schedules["slack:C1"]
    assert (c1.at, c1.timezone, c1.enabled, c1.set_at) == ("08:00", "Europe/Kyiv", True, at(5))
    assert (c1.last_date, c1.last_at) == ("2025-03-02", at(90)), "the newest digest by local date"
    assert (schedules["console"].enabled, schedules["console"].last_date) == (False, None)
    assert await store.digest_schedules("nowhere") == []


async def test_a_digest_is_recorded_once_per_destination_and_local_date(store):
    assert await store.record_digest(digest_row("console", "2025-03-01"), local_date="2025-03-01", now=at(0))
    assert not await store.record_digest(digest_row("console", "2025-03-01"), local_date="2025-03-01", now=at(9))
    assert await store.record_digest(digest_row("slack:C1", "2025-03-01"), local_date="2025-03-01", now=at(9))
    rows = await store.list_deliveries()
    assert keys(rows) == [("console", "digest:2025-03-01"), ("slack:C1", "digest:2025-03-01")]
    assert rows[0].kind == "digest" and dict(rows[0].payload) == {"day": "2025-03-01"}

    async def race():  # two workers at once: exactly one wins
        return await store.record_digest(digest_row("console", "2025-03-05"), local_date="2025-03-05", now=at(20))

    assert sorted(await asyncio.gather(race(), race())) == [False, True]


async def test_digest_matches_are_the_destinations_matches_in_the_window(store):
    feed, _ = await store.add_feed("https://m.example/feed", interval_s=600, baseline=False, now=T0,
                                   first_poll_at=T0, title="M Feed", outlet="Monitor")
    mine = await store.add_watch("kupiansk", "slack:C1", created_by="u", now=T0)
    other = await store.add_watch("izium", "slack:C2", created_by="u", now=T0)
    entries = [entry("e1", fetched_at=at(10), story_key="s1"), entry("e2", fetched_at=at(20)),
               entry("e3", fetched_at=at(500))]
    reasons = '[{"term": "place:Kupiansk", "text": "Kupiansk", "field": "title", "place": "Kupiansk"}]'
    await poll(store, feed, entries, now_s=0,
               matches=[("e1", mine.id, reasons), ("e2", other.id, "[]"), ("e3", mine.id, "[]")])

    found = await store.digest_matches("slack:C1", at(0), at(500))
    assert [(e.identity, outlet, w.id, r) for e, outlet, w, r in found] == [("e1", "Monitor", mine.id, reasons)]
    assert found[0][0].story_key == "s1" and found[0][0].fetched_at == at(10)
    assert [e.identity for e, *_ in await store.digest_matches("slack:C1", at(0), at(501))] == ["e1", "e3"]
    await store.remove_watch(mine.id)
    assert await store.digest_matches("slack:C1", at(0), at(501)) == [], "a removed watch's matches leave"


async def test_destination_deliveries_by_kind_and_time(store):
    await outbox(store, ("slack:C1", "a1"), ("slack:C2", "b1"))
    await store.record_digest(digest_row("slack:C1", "2025-03-01"), local_date="2025-03-01", now=at(30))
    assert keys(await store.destination_deliveries("slack:C1", since=at(-1))) == [("slack:C1", "a1")]
    assert keys(await store.destination_deliveries("slack:C1", since=at(-1), kinds=("digest",))) == [
        ("slack:C1", "digest:2025-03-01")]
    assert await store.destination_deliveries("slack:C1", since=at(1)) == []


async def test_get_deliveries_by_destination_and_key(store):
    await outbox(store, ("A", "a1"), ("B", "b1"), ("A", "a2"))
    found = await store.get_deliveries([("A", "a2"), ("B", "b1"), ("B", "a2"), ("C", "zz")])
    assert keys(found) == [("B", "b1"), ("A", "a2")]
    assert await store.get_deliveries([]) == []
