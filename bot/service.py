"""What the bot does: poll due feeds, turn new matching entries into outbox rows, deliver the outbox,
and manage feeds and watches. Everything outside (HTTP, parsing process, database, chat platforms, the
clock) comes in through ``bot.ports`` and plain values; the composition root (``bot.app.bootstrap``)
decides which implementations.

Promises kept here, and how:
- *Nothing is lost.* Entries, matches, outbox rows and the feed's new state are written in one
  transaction (``Store.finish_polls``, shared by the polls of a batch that finish together, each fenced on
  its own claim); a crash before it means those polls simply happen again.
- *Nothing is posted twice.* One outbox row per (destination, story), enforced by a unique key; a row
  whose send may have happened (its claim lapsed) is handed to the notifier with ``outcome_unknown`` so
  it can look before posting again. Sends are recorded in batches (``_SentLog``): one made but not yet
  recorded when the process dies is that same case.
- *A broken feed never stops the rest.* Each feed is polled in its own task; its trouble becomes its
  health (``FeedUpdate``), never an exception in the loop.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import random
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Callable, Mapping, Sequence

from bot.core import polling
from bot.core.commands import (
    Caller,
    Command,
    Reply,
    StatusReport,
    help_text,
    may_manage_feeds,
    render_feed_added,
    render_feed_list,
    render_muted,
    render_not_a_feed,
    render_removed,
    render_status,
    render_watch_added,
    render_watch_list,
    render_watch_test,
)
from bot.core import digests
from bot.core.destinations import parse_destination
from bot.core.errors import NotFound, UsageError
from bot.core.matching import Matcher, check_query
from bot.core.messages import Alert, alert_key, build_alert
from bot.core.sourcing import Article as SourcedArticle
from bot.core.sourcing import PARTIAL_WORDS, ArticleText, Lexicons, assess
from bot.core.stories import Corroboration, StoryArticle, StoryIndex, corroboration, deserves_follow_up
from bot.core.models import (
    Delivery,
    Entry,
    Feed,
    FeedClaim,
    FeedStatus,
    FetchOutcome,
    FinishedPoll,
    Hit,
    NewDelivery,
    ParsedFeed,
    SendResult,
    SendStatus,
    Watch,
)
from bot.core.query import parse as parse_query
from bot.ports import ArticleExtractor, FeedParser, Fetcher, Metrics, Notifier, Store

log = logging.getLogger("wirewatch.service")

Clock = Callable[[], datetime]

#: Chat input is untrusted: a query or URL longer than this is refused before it is parsed or compiled.
MAX_COMMAND_ARGUMENT = 1000


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    poll_batch: int = 50  # feeds claimed per tick
    poll_lease_s: float = 120.0  # must exceed fetch timeout + parse timeout
    default_interval_s: int = 600
    # Rows claimed per delivery pass. Each pass costs a claim and a write of its sends (a commit each) and
    # waits for its slowest destination: 500 rather than 100 took bench deliver (10 destinations) from
    # ~0.46x to ~0.68x the bare notifier calls. A pass still stops at half its lease and gives the rest
    # back, so a paced channel never holds claimed rows past the lease.
    delivery_batch: int = 500
    delivery_lease_s: float = 60.0
    retry_base_s: float = 5.0  # first retry of a failed send
    retry_cap_s: float = 900.0
    max_attempts: int = 50  # then the delivery is dead-lettered with its last error
    unconfigured_retry_s: float = 600.0  # a destination whose platform is not configured yet
    feed_admins: tuple[str, ...] = ()  # user or group IDs who may add/remove feeds from chat; empty: everyone
    watch_test_days: int = 7  # how far back `/watch test` looks
    watch_warn_share: float = 0.2  # `watch add` warns above this share of recent items (0: never)
    digest_zone: str = "UTC"  # zone of a `/digest at` given without one (WIREWATCH_DIGEST_TIMEZONE)
    digest_top: int = digests.DEFAULT_TOP  # stories shown per digest group (WIREWATCH_DIGEST_TOP)
    retention_days: float = 90.0  # entries older than this are pruned (tombstones keep them "known")
    tombstone_days: float = 730.0  # a pruned item a feed still serves after this may alert again
    story_window: timedelta = timedelta(hours=72)  # how long a story stays open for new articles
    full_text_concurrency: int = 4  # article pages fetched at once by one feed's poll (full text on)
    full_text_cap_s: float = 20.0  # the most one poll waits for article pages; must stay under poll_lease_s
    policy: polling.PollPolicy = field(default_factory=polling.PollPolicy)


@dataclass(slots=True)
class FeedPollResult:
    feed_id: int
    url: str
    outcome: str  # "new entries", "not modified", "error", "lease lost", ...
    new_entries: int = 0
    alerts: int = 0
    error: str | None = None


@dataclass(slots=True)
class PollReport:
    feeds: list[FeedPollResult] = field(default_factory=list)

    @property
    def new_entries(self) -> int:
        return sum(f.new_entries for f in self.feeds)

    @property
    def alerts(self) -> int:
        return sum(f.alerts for f in self.feeds)


@dataclass(slots=True)
class DeliveryReport:
    sent: int = 0
    retried: int = 0
    dead: int = 0
    errors: list[str] = field(default_factory=list)


#: The most sends of one destination whose "sent" may be unrecorded at once (``_SentLog``); its sender waits
#: for the store before sending more. After a crash each is looked for in the channel's recent history,
#: so this stays inside the lookback (Discord reads the last 50 messages, Slack 200), with room for what
#: others post meanwhile. Paced chat channels never come near it (about one send per write); it bounds the
#: fast sinks (webhooks, files), which reconcile by key.
SENT_UNRECORDED_PER_DESTINATION = 40
#: How long a send may wait to be recorded with the ones that follow it (the writer's pause between writes).
SENT_WRITE_DELAY_S = 0.2


class _SentLog:
    """Sends made but not yet recorded, written to the store together (``Store.mark_sent_many``) by one
    writer task that writes what has gathered every ``SENT_WRITE_DELAY_S`` while sends come in. The senders
    go on sending meanwhile; a send waits for the store only when its destination already has
    ``SENT_UNRECORDED_PER_DESTINATION`` rows unrecorded.

    WHY: a commit per sent row made ten destinations sending in parallel queue for SQLite's one writer
    (273 alerts/s against 5,721 for the bare notifier calls; a commit costs a WAL fsync). One delivery pass
    shares one log, so the rows of every destination go in the same transaction.

    WHY the promises still hold: a row sent but not yet recorded stays ``sending`` under its claim. If the
    process dies then, the claim lapses and the row comes back with ``outcome_unknown``: exactly the case
    every sender already reconciles before posting (Slack: the key in the message metadata of the
    channel's recent history; Discord: the nonce, then the key in the recent embeds' footers; the JSON
    Lines sink searches its file; a webhook repeats its delivery key for the receiver to dedupe). Batching
    only lets that window hold more rows, and they stay findable: at most
    ``SENT_UNRECORDED_PER_DESTINATION`` per channel (its newest messages, inside the history lookback; a
    paced chat channel sends about one a second, so it has one of them), for ``SENT_WRITE_DELAY_S`` plus a
    write, far inside the lease, so the claim is still ours when they are written (the write is fenced by
    the claim token anyway). Nothing is lost: an unrecorded row is never dropped, it is only sent again
    after that check. ``flush`` is awaited before a queue stops and gives rows back, before a follow-up
    reads its alert's message id from the store, and when the pass ends, also when it is cancelled
    (shutdown)."""

    def __init__(self, store: Store):
        self.store = store
        self._rows: list[Delivery] = []
        self._unrecorded: Counter[str] = Counter()  # added and not yet written, by destination
        self._writing = asyncio.Lock()  # one write at a time; a flush waits for the one under way
        self._writer: asyncio.Task[None] | None = None
        self._failure: Exception | None = None

    async def add(self, delivery: Delivery, message_ref: str | None, now: datetime) -> None:
        self._rows.append(replace(delivery, message_ref=message_ref, sent_at=now))
        self._unrecorded[delivery.destination] += 1
        self._raise_failure()  # the store failed a write: stop this sender (the row above is still written)
        if self._unrecorded[delivery.destination] >= SENT_UNRECORDED_PER_DESTINATION:
            async with self._writing:  # the write under way may bring it under the bound: then no second one
                if self._unrecorded[delivery.destination] >= SENT_UNRECORDED_PER_DESTINATION:
                    await self._write(self._take())
            self._raise_failure()
        elif self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_in_background())

    async def flush(self) -> None:
        """Write what is waiting. When this returns, every send added before the call is recorded; a
        failed write (the store is down) is raised here or by the next ``add``."""
        async with self._writing:  # also waits for a write under way: it may hold rows added before this call
            await self._write(self._take())
        self._raise_failure()

    async def close(self) -> None:
        """The end of the pass (its queues are done): everything written, the writer task stopped."""
        await self.flush()
        if self._writer is not None:
            self._writer.cancel()  # pausing or waiting for the lock: with nothing left, it has nothing to write

    async def _write_in_background(self) -> None:
        try:
            while self._rows:
                await asyncio.sleep(SENT_WRITE_DELAY_S)
                async with self._writing:
                    await self._write(self._take())
        except Exception as exc:  # noqa: BLE001 - kept, not swallowed: add and flush raise it to a sender
            self._failure = exc

    def _take(self) -> list[Delivery]:
        rows, self._rows = self._rows, []
        return rows

    async def _write(self, rows: list[Delivery]) -> None:
        if not rows:
            return
        try:
            await self.store.mark_sent_many(rows)
        except asyncio.CancelledError:
            # A sender cancelled while it wrote (shutdown): the rows go back for the pass's last flush. If the
            # write did commit, writing them again changes nothing (fenced: they are no longer "sending").
            self._rows[:0] = rows
            raise
        except Exception:
            self._unrecorded.subtract(d.destination for d in rows)  # left to the reconcile after the lease
            raise
        self._unrecorded.subtract(d.destination for d in rows)

    def _raise_failure(self) -> None:
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure


class Service:
    def __init__(
        self,
        store: Store,
        fetcher: Fetcher,
        parser: FeedParser,
        notifiers: Mapping[str, Notifier],
        *,
        config: ServiceConfig | None = None,
        clock: Clock = utc_now,
        rng: random.Random | None = None,
        places=None,
        metrics: Metrics | None = None,
        lexicons: Lexicons | None = None,
        article_extractor: ArticleExtractor | None = None,
    ):
        self.store = store
        self.fetcher = fetcher
        self.parser = parser
        self.notifiers = dict(notifiers)
        self.config = config or ServiceConfig()
        self.clock = clock
        self.rng = rng or random.Random()
        self.places = places
        self.metrics: Metrics = metrics or _NoMetrics()
        self._matcher: Matcher | None = None
        self._matcher_key: tuple | None = None
        self._watch_generation: int | None = None  # Store.watch_generation the matcher was built from
        self._watches: dict[int, Watch] = {}
        # Sourcing and corroboration are on when the lexicons are given (the app always gives them).
        self.lexicons = lexicons
        self._desk = _StoryDesk(store, lexicons, self.config.story_window) if lexicons is not None else None
        self._finisher = _PollFinisher(store)
        # Full text (WIREWATCH_FULL_TEXT): alerted articles whose feed carried only a summary are assessed
        # on their page's main text, fetched once through the same Fetcher.
        self._full_text = (
            _FullText(store, fetcher, article_extractor, self.config)
            if article_extractor is not None and self._desk is not None else None
        )

    # ------------------------------------------------------------------------------------------------
    # Feeds and watches (what commands call)
    # ------------------------------------------------------------------------------------------------

    async def add_feed(
        self, url: str, *, interval_s: int | None = None, baseline: bool = True, title: str = "",
        outlet: str = "", language: str = "",
    ) -> tuple[Feed, bool]:
        url = (url or "").strip()
        if not url.lower().startswith(("http://", "https://")):
            raise UsageError(f"{url!r} is not a feed URL: give an http:// or https:// address")
        interval = interval_s or self.config.default_interval_s
        if interval < self.config.policy.min_interval_s:
            raise UsageError(
                f"interval {interval}s is shorter than the minimum of "
                f"{self.config.policy.min_interval_s}s (WIREWATCH_MIN_INTERVAL)"
            )
        now = self.clock()
        return await self.store.add_feed(
            url, interval_s=interval, baseline=baseline, now=now,
            first_poll_at=polling.first_poll_at(now, interval, self.rng),
            title=title, outlet=outlet, language=language,
        )

    async def remove_feed(self, feed_id: int) -> None:
        if not await self.store.remove_feed(feed_id):
            raise NotFound(f"there is no feed {feed_id}; `wirewatch feed list` shows the feeds and their IDs")

    async def add_watch(self, query: str, destination: str, *, created_by: str = "") -> Watch:
        # Compiled as the poller will compile it, so a bad regex, an unknown place ("did you mean ...?")
        # or an ambiguous one (the candidates) is refused now, not skipped silently later. In a thread:
        # the first place query may build the gazetteer index.
        parsed = await asyncio.to_thread(check_query, query, self.places)
        dest = parse_destination(destination)
        return await self.store.add_watch(str(parsed), str(dest), created_by=created_by, now=self.clock())

    async def remove_watch(self, watch_id: int) -> None:
        if not await self.store.remove_watch(watch_id):
            raise NotFound(f"there is no watch {watch_id}; `wirewatch watch list` shows the watches and their IDs")

    async def add_feed_checked(self, url: str, *, interval_s: int | None = None) -> tuple[Feed, bool]:
        """``/feed add``: a feed already stored under this URL is reused; otherwise the URL is fetched once
        (through the Fetcher, so the SSRF guard and size caps hold) and parsed (through the FeedParser)
        before it is stored, so a user who pastes a web page hears at once that it is not a feed and which
        feeds the page links to, instead of a feed that silently fails later."""
        url = (url or "").strip()
        for feed in await self.store.list_feeds():
            if feed.url == url:
                return feed, False
        if not url.lower().startswith(("http://", "https://")):
            raise UsageError(f"{url!r} is not a feed URL: give an http:// or https:// address")
        result = await self.fetcher.fetch(url)
        if result.outcome is not FetchOutcome.MODIFIED:
            reason = result.error or (f"the server answered {result.status}" if result.status else result.outcome.value)
            raise UsageError(f"could not fetch {url}: {reason}")
        parsed = await self.parser.parse(result.body, result.headers, result.final_url or url, 0)
        if not parsed.is_feed:
            raise UsageError(render_not_a_feed(url, parsed.problem, parsed.alternates))
        return await self.add_feed(url, interval_s=interval_s, title=parsed.title, language=parsed.language)

    async def test_watch(self, query: str, *, limit: int = 10_000, days: int | None = None
                         ) -> tuple[list[Entry], int]:
        """``/watch test``: which stored items of the last few days QUERY matches. Nothing is saved; the
        same matcher as the poller is used, so the answer is what the watch would have alerted."""
        parsed = parse_query(query)
        now = self.clock()
        days = self.config.watch_test_days if days is None else days
        entries = await self.store.recent_entries(now - timedelta(days=days), limit=limit)
        probe = Watch(id=0, query=str(parsed), destination="console")
        matcher = await asyncio.to_thread(Matcher.build, [probe], self.places)
        if matcher.errors:
            raise UsageError(matcher.errors[0])
        found = [e for e in entries if matcher.match(e)]
        found.sort(key=lambda e: e.published or e.fetched_at or now, reverse=True)
        return found, len(entries)

    async def breadth_warning(self, query: str) -> str:
        """A warning when QUERY would have matched more than ``watch_warn_share`` of the recent items
        (a watch on "the" floods the channel); empty when it is narrow enough or nothing is stored yet."""
        share = self.config.watch_warn_share
        if share <= 0:
            return ""
        try:
            found, scanned = await self.test_watch(query)
        except UsageError:  # not testable here (no gazetteer for a place term): no warning to give
            return ""
        if scanned < 20 or len(found) <= share * scanned:  # too few items to judge
            return ""
        return (f"warning: `{query}` would have matched {len(found)} of the {scanned} items of the last "
                f"{self.config.watch_test_days} days ({len(found) / scanned:.0%}); expect many alerts, or narrow "
                "it with AND")

    async def mute_watch(self, watch_id: int, duration_s: int, *, destination: str | None = None) -> datetime:
        """Mute a watch until now + duration. Matches are still recorded while muted (the digest and
        ``watch test`` see them); only the alerts are held back."""
        watch = await self._own_watch(watch_id, destination)
        until = self.clock() + timedelta(seconds=duration_s)
        await self.store.set_watch_muted(watch.id, until)
        return until

    async def status(self) -> StatusReport:
        """``/wirewatch status``: what an operator needs to see first (failing feeds, dead deliveries)."""
        feeds = await self.store.list_feeds()
        failing = tuple(f for f in feeds if f.status.value in ("failing", "dead"))
        dead = await self.store.list_deliveries("dead")
        pending = await self.store.list_deliveries("pending")
        polled = [f.last_polled_at for f in feeds if f.last_polled_at]
        return StatusReport(
            feeds=len(feeds), failing=failing,
            dead_deliveries=tuple(sorted(dead, key=lambda d: d.id, reverse=True)),
            pending=len(pending), last_poll=max(polled) if polled else None,
        )

    async def _own_watch(self, watch_id: int, destination: str | None) -> Watch:
        """A channel manages its own watches: an ID from another channel is 'not found' here, so one
        channel cannot remove or mute another's (and cannot learn what others watch)."""
        for watch in await self.store.list_watches(destination):
            if watch.id == watch_id:
                return watch
        where = " in this channel" if destination else ""
        raise NotFound(f"there is no watch {watch_id}{where}; `/watch list` shows the IDs")

    async def run_command(self, command: Command, caller: Caller) -> Reply:
        """Every chat command, whatever the platform: parse (done by the caller) -> here -> render.
        Raises ``UsageError`` (with the text to show) for anything the caller got wrong or may not do."""
        name = command.name
        if len(command.argument) > MAX_COMMAND_ARGUMENT:
            raise UsageError(f"that is {len(command.argument)} characters; a watch query or feed URL may have at "
                             f"most {MAX_COMMAND_ARGUMENT}. Split a long query into several watches.")
        if command.group == "feed" and command.action in ("add", "remove") and not may_manage_feeds(
            self.config.feed_admins, caller
        ):
            raise UsageError("only the people and groups listed in WIREWATCH_FEED_ADMINS may add or remove "
                             "feeds; ask one of them, or add a watch on the feeds already here")
        if name == "watch add":
            watch = await self.add_watch(command.argument, caller.destination, created_by=caller.user_id)
            reply = render_watch_added(watch)
            warning = await self.breadth_warning(watch.query)
            return replace(reply, text=f"{reply.text}\n{warning}") if warning else reply
        if name == "watch list":
            return render_watch_list(await self.store.list_watches(caller.destination), self.clock())
        if name == "watch remove":
            watch = await self._own_watch(command.target_id or 0, caller.destination)
            await self.remove_watch(watch.id)
            return render_removed("watch", watch.id)
        if name == "watch test":
            found, scanned = await self.test_watch(command.argument)
            return render_watch_test(command.argument, found, scanned, self.config.watch_test_days)
        if name == "watch mute":
            until = await self.mute_watch(command.target_id or 0, command.duration_s or 0,
                                          destination=caller.destination)
            return render_muted(command.target_id or 0, until)
        if name == "feed add":
            return render_feed_added(*await self.add_feed_checked(command.argument))
        if name == "feed list":
            return render_feed_list(await self.store.list_feeds())
        if name == "feed remove":
            await self.remove_feed(command.target_id or 0)
            return render_removed("feed", command.target_id or 0)
        if name == "wirewatch status":
            return render_status(await self.status())
        if name == "wirewatch help":
            return Reply(help_text())
        if name == "digest now":
            outcome = await self.digest_now(caller.destination)
            return Reply(digests.render_digest_now(outcome, self.clock()))
        if name == "digest at":
            schedule = await self.set_digest_time(caller.destination, command.at or "", command.zone)
            return Reply(digests.render_digest_at(schedule, self.clock(), default_zone=self.config.digest_zone),
                         public=True, mention_caller=True)
        if name == "digest off":
            await self.digest_off(caller.destination)
            return Reply("no more daily digests here; `/digest at 08:00` turns them back on",
                         public=True, mention_caller=True)
        raise UsageError(help_text())

    # ------------------------------------------------------------------------------------------------
    # Digests (see bot.core.digests for the rules: once per local day, late once, DST)
    # ------------------------------------------------------------------------------------------------

    async def set_digest_time(self, destination: str, at: str, zone: str | None) -> digests.DigestSchedule:
        """``/digest at 08:00 [Zone]``: a zone given is checked and kept; without one the destination
        keeps its zone (or gets the default). Recording when it was set keeps a time already passed
        today from firing a "late" digest at once."""
        digests.check_clock(at)
        current = await self._digest_schedule(destination)
        zone_name = zone or (current.timezone if current else None) or self.config.digest_zone
        zone_name = digests.zone_of(zone_name).key
        now = self.clock()
        await self.store.set_digest_schedule(destination, at=at, timezone=zone_name, enabled=True, set_at=now,
                                             now=now)
        return await self._digest_schedule(destination) or digests.DigestSchedule(destination, at, zone_name)

    async def digest_off(self, destination: str) -> None:
        current = await self._digest_schedule(destination)
        await self.store.set_digest_schedule(
            destination, at=current.at if current else None, timezone=current.timezone if current else None,
            enabled=False, set_at=current.set_at if current else None, now=self.clock(),
        )

    async def digest_now(self, destination: str) -> digests.DigestOutcome:
        """``/digest now`` and ``wirewatch digest now --to``: today's digest, queued in the outbox, unless
        today's is already recorded (then nothing is sent and the outcome says when it went)."""
        now = self.clock()
        schedule = await self._digest_schedule(destination)
        due = digests.digest_now(schedule, destination, now, default_zone=self.config.digest_zone)
        if due is None:
            return digests.DigestOutcome(destination, None, schedule)
        digest = await self._queue_digest(due, schedule, now)
        return digests.DigestOutcome(destination, digest, schedule if digest is None else None)

    async def queue_due_digests(self, *, now: datetime | None = None) -> list[digests.Digest]:
        """The digest tick: every destination whose digest time has come (or came while the bot was down)
        gets that day's digest queued, once; due-ness is computed from stored data and ``now``."""
        now = now or self.clock()
        queued = []
        for schedule in await self.store.digest_schedules():
            try:
                due = digests.due_digest(schedule, now, default_zone=self.config.digest_zone)
            except UsageError as exc:  # a zone the tz database no longer knows: say so, skip it
                log.warning("digest skipped: %s", exc, extra={"channel": schedule.destination})
                continue
            if due is not None:
                digest = await self._queue_digest(due, schedule, now)
                if digest is not None:
                    queued.append(digest)
        return queued

    async def _digest_schedule(self, destination: str) -> digests.DigestSchedule | None:
        found = await self.store.digest_schedules(destination)
        return found[0] if found else None

    async def _queue_digest(
        self, due: digests.DueDigest, schedule: digests.DigestSchedule | None, now: datetime
    ) -> digests.Digest | None:
        start = digests.window_start(schedule, now)
        digest = await self.compose_digest(due, start, now)
        delivery = NewDelivery(due.destination, digests.digest_key(due.local_date), "digest", digest.to_payload())
        if not await self.store.record_digest(delivery, local_date=due.local_date, now=now):
            return None  # another worker (or an earlier command) recorded this day's digest first
        log.info("digest queued", extra={"channel": due.destination, "local_date": due.local_date,
                                         "stories": digest.total, "late": due.late})
        return digest

    async def compose_digest(self, due: digests.DueDigest, start: datetime, end: datetime) -> digests.Digest:
        """Read the destination's matches (the window and the day before it) and the grades and
        corroboration its alerts carried, and compose. Matches of muted watches count: a mute holds back
        alerts, not the record."""
        before = start - timedelta(hours=24)
        rows = await self.store.digest_matches(due.destination, before, end)
        facts: dict[str, tuple[list[str], int]] = {}
        for d in await self.store.destination_deliveries(due.destination, since=before - timedelta(hours=24)):
            payload = d.payload
            story = str(payload.get("story_key") or "")
            if not story:
                continue
            grades, origins = facts.setdefault(story, ([], 0))
            if payload.get("grade"):
                grades.append(str(payload["grade"]))
            facts[story] = (grades, max(origins, digests.origins_of(payload)))
        articles = []
        for entry, outlet, watch, reasons in rows:
            story = entry.story_key or entry.identity
            grades, origins = facts.get(story, ([], 0))
            articles.append(digests.MatchedArticle(
                story=story, title=entry.title, url=entry.url, outlet=_outlet_name(outlet),
                seen_at=entry.fetched_at or end, watch_id=watch.id, watch_query=watch.query,
                places=digests.places_of(reasons),
                grade=min(grades, key=digests.grade_rank) if grades else "", origins=origins,
                published=entry.published,
            ))
        watches = len(await self.store.list_watches(due.destination))
        return digests.compose(articles, due=due, start=start, end=end, top=self.config.digest_top, watches=watches)

    # ------------------------------------------------------------------------------------------------
    # Polling
    # ------------------------------------------------------------------------------------------------

    async def poll_due_feeds(
        self, *, feed_ids: Sequence[int] | None = None, force: bool = False, now: datetime | None = None
    ) -> PollReport:
        """Claim due feeds (or the named ones, due or not / all with ``force``) and poll them concurrently.
        The fetcher bounds concurrency per host and overall; here every claimed feed gets a task."""
        now = now or self.clock()
        report = PollReport()
        if not (force or feed_ids):
            await self._poll_batch(await self.store.claim_due_feeds(
                now, limit=self.config.poll_batch, lease_s=self.config.poll_lease_s), now, report)
            return report
        # Polling everything at once would hold leases past their time and every database connection:
        # claim and poll in batches, each batch leased only while it is worked on.
        ids = list(feed_ids or [f.id for f in await self.store.list_feeds() if f.status is not FeedStatus.RETIRED])
        for start in range(0, len(ids), self.config.poll_batch):
            chunk = ids[start:start + self.config.poll_batch]
            claims = await self.store.claim_due_feeds(
                now, limit=len(chunk), lease_s=self.config.poll_lease_s, feed_ids=chunk, force=True)
            await self._poll_batch(claims, now, report)
            now = self.clock()
        return report

    async def _poll_batch(self, claims: Sequence[FeedClaim], now: datetime, report: PollReport) -> None:
        if not claims:
            return
        await self._refresh_matcher()
        if self._desk is not None:
            await self._desk.sync(now)
        report.feeds.extend(await asyncio.gather(*(self._poll_guarded(c) for c in claims)))

    async def _poll_guarded(self, claim: FeedClaim) -> FeedPollResult:
        self._finisher.started(claim.feed.id)
        try:
            return await self.poll_feed(claim)
        except Exception as exc:  # noqa: BLE001 - one feed's bug must not stop the others; logged loudly
            log.exception("poll failed", extra={"feed_id": claim.feed.id, "feed_url": claim.feed.url})
            self.metrics.feed_polled("internal_error", fetch_s=0.0, new_entries=0)
            return FeedPollResult(claim.feed.id, claim.feed.url, "internal error", error=repr(exc))
        finally:
            self._finisher.gone(claim.feed.id)

    async def poll_feed(self, claim: FeedClaim) -> FeedPollResult:
        feed = claim.feed
        started = time.monotonic()
        result = await self.fetcher.fetch(feed.url, etag=feed.etag, last_modified=feed.last_modified)
        parsed: ParsedFeed | None = None
        if result.outcome is FetchOutcome.MODIFIED:
            parsed = await self.parser.parse(result.body, result.headers, result.final_url or feed.url, feed.id)
        now = self.clock()
        update = polling.plan_after_fetch(feed, result, parsed, now=now, rng=self.rng, policy=self.config.policy)
        outcome = result.outcome.value if update.last_error is None else "error"
        if parsed is not None and parsed.is_feed and parsed.problem and update.last_error is None:
            # Read despite a problem (a wrong charset, an entity bomb cut short, stray bytes): the feed stays
            # "ok", but its health says what was wrong so its owner can be told; a clean poll clears it.
            update = replace(update, last_error=f"read despite a problem: {parsed.problem}", clear_error=False)

        entries: list[Entry] = list(parsed.entries) if parsed and parsed.is_feed else []
        deliveries: list[NewDelivery] = []
        matches: list[tuple[str, int, str]] = []
        if entries:
            known = await self.store.known_identities(feed.id, [e.identity for e in entries])
            fresh = [e for e in entries if e.identity not in known]
            named = replace(feed, title=feed.title or parsed.title)  # a first poll names the outlet
            if fresh and self._desk is not None:
                fresh = [self._desk.place(e, named, now) for e in fresh]
            # Only the new entries go to the store: the known ones are stored already (or pruned, with a
            # tombstone) and the store would only skip them again, at a few statements per known entry.
            # Known stays known while we hold the lease (no other poller stores this feed's entries).
            entries = fresh
            if fresh and self._matcher is not None:
                deliveries, matches = self._alerts_for(named, fresh, now)
                if deliveries and self._full_text is not None:
                    alerted = {d.payload.get("entry_identity") for d in deliveries if d.kind == "alert"}
                    pages = await self._full_text.texts([e for e in fresh if e.identity in alerted], now)
                    if pages:  # assessed again on the page texts (matching is cheap; alerts are few)
                        deliveries, matches = self._alerts_for(named, fresh, now, pages)
                if self._desk is not None and not feed.baseline_pending:
                    deliveries += await self._desk.follow_ups(
                        named, fresh, {w.destination for w in self._watches.values()})
        stored = await self._finisher.finish(
            FinishedPoll(claim, update, tuple(entries), tuple(deliveries), tuple(matches)))
        elapsed_ms = int((time.monotonic() - started) * 1000)
        if stored is None:
            log.warning("lease lost; another poller owns the feed now", extra={"feed_id": feed.id})
            self.metrics.feed_polled("lease_lost", fetch_s=result.elapsed_ms / 1000, new_entries=0)
            return FeedPollResult(feed.id, feed.url, "lease lost")
        self.metrics.feed_polled(outcome, fetch_s=result.elapsed_ms / 1000, new_entries=len(stored))
        log.info(
            "polled",
            extra={"feed_id": feed.id, "feed_url": feed.url, "status": result.status, "outcome": outcome,
                   "new_entries": len(stored), "alerts": len(deliveries), "elapsed_ms": elapsed_ms,
                   "next_poll_at": update.next_poll_at.isoformat()},
        )
        return FeedPollResult(
            feed.id, feed.url, outcome, new_entries=len(stored),
            alerts=len(deliveries) if not feed.baseline_pending else 0, error=update.last_error,
        )

    def _alerts_for(
        self, feed: Feed, entries: Sequence[Entry], now: datetime, pages: Mapping[str, ArticleText] | None = None,
    ) -> tuple[list[NewDelivery], list[tuple[str, int, str]]]:
        """Match new entries against every watch at once; one outbox row per (destination, story).

        A feed's first successful poll is its baseline: matches are recorded (so ``watch test`` and the
        digest know them) but nothing is sent, or adding a feed would flood every channel with its
        back catalogue."""
        assert self._matcher is not None
        by_key: "OrderedDict[tuple[str, str], tuple[Entry, list[tuple[Watch, Sequence[Hit]]]]]" = OrderedDict()
        matches: list[tuple[str, int, str]] = []
        for entry in entries:
            for group in self._matcher.match_groups(entry):
                reasons = None  # the group's hits as JSON, encoded once for all its watches
                for watch_id in group.watch_ids:
                    watch = self._watches.get(watch_id)
                    if watch is None:
                        continue
                    if reasons is None:
                        reasons = _reasons_json(group.hits)
                    matches.append((entry.identity, watch.id, reasons))
                    if watch.muted_until and watch.muted_until > now:
                        continue
                    key = (watch.destination, entry.story_key or entry.identity)
                    slot = by_key.setdefault(key, (entry, []))
                    slot[1].append((watch, group.hits))
        if feed.baseline_pending:
            return [], matches
        deliveries = []
        for (destination, _), (entry, matched) in by_key.items():
            alert = build_alert(destination, entry, feed, matched)
            if self._desk is not None:
                alert = self._desk.assessed(alert, entry, feed, (pages or {}).get(entry.url))
            deliveries.append(NewDelivery(destination, alert.alert_key, "alert", alert.to_payload()))
        return deliveries, matches

    async def _refresh_matcher(self) -> None:
        """Rebuild the matcher when the watches changed (another process may have added one).

        WHY the generation: reloading 10,000 watches every batch to find them unchanged was a large part
        of a 304 poll cycle; one read of ``Store.watch_generation`` says whether anything changed. It is
        read *before* the list: a change committed between the two reads is already in the list and has
        moved the generation past the one kept, so the worst case is one needless reload next batch, never
        a missed change. The key comparison still spares a rebuild when the change left the list as it was."""
        generation = await self.store.watch_generation()
        if generation == self._watch_generation and self._matcher is not None:
            return
        watches = await self.store.list_watches()
        key = tuple((w.id, w.query, w.destination, w.muted_until) for w in watches)
        if key == self._matcher_key and self._matcher is not None:
            self._watch_generation = generation
            return
        self._watches = {w.id: w for w in watches}
        # In a worker thread: a rebuild takes up to a second for 10,000 watches (and the first place watch
        # may open the gazetteer); deliveries, health checks and chat commands go on meanwhile. The old
        # matcher hands over what it learnt about term frequencies.
        self._matcher = await asyncio.to_thread(build_matcher, watches, self.places, self._matcher)
        self._matcher_key = key
        self._watch_generation = generation
        for problem in getattr(self._matcher, "errors", ()):
            log.warning("watch skipped: %s", problem)

    # ------------------------------------------------------------------------------------------------
    # Delivery
    # ------------------------------------------------------------------------------------------------

    async def deliver_pending(self, *, now: datetime | None = None) -> DeliveryReport:
        """Drain what is due in the outbox: destinations in parallel, each one in order.

        A transient failure stops that destination's queue (later rows wait, so order holds) without
        holding up any other destination; a permanent one dead-letters the row and the queue goes on.

        A queue stops sending at half its lease and gives the rest back: a platform paced at one message a
        second would otherwise still be working through a long claim after the lease lapsed, while another
        sender takes the same rows over and posts them a second time."""
        now = now or self.clock()
        claimed = await self.store.claim_deliveries(
            now, limit=self.config.delivery_batch, lease_s=self.config.delivery_lease_s
        )
        stop_at = time.monotonic() + self.config.delivery_lease_s / 2
        report = DeliveryReport()
        queues: "OrderedDict[str, list[Delivery]]" = OrderedDict()
        for d in claimed:
            queues.setdefault(d.destination, []).append(d)
        sent_log = _SentLog(self.store)
        try:
            # return_exceptions: a queue that fails (a store error) lets the others finish, and their sends
            # are recorded below before the error is raised.
            outcomes = await asyncio.gather(*(self._deliver_queue(q, report, sent_log, stop_at)
                                              for q in queues.values()), return_exceptions=True)
        finally:
            # shield: a shutdown cancels the pass; the sends it made are still written (else they would
            # only be reconciled after the lease lapses).
            await asyncio.shield(sent_log.close())
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        return report

    async def deliver_all(self) -> DeliveryReport:
        """Deliver until nothing more is due now (or a destination must wait for a retry)."""
        total = DeliveryReport()
        while True:
            report = await self.deliver_pending()
            total.sent += report.sent
            total.retried += report.retried
            total.dead += report.dead
            total.errors += report.errors
            if report.sent + report.dead == 0 or report.retried:
                return total

    async def _deliver_queue(self, queue: list[Delivery], report: DeliveryReport, sent_log: _SentLog,
                             stop_at: float = float("inf")) -> None:
        for i, delivery in enumerate(queue):
            if i and time.monotonic() >= stop_at:
                await sent_log.flush()
                await self.store.release(queue[i:])
                return
            notifier = self.notifiers.get(delivery.destination.split(":", 1)[0])
            if notifier is None:
                kind = delivery.destination.split(":", 1)[0]
                error = f"{kind} is not configured in this process; see the README's settings table"
                await sent_log.flush()
                await self.store.mark_retry(
                    delivery, next_attempt_at=self.clock() + timedelta(seconds=self.config.unconfigured_retry_s),
                    error=error,
                )
                await self.store.release(queue[i + 1:])
                report.retried += 1
                report.errors.append(error)
                return
            if delivery.kind == "followup" and not delivery.payload.get("thread_ref"):
                await sent_log.flush()  # its alert may be waiting in the log: the store must know its message id
                delivery = await self._with_thread_ref(delivery)
            try:
                result = await notifier.send(delivery)
            except Exception as exc:  # noqa: BLE001 - a notifier bug becomes a retry, logged with traceback
                log.exception("notifier raised", extra={"channel": delivery.destination})
                result = SendResult.retry(f"internal error: {exc!r}")
            now = self.clock()
            platform = delivery.destination.split(":", 1)[0]
            if result.status is SendStatus.SENT:
                await sent_log.add(delivery, result.message_ref, now)
                self.metrics.delivery_finished(platform, "sent")
                report.sent += 1
                continue
            if result.status is SendStatus.PERMANENT or delivery.attempts >= self.config.max_attempts:
                self.metrics.delivery_finished(platform, "dead")
                await self.store.mark_dead(delivery, error=result.error or "failed", now=now)
                log.error("delivery dead-lettered",
                          extra={"channel": delivery.destination, "error": result.error})
                report.dead += 1
                report.errors.append(f"{delivery.destination}: {result.error}")
                continue
            delay = result.retry_after_s
            if delay is None:
                delay = polling.backoff_s(
                    delivery.attempts, base_s=self.config.retry_base_s, cap_s=self.config.retry_cap_s, rng=self.rng
                )
            self.metrics.delivery_finished(platform, "retry")
            await sent_log.flush()
            await self.store.mark_retry(delivery, next_attempt_at=now + timedelta(seconds=delay),
                                        error=result.error or "failed")
            await self.store.release(queue[i + 1:])
            report.retried += 1
            report.errors.append(f"{delivery.destination}: {result.error}")
            return


    async def _with_thread_ref(self, delivery: Delivery) -> Delivery:
        """A follow-up goes in its alert's thread: hand the notifier the alert's posted message id."""
        parent_key = str(delivery.payload.get("parent_key") or "")
        found = await self.store.get_deliveries([(delivery.destination, parent_key)]) if parent_key else []
        if found and found[0].message_ref:
            return replace(delivery, payload={**delivery.payload, "thread_ref": found[0].message_ref})
        return delivery

    # ------------------------------------------------------------------------------------------------
    # Retention
    # ------------------------------------------------------------------------------------------------

    async def prune_old_entries(self, *, now: datetime | None = None) -> int:
        """Forget entries (and sent alerts) older than ``retention_days``. Their identities stay behind as
        tombstones for ``tombstone_days``, so a feed that serves an old item again alerts nobody."""
        now = now or self.clock()
        pruned = await self.store.prune(
            now - timedelta(days=self.config.retention_days), now=now,
            tombstones_before=now - timedelta(days=self.config.tombstone_days),
        )
        if pruned:
            log.info("pruned old entries", extra={"entries": pruned, "retention_days": self.config.retention_days})
        return pruned


class _NoMetrics:
    """The ``Metrics`` port when nobody collects them."""

    def feed_polled(self, outcome: str, *, fetch_s: float, new_entries: int) -> None:
        return None

    def delivery_finished(self, platform: str, status: str) -> None:
        return None


def _outlet_name(outlet: str) -> str:
    """The store gives the feed's outlet, else its title, else its URL: a URL becomes its host."""
    if outlet.lower().startswith(("http://", "https://")):
        return outlet.split("://", 1)[1].split("/", 1)[0]
    return outlet


def build_matcher(watches: Sequence[Watch], places: object, previous: Matcher | None = None) -> Matcher:
    """Build the matcher, then move the long-lived heap out of the cyclic collector's sight.

    WHY: the matcher and the gazetteer's place scanners are a few hundred thousand small objects (dicts,
    tuples, sets) that live until the next watch change and hold no reference cycles. Left in the
    collector's generations, every full collection walks all of them, and matching allocates fast
    enough (hits, matches) to trigger collections often: measured, ~20 % of matching time with 10,000
    watches. ``gc.freeze`` keeps them out of every collection; the collection just before it (with the
    previous freeze undone) frees whatever cyclic garbage the previous matcher left, so nothing piles up
    in the permanent generation across rebuilds. Runs in the rebuild's worker thread."""
    matcher = Matcher.build(watches, places, previous)
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    return matcher


def _reasons_json(hits: Sequence[Hit]) -> str:
    return json.dumps(
        [{"term": h.term, "text": h.matched_text, "field": h.field, "place": h.place} for h in hits],
        ensure_ascii=False,
    )


#: How long the writer of finished polls waits for the rest of its batch (``_PollFinisher``).
GROUP_LINGER_S = 0.05


class _PollFinisher:
    """Group commit for finished polls: the polls that finish while a write is under way are written
    together by the next one, in one transaction (``Store.finish_polls``).

    WHY: a commit per feed made every poll queue for SQLite's single writer and pay a disk flush (~7 ms
    each): a cycle of 1,000 304s took 6 s against 0.2 s of HTTP. The writer waits for the polls of the
    batch still running, but at most ``linger_s`` (``GROUP_LINGER_S``): a batch answered quickly is written
    in one commit instead of three (the first poll alone, then whatever finished meanwhile, then the rest),
    while an alert never waits for a slow fetch of its batch longer than the linger, far below a poll
    interval and a lease.

    WHY the promises still hold: each poll of a group is fenced by its own claim (a stale one writes
    nothing, the others are written), and a group is one transaction, so a feed's entries, matches and
    outbox rows are still written together or not at all. Sharing the transaction with other feeds is
    safe: a crash before the commit loses the whole group, but nothing of it was committed, so nothing is
    doubled, and every lease lapses so every feed of it is polled again, so nothing is lost. A group that
    fails is written again one poll at a time (``finish_poll``), so one feed's bad value still fails that
    feed only."""

    def __init__(self, store: Store):
        self.store = store
        self._waiting: list[tuple[FinishedPoll, asyncio.Future[list[Entry] | None]]] = []
        self._writer = asyncio.Lock()
        self._running: set[int] = set()  # feeds whose poll is under way and not yet waiting here
        self._moved = asyncio.Event()  # a running poll arrived or gave up

    def started(self, feed_id: int) -> None:
        """A poll of this feed began: a writer may wait a little for it."""
        self._running.add(feed_id)

    def gone(self, feed_id: int) -> None:
        """The poll of this feed arrived here or ended without a finish (it failed): wait no more for it."""
        self._running.discard(feed_id)
        self._moved.set()

    async def finish(self, poll: FinishedPoll) -> list[Entry] | None:
        """``Store.finish_poll``'s answer for this poll, once the group holding it is committed."""
        done: asyncio.Future[list[Entry] | None] = asyncio.get_running_loop().create_future()
        self._waiting.append((poll, done))
        self.gone(poll.claim.feed.id)
        async with self._writer:
            if not done.done() and self._waiting:  # nobody took ours meanwhile: write everything waiting
                await self._linger()
                group, self._waiting = self._waiting, []
                # shield: a cancelled poll (shutdown) must not abandon the others' write halfway
                await asyncio.shield(self._write(group))
        return await done

    async def _linger(self) -> None:
        """Wait until no poll is still running, or ``linger_s`` has passed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + GROUP_LINGER_S
        while self._running and (left := deadline - loop.time()) > 0:
            self._moved.clear()
            try:
                await asyncio.wait_for(self._moved.wait(), left)
            except TimeoutError:
                return

    async def _write(self, group: list[tuple[FinishedPoll, asyncio.Future[list[Entry] | None]]]) -> None:
        try:
            try:
                results = await self.store.finish_polls([poll for poll, _ in group])
            except Exception as exc:  # noqa: BLE001 - which poll failed is unknown: each is retried alone
                if len(group) == 1:
                    group[0][1].set_exception(exc)
                    return
                log.warning("group finish failed; finishing its polls one by one",
                            extra={"feeds": len(group), "error": repr(exc)})
                await asyncio.gather(*(self._write_one(poll, done) for poll, done in group))
                return
            for (_, done), result in zip(group, results):
                done.set_result(result)
        finally:
            for _, done in group:  # interrupted (the loop is closing): nobody waits forever
                if not done.done():
                    done.cancel()

    async def _write_one(self, poll: FinishedPoll, done: asyncio.Future[list[Entry] | None]) -> None:
        try:
            done.set_result(await self.store.finish_poll(poll.claim, poll.update, poll.entries, poll.deliveries,
                                                         poll.matches))
        except Exception as exc:  # noqa: BLE001 - handed to that poll's task, which logs it as its failure
            done.set_exception(exc)


class _FullText:
    """Main texts of article pages, for alerts whose feed carried only a summary (WIREWATCH_FULL_TEXT).

    Politeness and safety come from the ``Fetcher`` (the feed fetcher itself: user agent, per-host limits,
    size caps, timeouts, SSRF guard). Each page is read at most once: the text, or the failure, is stored
    (``Store.save_article_texts``) before it is used, and a stored one is never fetched again. Only alerted
    entries get here; a few pages at a time, and the poll waits at most ``full_text_cap_s`` for all of
    them (what did not arrive in time is assessed on its summary, and not asked for again)."""

    MIN_WORDS = 40  # fewer words extracted than this: not the article (graded on the summary instead)

    def __init__(self, store: Store, fetcher: Fetcher, extractor: ArticleExtractor, config: ServiceConfig):
        self.store = store
        self.fetcher = fetcher
        self.extractor = extractor
        self.config = config

    @staticmethod
    def wanted(entry: Entry) -> bool:
        return entry.url.lower().startswith(("http://", "https://")) and len(entry.summary.split()) < PARTIAL_WORDS

    async def texts(self, entries: Sequence[Entry], now: datetime) -> dict[str, ArticleText]:
        """URL -> stored or newly read text, for the entries whose text is short."""
        urls = list(dict.fromkeys(e.url for e in entries if self.wanted(e)))
        if not urls:
            return {}
        known = await self.store.article_texts(urls)
        missing = [u for u in urls if u not in known]
        if missing:
            gate = asyncio.Semaphore(max(1, self.config.full_text_concurrency))

            async def one(url: str) -> ArticleText:
                async with gate:
                    return await self._read(url, now)

            tasks = {asyncio.create_task(one(u)): u for u in missing}
            done, pending = await asyncio.wait(tasks, timeout=self.config.full_text_cap_s)
            for task in pending:
                task.cancel()
            fresh = []
            for task, url in tasks.items():
                if task in done and not task.cancelled() and task.exception() is None:
                    fresh.append(task.result())
                else:
                    why = ("time cap reached" if task in pending or task.cancelled()
                           else f"internal error: {task.exception()!r}")
                    if task not in pending and not task.cancelled():
                        log.error("article page read failed", exc_info=task.exception(), extra={"url": url})
                    fresh.append(ArticleText(url, "", f"failed: {why}", now))
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
            await self.store.save_article_texts(fresh)
            known.update(await self.store.article_texts([t.url for t in fresh]))  # the first stored wins
            read = sum(1 for t in fresh if t.usable)
            log.info("article pages read", extra={"pages": len(fresh), "read": read, "failed": len(fresh) - read})
        return {u: t for u, t in known.items() if t.usable}

    async def _read(self, url: str, now: datetime) -> ArticleText:
        result = await self.fetcher.fetch(url)
        if result.outcome is not FetchOutcome.MODIFIED:
            reason = result.error or (f"HTTP {result.status}" if result.status else result.outcome.value)
            return ArticleText(url, "", f"failed: {reason}", now)
        ctype = str(result.headers.get("content-type", "")).lower()
        if ctype and "html" not in ctype:
            return ArticleText(url, "", f"failed: not a web page ({ctype.split(';')[0]})", now)
        page = await asyncio.to_thread(self.extractor, result.body, result.final_url or url)
        words = len(page.text.split())
        if words < self.MIN_WORDS:  # a menu, a paywall teaser or a cookie wall is not the article
            return ArticleText(url, "", f"failed: no main text found on the page ({words} words)", now)
        return ArticleText(url, page.text, "page", now, links=tuple(page.links))


SYNC_YIELD_EVERY = 100  # stored entries placed between two hand-backs of the event loop (~0.3 s at most)
SYNC_REPORT_EVERY = 10_000  # a progress line in the log this often during a long rebuild


class _StoryDesk:
    """Stories, sourcing and corroboration for the service: which story a new entry belongs to, how well
    each alerted article is sourced, how many independent outlets carry the story, and when a channel
    that was alerted should hear that this changed.

    The story index lives in memory and is rebuilt from the stored entries of the window at the first
    poll, then kept in step with entries other processes stored (``sync``). A story's key is stored
    with its entries; when the rebuilt index groups entries differently from before, the key the
    entries were stored with wins (``_alias``), so alert keys never change under a restart."""

    def __init__(self, store: Store, lexicons: Lexicons, window: timedelta):
        self.store = store
        self.lexicons = lexicons
        self.window = window
        self.index = StoryIndex(lexicons, window=window)
        self._alias: dict[str, str] = {}  # index story id -> stored story key
        self._story_of: dict[str, str] = {}  # stored story key -> index story id
        self._outlets: dict[int, str] = {}
        self._unnamed: set[int] = set()  # feeds named by their URL when last read (no outlet, no title yet)
        self._synced_at: datetime | None = None
        self._syncing = asyncio.Lock()

    async def sync(self, now: datetime) -> None:
        async with self._syncing:  # two poll batches at once (never in the scheduler) sync one after the other
            await self._sync(now)

    async def _sync(self, now: datetime) -> None:
        since = now - self.window if self._synced_at is None else self._synced_at - timedelta(minutes=5)
        entries = await self.store.recent_entries(since, limit=200_000)
        await self._read_outlets({e.feed_id for e in entries})
        started = time.monotonic()
        for n, entry in enumerate(entries, 1):
            assignment = self.index.add(self._article(entry, self._outlets.get(entry.feed_id, ""), entry.fetched_at or now))
            if entry.story_key:
                self._name(assignment.story_id, entry.story_key)
            if n % SYNC_YIELD_EVERY == 0:
                # WHY: the first sync after a start rebuilds the window from the store, a few ms an entry
                # (100,000 entries: minutes). Done in one go it would hold the event loop: no Slack ack
                # within its 3 s, no deliveries, no health answers. Handing the loop back every few hundred
                # entries keeps the rest of the bot working meanwhile.
                await asyncio.sleep(0)
                if n % SYNC_REPORT_EVERY == 0:
                    log.info("story index: %d of %d stored entries placed (%.0f s)", n, len(entries),
                             time.monotonic() - started)
        if len(entries) >= SYNC_REPORT_EVERY:
            log.info("story index: rebuilt from %d stored entries in %.1f s", len(entries), time.monotonic() - started)
        # The window ends at the newest article, or now if that is later: items dated in the past (an
        # archive, the demo's fixed dates) still meet the stories they belong to; a date in the future
        # cannot push the window forward.
        newest = self.index.newest
        self.index.prune(min(now, newest) - self.window if newest else now - self.window)
        self._synced_at = now

    async def _read_outlets(self, feed_ids: set[int]) -> None:
        """Read the feeds' outlet names when an entry comes from a feed not read yet or still named by its
        URL. WHY not every sync: a sync runs every poll batch, and reading 10,000 feeds took 370 ms on
        SQLite (measured), more than the batch's polls. An outlet is set when its feed is added and a title
        at its first poll, so a feed read with either keeps its name. Read after the entries, so every
        feed an entry names is in the read."""
        if self._synced_at is not None and all(f in self._outlets and f not in self._unnamed for f in feed_ids):
            return
        feeds = await self.store.list_feeds()
        self._outlets = {f.id: _outlet_name(f.outlet or f.title or f.url) for f in feeds}
        self._unnamed = {f.id for f in feeds if not (f.outlet or f.title)}

    def place(self, entry: Entry, feed: Feed, now: datetime) -> Entry:
        """The entry with its story key: the story it joins, or a new story it starts."""
        outlet = _outlet_name(feed.outlet or feed.title or feed.url)
        assignment = self.index.add(self._article(entry, outlet, now))
        return replace(entry, story_key=self._name(assignment.story_id, f"story:{assignment.story_id}"))

    def _name(self, story_id: str, key: str) -> str:
        key = self._alias.setdefault(story_id, key)
        self._story_of.setdefault(key, story_id)
        return key

    def _story_id(self, story_key: str) -> str | None:
        return self._story_of.get(story_key)

    def corroboration(self, story_key: str) -> Corroboration | None:
        story_id = self._story_id(story_key)
        return corroboration(self.index.story(story_id)) if story_id else None

    def assessed(self, alert: Alert, entry: Entry, feed: Feed, page: ArticleText | None = None) -> Alert:
        """The alert with its sourcing line and corroboration. ``page``: the article page's main text, when
        full text is on and the feed carried only a summary; the assessment then reads the whole article."""
        full = page is not None and page.usable
        assessment = assess(
            SourcedArticle(title=entry.title, text=page.text if full and page else entry.summary, url=entry.url,
                           outlet=alert.outlet, published=entry.published, author=entry.author,
                           links=page.links if full and page else (), is_summary=False if full else None),
            self.lexicons,
        )
        corr = self.corroboration(alert.story_key)
        return replace(
            alert, sourcing=assessment.reasons, grade=assessment.grade, score=assessment.score,
            corroboration=corr.line if corr else "not yet corroborated",
            independent_origins=corr.independent_origins if corr else 1,
            disputed_by=tuple(corr.disputed_by) if corr else (),
        )

    async def follow_ups(
        self, feed: Feed, entries: Sequence[Entry], destinations: set[str]
    ) -> list[NewDelivery]:
        """One follow-up per destination already alerted about a story each time the story gains an
        independent origin or a dispute (``deserves_follow_up``), never for copies and echoes."""
        out: list[NewDelivery] = []
        for entry in entries:
            corr = self.corroboration(entry.story_key)
            if corr is None or len(corr.relations) < 2:  # a story of one article has nothing to update
                continue
            keys = [(d, alert_key(d, entry.story_key)) for d in sorted(destinations)]
            for alert_row in await self.store.get_deliveries(keys):  # stored alerts: earlier polls
                if alert_row.kind != "alert":
                    continue
                before = Corroboration(
                    story_id=corr.story_id,
                    independent_origins=int(alert_row.payload.get("independent_origins") or 1),
                    disputed_by=tuple(alert_row.payload.get("disputed_by") or ()),
                )
                if not deserves_follow_up(before, corr):
                    continue
                key = f"{alert_row.dedupe_key}:update:{corr.independent_origins}:{'|'.join(sorted(corr.disputed_by))}"
                out.append(NewDelivery(alert_row.destination, key, "followup", {
                    "parent_key": alert_row.dedupe_key, "story_key": entry.story_key,
                    "text": f"Update: {corr.line}", "corroboration": corr.line,
                    "independent_origins": corr.independent_origins, "disputed_by": list(corr.disputed_by),
                    "title": entry.title, "url": entry.url, "outlet": _outlet_name(feed.outlet or feed.title or feed.url),
                }))
        return out

    @staticmethod
    def _article(entry: Entry, outlet: str, fallback: datetime) -> StoryArticle:
        return StoryArticle(
            entry_id=f"{entry.feed_id}:{entry.identity}", outlet=outlet, title=entry.title,
            published=entry.published or entry.fetched_at or fallback, text=entry.summary, url=entry.url,
            author=entry.author,
        )
