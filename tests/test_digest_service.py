"""The digest through the service, on every store: the scheduled tick sends once per local day across
workers and restarts, late once, right across the Kyiv DST change; /digest at, off and now; the content
comes from stored matches and the grades and corroboration the alerts carried."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from bot.core.commands import Caller, parse_command
from bot.core.digests import Digest
from bot.core.models import Entry, FeedStatus, FeedUpdate, NewDelivery
from bot.service import Service, ServiceConfig

DEST = "slack:C0DIGEST"
CALLER = Caller(platform="slack", destination=DEST, user_id="U1")


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def service(store, clock: Clock) -> Service:
    return Service(store, None, None, {}, config=ServiceConfig(digest_zone="UTC", digest_top=2), clock=clock)


async def seed(store, when: datetime) -> None:
    """A feed, two watches of DEST (a place watch and a word watch) and three stories stored at ``when``:
    one carried by two entries of the feed, one with a graded, corroborated alert."""
    feed, _ = await store.add_feed("https://wire.example/feed", interval_s=600, baseline=False, now=when,
                                   first_poll_at=when, title="Wire", outlet="Northern Wire")
    place = await store.add_watch("place:Kupiansk", DEST, created_by="u", now=when)
    word = await store.add_watch("Oskil", DEST, created_by="u", now=when)
    kup = '[{"term": "place:Kupiansk", "text": "Kupyansk", "field": "title", "place": "Kupiansk"}]'
    entries = [
        Entry(feed_id=0, identity="a1", title="Shelling in Kupiansk", url="https://wire.example/a1", story_key="s-a",
              fetched_at=when),
        Entry(feed_id=0, identity="a2", title="Shelling in Kupyansk (update)", url="https://wire.example/a2",
              story_key="s-a", fetched_at=when + timedelta(minutes=5)),
        Entry(feed_id=0, identity="b1", title="Bridge on the Oskil", url="https://wire.example/b1", story_key="s-b",
              fetched_at=when + timedelta(minutes=10)),
        Entry(feed_id=0, identity="c1", title="Evacuation near Kupiansk", url="https://wire.example/c1",
              story_key="s-c", fetched_at=when + timedelta(minutes=20)),
    ]
    alerts = [NewDelivery(DEST, "ww-c", "alert", {"story_key": "s-c", "grade": "strong",
                                                  "corroboration": "corroborated by 3 independent outlets (A, B, C)"})]
    [claim] = await store.claim_due_feeds(when, limit=1, lease_s=60, feed_ids=[feed.id], force=True)
    update = FeedUpdate(status=FeedStatus.OK, next_poll_at=when + timedelta(hours=1), polled_at=when)
    await store.finish_poll(claim, update, entries, alerts,
                            [("a1", place.id, kup), ("a2", place.id, kup), ("b1", word.id, "[]"),
                             ("c1", place.id, kup)])


async def digests_of(store) -> list[Digest]:
    rows = await store.list_deliveries()
    return [Digest.from_payload(d.payload) for d in rows if d.kind == "digest"]


async def test_digest_now_composes_from_stored_matches_and_alert_payloads(store):
    clock = Clock(datetime(2025, 3, 10, 9, 0, tzinfo=UTC))
    await seed(store, clock.now - timedelta(hours=3))
    svc = service(store, clock)
    reply = await svc.run_command(parse_command("/digest now"), CALLER)
    assert reply.text == "today's digest is on its way: 3 stories in 2 groups" and not reply.public

    [digest] = await digests_of(store)
    [kup, oskil] = digest.groups
    assert (kup.kind, kup.label, kup.count, kup.previous) == ("place", "Kupiansk", 2, 0)
    assert (oskil.kind, oskil.label, oskil.count) == ("watch", "Oskil", 1)
    first = kup.stories[0]
    assert (first.title, first.origins, first.grade) == ("Evacuation near Kupiansk", 3, "strong"), "ranked first"
    assert kup.stories[1].title == "Shelling in Kupiansk" and kup.stories[1].outlets == 1, "one story, two items"
    [delivery] = [d for d in await store.list_deliveries() if d.kind == "digest"]
    assert delivery.dedupe_key == "digest:2025-03-10"

    again = await svc.run_command(parse_command("/digest now"), CALLER)
    assert again.text.startswith("today's digest was already posted here at 09:00 UTC")
    assert len(await digests_of(store)) == 1, "a second run the same local day sends nothing"


async def test_scheduled_digest_once_across_workers_and_restarts_and_late_once(store):
    t0 = datetime(2025, 3, 10, 5, 0, tzinfo=UTC)
    clock = Clock(t0)
    await seed(store, t0 - timedelta(hours=2))
    svc = service(store, clock)
    reply = await svc.run_command(parse_command("/digest at 08:00 Europe/Kyiv"), CALLER)  # 06:00 UTC in March
    assert reply.public and "at 08:00 Europe/Kyiv; the next one on Mon 10 Mar 08:00 EET" in reply.text

    assert await svc.queue_due_digests(now=t0 + timedelta(minutes=59)) == []
    # the bot was down at 08:00; two workers come back at 10:30 local and tick at the same moment
    late = t0 + timedelta(hours=3, minutes=30)
    workers = [service(store, Clock(late)), service(store, Clock(late))]
    queued = [d for found in await asyncio.gather(*(w.queue_due_digests(now=late) for w in workers)) for d in found]
    assert len(queued) == 1 and queued[0].late and queued[0].local_date == "2025-03-10"
    restarted = service(store, Clock(late + timedelta(minutes=1)))
    assert await restarted.queue_due_digests(now=late + timedelta(hours=5)) == []
    assert await restarted.queue_due_digests(now=late + timedelta(hours=22)) != [], "the next day's comes"
    assert [d.local_date for d in await digests_of(store)] == ["2025-03-10", "2025-03-11"]


async def test_kyiv_spring_forward_and_fall_back_days(store):
    for day, fires_utc in ((datetime(2025, 3, 30, tzinfo=UTC), 5), (datetime(2025, 10, 26, tzinfo=UTC), 6)):
        clock = Clock(day - timedelta(days=2))
        svc = service(store, clock)
        await svc.set_digest_time(DEST, "08:00", "Europe/Kyiv")
        await store.record_digest(NewDelivery(DEST, f"digest:{day.date() - timedelta(days=1)}", "digest", {}),
                                  local_date=(day.date() - timedelta(days=1)).isoformat(), now=day)
        before = day.replace(hour=fires_utc - 1, minute=59)
        assert await svc.queue_due_digests(now=before) == [], f"{day.date()}: 07:59 local"
        [sent] = await svc.queue_due_digests(now=day.replace(hour=fires_utc))
        assert sent.local_date == day.date().isoformat() and not sent.late
        assert await svc.queue_due_digests(now=day.replace(hour=fires_utc + 1)) == []


async def test_digest_off_stops_the_schedule_and_at_restarts_it(store):
    clock = Clock(datetime(2025, 3, 10, 5, 0, tzinfo=UTC))
    svc = service(store, clock)
    await svc.run_command(parse_command("/digest at 07:00"), CALLER)  # the default zone: UTC
    off = await svc.run_command(parse_command("/digest off"), CALLER)
    assert off.text.startswith("no more daily digests here")
    assert await svc.queue_due_digests(now=clock.now + timedelta(days=1, hours=3)) == []
    clock.now += timedelta(days=1, hours=3)  # 08:00 UTC: set after today's 07:00, so not late today
    await svc.run_command(parse_command("/digest at 07:00"), CALLER)
    assert await svc.queue_due_digests(now=clock.now) == []
    [digest] = await svc.queue_due_digests(now=clock.now + timedelta(hours=23))
    assert digest.zone == "UTC" and digest.quiet
