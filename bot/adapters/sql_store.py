"""The ``Store`` on SQLAlchemy 2 (async): SQLite by default, PostgreSQL for several workers.

The database is the only coordinator between workers (see ``reference/scale.md``):

- Due feeds are leased with one statement, ``WITH due AS (SELECT ... ORDER BY next_poll_at LIMIT n FOR UPDATE
  SKIP LOCKED) UPDATE feeds ... RETURNING``. The lease pushes ``next_poll_at`` forward, so a dead poller's
  feeds simply come due again, and a fresh token per claim fences the finish: a stale poller cannot
  overwrite newer state. On SQLite ``FOR UPDATE`` compiles to nothing; the claim is still one write
  statement inside ``BEGIN IMMEDIATE`` and SQLite has one writer at a time.
- Storing entries, recording matches and creating outbox rows happen in the same transaction as the fenced
  feed update, with ``INSERT ... ON CONFLICT DO NOTHING`` on the unique keys: an outbox row exists only if
  its poll committed, and a second one for the same (destination, dedupe_key) is impossible.

Schema changes are Alembic migrations in ``bot/adapters/migrations`` (hand-written); the tables below are
the runtime description of the same schema, with the Python-side types (aware UTC datetimes, NUL-free text).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import random
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Sequence, TypeVar

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    bindparam,
    case,
    delete,
    event,
    func,
    literal,
    or_,
    select,
    tuple_,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import text as sql_text
from sqlalchemy import update as sql_update
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, StatementError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator

from bot.core.digests import DigestSchedule
from bot.core.sourcing import ArticleText
from bot.core.errors import ConfigError
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

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 10_000
TRANSIENT_RETRIES = 5  # attempts for a transaction that hit a deadlock, serialization failure or busy SQLite
CHUNK = 500  # rows per multi-row INSERT / IN list (SQLite allows 32,766 bound parameters)
# Serialises outbox claims on PostgreSQL (pg_advisory_xact_lock): per-destination order needs it, see
# claim_deliveries. Any constant that no other code uses; this is "wirewatch" in ASCII, truncated.
OUTBOX_CLAIM_LOCK = 0x7769726577617463
MIGRATION_LOCK = OUTBOX_CLAIM_LOCK + 1
# SQLSTATEs worth a retry: serialization_failure, deadlock_detected, lock_not_available.
TRANSIENT_SQLSTATES = {"40001", "40P01", "55P03"}

READ_ONLY_OPTION = "wirewatch_read_only"

T = TypeVar("T")


# --------------------------------------------------------------------------------------------------
# Column types
# --------------------------------------------------------------------------------------------------


def _as_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: wirewatch stores aware UTC datetimes only")
    return value.astimezone(UTC)


class UtcDateTime(TypeDecorator):
    """Aware UTC in, aware UTC out, on every dialect.

    PostgreSQL keeps ``timestamptz``. SQLite has no time zones: values are written as naive UTC text in one
    fixed format (so ``<=`` on the text is ``<=`` on the time) and read back with ``tzinfo=UTC``. A naive
    datetime is a bug in the caller and is refused rather than guessed at.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        value = _as_utc(value)
        return value.replace(tzinfo=None) if value and dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class CleanText(TypeDecorator):
    """Text with NUL characters removed on the way in: PostgreSQL ``text`` rejects them, and a feed that
    smuggles one in must not make its whole poll fail. Parsing should already have dropped them; this is
    the last defence."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return value.replace("\x00", "") if value else value


metadata = MetaData()

feed_table = Table(
    "feeds", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("url", CleanText, nullable=False),
    Column("title", CleanText, nullable=False),
    Column("outlet", CleanText, nullable=False),
    Column("language", CleanText, nullable=False),
    Column("interval_s", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("etag", CleanText),
    Column("last_modified", CleanText),
    Column("next_poll_at", UtcDateTime),
    Column("last_polled_at", UtcDateTime),
    Column("last_success_at", UtcDateTime),
    Column("last_error", CleanText),
    Column("consecutive_failures", Integer, nullable=False),
    Column("failing_since", UtcDateTime),
    Column("baseline_pending", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("entries_seen", Integer, nullable=False),
    Column("lease_token", String(36)),
    Column("leased_until", UtcDateTime),
    UniqueConstraint("url", name="uq_feeds_url"),
    Index("ix_feeds_next_poll_at", "next_poll_at"),
)

entry_table = Table(
    "entries", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("feed_id", Integer, ForeignKey("feeds.id", ondelete="CASCADE"), nullable=False),
    Column("identity", CleanText, nullable=False),
    Column("guid", CleanText, nullable=False),
    Column("url", CleanText, nullable=False),
    Column("title", CleanText, nullable=False),
    Column("summary", CleanText, nullable=False),
    Column("author", CleanText, nullable=False),
    Column("language", CleanText, nullable=False),
    Column("published", UtcDateTime),
    Column("fetched_at", UtcDateTime, nullable=False),
    Column("story_key", CleanText, nullable=False),
    UniqueConstraint("feed_id", "identity", name="uq_entries_feed_identity"),
    Index("ix_entries_story_key", "story_key"),
    Index("ix_entries_fetched_at", "fetched_at"),
)

destination_table = Table(
    "destinations", metadata,
    Column("key", CleanText, primary_key=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("timezone", CleanText),
    Column("digest_time", String(5)),
    Column("digest_enabled", Boolean, nullable=False),
    Column("digest_set_at", UtcDateTime),
)

watch_table = Table(
    "watches", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("query", CleanText, nullable=False),
    Column("destination", CleanText, nullable=False),
    Column("created_by", CleanText, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("muted_until", UtcDateTime),
    Index("ix_watches_destination", "destination"),
)

match_table = Table(
    "matches", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("entry_id", Integer, ForeignKey("entries.id", ondelete="CASCADE"), nullable=False),
    Column("watch_id", Integer, nullable=False),
    Column("reasons", CleanText, nullable=False),
    UniqueConstraint("entry_id", "watch_id", name="uq_matches_entry_watch"),
    Index("ix_matches_watch_id", "watch_id"),
)

delivery_table = Table(
    "deliveries", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("destination", CleanText, nullable=False),
    Column("dedupe_key", CleanText, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("payload", CleanText, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("last_error", CleanText),
    Column("message_ref", CleanText),
    Column("created_at", UtcDateTime, nullable=False),
    Column("sent_at", UtcDateTime),
    Column("claim_token", String(36)),
    Column("claimed_until", UtcDateTime),
    Column("outcome_unknown", Boolean, nullable=False),
    UniqueConstraint("destination", "dedupe_key", name="uq_deliveries_destination_key"),
    Index("ix_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
    Index("ix_deliveries_destination", "destination"),
    Index("ix_deliveries_created_at", "created_at"),
    Index("ix_deliveries_destination_created_at", "destination", "created_at"),  # a digest's alerts (0005)
)

tombstone_table = Table(
    "entry_tombstones", metadata,
    Column("feed_id", Integer, ForeignKey("feeds.id", ondelete="CASCADE"), primary_key=True),
    Column("identity", CleanText, primary_key=True),
    Column("pruned_at", UtcDateTime, nullable=False),
    Index("ix_entry_tombstones_pruned_at", "pruned_at"),
)

digest_table = Table(
    "digests", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("destination", CleanText, nullable=False),
    Column("local_date", String(10), nullable=False),
    Column("status", String(16), nullable=False),
    Column("sent_at", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("destination", "local_date", name="uq_digests_destination_date"),
)

article_text_table = Table(
    "article_texts", metadata,
    Column("url", CleanText, primary_key=True),
    Column("text", CleanText, nullable=False),
    Column("source", String(200), nullable=False),
    Column("links", CleanText, nullable=False),
    Column("fetched_at", UtcDateTime, nullable=False),
    Index("ix_article_texts_fetched_at", "fetched_at"),
)

# A number per kind of shared state, bumped in the same transaction as every change to it (migration 0006):
# a poller reads one row to learn whether the watches changed instead of reloading all of them.
change_counter_table = Table(
    "change_counters", metadata,
    Column("name", String(32), primary_key=True),
    Column("value", Integer, nullable=False),
)
WATCHES_COUNTER = "watches"


# --------------------------------------------------------------------------------------------------
# URLs, engines, migrations
# --------------------------------------------------------------------------------------------------

_URL_HELP = "expected e.g. sqlite:///wirewatch.db or postgresql://user:password@host:5432/wirewatch"


def normalise_url(raw: str) -> URL:
    """Accept the sync spellings people paste (``sqlite:///``, ``postgresql://``) and map them to the async
    drivers wirewatch runs on. Anything else is a ConfigError naming the setting."""
    text = (raw or "").strip()
    if not text:
        raise ConfigError(f"WIREWATCH_DATABASE_URL is empty; {_URL_HELP}")
    try:
        url = make_url(text)
    except ArgumentError:
        raise ConfigError(f"WIREWATCH_DATABASE_URL is not a database URL; {_URL_HELP}") from None
    drivername = url.drivername
    if drivername in ("sqlite", "sqlite+pysqlite", "sqlite+aiosqlite"):
        url = url.set(drivername="sqlite+aiosqlite")
        if url.database and url.database != ":memory:":
            parent = Path(url.database).expanduser().resolve().parent
            if not parent.is_dir():
                raise ConfigError(
                    f"WIREWATCH_DATABASE_URL points at a SQLite file in {parent}, which does not exist"
                )
        return url
    if drivername in ("postgresql", "postgres", "postgresql+asyncpg"):
        return url.set(drivername="postgresql+asyncpg")
    raise ConfigError(
        f"WIREWATCH_DATABASE_URL uses {drivername!r}, which wirewatch does not support; {_URL_HELP}"
    )


def make_engine(raw_url: str, *, pool_size: int | None = None) -> AsyncEngine:
    """An async engine set up for wirewatch's transactions.

    SQLite: WAL (readers do not block the writer), ``busy_timeout`` (wait for the writer instead of failing),
    foreign keys on (entries cascade with their feed), and every transaction begins ``IMMEDIATE`` so it takes
    the write lock up front and never fails trying to upgrade a stale read snapshot (SQLAlchemy's recipe:
    the driver's own BEGIN switched off, ours emitted on the ``begin`` event). Reads, marked with the
    ``READ_ONLY_OPTION`` execution option, begin a plain deferred transaction and never wait for the writer.

    PostgreSQL: ``pool_size`` (``WIREWATCH_DATABASE_POOL``) caps this process's connections, with no overflow,
    so that N workers never hold more than N x pool_size of the server's ``max_connections``; tasks beyond
    it wait for a connection. ``pool_pre_ping`` replaces connections the server dropped (a restart).
    """
    url = normalise_url(raw_url)
    if url.get_backend_name() == "postgresql":
        sizing = {"pool_size": pool_size, "max_overflow": 0} if pool_size else {}
        return create_async_engine(url, pool_pre_ping=True, **sizing)

    in_memory = not url.database or url.database == ":memory:"
    engine = create_async_engine(url, poolclass=StaticPool) if in_memory else create_async_engine(url)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        read_only = conn.get_execution_options().get(READ_ONLY_OPTION, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


# WHY alembic is imported inside the functions below: it costs ~11 MB resident (alembic.script pulls in
# every dialect's DDL and autogenerate), and a store that is already at head (every restart) needs none of it.
if TYPE_CHECKING:
    from alembic.config import Config


def _alembic_config() -> Config:
    """Alembic configured in code: no ini file to ship or find."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


_REVISION_LINE = re.compile(r"^(down_revision|revision)\s*(?::[^=\n]*)?=\s*(.*?)\s*$", re.M)
_QUOTED = re.compile(r"[\"']([^\"']+)[\"']")


def script_head() -> str | None:
    """The head revision read from the ``revision = "..."`` and ``down_revision = ...`` lines of the
    migration scripts, without alembic; None when a script is not in that plain form (a merge's tuple, no
    line) or there is not exactly one head: then alembic decides, as before."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        lines = dict(m.groups() for m in _REVISION_LINE.finditer(path.read_text(encoding="utf-8")))
        revision, down = _QUOTED.fullmatch(lines.get("revision", "")), lines.get("down_revision")
        if revision is None or down is None:
            return None
        revisions.add(revision.group(1))
        if down != "None":
            parent = _QUOTED.fullmatch(down)
            if parent is None:
                return None
            parents.add(parent.group(1))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 and parents <= revisions else None


async def _at_head(engine: AsyncEngine) -> bool:
    """True when the database's ``alembic_version`` names the scripts' head: opening it needs no migration."""
    head = script_head()
    if head is None:
        return False
    async with engine.connect() as conn:
        if not await conn.run_sync(lambda c: sa_inspect(c).has_table("alembic_version")):
            return False
        stored = (await conn.execute(sql_text("SELECT version_num FROM alembic_version"))).scalars().all()
    return stored == [head]


async def _check_connect(engine: AsyncEngine) -> None:
    """Connect once, turning "cannot reach it" into a ConfigError that names the setting."""
    try:
        async with engine.connect():
            pass
    except (OSError, DBAPIError) as exc:
        where = engine.url.render_as_string(hide_password=True)
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise ConfigError(f"WIREWATCH_DATABASE_URL: cannot connect to {where}: {reason}") from exc


async def _upgrade_engine(engine: AsyncEngine, revision: str = "head") -> None:
    from alembic import command

    def run(sync_conn: Any) -> None:
        config = _alembic_config()
        config.attributes["connection"] = sync_conn
        command.upgrade(config, revision)

    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Several workers starting at once: one migrates, the others wait and then find head.
            await conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        await conn.run_sync(run)


async def upgrade(url: str, revision: str = "head") -> str | None:
    """``wirewatch db upgrade``: migrate the database to ``revision``; returns the revision reached."""
    engine = make_engine(url)
    try:
        await _check_connect(engine)
        await _upgrade_engine(engine, revision)
        return await _current_revision(engine)
    finally:
        await engine.dispose()


async def _current_revision(engine: AsyncEngine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())


async def current_revision(url: str) -> str | None:
    """The schema revision the database is at (None: never migrated)."""
    engine = make_engine(url)
    try:
        await _check_connect(engine)
        return await _current_revision(engine)
    finally:
        await engine.dispose()


async def open_store(url: str, *, pool_size: int | None = None) -> "SqlStore":
    """Open the database named by ``url`` (``WIREWATCH_DATABASE_URL``), migrate it to head, return the store."""
    engine = make_engine(url, pool_size=pool_size)
    try:
        await _check_connect(engine)
        if not await _at_head(engine):  # a restart at head skips alembic (see _alembic_config)
            await _upgrade_engine(engine)
    except BaseException:
        await engine.dispose()
        raise
    return SqlStore(engine)


# --------------------------------------------------------------------------------------------------
# Row mapping
# --------------------------------------------------------------------------------------------------


def _feed(row: Any) -> Feed:
    return Feed(
        id=row.id, url=row.url, title=row.title, interval_s=row.interval_s, status=FeedStatus(row.status),
        etag=row.etag, last_modified=row.last_modified, next_poll_at=row.next_poll_at,
        last_polled_at=row.last_polled_at, last_success_at=row.last_success_at, last_error=row.last_error,
        consecutive_failures=row.consecutive_failures, failing_since=row.failing_since,
        baseline_pending=bool(row.baseline_pending), created_at=row.created_at,
        entries_seen=row.entries_seen, outlet=row.outlet, language=row.language,
    )


def _entry(row: Any) -> Entry:
    return Entry(
        feed_id=row.feed_id, identity=row.identity, title=row.title, url=row.url, summary=row.summary,
        author=row.author, language=row.language, published=row.published, guid=row.guid,
        story_key=row.story_key, id=row.id, fetched_at=row.fetched_at,
    )


def _watch(row: Any) -> Watch:
    return Watch(
        id=row.id, query=row.query, destination=row.destination, created_by=row.created_by,
        created_at=row.created_at, muted_until=row.muted_until,
    )


def _delivery(row: Any) -> Delivery:
    return Delivery(
        id=row.id, destination=row.destination, dedupe_key=row.dedupe_key, kind=row.kind,
        payload=json.loads(row.payload), status=DeliveryStatus(row.status), attempts=row.attempts,
        next_attempt_at=row.next_attempt_at, last_error=row.last_error, message_ref=row.message_ref,
        created_at=row.created_at, sent_at=row.sent_at, outcome_unknown=bool(row.outcome_unknown),
        claim_token=row.claim_token or "",
    )


def _read_utc(value: Any) -> datetime | None:
    """An aggregate (``min``) bypasses the column type: SQLite hands back text, PostgreSQL a datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _backlog(now: datetime, feeds_due: int, oldest_due: datetime | None, depth: int,
             oldest_row: datetime | None) -> dict[str, float]:
    return {
        "feeds_due": float(feeds_due or 0),
        "poll_lag_s": max(0.0, (now - oldest_due).total_seconds()) if oldest_due else 0.0,
        "outbox_depth": float(depth or 0),
        "outbox_age_s": max(0.0, (now - oldest_row).total_seconds()) if oldest_row else 0.0,
    }


def _read_digest_time(value: Any) -> datetime | None:
    """A column read through a join or subquery label may bypass ``UtcDateTime`` (SQLite hands back
    text or a naive datetime): make it aware UTC either way."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def strip_nul_entry(entry: Entry) -> Entry:
    """The entry as it will be stored: text fields without NUL (see ``CleanText``)."""
    fields = ("identity", "title", "url", "summary", "author", "language", "guid", "story_key")
    if not any("\x00" in getattr(entry, name) for name in fields):
        return entry
    return dataclasses.replace(entry, **{name: getattr(entry, name).replace("\x00", "") for name in fields})


def _chunks(items: Sequence[T], size: int = CHUNK) -> list[Sequence[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _is_transient(exc: DBAPIError) -> bool:
    """Deadlocks, serialization failures, a busy SQLite and dropped connections are worth another go;
    anything else (a constraint, a syntax error) would fail the same way again."""
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    if getattr(orig, "sqlstate", None) in TRANSIENT_SQLSTATES:
        return True
    text = str(orig).lower()
    return "database is locked" in text or "database is busy" in text or "deadlock detected" in text


# --------------------------------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------------------------------


class SqlStore:
    """``bot.ports.Store`` on SQLite or PostgreSQL. Build it with ``open_store(url)``."""

    def __init__(self, engine: AsyncEngine):
        self._engine = engine
        self._dialect = engine.dialect.name

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    @property
    def dialect(self) -> str:
        return self._dialect

    def _insert(self, table: Table) -> Any:
        return (pg_dialect.insert if self._dialect == "postgresql" else sqlite_dialect.insert)(table)

    async def _tx(self, work: Callable[[AsyncConnection], Awaitable[T]], *, read_only: bool = False) -> T:
        """Run ``work`` in one transaction, retrying it whole on a transient error. A bad value (a naive
        datetime) surfaces as the ValueError it is, as it does from the in-memory store."""
        for attempt in range(1, TRANSIENT_RETRIES + 1):
            try:
                async with self._engine.connect() as conn:
                    if read_only:
                        await conn.execution_options(**{READ_ONLY_OPTION: True})
                    async with conn.begin():
                        return await work(conn)
            except DBAPIError as exc:
                if attempt == TRANSIENT_RETRIES or not _is_transient(exc):
                    raise
                log.warning("store transaction retried", extra={"attempt": attempt, "error": str(exc.orig)})
                await asyncio.sleep(0.02 * 2**attempt * (0.5 + random.random()))
            except StatementError as exc:
                if isinstance(exc.orig, ValueError):
                    raise exc.orig from None
                raise
        raise AssertionError("unreachable")

    async def _read(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        return await self._tx(work, read_only=True)

    async def _rows(self, stmt: Any) -> list[Any]:
        async def work(conn: AsyncConnection) -> list[Any]:
            return list((await conn.execute(stmt)).all())

        return await self._read(work)

    # ---- feeds ------------------------------------------------------------------------------------

    async def add_feed(
        self, url: str, *, interval_s: int, baseline: bool, now: datetime, first_poll_at: datetime,
        title: str = "", outlet: str = "", language: str = "",
    ) -> tuple[Feed, bool]:
        """The URL is the feed's identity: adding it twice returns the stored one, unchanged."""

        async def work(conn: AsyncConnection) -> tuple[Feed, bool]:
            stmt = (
                self._insert(feed_table)
                .values(
                    url=url, title=title, outlet=outlet, language=language, interval_s=interval_s,
                    status=FeedStatus.NEW.value, next_poll_at=first_poll_at, consecutive_failures=0,
                    baseline_pending=baseline, created_at=now, entries_seen=0,
                )
                .on_conflict_do_nothing(index_elements=["url"])
                .returning(*feed_table.c)
            )
            row = (await conn.execute(stmt)).first()
            if row is not None:
                return _feed(row), True
            existing = (await conn.execute(select(feed_table).where(feed_table.c.url == url.replace("\x00", "")))).one()
            return _feed(existing), False

        return await self._tx(work)

    async def get_feed(self, feed_id: int) -> Feed | None:
        rows = await self._rows(select(feed_table).where(feed_table.c.id == feed_id))
        return _feed(rows[0]) if rows else None

    async def list_feeds(self) -> list[Feed]:
        return [_feed(r) for r in await self._rows(select(feed_table).order_by(feed_table.c.id))]

    async def remove_feed(self, feed_id: int) -> bool:
        async def work(conn: AsyncConnection) -> bool:
            # Entries (and their matches) go by ON DELETE CASCADE; delete them explicitly too, so the
            # outcome does not depend on a connection having foreign keys switched on.
            entry_ids = select(entry_table.c.id).where(entry_table.c.feed_id == feed_id)
            await conn.execute(delete(match_table).where(match_table.c.entry_id.in_(entry_ids)))
            await conn.execute(delete(entry_table).where(entry_table.c.feed_id == feed_id))
            await conn.execute(delete(tombstone_table).where(tombstone_table.c.feed_id == feed_id))
            result = await conn.execute(delete(feed_table).where(feed_table.c.id == feed_id))
            return result.rowcount > 0

        return await self._tx(work)

    async def claim_due_feeds(
        self, now: datetime, *, limit: int, lease_s: float, feed_ids: Sequence[int] | None = None,
        force: bool = False,
    ) -> list[FeedClaim]:
        """One statement: pick, lock (PostgreSQL: SKIP LOCKED, so workers never wait on each other) and
        lease. ``limit`` applies with ``force`` too; callers loop until a claim comes back empty."""
        if limit <= 0 or (feed_ids is not None and not feed_ids):
            return []
        token = str(uuid.uuid4())
        until = now + timedelta(seconds=lease_s)
        conditions = [
            feed_table.c.status != FeedStatus.RETIRED.value,
            or_(feed_table.c.leased_until.is_(None), feed_table.c.leased_until <= now),
        ]
        if not force:
            conditions.append(feed_table.c.next_poll_at <= now)
        if feed_ids is not None:
            conditions.append(feed_table.c.id.in_(list(feed_ids)))
        due = (
            select(feed_table.c.id)
            .where(*conditions)
            .order_by(feed_table.c.next_poll_at, feed_table.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .cte("due")
        )
        stmt = (
            sql_update(feed_table)
            .where(feed_table.c.id.in_(select(due.c.id)))
            .values(next_poll_at=until, leased_until=until, lease_token=token)
            .returning(*feed_table.c)
        )

        async def work(conn: AsyncConnection) -> list[FeedClaim]:
            rows = (await conn.execute(stmt)).all()
            return [FeedClaim(feed=_feed(r), token=token) for r in sorted(rows, key=lambda r: r.id)]

        return await self._tx(work)

    async def known_identities(self, feed_id: int, identities: Sequence[str]) -> set[str]:
        wanted = list(dict.fromkeys(identities))

        async def work(conn: AsyncConnection) -> set[str]:
            return await self._known(conn, feed_id, wanted)

        return await self._read(work)

    @staticmethod
    async def _known(conn: AsyncConnection, feed_id: int, identities: Sequence[str]) -> set[str]:
        """Stored entries and tombstones of pruned ones: both mean "seen before, never alert again"."""
        found: set[str] = set()
        for chunk in _chunks(list(identities)):
            for table in (entry_table, tombstone_table):
                stmt = select(table.c.identity).where(table.c.feed_id == feed_id, table.c.identity.in_(list(chunk)))
                found.update((await conn.execute(stmt)).scalars())
        return found

    async def finish_poll(
        self, claim: FeedClaim, update: FeedUpdate, entries: Sequence[Entry],
        deliveries: Sequence[NewDelivery], matches: Sequence[tuple[str, int, str]] = (),
    ) -> list[Entry] | None:
        """The fenced feed update goes first: if the token no longer matches, nothing at all is written."""
        poll = FinishedPoll(claim, update, tuple(entries), tuple(deliveries), tuple(matches))

        async def work(conn: AsyncConnection) -> list[Entry] | None:
            return await self._finish_one(conn, poll)

        return await self._tx(work)

    async def finish_polls(self, polls: Sequence[FinishedPoll]) -> list[list[Entry] | None]:
        """One transaction, one commit, for a group of finished polls (a commit each made every feed wait
        for SQLite's one writer and a disk flush: ~7 ms a 304). Each poll is fenced on its own claim exactly
        as ``finish_poll`` fences it, inside the same transaction, so a poll whose lease was lost writes
        nothing and the others are still written. A failure rolls the whole group back, which the
        callers' promise already covers: every lease lapses and those feeds are simply polled again.

        Outbox rows keep the order each poll gives them; a second poller inserting the same
        ``(destination, dedupe_key)`` in another order can deadlock on PostgreSQL, which aborts one
        transaction and ``_tx`` runs that group again (a deadlock is transient)."""
        if not polls:
            return []

        async def work(conn: AsyncConnection) -> list[list[Entry] | None]:
            quiet = await self._finish_quiet(conn, polls)
            return [[] if id(poll) in quiet else await self._finish_one(conn, poll) for poll in polls]

        return await self._tx(work)

    async def _finish_quiet(self, conn: AsyncConnection, polls: Sequence[FinishedPoll]) -> set[int]:
        """The polls that only update their feed (304s, errors, nothing new), written with one executemany
        per shape of update instead of a statement each; returns the ``id()`` of the polls written.

        Fencing as in ``_finish_one``: the lease tokens are read first (``FOR UPDATE`` on PostgreSQL, so
        no claim can move between the read and the write; SQLite's BEGIN IMMEDIATE already holds every
        other writer off) and only the polls still holding theirs are written, by an UPDATE whose WHERE
        repeats the fence. A stale poll is left to ``_finish_one``, which finds it fenced out (None)."""
        quiet = [p for p in polls if not (p.entries or p.deliveries or p.matches)
                 and not (p.update.url and p.update.url != p.claim.feed.url)]
        if len(quiet) < 2:  # nothing to gain over _finish_one
            return set()
        f = feed_table
        held: dict[int, str | None] = {}
        for chunk in _chunks([p.claim.feed.id for p in quiet]):
            rows = await conn.execute(select(f.c.id, f.c.lease_token).where(f.c.id.in_(list(chunk))).with_for_update())
            held.update((r.id, r.lease_token) for r in rows)
        shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        written: set[int] = set()
        for poll in quiet:
            if held.get(poll.claim.feed.id) != poll.claim.token:
                continue
            held[poll.claim.feed.id] = None  # a spent claim: a second finish of it in this group is fenced out
            values = self._feed_update_values(poll.update)
            shape = tuple(sorted(values))
            shapes.setdefault(shape, []).append(
                {"b_id": poll.claim.feed.id, "b_token": poll.claim.token, **{f"v_{k}": v for k, v in values.items()}})
            written.add(id(poll))
        for shape, params in shapes.items():
            stmt = (
                sql_update(f)
                .where(f.c.id == bindparam("b_id"), f.c.lease_token == bindparam("b_token"))
                .values({k: bindparam(f"v_{k}", type_=f.c[k].type) for k in shape})
            )
            await conn.execute(stmt, params)
        return written

    async def _finish_one(self, conn: AsyncConnection, poll: FinishedPoll) -> list[Entry] | None:
        """One feed's finish inside the caller's transaction: the fenced feed update first; if the token
        no longer matches, nothing of this poll is written and the result is None."""
        claim, update = poll.claim, poll.update
        feed_id = claim.feed.id
        now = _as_utc(update.polled_at)

        # Within one body a repeated identity keeps its first occurrence (see core.dedupe for why).
        unique: dict[str, Entry] = {}
        for entry in map(strip_nul_entry, poll.entries):
            unique.setdefault(entry.identity, entry)

        values = self._feed_update_values(update)
        if update.url and update.url != claim.feed.url:
            taken = await conn.execute(
                select(feed_table.c.id)
                .where(feed_table.c.url == update.url, feed_table.c.id != feed_id)
            )
            if taken.first() is not None:
                # The feed moved onto a URL another feed already has: keep polling the old one
                # rather than break the URL's uniqueness; a human can remove the duplicate.
                log.warning("feed moved to a URL already stored", extra={"feed_id": feed_id,
                                                                        "feed_url": update.url})
                values.pop("url")
        result = await conn.execute(
            sql_update(feed_table)
            .where(feed_table.c.id == feed_id, feed_table.c.lease_token == claim.token)
            .values(**values)
        )
        if result.rowcount == 0:
            return None

        # A pruned item served again stays pruned: its tombstone says it was seen (and alerted) before.
        buried = await self._buried(conn, feed_id, list(unique))
        stored: list[Entry] = []
        for chunk in _chunks([item for item in unique.items() if item[0] not in buried]):
            rows = [
                dict(
                    feed_id=feed_id, identity=identity, guid=e.guid, url=e.url, title=e.title,
                    summary=e.summary, author=e.author, language=e.language, published=e.published,
                    fetched_at=e.fetched_at or now, story_key=e.story_key,
                )
                for identity, e in chunk
            ]
            # executemany, not .values(rows): a multi-row VALUES statement is compiled afresh each time
            # (~8 ms for 30 rows, measured in poll_changed); this one is compiled once and cached.
            stmt = (
                self._insert(entry_table)
                .on_conflict_do_nothing(index_elements=["feed_id", "identity"])
                .returning(entry_table.c.id, entry_table.c.identity)
            )
            ids = {r.identity: r.id for r in (await conn.execute(stmt, rows)).all()}
            stored.extend(
                dataclasses.replace(
                    e, id=ids[identity], feed_id=feed_id, published=_as_utc(e.published),
                    fetched_at=_as_utc(e.fetched_at) or now,
                )
                for identity, e in chunk
                if identity in ids
            )
        if stored:
            await conn.execute(
                sql_update(feed_table).where(feed_table.c.id == feed_id)
                .values(entries_seen=feed_table.c.entries_seen + len(stored))
            )

        new_ids = {e.identity: e.id for e in stored}
        match_rows = [
            dict(entry_id=new_ids[identity], watch_id=watch_id, reasons=reasons)
            for identity, watch_id, reasons in poll.matches
            if identity in new_ids
        ]
        for chunk in _chunks(match_rows):
            await conn.execute(
                self._insert(match_table).on_conflict_do_nothing(index_elements=["entry_id", "watch_id"]),
                list(chunk),
            )

        delivery_rows = [
            dict(
                destination=d.destination, dedupe_key=d.dedupe_key, kind=d.kind,
                payload=json.dumps(dict(d.payload), ensure_ascii=False, default=str),
                status=DeliveryStatus.PENDING.value, attempts=0, next_attempt_at=now, created_at=now,
                outcome_unknown=False,
            )
            for d in poll.deliveries
        ]
        for chunk in _chunks(delivery_rows):
            await conn.execute(
                self._insert(delivery_table).on_conflict_do_nothing(index_elements=["destination", "dedupe_key"]),
                list(chunk),
            )
        return stored

    @staticmethod
    async def _buried(conn: AsyncConnection, feed_id: int, identities: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for chunk in _chunks(list(identities)):
            stmt = select(tombstone_table.c.identity).where(
                tombstone_table.c.feed_id == feed_id, tombstone_table.c.identity.in_(list(chunk)))
            found.update((await conn.execute(stmt)).scalars())
        return found

    @staticmethod
    def _feed_update_values(u: FeedUpdate) -> dict[str, Any]:
        values: dict[str, Any] = dict(
            status=u.status.value, next_poll_at=u.next_poll_at, last_polled_at=u.polled_at,
            consecutive_failures=u.consecutive_failures, lease_token=None, leased_until=None,
        )
        if u.url:
            values["url"] = u.url
        if u.title is not None:
            values["title"] = u.title
        if u.clear_validators:
            values["etag"] = None
            values["last_modified"] = None
        if u.etag is not None:
            values["etag"] = u.etag
        if u.last_modified is not None:
            values["last_modified"] = u.last_modified
        if u.last_success_at is not None:
            values["last_success_at"] = u.last_success_at
        if u.clear_error:
            values["last_error"] = None
        if u.last_error is not None:
            values["last_error"] = u.last_error
        if u.clear_failing_since:
            values["failing_since"] = None
        if u.failing_since is not None:
            values["failing_since"] = u.failing_since
        if u.baseline_done:
            values["baseline_pending"] = False
        return values

    # ---- watches ----------------------------------------------------------------------------------

    async def add_watch(self, query: str, destination: str, *, created_by: str, now: datetime) -> Watch:
        async def work(conn: AsyncConnection) -> Watch:
            await conn.execute(
                self._insert(destination_table)
                .values(key=destination, created_at=now, digest_enabled=True)
                .on_conflict_do_nothing(index_elements=["key"])
            )
            row = (
                await conn.execute(
                    watch_table.insert()
                    .values(query=query, destination=destination, created_by=created_by, created_at=now)
                    .returning(*watch_table.c)
                )
            ).one()
            await self._bump_watches(conn)
            return _watch(row)

        return await self._tx(work)

    async def list_watches(self, destination: str | None = None) -> list[Watch]:
        stmt = select(watch_table).order_by(watch_table.c.id)
        if destination is not None:
            stmt = stmt.where(watch_table.c.destination == destination)
        return [_watch(r) for r in await self._rows(stmt)]

    async def remove_watch(self, watch_id: int) -> bool:
        async def work(conn: AsyncConnection) -> bool:
            removed = (await conn.execute(delete(watch_table).where(watch_table.c.id == watch_id))).rowcount > 0
            if removed:
                await self._bump_watches(conn)
            return removed

        return await self._tx(work)

    async def set_watch_muted(self, watch_id: int, until: datetime | None) -> bool:
        async def work(conn: AsyncConnection) -> bool:
            stmt = sql_update(watch_table).where(watch_table.c.id == watch_id).values(muted_until=until)
            changed = (await conn.execute(stmt)).rowcount > 0
            if changed:
                await self._bump_watches(conn)
            return changed

        return await self._tx(work)

    async def watch_generation(self) -> int:
        """One primary-key read. A missing row (a database edited by hand) reads as 0, like a fresh one."""
        c = change_counter_table.c
        rows = await self._rows(select(c.value).where(c.name == WATCHES_COUNTER))
        return int(rows[0].value) if rows else 0

    async def _bump_watches(self, conn: AsyncConnection) -> None:
        """Inside the transaction of the watch change, so the two are seen together or not at all. An upsert:
        the row comes with migration 0006, but a missing one must not make a change go unnoticed. On
        PostgreSQL concurrent watch changes queue on this row, which is fine at chat-command rates."""
        t = change_counter_table
        await conn.execute(
            self._insert(t).values(name=WATCHES_COUNTER, value=1)
            .on_conflict_do_update(index_elements=["name"], set_={"value": t.c.value + 1})
        )

    # ---- entries ----------------------------------------------------------------------------------

    async def recent_entries(self, since: datetime, *, limit: int = 10_000) -> list[Entry]:
        """Entries fetched at or after ``since``: the newest ``limit`` of them, oldest first."""
        stmt = (
            select(entry_table).where(entry_table.c.fetched_at >= since)
            .order_by(entry_table.c.fetched_at.desc(), entry_table.c.id.desc()).limit(limit)
        )
        return [_entry(r) for r in reversed(await self._rows(stmt))]

    # ---- digests ----------------------------------------------------------------------------------

    async def set_digest_schedule(
        self, destination: str, *, at: str | None, timezone: str | None, enabled: bool,
        set_at: datetime | None, now: datetime,
    ) -> None:
        values = dict(digest_time=at, timezone=timezone, digest_enabled=enabled, digest_set_at=set_at)

        async def work(conn: AsyncConnection) -> None:
            stmt = self._insert(destination_table).values(key=destination, created_at=now, **values)
            await conn.execute(stmt.on_conflict_do_update(index_elements=["key"], set_=values))

        await self._tx(work)

    async def digest_schedules(self, destination: str | None = None) -> list[DigestSchedule]:
        """Destinations left-joined to their newest digest (the row with the greatest local date)."""
        d, g = destination_table, digest_table
        newest = select(g.c.destination, func.max(g.c.local_date).label("local_date")).group_by(g.c.destination)
        if destination is not None:
            newest = newest.where(g.c.destination == destination)
        newest = newest.subquery()
        last = (
            select(g.c.destination, g.c.local_date, g.c.created_at)
            .join(newest, and_(g.c.destination == newest.c.destination, g.c.local_date == newest.c.local_date))
            .subquery()
        )
        stmt = (
            select(d, last.c.local_date.label("last_date"), last.c.created_at.label("last_at"))
            .select_from(d.outerjoin(last, last.c.destination == d.c.key))
            .order_by(d.c.key)
        )
        if destination is not None:
            stmt = stmt.where(d.c.key == destination)
        return [
            DigestSchedule(
                destination=r.key, at=r.digest_time, timezone=r.timezone, enabled=bool(r.digest_enabled),
                set_at=r.digest_set_at, last_date=r.last_date, last_at=_read_digest_time(r.last_at),
            )
            for r in await self._rows(stmt)
        ]

    async def digest_matches(
        self, destination: str, since: datetime, until: datetime
    ) -> list[tuple[Entry, str, Watch, str]]:
        """WHY ``destination || ''`` on SQLite: it keeps SQLite (no statistics: the store never runs ANALYZE)
        from starting at ``ix_watches_destination`` and reading every match of the destination's watches over
        the whole retention (1M entries stored: 210 ms); it starts from the time window instead (the
        entries of ~2 days, 40 ms), a cost bounded by the window whatever the history. Not on PostgreSQL:
        it has statistics and already starts from the window, and the expression would hide the
        destination's selectivity from it (measured: 130 -> 400 ms). ``wirewatch bench`` digest_query."""
        e, m, w, f = entry_table, match_table, watch_table, feed_table
        mine = w.c.destination.concat(literal("")) if self._engine.dialect.name == "sqlite" else w.c.destination
        outlet = case((f.c.outlet != "", f.c.outlet), (f.c.title != "", f.c.title), else_=f.c.url)
        stmt = (
            select(e, outlet.label("outlet_name"), w.c.id.label("w_id"), w.c.query.label("w_query"),
                   w.c.destination.label("w_destination"), w.c.created_by.label("w_created_by"),
                   w.c.created_at.label("w_created_at"), w.c.muted_until.label("w_muted_until"),
                   m.c.reasons)
            .select_from(m.join(e, e.c.id == m.c.entry_id).join(w, w.c.id == m.c.watch_id)
                         .join(f, f.c.id == e.c.feed_id))
            .where(mine == destination, e.c.fetched_at >= since, e.c.fetched_at < until)
            .order_by(e.c.fetched_at, e.c.id, w.c.id)
        )
        return [
            (_entry(r), r.outlet_name,
             Watch(id=r.w_id, query=r.w_query, destination=r.w_destination, created_by=r.w_created_by,
                   created_at=_read_digest_time(r.w_created_at), muted_until=_read_digest_time(r.w_muted_until)),
             r.reasons)
            for r in await self._rows(stmt)
        ]

    async def record_digest(self, delivery: NewDelivery, *, local_date: str, now: datetime) -> bool:
        """The digests row's unique key decides; the outbox row is written only by the winner."""

        async def work(conn: AsyncConnection) -> bool:
            claimed = (
                await conn.execute(
                    self._insert(digest_table)
                    .values(destination=delivery.destination, local_date=local_date, status="queued",
                            created_at=now)
                    .on_conflict_do_nothing(index_elements=["destination", "local_date"])
                    .returning(digest_table.c.id)
                )
            ).first()
            if claimed is None:
                return False
            await conn.execute(
                self._insert(delivery_table).values(
                    destination=delivery.destination, dedupe_key=delivery.dedupe_key, kind=delivery.kind,
                    payload=json.dumps(dict(delivery.payload), ensure_ascii=False, default=str),
                    status=DeliveryStatus.PENDING.value, attempts=0, next_attempt_at=now, created_at=now,
                    outcome_unknown=False,
                ).on_conflict_do_nothing(index_elements=["destination", "dedupe_key"])
            )
            return True

        return await self._tx(work)

    async def destination_deliveries(
        self, destination: str, *, since: datetime, kinds: Sequence[str] = ("alert", "followup"),
    ) -> list[Delivery]:
        d = delivery_table
        stmt = (
            select(d).where(d.c.destination == destination, d.c.created_at >= since, d.c.kind.in_(list(kinds)))
            .order_by(d.c.id)
        )
        return [_delivery(r) for r in await self._rows(stmt)]

    # ---- article texts ----------------------------------------------------------------------------

    async def article_texts(self, urls: Sequence[str]) -> dict[str, ArticleText]:
        a = article_text_table
        found: dict[str, ArticleText] = {}
        for chunk in _chunks(list(dict.fromkeys(urls))):
            for r in await self._rows(select(a).where(a.c.url.in_(list(chunk)))):
                found[r.url] = ArticleText(url=r.url, text=r.text, source=r.source, fetched_at=_read_utc(r.fetched_at),
                                           links=tuple(json.loads(r.links or "[]")))
        return found

    async def save_article_texts(self, texts: Sequence[ArticleText]) -> None:
        rows = [dict(url=t.url, text=t.text, source=t.source[:200], links=json.dumps(list(t.links), ensure_ascii=False),
                     fetched_at=t.fetched_at) for t in {t.url: t for t in reversed(list(texts))}.values()]
        if not rows:
            return

        async def work(conn: AsyncConnection) -> None:
            for chunk in _chunks(rows, CHUNK // 5):
                await conn.execute(self._insert(article_text_table).values(list(chunk))
                                   .on_conflict_do_nothing(index_elements=["url"]))

        await self._tx(work)

    # ---- outbox -----------------------------------------------------------------------------------

    async def claim_deliveries(self, now: datetime, *, limit: int, lease_s: float) -> list[Delivery]:
        """Per-destination order: walk each destination's open rows (pending or sending) by id and take
        them while they are claimable now; the first one that is not (waiting for a retry, or held by a
        live claim) holds back everything after it. The window sum counts the non-claimable rows up to
        and including each row: a row is taken only when that count is 0.

        Window functions cannot be combined with FOR UPDATE, so on PostgreSQL claims are serialised with a
        transaction-level advisory lock (milliseconds); SQLite's BEGIN IMMEDIATE already serialises them.
        Without it, two senders could take rows 1 and 2 of one destination and post them out of order.

        ``outcome_unknown`` is sticky: once a claim lapsed mid-send, the row keeps asking for a
        reconcile until it is sent or dead, because nothing since has proved the first attempt failed."""
        if limit <= 0:
            return []
        d = delivery_table
        token = str(uuid.uuid4())
        until = now + timedelta(seconds=lease_s)
        claimable = or_(
            and_(d.c.status == DeliveryStatus.PENDING.value, d.c.next_attempt_at <= now),
            and_(d.c.status == DeliveryStatus.SENDING.value, d.c.claimed_until <= now),
        )
        blocked = (
            func.sum(case((claimable, 0), else_=1))
            .over(partition_by=d.c.destination, order_by=d.c.id, rows=(None, 0))
            .label("blocked")
        )
        open_rows = (
            select(d.c.id, blocked)
            .where(d.c.status.in_([DeliveryStatus.PENDING.value, DeliveryStatus.SENDING.value]))
            .subquery()
        )
        chosen = select(open_rows.c.id).where(open_rows.c.blocked == 0).order_by(open_rows.c.id).limit(limit)

        async def work(conn: AsyncConnection) -> list[Delivery]:
            if self._dialect == "postgresql":
                await conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({OUTBOX_CLAIM_LOCK})")
            stmt = (  # one statement (the ids chosen in a subquery): each one is several hops to SQLite's thread
                sql_update(d)
                .where(d.c.id.in_(chosen), claimable)
                .values(
                    status=DeliveryStatus.SENDING.value, claim_token=token, claimed_until=until,
                    attempts=d.c.attempts + 1,
                    outcome_unknown=or_(d.c.outcome_unknown, d.c.status == DeliveryStatus.SENDING.value),
                )
                .returning(*d.c)
            )
            rows = (await conn.execute(stmt)).all()
            return [_delivery(r) for r in sorted(rows, key=lambda r: r.id)]

        return await self._tx(work)

    async def _fenced(self, delivery: Delivery, action: str, **values: Any) -> None:
        """Write the outcome of a claimed row only if the claim is still ours (the token fences it)."""
        d = delivery_table

        async def work(conn: AsyncConnection) -> int:
            stmt = (
                sql_update(d)
                .where(
                    d.c.id == delivery.id, d.c.claim_token == delivery.claim_token,
                    d.c.status == DeliveryStatus.SENDING.value,
                )
                .values(**values)
            )
            return (await conn.execute(stmt)).rowcount

        if not delivery.claim_token or await self._tx(work) == 0:
            log.warning("delivery claim lost; outcome not recorded",
                        extra={"delivery_id": delivery.id, "channel": delivery.destination, "action": action})

    async def mark_sent_many(self, sent: Sequence[Delivery]) -> int:
        """One transaction for many sends (a commit each made ten parallel destinations queue for SQLite's
        one writer): one executemany whose WHERE is the fence of ``_fenced``. When the driver counts the
        rows an executemany changed (SQLite) and all of them were still ours, that single statement is all
        (each statement costs several hops to SQLite's thread). Otherwise (PostgreSQL's asyncpg cannot
        count them, or a claim was lost) the rows recorded are read back in the same transaction: ``sent``
        under our claim token (a row another sender took over carries that sender's token)."""
        if not sent:
            return 0
        if any(s.sent_at is None for s in sent):
            raise ValueError("a sent delivery needs its sent_at")
        d = delivery_table
        write = (
            sql_update(d)
            .where(d.c.id == bindparam("b_id"), d.c.claim_token == bindparam("b_token"),
                   d.c.status == DeliveryStatus.SENDING.value)
            .values(status=DeliveryStatus.SENT.value, message_ref=bindparam("b_ref", type_=CleanText()),
                    sent_at=bindparam("b_sent_at", type_=UtcDateTime()), claimed_until=None,
                    outcome_unknown=False, last_error=None)
        )
        claimed = [s for s in sent if s.claim_token]

        async def work(conn: AsyncConnection) -> list[Delivery]:
            if not claimed:
                return []
            result = await conn.execute(write, [dict(b_id=s.id, b_token=s.claim_token, b_ref=s.message_ref,
                                                     b_sent_at=s.sent_at) for s in claimed])
            if conn.dialect.supports_sane_multi_rowcount and result.rowcount == len(claimed):
                return claimed
            recorded: dict[int, str] = {}
            for chunk in _chunks(claimed, CHUNK):
                recorded.update((await conn.execute(
                    select(d.c.id, d.c.claim_token)
                    .where(d.c.id.in_([s.id for s in chunk]), d.c.status == DeliveryStatus.SENT.value)
                )).all())
            return [s for s in claimed if recorded.get(s.id) == s.claim_token]

        ours = {s.id for s in await self._tx(work)}
        for lost in (s for s in sent if s.id not in ours):
            log.warning("delivery claim lost; outcome not recorded",
                        extra={"delivery_id": lost.id, "channel": lost.destination, "action": "sent"})
        return len(ours)

    async def mark_retry(self, delivery: Delivery, *, next_attempt_at: datetime, error: str) -> None:
        await self._fenced(
            delivery, "retry", status=DeliveryStatus.PENDING.value, next_attempt_at=next_attempt_at,
            last_error=error, claim_token=None, claimed_until=None,
        )

    async def mark_dead(self, delivery: Delivery, *, error: str, now: datetime) -> None:
        await self._fenced(
            delivery, "dead", status=DeliveryStatus.DEAD.value, last_error=error, claimed_until=None,
            next_attempt_at=now,
        )

    async def release(self, deliveries: Sequence[Delivery]) -> None:
        """Unattempted rows go back to pending; the claim's attempt is taken back."""
        d = delivery_table

        async def work(conn: AsyncConnection) -> None:
            for delivery in deliveries:
                if not delivery.claim_token:
                    continue
                await conn.execute(
                    sql_update(d)
                    .where(
                        d.c.id == delivery.id, d.c.claim_token == delivery.claim_token,
                        d.c.status == DeliveryStatus.SENDING.value,
                    )
                    .values(
                        status=DeliveryStatus.PENDING.value, claim_token=None, claimed_until=None,
                        attempts=case((d.c.attempts > 0, d.c.attempts - 1), else_=0),
                    )
                )

        await self._tx(work)

    async def list_deliveries(self, status: str | None = None, *, limit: int = 1000) -> list[Delivery]:
        stmt = select(delivery_table).order_by(delivery_table.c.id).limit(limit)
        if status is not None:
            stmt = stmt.where(delivery_table.c.status == DeliveryStatus(status).value)
        return [_delivery(r) for r in await self._rows(stmt)]

    async def get_deliveries(self, keys: Sequence[tuple[str, str]]) -> list[Delivery]:
        if not keys:
            return []
        d = delivery_table
        stmt = select(d).where(tuple_(d.c.destination, d.c.dedupe_key).in_(list(keys))).order_by(d.c.id)
        return [_delivery(r) for r in await self._rows(stmt)]

    # ---- operations -------------------------------------------------------------------------------

    async def backlog(self, now: datetime) -> dict[str, float]:
        """Two aggregate reads on indexed columns (``next_poll_at``; ``status, next_attempt_at``)."""
        f, d = feed_table, delivery_table
        due = select(func.count(), func.min(f.c.next_poll_at)).where(
            f.c.next_poll_at <= now, f.c.status != FeedStatus.RETIRED.value,
            or_(f.c.leased_until.is_(None), f.c.leased_until <= now),
        )
        open_rows = select(func.count(), func.min(d.c.created_at)).where(
            d.c.status.in_([DeliveryStatus.PENDING.value, DeliveryStatus.SENDING.value]))

        async def work(conn: AsyncConnection) -> dict[str, float]:
            feeds_due, oldest_due = (await conn.execute(due)).one()
            depth, oldest_row = (await conn.execute(open_rows)).one()
            return _backlog(now, feeds_due, _read_utc(oldest_due), depth, _read_utc(oldest_row))

        return await self._read(work)

    async def prune(self, before: datetime, *, now: datetime, tombstones_before: datetime | None = None) -> int:
        """In batches of ``CHUNK`` entries, each its own short transaction: tombstones first, then matches,
        then the entries, so a crash between batches leaves nothing half-done (a tombstone without its
        entry deleted yet is harmless: both say "seen")."""
        e, m, t, d = entry_table, match_table, tombstone_table, delivery_table
        pruned = 0
        while True:
            async def batch(conn: AsyncConnection) -> int:
                rows = (await conn.execute(
                    select(e.c.id, e.c.feed_id, e.c.identity).where(e.c.fetched_at < before)
                    .order_by(e.c.id).limit(CHUNK))).all()
                if not rows:
                    return 0
                await conn.execute(
                    self._insert(t).values([dict(feed_id=r.feed_id, identity=r.identity, pruned_at=now) for r in rows])
                    .on_conflict_do_nothing(index_elements=["feed_id", "identity"]))
                ids = [r.id for r in rows]
                await conn.execute(delete(m).where(m.c.entry_id.in_(ids)))
                await conn.execute(delete(e).where(e.c.id.in_(ids)))
                return len(rows)

            done = await self._tx(batch)
            pruned += done
            if done < CHUNK:
                break

        async def rest(conn: AsyncConnection) -> None:
            await conn.execute(delete(d).where(
                d.c.created_at < before, d.c.status.in_([DeliveryStatus.SENT.value, DeliveryStatus.DEAD.value])))
            await conn.execute(delete(article_text_table).where(article_text_table.c.fetched_at < before))
            if tombstones_before is not None:
                await conn.execute(delete(t).where(t.c.pruned_at < tombstones_before))

        await self._tx(rest)
        return pruned

    async def close(self) -> None:
        await self._engine.dispose()
