"""The composition root: builds every part from one ``Settings`` value and hands them to ``Service``.

Nothing else in wirewatch reads the environment or chooses an implementation. Everything is built inside
``build_app`` (no work at import) and closed again when the ``async with`` ends.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import AsyncIterator, TextIO

from bot import PROJECT_URL, __version__
from bot.adapters.console import ConsoleNotifier
from bot.adapters.http_fetcher import HttpFetcher
from bot.adapters.jsonl import JsonlNotifier
from bot.adapters.parse_pool import InlineParser, ParsePool
from bot.adapters.sql_store import open_store
from bot.app.settings import Settings
from bot.core.polling import PollPolicy
from bot.service import Service, ServiceConfig

log = logging.getLogger("wirewatch")


@dataclass
class App:
    settings: Settings
    service: Service


def user_agent(settings: Settings) -> str:
    contact = f"; {settings.contact}" if settings.contact else ""
    return f"wirewatch/{__version__} (+{PROJECT_URL}{contact})"


def service_config(settings: Settings) -> ServiceConfig:
    return ServiceConfig(
        poll_lease_s=settings.poll_lease_s,
        default_interval_s=settings.default_interval_s,
        delivery_lease_s=settings.delivery_lease_s,
        policy=PollPolicy(
            min_interval_s=settings.min_interval_s,
            max_interval_s=settings.max_interval_s,
            dead_after_days=settings.dead_after_days,
        ),
    )


@contextlib.asynccontextmanager
async def build_app(
    settings: Settings, *, console: TextIO | None = None, isolated_parser: bool = True
) -> AsyncIterator[App]:
    """Open the store (migrating it to the current schema), the fetcher and the parser, and wire them.

    ``isolated_parser=False`` parses in-process (one-shot commands that parse nothing untrusted)."""
    store = await open_store(settings.database_url)
    fetcher = HttpFetcher(
        timeout_s=settings.fetch_timeout_s,
        max_body_bytes=settings.max_body_bytes,
        allow_private_networks=settings.allow_private_networks,
        user_agent=user_agent(settings),
    )
    parser = ParsePool(timeout_s=settings.parse_timeout_s) if isolated_parser else InlineParser()
    notifiers = {
        "console": ConsoleNotifier(stream=console, tz=settings.zone),
        "jsonl": JsonlNotifier(),
    }
    service = Service(store, fetcher, parser, notifiers, config=service_config(settings))
    try:
        yield App(settings=settings, service=service)
    finally:
        await parser.close()
        await fetcher.close()
        await store.close()
