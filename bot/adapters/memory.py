"""``MemoryStore``: the ``Store`` held in Python dicts, for fast tests, ``--dry-run`` and the demo.

It is honest: the same contract suite runs against it and the SQL stores (``tests/test_store_contract.py``).
Same uniqueness rules (feed URL; entry identity per feed; delivery (destination, dedupe_key); match
(entry, watch)), same leases and fencing tokens, same per-destination outbox order, same refusal of naive
datetimes and same NUL stripping. Each method runs without awaiting, so under asyncio it is atomic, which is
what a transaction gives the SQL store.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Sequence

from bot.core.digests import DigestSchedule
from bot.core.sourcing import ArticleText
from bot.core.models import (
    Delivery,
    DeliveryStatus,
    Entry,
    Feed,
    FeedClaim,
    FeedStatus,
    FeedUpdate,
    FinishedPoll,
    NewDelivery,
    Watch,
)

_ENTRY_TEXT = ("identity", "title", "url", "summary", "author", "language", "guid", "story_key")


def _utc(value: datetime | None) -> datetime | None:
    """Aware UTC or None; a naive datetime is the caller's bug (the SQL store refuses it too)."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: wirewatch stores aware UTC datetimes only")
    return value.astimezone(UTC)


def _clean(text: str | None) -> str | None:
    """Drop NUL, as the SQL store does (PostgreSQL text cannot hold it)."""
    return text.replace("\x00", "") if text else text


@dataclass
class _FeedRow:
    feed: Feed
    lease_token: str | None = None
    leased_until: datetime | None = None


@dataclass
class _DeliveryRow:
    delivery: Delivery  # claim_token and outcome_unknown live here, as the SQL columns do
    claimed_until: datetime | None = None


class MemoryStore:
    """``bot.ports.Store`` in memory. Nothing survives the process."""

    def __init__(self) -> None:
        self._feeds: dict[int, _FeedRow] = {}
        self._entries: dict[int, Entry] = {}
        self._entry_ids: dict[tuple[int, str], int] = {}
        self._watches: dict[int, Watch] = {}
        self._destinations: dict[str, dict[str, Any]] = {}
        self._matches: dict[tuple[int, int], str] = {}
        self._deliveries: dict[int, _DeliveryRow] = {}
        self._delivery_keys: dict[tuple[str, str], int] = {}
        self._tombstones: dict[tuple[int, str], datetime] = {}  # (feed, identity) of pruned entries
        self._digests: dict[tuple[str, str], datetime] = {}  # (destination, local date) -> created_at
        self._article_texts: dict[str, ArticleText] = {}  # canonical article URL -> text read
        self._ids = {"feed": 0, "entry": 0, "watch": 0, "delivery": 0}
        self._watch_generation = 0  # bumped by every watch change (Store.watch_generation)

    def _next_id(self, kind: str) -> int:
        self._ids[kind] += 1
        return self._ids[kind]

    # ---- feeds ------------------------------------------------------------------------------------

    async def add_feed(
        self, url: str, *, interval_s: int, baseline: bool, now: datetime, first_poll_at: datetime,
        title: str = "", outlet: str = "", language: str = "",
    ) -> tuple[Feed, bool]:
        """The URL is the feed's identity: adding it twice returns the stored one, unchanged."""
        url = _clean(url) or ""
        for row in self._feeds.values():
            if row.feed.url == url:
                return row.feed, False
        feed = Feed(
            id=self._next_id("feed"), url=url, title=_clean(title) or "", interval_s=interval_s,
            status=FeedStatus.NEW, next_poll_at=_utc(first_poll_at), baseline_pending=baseline,
            created_at=_utc(now), outlet=_clean(outlet) or "", language=_clean(language) or "",
        )
        self._feeds[feed.id] = _FeedRow(feed)
        return feed, True

    async def get_feed(self, feed_id: int) -> Feed | None:
        row = self._feeds.get(feed_id)
        return row.feed if row else None

    async def list_feeds(self) -> list[Feed]:
        return [self._feeds[i].feed for i in sorted(self._feeds)]

    async def remove_feed(self, feed_id: int) -> bool:
        if self._feeds.pop(feed_id, None) is None:
            return False
        for entry_id in [i for i, e in self._entries.items() if e.feed_id == feed_id]:
            entry = self._entries.pop(entry_id)
            del self._entry_ids[(feed_id, entry.identity)]
            for key in [k for k in self._matches if k[0] == entry_id]:
                del self._matches[key]
        for key in [k for k in self._tombstones if k[0] == feed_id]:
            del self._tombstones[key]
        return True

    async def claim_due_feeds(
        self, now: datetime, *, limit: int, lease_s: float, feed_ids: Sequence[int] | None = None,
        force: bool = False,
    ) -> list[FeedClaim]:
        """Same selection as the SQL claim: non-retired, not leased, due (unless forced), named (if named),
        oldest ``next_poll_at`` first, at most ``limit``."""
        now = _utc(now)
        assert now is not None
        wanted = None if feed_ids is None else set(feed_ids)
        candidates = [
            row for row in self._feeds.values()
            if row.feed.status is not FeedStatus.RETIRED
            and (row.leased_until is None or row.leased_until <= now)
            and (force or (row.feed.next_poll_at is not None and row.feed.next_poll_at <= now))
            and (wanted is None or row.feed.id in wanted)
        ]
        far_past = datetime.min.replace(tzinfo=UTC)
        candidates.sort(key=lambda r: (r.feed.next_poll_at or far_past, r.feed.id))
        token = str(uuid.uuid4())
        until = now + timedelta(seconds=lease_s)
        claims = []
        for row in candidates[: max(limit, 0)]:
            row.feed = dataclasses.replace(row.feed, next_poll_at=until)
            row.lease_token, row.leased_until = token, until
            claims.append(FeedClaim(feed=row.feed, token=token))
        return sorted(claims, key=lambda c: c.feed.id)

    async def known_identities(self, feed_id: int, identities: Sequence[str]) -> set[str]:
        return {i for i in identities if (feed_id, i) in self._entry_ids or (feed_id, i) in self._tombstones}

    async def finish_poll(
        self, claim: FeedClaim, update: FeedUpdate, entries: Sequence[Entry],
        deliveries: Sequence[NewDelivery], matches: Sequence[tuple[str, int, str]] = (),
    ) -> list[Entry] | None:
        """All or nothing, fenced by the claim's token (see the SQL store for the reasoning)."""
        [stored] = await self.finish_polls([FinishedPoll(claim, update, tuple(entries), tuple(deliveries),
                                                         tuple(matches))])
        return stored

    async def finish_polls(self, polls: Sequence[FinishedPoll]) -> list[list[Entry] | None]:
        """All or nothing for the group, each poll fenced by its own claim: every poll is checked and
        prepared before the first write, so a bad value in one leaves nothing of the group behind."""
        spent: set[tuple[int, str]] = set()  # a claim finished earlier in the group is fenced out, as in SQL
        prepared = []
        for poll in polls:
            claim = (poll.claim.feed.id, poll.claim.token)
            prepared.append(None if claim in spent else self._prepare_finish(poll))
            spent.add(claim)
        return [self._write_finish(*p) if p is not None else None for p in prepared]

    def _prepare_finish(
        self, poll: FinishedPoll
    ) -> tuple[_FeedRow, Feed, list[Entry], list[str], FinishedPoll] | None:
        """The fence check and every conversion that can fail; None when the lease was lost."""
        claim, update = poll.claim, poll.update
        row = self._feeds.get(claim.feed.id)
        if row is None or row.lease_token != claim.token:
            return None
        now = _utc(update.polled_at)
        feed_id = row.feed.id
        prepared: list[Entry] = []
        for entry in poll.entries:
            entry = dataclasses.replace(
                entry, feed_id=feed_id, published=_utc(entry.published), fetched_at=_utc(entry.fetched_at) or now,
                **{name: _clean(getattr(entry, name)) for name in _ENTRY_TEXT},
            )
            prepared.append(entry)
        # Validate everything before the first write, so a bad value cannot leave half a poll behind.
        delivery_payloads = [json.dumps(dict(d.payload), ensure_ascii=False, default=str) for d in poll.deliveries]
        feed = self._updated_feed(row.feed, update)
        return row, feed, prepared, delivery_payloads, poll

    def _write_finish(self, row: _FeedRow, feed: Feed, prepared: list[Entry], delivery_payloads: list[str],
                      poll: FinishedPoll) -> list[Entry]:
        now = _utc(poll.update.polled_at)
        feed_id = row.feed.id
        matches, deliveries = poll.matches, poll.deliveries
        stored: list[Entry] = []
        for entry in prepared:
            key = (feed_id, entry.identity)
            if key in self._entry_ids or key in self._tombstones:
                continue
            entry = dataclasses.replace(entry, id=self._next_id("entry"))
            self._entries[entry.id] = entry
            self._entry_ids[key] = entry.id
            stored.append(entry)

        new_ids = {e.identity: e.id for e in stored}
        for identity, watch_id, reasons in matches:
            identity = _clean(identity) or ""
            if identity in new_ids:
                self._matches.setdefault((new_ids[identity], watch_id), _clean(reasons) or "")

        for new, payload in zip(deliveries, delivery_payloads):
            key = (_clean(new.destination) or "", _clean(new.dedupe_key) or "")
            if key in self._delivery_keys:
                continue
            delivery = Delivery(
                id=self._next_id("delivery"), destination=key[0], dedupe_key=key[1], kind=new.kind,
                payload=json.loads(payload), status=DeliveryStatus.PENDING, attempts=0,
                next_attempt_at=now, created_at=now,
            )
            self._deliveries[delivery.id] = _DeliveryRow(delivery)
            self._delivery_keys[key] = delivery.id

        row.feed = dataclasses.replace(feed, entries_seen=feed.entries_seen + len(stored))
        row.lease_token = row.leased_until = None
        return stored

    def _updated_feed(self, feed: Feed, u: FeedUpdate) -> Feed:
        changes: dict[str, Any] = dict(
            status=u.status, next_poll_at=_utc(u.next_poll_at), last_polled_at=_utc(u.polled_at),
            consecutive_failures=u.consecutive_failures,
        )
        if u.url and u.url != feed.url:
            url = _clean(u.url)
            # A feed moved onto a URL another feed has: keep the old URL (the SQL store does the same).
            if all(r.feed.url != url for r in self._feeds.values() if r.feed.id != feed.id):
                changes["url"] = url
        if u.title is not None:
            changes["title"] = _clean(u.title)
        if u.clear_validators:
            changes["etag"] = changes["last_modified"] = None
        if u.etag is not None:
            changes["etag"] = _clean(u.etag)
        if u.last_modified is not None:
            changes["last_modified"] = _clean(u.last_modified)
        if u.last_success_at is not None:
            changes["last_success_at"] = _utc(u.last_success_at)
        if u.clear_error:
            changes["last_error"] = None
        if u.last_error is not None:
            changes["last_error"] = _clean(u.last_error)
        if u.clear_failing_since:
            changes["failing_since"] = None
        if u.failing_since is not None:
            changes["failing_since"] = _utc(u.failing_since)
        if u.baseline_done:
            changes["baseline_pending"] = False
        return dataclasses.replace(feed, **changes)

    # ---- watches ----------------------------------------------------------------------------------

    async def add_watch(self, query: str, destination: str, *, created_by: str, now: datetime) -> Watch:
        destination = _clean(destination) or ""
        self._destinations.setdefault(
            destination, {"created_at": _utc(now), "timezone": None, "digest_time": None, "digest_enabled": True}
        )
        watch = Watch(
            id=self._next_id("watch"), query=_clean(query) or "", destination=destination,
            created_by=_clean(created_by) or "", created_at=_utc(now),
        )
        self._watches[watch.id] = watch
        self._watch_generation += 1
        return watch

    async def list_watches(self, destination: str | None = None) -> list[Watch]:
        return [
            self._watches[i] for i in sorted(self._watches)
            if destination is None or self._watches[i].destination == destination
        ]

    async def remove_watch(self, watch_id: int) -> bool:
        removed = self._watches.pop(watch_id, None) is not None
        self._watch_generation += removed
        return removed

    async def set_watch_muted(self, watch_id: int, until: datetime | None) -> bool:
        watch = self._watches.get(watch_id)
        if watch is None:
            return False
        self._watches[watch_id] = dataclasses.replace(watch, muted_until=_utc(until))
        self._watch_generation += 1
        return True

    async def watch_generation(self) -> int:
        return self._watch_generation

    # ---- entries ----------------------------------------------------------------------------------

    async def recent_entries(self, since: datetime, *, limit: int = 10_000) -> list[Entry]:
        """Entries fetched at or after ``since``: the newest ``limit`` of them, oldest first."""
        since = _utc(since)
        assert since is not None
        found = [e for e in self._entries.values() if e.fetched_at is not None and e.fetched_at >= since]
        found.sort(key=lambda e: (e.fetched_at, e.id))
        return found[-limit:] if limit > 0 else []


    # ---- digests ----------------------------------------------------------------------------------

    async def set_digest_schedule(
        self, destination: str, *, at: str | None, timezone: str | None, enabled: bool,
        set_at: datetime | None, now: datetime,
    ) -> None:
        destination = _clean(destination) or ""
        row = self._destinations.setdefault(
            destination, {"created_at": _utc(now), "timezone": None, "digest_time": None, "digest_enabled": True}
        )
        row.update(digest_time=_clean(at), timezone=_clean(timezone), digest_enabled=enabled, digest_set_at=_utc(set_at))

    async def digest_schedules(self, destination: str | None = None) -> list[DigestSchedule]:
        found = []
        for key in sorted(self._destinations):
            if destination is not None and key != destination:
                continue
            row = self._destinations[key]
            days = [day for (dest, day) in self._digests if dest == key]
            last = max(days) if days else None
            found.append(DigestSchedule(
                destination=key, at=row.get("digest_time"), timezone=row.get("timezone"),
                enabled=bool(row.get("digest_enabled", True)), set_at=row.get("digest_set_at"),
                last_date=last, last_at=self._digests[(key, last)] if last else None,
            ))
        return found

    async def digest_matches(
        self, destination: str, since: datetime, until: datetime
    ) -> list[tuple[Entry, str, Watch, str]]:
        since, until = _utc(since), _utc(until)
        assert since is not None and until is not None
        found = []
        for (entry_id, watch_id), reasons in self._matches.items():
            entry, watch = self._entries.get(entry_id), self._watches.get(watch_id)
            if entry is None or watch is None or watch.destination != destination:
                continue
            if entry.fetched_at is None or not since <= entry.fetched_at < until:
                continue
            row = self._feeds.get(entry.feed_id)
            outlet = (row.feed.outlet or row.feed.title or row.feed.url) if row else ""
            found.append((entry, outlet, watch, reasons))
        found.sort(key=lambda t: (t[0].fetched_at, t[0].id, t[2].id))
        return found

    async def record_digest(self, delivery: NewDelivery, *, local_date: str, now: datetime) -> bool:
        now = _utc(now)
        assert now is not None
        destination = _clean(delivery.destination) or ""
        if (destination, local_date) in self._digests:
            return False
        payload = json.loads(json.dumps(dict(delivery.payload), ensure_ascii=False, default=str))
        self._digests[(destination, local_date)] = now
        key = (destination, _clean(delivery.dedupe_key) or "")
        if key not in self._delivery_keys:
            row = Delivery(
                id=self._next_id("delivery"), destination=destination, dedupe_key=key[1], kind=delivery.kind,
                payload=payload, status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=now, created_at=now,
            )
            self._deliveries[row.id] = _DeliveryRow(row)
            self._delivery_keys[key] = row.id
        return True

    async def destination_deliveries(
        self, destination: str, *, since: datetime, kinds: Sequence[str] = ("alert", "followup"),
    ) -> list[Delivery]:
        since = _utc(since)
        assert since is not None
        return [
            self._deliveries[i].delivery for i in sorted(self._deliveries)
            if self._deliveries[i].delivery.destination == destination
            and self._deliveries[i].delivery.kind in kinds
            and (self._deliveries[i].delivery.created_at or since) >= since
        ]

    # ---- outbox -----------------------------------------------------------------------------------

    @staticmethod
    def _claimable(row: _DeliveryRow, now: datetime) -> bool:
        d = row.delivery
        if d.status is DeliveryStatus.PENDING:
            return d.next_attempt_at is not None and d.next_attempt_at <= now
        if d.status is DeliveryStatus.SENDING:
            return row.claimed_until is not None and row.claimed_until <= now
        return False

    async def claim_deliveries(self, now: datetime, *, limit: int, lease_s: float) -> list[Delivery]:
        """Per-destination order: each destination's open rows are taken by id while claimable; the first
        that is not holds back the rest of that destination. ``outcome_unknown`` is sticky once a claim
        lapsed (the SQL store explains why)."""
        now = _utc(now)
        assert now is not None
        token = str(uuid.uuid4())
        until = now + timedelta(seconds=lease_s)
        blocked: set[str] = set()
        claimed: list[Delivery] = []
        for delivery_id in sorted(self._deliveries):
            if len(claimed) >= limit:
                break
            row = self._deliveries[delivery_id]
            d = row.delivery
            if d.status not in (DeliveryStatus.PENDING, DeliveryStatus.SENDING) or d.destination in blocked:
                continue
            if not self._claimable(row, now):
                blocked.add(d.destination)
                continue
            row.delivery = dataclasses.replace(
                d, status=DeliveryStatus.SENDING, claim_token=token, attempts=d.attempts + 1,
                outcome_unknown=d.outcome_unknown or d.status is DeliveryStatus.SENDING,
            )
            row.claimed_until = until
            claimed.append(row.delivery)
        return claimed

    def _fenced(self, delivery: Delivery) -> _DeliveryRow | None:
        row = self._deliveries.get(delivery.id)
        if (
            row is None or not delivery.claim_token or row.delivery.claim_token != delivery.claim_token
            or row.delivery.status is not DeliveryStatus.SENDING
        ):
            return None
        return row

    async def mark_sent_many(self, sent: Sequence[Delivery]) -> int:
        return sum(self._record_sent(d, d.message_ref, d.sent_at) or self._sent_under_claim(d) for d in sent)

    def _sent_under_claim(self, delivery: Delivery) -> bool:
        row = self._deliveries.get(delivery.id)
        return bool(row and delivery.claim_token and row.delivery.claim_token == delivery.claim_token
                    and row.delivery.status is DeliveryStatus.SENT)

    def _record_sent(self, delivery: Delivery, message_ref: str | None, now: datetime | None) -> bool:
        if now is None:
            raise ValueError("a sent delivery needs its sent_at")
        if row := self._fenced(delivery):
            row.delivery = dataclasses.replace(
                row.delivery, status=DeliveryStatus.SENT, message_ref=_clean(message_ref), sent_at=_utc(now),
                outcome_unknown=False, last_error=None,
            )
            row.claimed_until = None
            return True
        return False

    async def mark_retry(self, delivery: Delivery, *, next_attempt_at: datetime, error: str) -> None:
        if row := self._fenced(delivery):
            row.delivery = dataclasses.replace(
                row.delivery, status=DeliveryStatus.PENDING, next_attempt_at=_utc(next_attempt_at),
                last_error=_clean(error), claim_token="",
            )
            row.claimed_until = None

    async def mark_dead(self, delivery: Delivery, *, error: str, now: datetime) -> None:
        if row := self._fenced(delivery):
            row.delivery = dataclasses.replace(
                row.delivery, status=DeliveryStatus.DEAD, last_error=_clean(error), next_attempt_at=_utc(now),
            )
            row.claimed_until = None

    async def release(self, deliveries: Sequence[Delivery]) -> None:
        """Unattempted rows go back to pending; the claim's attempt is taken back."""
        for delivery in deliveries:
            if row := self._fenced(delivery):
                row.delivery = dataclasses.replace(
                    row.delivery, status=DeliveryStatus.PENDING, claim_token="",
                    attempts=max(row.delivery.attempts - 1, 0),
                )
                row.claimed_until = None

    async def list_deliveries(self, status: str | None = None, *, limit: int = 1000) -> list[Delivery]:
        wanted = None if status is None else DeliveryStatus(status)
        found = [
            self._deliveries[i].delivery for i in sorted(self._deliveries)
            if wanted is None or self._deliveries[i].delivery.status is wanted
        ]
        return found[:limit]

    async def get_deliveries(self, keys: Sequence[tuple[str, str]]) -> list[Delivery]:
        wanted = set(keys)
        return [
            self._deliveries[i].delivery for i in sorted(self._deliveries)
            if (self._deliveries[i].delivery.destination, self._deliveries[i].delivery.dedupe_key) in wanted
        ]

    # ---- operations -------------------------------------------------------------------------------

    async def backlog(self, now: datetime) -> dict[str, float]:
        now = _utc(now)
        assert now is not None
        due = [
            r.feed.next_poll_at for r in self._feeds.values()
            if r.feed.next_poll_at is not None and r.feed.next_poll_at <= now
            and r.feed.status is not FeedStatus.RETIRED and (r.leased_until is None or r.leased_until <= now)
        ]
        open_rows = [
            r.delivery.created_at for r in self._deliveries.values()
            if r.delivery.status in (DeliveryStatus.PENDING, DeliveryStatus.SENDING)
        ]
        oldest_due, oldest_row = min(due, default=None), min((c for c in open_rows if c), default=None)
        return {
            "feeds_due": float(len(due)),
            "poll_lag_s": max(0.0, (now - oldest_due).total_seconds()) if oldest_due else 0.0,
            "outbox_depth": float(len(open_rows)),
            "outbox_age_s": max(0.0, (now - oldest_row).total_seconds()) if oldest_row else 0.0,
        }

    async def article_texts(self, urls: Sequence[str]) -> dict[str, ArticleText]:
        return {u: self._article_texts[u] for u in urls if u in self._article_texts}

    async def save_article_texts(self, texts: Sequence[ArticleText]) -> None:
        for t in texts:
            self._article_texts.setdefault(t.url, dataclasses.replace(t, fetched_at=_utc(t.fetched_at)))

    async def prune(self, before: datetime, *, now: datetime, tombstones_before: datetime | None = None) -> int:
        before, now = _utc(before), _utc(now)
        assert before is not None and now is not None
        for url in [u for u, t in self._article_texts.items() if t.fetched_at < before]:
            del self._article_texts[url]
        old = [e for e in self._entries.values() if e.fetched_at is not None and e.fetched_at < before]
        for entry in old:
            assert entry.id is not None
            self._tombstones.setdefault((entry.feed_id, entry.identity), now)
            del self._entries[entry.id]
            del self._entry_ids[(entry.feed_id, entry.identity)]
            for key in [k for k in self._matches if k[0] == entry.id]:
                del self._matches[key]
        for delivery_id, row in list(self._deliveries.items()):
            d = row.delivery
            if d.status in (DeliveryStatus.SENT, DeliveryStatus.DEAD) and d.created_at and d.created_at < before:
                del self._deliveries[delivery_id]
                del self._delivery_keys[(d.destination, d.dedupe_key)]
        if tombstones_before is not None:
            limit = _utc(tombstones_before)
            for key in [k for k, when in self._tombstones.items() if limit is not None and when < limit]:
                del self._tombstones[key]
        return len(old)

    async def close(self) -> None:
        return None
