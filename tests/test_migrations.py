"""Migrations reach head on empty SQLite and PostgreSQL databases, are idempotent, and describe the same schema
the store's runtime tables do. Database URLs are checked and refused with the setting's name."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from bot.adapters.sql_store import (
    current_revision,
    head_revision,
    make_engine,
    metadata,
    normalise_url,
    open_store,
    upgrade,
)
from bot.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_db(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


async def test_upgrade_reaches_head_and_is_idempotent(empty_db):
    assert await current_revision(empty_db) is None
    assert await upgrade(empty_db) == head_revision()
    assert await upgrade(empty_db) == head_revision()
    assert await current_revision(empty_db) == head_revision()


async def test_opening_a_store_migrates_and_reopening_is_fine(empty_db):
    for _ in range(2):
        store = await open_store(empty_db)
        await store.close()
    assert await current_revision(empty_db) == head_revision()


async def test_the_migrated_schema_matches_the_runtime_tables(empty_db):
    await upgrade(empty_db)
    engine = make_engine(empty_db)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c, opts={"compare_type": True}), metadata)
            )
    finally:
        await engine.dispose()
    assert diff == []


@pytest.mark.postgres
async def test_workers_starting_together_migrate_once(pg_url):
    results = await asyncio.gather(*(upgrade(pg_url) for _ in range(4)))
    assert results == [head_revision()] * 4


async def test_sqlite_connections_use_wal_and_foreign_keys(sqlite_url):
    store = await open_store(sqlite_url)
    try:
        async with store.engine.connect() as conn:
            journal = (await conn.execute(text("PRAGMA journal_mode"))).scalar()
            foreign_keys = (await conn.execute(text("PRAGMA foreign_keys"))).scalar()
            busy = (await conn.execute(text("PRAGMA busy_timeout"))).scalar()
    finally:
        await store.close()
    assert (journal, foreign_keys) == ("wal", 1)
    assert busy > 0


@pytest.mark.parametrize(
    ("url", "drivername"),
    [
        pytest.param("sqlite:///wirewatch.db", "sqlite+aiosqlite", id="sqlite-sync"),
        pytest.param("sqlite+aiosqlite:///wirewatch.db", "sqlite+aiosqlite", id="sqlite-async"),
        pytest.param("sqlite://", "sqlite+aiosqlite", id="sqlite-memory"),
        pytest.param("postgresql://u:p@db:5432/ww", "postgresql+asyncpg", id="postgresql-sync"),
        pytest.param("postgres://u:p@db/ww", "postgresql+asyncpg", id="postgres-alias"),
        pytest.param("postgresql+asyncpg://u@db/ww", "postgresql+asyncpg", id="postgresql-async"),
        pytest.param("  postgresql://db/ww  ", "postgresql+asyncpg", id="whitespace"),
    ],
)
def test_accepted_database_urls(url, drivername):
    assert normalise_url(url).drivername == drivername


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("", id="empty"),
        pytest.param("not a url", id="garbage"),
        pytest.param("mysql://u@db/ww", id="unsupported-backend"),
        pytest.param("postgresql+psycopg2://u@db/ww", id="unsupported-driver"),
        pytest.param("sqlite:////no/such/directory/wirewatch.db", id="missing-directory"),
    ],
)
def test_unusable_database_urls_name_the_setting(url):
    with pytest.raises(ConfigError, match="WIREWATCH_DATABASE_URL"):
        normalise_url(url)


async def test_an_unreachable_server_is_a_config_error_without_the_password():
    with pytest.raises(ConfigError, match="WIREWATCH_DATABASE_URL: cannot connect") as caught:
        await open_store("postgresql://wirewatch:s3cret@127.0.0.1:1/wirewatch")
    assert "s3cret" not in str(caught.value)


def test_the_migrations_form_one_line_with_a_single_head():
    """Two branches written at once would leave two heads, and `upgrade head` would refuse to run."""
    from alembic.script import ScriptDirectory

    from bot.adapters.sql_store import _alembic_config

    script = ScriptDirectory.from_config(_alembic_config())
    assert len(script.get_heads()) == 1, f"several heads: {script.get_heads()}"
    assert len(script.get_bases()) == 1


def test_the_head_read_from_the_scripts_is_alembics():
    """``open_store`` skips alembic when the database is at this head, so it must be alembic's own."""
    from bot.adapters.sql_store import script_head

    assert script_head() == head_revision()


def test_reopening_a_store_at_head_does_not_load_alembic(sqlite_url):
    """A restart at head needs no migration, and alembic costs ~11 MB resident (bench memory); a database
    behind head is still migrated (test_opening_a_store_migrates_and_reopening_is_fine)."""
    asyncio.run(upgrade(sqlite_url))
    code = ("import asyncio, sys\n"
            "from bot.adapters.sql_store import open_store\n"
            "async def main():\n"
            f"    store = await open_store({sqlite_url!r})\n"
            "    await store.close()\n"
            "asyncio.run(main())\n"
            "print('alembic' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
