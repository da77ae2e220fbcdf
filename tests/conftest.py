"""Fixtures shared across the suite. Module-specific fixtures live beside their tests.

Gazetteer: ``ua_ru_gazetteer`` is one index of Ukraine and Russia built once per session (tens of seconds);
every test that needs places uses it, never the user's cache, whose first build would take the whole world.

PostgreSQL: every test that asks for ``pg_url`` gets a database of its own (``CREATE DATABASE
wirewatch_t_<hex>``, dropped afterwards) on the server named by ``WIREWATCH_TEST_POSTGRES_URL``, because other
engineers and CI jobs share that server. If it is unreachable the test is skipped, except in CI
(``CI=true``), where a missing PostgreSQL is a failure.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, AsyncIterator, Coroutine

import pytest
from sqlalchemy.engine import make_url

PG_DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def _run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine on a private loop in a private thread (safe whatever loop the test uses)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _asyncpg_dsn(url: str, database: str | None = None) -> str:
    u = make_url(url).set(drivername="postgresql")
    if database is not None:
        u = u.set(database=database)
    return u.render_as_string(hide_password=False)


async def _admin(url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_asyncpg_dsn(url), timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def ua_ru_gazetteer(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A gazetteer index of UA and RU places, built once for the session (a Path)."""
    from bot.adapters.gazetteer_index import ensure_index

    path = tmp_path_factory.getbasetemp() / "gazetteer-ua-ru.sqlite"
    ensure_index(path, countries=["UA", "RU"])
    return path


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    """The PostgreSQL server for tests (an existing database on it to connect to for admin work)."""
    url = os.environ.get("WIREWATCH_TEST_POSTGRES_URL", PG_DEFAULT_URL)
    try:
        _run(_admin(url, "SELECT 1"))
    except Exception as exc:  # any reason at all: refused, auth, DNS -> skip (or fail in CI)
        where = make_url(url).render_as_string(hide_password=True)
        reason = f"PostgreSQL at {where} (WIREWATCH_TEST_POSTGRES_URL) is unreachable: {exc!r}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return url


@pytest.fixture
def pg_url(pg_server_url: str) -> Any:
    """A fresh, empty PostgreSQL database (asyncpg URL), dropped after the test."""
    name = f"wirewatch_t_{uuid.uuid4().hex[:16]}"
    _run(_admin(pg_server_url, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(pg_server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        _run(_admin(pg_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def sqlite_url(tmp_path: Any) -> str:
    return f"sqlite:///{tmp_path / 'wirewatch.db'}"


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest) -> str:
    """"memory" or a database URL; with ``store`` it lets a test open a second store on the same data."""
    if request.param == "memory":
        return "memory"
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Any]:
    """Every Store implementation, fresh and empty: MemoryStore, SqlStore on SQLite, SqlStore on PostgreSQL."""
    if store_url == "memory":
        from bot.adapters.memory import MemoryStore

        opened: Any = MemoryStore()
    else:
        from bot.adapters.sql_store import open_store

        opened = await open_store(store_url)
    try:
        yield opened
    finally:
        await opened.close()
