"""The few seams the service needs. Each Protocol is a contract; fakes need not inherit anything.

Every implementation of ``Store`` passes the same contract suite (``tests/test_store_contract.py``):
the in-memory store, SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from datetime import datetime
from typing import Mapping, Protocol, Sequence

from bot.core.digests import DigestSchedule
from bot.core.sourcing import ArticleText
from bot.core.models import (
    Delivery,
    Entry,
    Feed,
    FeedClaim,
    FeedUpdate,
    FetchResult,
    FinishedPoll,
    NewDelivery,
    ParsedFeed,
    SendResult,
    Watch,
)


class Fetcher(Protocol):
    async def fetch(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> FetchResult:
        """One polite conditional GET. Never raises for network or HTTP trouble: that is a FetchResult."""
        ...

    async def close(self) -> None: ...


class FeedParser(Protocol):
    async def parse(
        self, body: bytes, headers: Mapping[str, str], url: str, feed_id: int
    ) -> ParsedFeed:
        """Parse one body with a time limit. A runaway parse is killed and comes back as
        ``ParsedFeed(is_feed=False, problem=...)``; it never stops the caller."""
        ...

    async def close(self) -> None: ...


class Notifier(Protocol):
    async def send(self, delivery: Delivery) -> SendResult:
        """Deliver one outbox row. When ``delivery.outcome_unknown`` is set, an earlier attempt may have
        gone through: look for ``delivery.dedupe_key`` at the destination first and return
        ``SendResult.sent`` without posting if it is there. Never raises for platform trouble."""
        ...


class PageText(Protocol):
    """What an article page says: its main text and its outbound links (for primary-evidence links)."""

    @property
    def text(self) -> str: ...

    @property
    def links(self) -> tuple[str, ...]: ...


class ArticleExtractor(Protocol):
    def __call__(self, html: bytes, url: str) -> PageText:
        """The main text of an article page already fetched (by the ``Fetcher``: same limits and SSRF
        rules). Pure CPU work on the bytes given, no network; the service runs it in a worker thread.
        An empty ``text`` when nothing usable is there."""
        ...


class Metrics(Protocol):
    """What the service reports while it works (Prometheus counters in ``bot.app.health``). Each call is
    cheap, synchronous and never raises; the service works the same without one."""

    def feed_polled(self, outcome: str, *, fetch_s: float, new_entries: int) -> None:
        """One poll finished: ``outcome`` is modified, not_modified, gone, rate_limited, error,
        lease_lost or internal_error."""
        ...

    def delivery_finished(self, platform: str, status: str) -> None:
        """One send attempt ended: ``status`` is sent, retry or dead."""
        ...


class Store(Protocol):
    # ---- feeds ------------------------------------------------------------------------------------
    async def add_feed(
        self, url: str, *, interval_s: int, baseline: bool, now: datetime, first_poll_at: datetime,
        title: str = "", outlet: str = "", language: str = "",
    ) -> tuple[Feed, bool]:
        """Add a feed, or return the one already stored under that URL. The bool says it is new."""
        ...

    async def get_feed(self, feed_id: int) -> Feed | None: ...

    async def list_feeds(self) -> list[Feed]: ...

    async def remove_feed(self, feed_id: int) -> bool:
        """Remove a feed and its entries. False if there was no such feed."""
        ...

    async def claim_due_feeds(
        self, now: datetime, *, limit: int, lease_s: float, feed_ids: Sequence[int] | None = None,
        force: bool = False,
    ) -> list[FeedClaim]:
        """Lease up to ``limit`` feeds whose ``next_poll_at <= now`` (or every named / every feed with
        ``force``), never a retired one, never one whose lease is still running. The lease pushes
        ``next_poll_at`` forward by ``lease_s``, so a poller that dies lets its feeds come due again."""
        ...

    async def known_identities(self, feed_id: int, identities: Sequence[str]) -> set[str]:
        """Which of these identities are already stored for this feed (or were, and were pruned)."""
        ...

    async def finish_poll(
        self, claim: FeedClaim, update: FeedUpdate, entries: Sequence[Entry],
        deliveries: Sequence[NewDelivery], matches: Sequence[tuple[str, int, str]] = (),
    ) -> list[Entry] | None:
        """In one transaction: store the entries that are new for this feed (identity unique per feed),
        create the deliveries that do not exist yet (``(destination, dedupe_key)`` unique), record the
        matches (entry identity, watch id, reasons as JSON) and write the feed update.

        Returns only the entries that were new, with their ids. Returns None, and writes nothing, if the
        claim's lease was lost (another poller holds the feed now)."""
        ...

    async def finish_polls(self, polls: Sequence[FinishedPoll]) -> list[list[Entry] | None]:
        """``finish_poll`` for a group of polls in one transaction (one commit for all of them), results
        in the order given. Each poll is fenced on its own claim: one whose lease was lost gets None and
        writes nothing, the others are written. All or nothing for the group: if it raises, nothing of any
        of them was written (their leases lapse and the feeds are polled again)."""
        ...

    # ---- watches ----------------------------------------------------------------------------------
    async def add_watch(self, query: str, destination: str, *, created_by: str, now: datetime) -> Watch: ...

    async def list_watches(self, destination: str | None = None) -> list[Watch]: ...

    async def remove_watch(self, watch_id: int) -> bool: ...

    async def set_watch_muted(self, watch_id: int, until: datetime | None) -> bool:
        """Set (or with None clear) a watch's ``muted_until``. False if there is no such watch."""
        ...

    async def watch_generation(self) -> int:
        """A number that changes in the same transaction as every change to the watches (``add_watch``,
        ``remove_watch``, ``set_watch_muted``), read with one tiny query. A poller keeps the number it built
        its matcher from and reloads ``list_watches`` only when this differs: a watch added by another
        process (a chat worker) is seen at the next poll batch, and an unchanged list costs no reload."""
        ...

    # ---- entries ----------------------------------------------------------------------------------
    async def recent_entries(self, since: datetime, *, limit: int = 10_000) -> list[Entry]: ...

    # ---- digests ----------------------------------------------------------------------------------
    async def set_digest_schedule(
        self, destination: str, *, at: str | None, timezone: str | None, enabled: bool,
        set_at: datetime | None, now: datetime,
    ) -> None:
        """Create the destination if it is new and write its digest time ("HH:MM"), zone, on/off and
        when the time was set (a schedule set after today's time does not fire late today)."""
        ...

    async def digest_schedules(self, destination: str | None = None) -> list[DigestSchedule]:
        """Every destination (or the one named, if it exists) with its digest settings and the local date
        and cut-off (``created_at``) of its newest recorded digest."""
        ...

    async def digest_matches(
        self, destination: str, since: datetime, until: datetime
    ) -> list[tuple[Entry, str, Watch, str]]:
        """``(entry, outlet, watch, reasons JSON)`` for every recorded match of one of the destination's
        current watches whose entry was stored (``fetched_at``) in ``[since, until)``, oldest first.
        ``outlet`` is the feed's outlet, else its title, else its URL."""
        ...

    async def record_digest(self, delivery: NewDelivery, *, local_date: str, now: datetime) -> bool:
        """In one transaction: claim ``(delivery.destination, local_date)`` in the digests table (unique)
        and create the outbox row. False, and nothing written, when that day's digest is already
        recorded: several workers, restarts and ``/digest now`` can never make a second one."""
        ...

    async def destination_deliveries(
        self, destination: str, *, since: datetime, kinds: Sequence[str] = ("alert", "followup"),
    ) -> list[Delivery]:
        """Outbox rows of these kinds for one destination created at or after ``since``, oldest first
        (the digest reads the grades and corroboration its alerts carried)."""
        ...

    # ---- outbox -----------------------------------------------------------------------------------
    async def claim_deliveries(self, now: datetime, *, limit: int, lease_s: float) -> list[Delivery]:
        """Lease deliverable rows, oldest first, keeping per-destination order: a destination whose
        oldest unsent row is not yet due (waiting for a retry) contributes nothing. A row whose earlier
        claim lapsed comes back with ``outcome_unknown=True``."""
        ...

    async def mark_sent_many(self, sent: Sequence[Delivery]) -> int:
        """Record several sends in one transaction: each claimed row becomes sent with the ``message_ref``
        and ``sent_at`` it carries. Fenced on the claim: a row whose claim is no longer ours (it lapsed and
        another sender took it) is left alone and logged. Returns how many of them stand
        recorded as sent under their own claim; a row that claim already recorded counts and keeps its
        first record (writing a batch twice changes nothing)."""
        ...

    async def mark_retry(self, delivery: Delivery, *, next_attempt_at: datetime, error: str) -> None: ...

    async def mark_dead(self, delivery: Delivery, *, error: str, now: datetime) -> None: ...

    async def release(self, deliveries: Sequence[Delivery]) -> None:
        """Give back claimed rows that were not attempted (their status returns to pending)."""
        ...

    async def list_deliveries(self, status: str | None = None, *, limit: int = 1000) -> list[Delivery]: ...

    async def get_deliveries(self, keys: Sequence[tuple[str, str]]) -> list[Delivery]:
        """The outbox rows with these ``(destination, dedupe_key)`` pairs that exist, oldest first."""
        ...

    # ---- article texts (full-text assessment) ------------------------------------------------------
    async def article_texts(self, urls: Sequence[str]) -> dict[str, ArticleText]:
        """The stored texts of these article URLs that exist, by URL."""
        ...

    async def save_article_texts(self, texts: Sequence[ArticleText]) -> None:
        """Keep these texts; a URL already stored keeps its first text (a page is read at most once,
        and an assessment stays reproducible). Retention (``prune``) drops them with the entries."""
        ...

    # ---- operations -------------------------------------------------------------------------------
    async def backlog(self, now: datetime) -> Mapping[str, float]:
        """Queue figures for health and metrics, from one short read: ``feeds_due`` (due and not leased),
        ``poll_lag_s`` (how long the most overdue of them has waited; 0 when none), ``outbox_depth``
        (pending or sending rows) and ``outbox_age_s`` (age of the oldest of them; 0 when none)."""
        ...

    async def prune(self, before: datetime, *, now: datetime, tombstones_before: datetime | None = None) -> int:
        """Retention: delete entries fetched before ``before`` (with their matches) and sent or dead
        deliveries created before it, leaving a tombstone per pruned (feed, identity) so that
        ``known_identities`` still knows it and ``finish_poll`` never stores or alerts it again (a feed
        re-serving an old item must not re-alert). Tombstones older than ``tombstones_before`` go too.
        Returns how many entries were pruned."""
        ...

    async def close(self) -> None: ...
