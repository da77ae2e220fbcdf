"""Alembic environment for wirewatch.

Normally run programmatically: ``bot.adapters.sql_store.upgrade(url)`` hands a live connection in
``config.attributes["connection"]`` (from ``AsyncConnection.run_sync``). Run from the ``alembic`` command
line instead, it reads the URL from ``-x url=...`` or ``WIREWATCH_DATABASE_URL`` and does the same.
"""

from __future__ import annotations

import asyncio
import os

from alembic import context


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=None, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:  # command-line use
    from bot.adapters import sql_store

    url = context.get_x_argument(as_dictionary=True).get("url") or os.environ.get("WIREWATCH_DATABASE_URL", "")

    async def _online() -> None:
        engine = sql_store.make_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(_run)
        finally:
            await engine.dispose()

    asyncio.run(_online())
