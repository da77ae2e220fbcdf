"""The ``digest_query`` figure: one daily digest composed over a store holding N entries, on SQLite and
PostgreSQL.

What is timed is ``Service.compose_digest`` for one destination, end to end, as the digest tick runs it:
``Store.digest_matches`` (the window and the day before it), ``Store.destination_deliveries`` (the grades
and corroboration the alerts carried), ``Store.list_watches`` and ``digests.compose``. ``digest_matches``
alone is reported beside it (``query_ms``) so that a slow figure says whether the database or the
composition is the cost.

The stored data (WHY this shape): entries are spread evenly over ``retention_days`` (90 days by default,
what a deployment keeps), ids increasing with time as the poller writes them; stories of 3 entries;
1,000 watches over 10 destinations; 15 % of entries matched by one watch and 5 % by two (a busy desk);
one sent alert per (destination, story) in the outbox. The destination timed is one of the ten, so its
digest reads ~1/10 of the matches of the last 48 hours, while the query has to find them among
everything stored. Rows are bulk-inserted (SQLAlchemy ``executemany`` on SQLite, ``COPY`` on PostgreSQL):
the figure is about the read, not how fast the bench can fill a database.

PostgreSQL is the server named by ``WIREWATCH_TEST_POSTGRES_URL`` (the test suite's); the bench creates a
throw-away database ``wirewatch_bench_<hex>`` on it and drops it afterwards, never touching another one.
PostgreSQL gets ``ANALYZE`` after the load (autovacuum would have run it on a live server); SQLite is
measured as deployed (the store never runs ``ANALYZE``, so its planner has no statistics).
"""

from __future__ import annotations

import json
import os
import random
import statistics
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

PG_DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
DESTINATIONS = 10
WATCHES = 1000
FEEDS = 200
STORY_SIZE = 3
TARGET = "webhook:digest0"
CHUNK = 50_000

_WORDS = ("officials said repairs were under way after the strike near the river crossing while "
          "regional authorities reported drones overnight and residents described damage to homes "
          "power lines and a rail depot as the governor confirmed evacuations from villages").split()
_PLACES = ("Kupiansk", "Izium", "Kharkiv", "Vovchansk", "Lyman", "Sloviansk")
_GRADES = ("strong", "fair", "weak", "unsourced")


@dataclass(frozen=True)
class Loaded:
    entries: int
    matches: int
    deliveries: int
    load_s: float


def _texts(rng: random.Random, n: int, words: int) -> list[str]:
    return [" ".join(rng.choice(_WORDS) for _ in range(words)) for _ in range(n)]


def _reasons(rng: random.Random) -> list[str]:
    out = []
    for place in _PLACES:
        out.append(json.dumps([{"term": f"place:{place}", "text": place, "field": "title",
                                "place": f"{place}, UA"}]))
    for word in ("drone", "shelling", "evacuation", "bridge"):
        out.append(json.dumps([{"term": word, "text": word, "field": "summary"}]))
    rng.shuffle(out)
    return out


def rows(n: int, end: datetime, days: float, seed: int = 7) -> Iterator[tuple[list[tuple], list[tuple], list[tuple]]]:
    """Chunks of ``(entries, matches, deliveries)`` as tuples in the column order of ``*_COLUMNS``."""
    rng = random.Random(seed)
    titles, summaries, reasons = _texts(rng, 997, 9), _texts(rng, 1009, 30), _reasons(rng)
    start = end - timedelta(days=days)
    step = timedelta(days=days) / max(n, 1)
    seen: set[tuple[int, int]] = set()  # (destination, story) already alerted
    match_id = delivery_id = 0
    for lo in range(1, n + 1, CHUNK):
        entries, matches, deliveries = [], [], []
        for k in range(lo, min(lo + CHUNK, n + 1)):
            story = k // STORY_SIZE
            at = start + step * k
            feed = k % FEEDS + 1
            entries.append((k, feed, f"id-{k}", f"guid-{k}", f"https://news{feed}.example.org/a/{k}",
                            f"{titles[story % 997]} {story}", summaries[k % 1009], "", "en",
                            at - timedelta(minutes=5), at, f"s{story}"))
            r = rng.random()
            count = 2 if r < 0.05 else 1 if r < 0.20 else 0
            for watch in rng.sample(range(1, WATCHES + 1), count):
                match_id += 1
                matches.append((match_id, k, watch, reasons[(k + watch) % len(reasons)]))
                dest = (watch - 1) % DESTINATIONS
                if (dest, story) in seen:
                    continue
                seen.add((dest, story))
                delivery_id += 1
                payload = json.dumps({"title": titles[story % 997], "story_key": f"s{story}",
                                      "grade": _GRADES[story % 4],
                                      "corroboration": f"corroborated by {1 + story % 3} independent outlets"})
                deliveries.append((delivery_id, f"webhook:digest{dest}", f"alert:s{story}", "alert", payload,
                                   "sent", 1, at, at, at, False))
        yield entries, matches, deliveries


ENTRY_COLUMNS = ("id", "feed_id", "identity", "guid", "url", "title", "summary", "author", "language",
                 "published", "fetched_at", "story_key")
MATCH_COLUMNS = ("id", "entry_id", "watch_id", "reasons")
DELIVERY_COLUMNS = ("id", "destination", "dedupe_key", "kind", "payload", "status", "attempts",
                    "next_attempt_at", "created_at", "sent_at", "outcome_unknown")


def _fixed_rows(end: datetime) -> tuple[list[dict], list[dict]]:
    feeds = [dict(id=f, url=f"https://news{f}.example.org/feed.xml", title=f"News {f}", outlet=f"Outlet {f}",
                  language="en", interval_s=600, status="ok", next_poll_at=end, consecutive_failures=0,
                  baseline_pending=False, created_at=end - timedelta(days=365), entries_seen=0)
             for f in range(1, FEEDS + 1)]
    queries = [f"place:{p}" for p in _PLACES] + ["drone OR shelling", "evacuation", "bridge AND river"]
    watches = [dict(id=w, query=queries[w % len(queries)], destination=f"webhook:digest{(w - 1) % DESTINATIONS}",
                    created_by="bench", created_at=end - timedelta(days=200), muted_until=None)
               for w in range(1, WATCHES + 1)]
    return feeds, watches


async def load(store: Any, n: int, end: datetime, days: float, pg_dsn: str | None) -> Loaded:
    """Fill an empty, migrated store: SQLAlchemy executemany (SQLite) or asyncpg COPY (PostgreSQL)."""
    from bot.adapters.sql_store import delivery_table, entry_table, feed_table, match_table, watch_table

    t = time.perf_counter()
    feeds, watches = _fixed_rows(end)
    async with store.engine.begin() as conn:
        await conn.execute(feed_table.insert(), feeds)
        await conn.execute(watch_table.insert(), watches)
    counts = [0, 0, 0]
    if pg_dsn is None:
        tables = (entry_table, match_table, delivery_table)
        columns = (ENTRY_COLUMNS, MATCH_COLUMNS, DELIVERY_COLUMNS)
        async with store.engine.begin() as conn:
            for chunk in rows(n, end, days):
                for i, (table, cols, part) in enumerate(zip(tables, columns, chunk)):
                    if part:
                        await conn.execute(table.insert(), [dict(zip(cols, r)) for r in part])
                    counts[i] += len(part)
    else:
        import asyncpg

        conn = await asyncpg.connect(pg_dsn, timeout=10)
        try:
            for chunk in rows(n, end, days):
                for i, (table, cols, part) in enumerate(zip(("entries", "matches", "deliveries"),
                                                            (ENTRY_COLUMNS, MATCH_COLUMNS, DELIVERY_COLUMNS),
                                                            chunk)):
                    if part:
                        await conn.copy_records_to_table(table, records=part, columns=list(cols))
                    counts[i] += len(part)
            for table in ("entries", "matches", "deliveries", "feeds", "watches"):  # keep serials ahead
                await conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                   f"(SELECT max(id) FROM {table}))")
            await conn.execute("ANALYZE")
        finally:
            await conn.close()
    return Loaded(counts[0], counts[1], counts[2], time.perf_counter() - t)


def pg_server_url() -> str:
    return os.environ.get("WIREWATCH_TEST_POSTGRES_URL", PG_DEFAULT_URL)


def asyncpg_dsn(url: str, database: str | None = None) -> str:
    from sqlalchemy.engine import make_url

    u = make_url(url).set(drivername="postgresql")
    if database is not None:
        u = u.set(database=database)
    return u.render_as_string(hide_password=False)


async def _admin(url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(url), timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def measure_backend(label: str, url: str, pg_dsn: str | None, n: int, rounds: int,
                          say: Callable[[str], None], settings: Any) -> dict[str, Any]:
    """Load one backend and time ``compose_digest`` ``rounds`` times (after one untimed first call,
    reported as ``first_ms``: a digest runs once a day, so its first read is the realistic one)."""
    from bot.adapters.sql_store import open_store
    from bot.app.bootstrap import service_config
    from bot.core import digests
    from bot.service import Service

    end = datetime.now(timezone.utc).replace(microsecond=0)
    store = await open_store(url)
    try:
        say(f"digest_query: loading {n:,} entries into {label}")
        loaded = await load(store, n, end, settings.retention_days, pg_dsn)
        say(f"digest_query: {label} loaded {loaded.entries:,} entries, {loaded.matches:,} matches, "
            f"{loaded.deliveries:,} outbox rows in {loaded.load_s:.0f} s")
        svc = Service(store, None, None, {}, config=service_config(settings))  # type: ignore[arg-type]
        start = end - timedelta(hours=24)
        due = digests.DueDigest(destination=TARGET, local_date=end.date().isoformat(), zone="UTC",
                                scheduled_for=end)

        async def once() -> tuple[float, Any]:
            t = time.perf_counter()
            digest = await svc.compose_digest(due, start, end)
            return (time.perf_counter() - t) * 1000, digest

        first_ms, digest = await once()
        if not digest.total:
            raise RuntimeError(f"digest_query: the {label} digest is empty")
        times, query = [], []
        for r in range(rounds):
            ms, _ = await once()
            times.append(ms)
            t = time.perf_counter()
            found = await store.digest_matches(TARGET, start - timedelta(hours=24), end)
            query.append((time.perf_counter() - t) * 1000)
            say(f"digest_query {label} round {r + 1}/{rounds}: {ms:.0f} ms per digest "
                f"(digest_matches {query[-1]:.0f} ms, {len(found):,} rows)")
        analyzed = None
        if pg_dsn is None:
            # WHY: SQLite's planner without statistics would start from the destination's watches and read
            # all their matches over the whole retention (digest_matches keeps it off that index); shown
            # beside the as-deployed figure so the report can say what statistics would add.
            async with store.engine.begin() as conn:
                await conn.exec_driver_sql("ANALYZE")
            await store.engine.dispose()  # a pooled SQLite connection keeps the statistics it loaded at open
            again = []
            for _ in range(3):
                t = time.perf_counter()
                await store.digest_matches(TARGET, start - timedelta(hours=24), end)
                again.append((time.perf_counter() - t) * 1000)
            analyzed = statistics.median(again)
            say(f"digest_query {label} after ANALYZE: digest_matches {analyzed:.0f} ms")
        return {"times": times, "query_ms": statistics.median(query), "first_ms": first_ms,
                "query_ms_after_analyze": analyzed,
                "rows": len(found), "stories": digest.total, "entries": loaded.entries,
                "matches": loaded.matches, "deliveries": loaded.deliveries, "load_s": loaded.load_s}
    finally:
        await store.close()


async def digest_query(n: int, rounds: int, tmp: Path, say: Callable[[str], None], settings: Any) -> dict[str, Any]:
    """``{"sqlite": {...}, "postgres": {...} | {"skipped": why}}`` for the ``digest_query`` figure."""
    out: dict[str, Any] = {}
    out["sqlite"] = await measure_backend("SQLite", f"sqlite:///{tmp / 'digest.db'}", None, n, rounds, say, settings)
    server = pg_server_url()
    name = f"wirewatch_bench_{uuid.uuid4().hex[:12]}"
    try:
        await _admin(server, f'CREATE DATABASE "{name}"')
    except Exception as exc:  # noqa: BLE001 - any reason (refused, auth): the figure says PostgreSQL was skipped
        from sqlalchemy.engine import make_url

        where = make_url(server).render_as_string(hide_password=True)
        out["postgres"] = {"skipped": f"PostgreSQL at {where} unreachable: {type(exc).__name__}: {exc}"}
        say(f"digest_query: {out['postgres']['skipped']}")
        return out
    try:
        from sqlalchemy.engine import make_url

        url = make_url(server).set(database=name).render_as_string(hide_password=False)
        out["postgres"] = await measure_backend("PostgreSQL", url, asyncpg_dsn(server, name), n, rounds, say,
                                                settings)
    finally:
        await _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return out


def combine(per_backend: dict[str, Any]) -> tuple[list[float], list[float]]:
    """(all round times, the medians per measured backend): the figure's value is the slower median."""
    measured = [b for b in per_backend.values() if "times" in b]
    return [t for b in measured for t in b["times"]], [statistics.median(b["times"]) for b in measured]


__all__: Sequence[str] = ("digest_query", "combine", "rows", "load")
