"""The composition root: builds every part from one ``Settings`` value and hands them to ``Service``.

Nothing else in wirewatch reads the environment or chooses an implementation. Everything is built inside
``build_app`` (no work at import) and closed again when the ``async with`` ends.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, AsyncIterator, TextIO

from bot import PROJECT_URL, __version__
from bot.adapters.console import ConsoleNotifier
from bot.adapters.digest_chart import render_png
from bot.adapters.gazetteer_index import LazyPlaces, suggest_places
from bot.adapters.http_fetcher import HttpFetcher
from bot.adapters.jsonl import JsonlNotifier
from bot.adapters.lexicons import load_lexicons
from bot.adapters.parse_pool import InlineParser, ParsePool
from bot.adapters import discord_embeds, slack_blocks
from bot.adapters.slack_blocks import render_delivery, reply_text
from bot.adapters.sql_store import open_store
from bot.adapters.webhooks import KINDS as WEBHOOK_KINDS
from bot.adapters.webhooks import WebhookNotifier
from bot.app.settings import Settings
from bot.core.polling import PollPolicy
from bot.ports import Metrics
from bot.service import Service, ServiceConfig

if TYPE_CHECKING:  # the chat SDKs are imported where a token asks for them (build_app)
    from bot.adapters.discord_chat import DiscordChat
    from bot.adapters.slack_chat import SlackChat

log = logging.getLogger("wirewatch")


@dataclass
class App:
    settings: Settings
    service: Service
    slack: SlackChat | None = None  # the slash-command front end; ``wirewatch run`` starts it
    discord: DiscordChat | None = None  # the same for Discord; ``wirewatch run`` connects it


def user_agent(settings: Settings) -> str:
    contact = f"; {settings.contact}" if settings.contact else ""
    return f"wirewatch/{__version__} (+{PROJECT_URL}{contact})"


def service_config(settings: Settings) -> ServiceConfig:
    return ServiceConfig(
        poll_lease_s=settings.poll_lease_s,
        default_interval_s=settings.default_interval_s,
        delivery_lease_s=settings.delivery_lease_s,
        feed_admins=settings.feed_admins,
        digest_zone=settings.digest_timezone,
        digest_top=settings.digest_top,
        retention_days=settings.retention_days,
        tombstone_days=settings.tombstone_days,
        watch_warn_share=settings.watch_warn_share,
        policy=PollPolicy(
            min_interval_s=settings.min_interval_s,
            max_interval_s=settings.max_interval_s,
            dead_after_days=settings.dead_after_days,
            tick_s=settings.tick_s,
        ),
    )


def extract_page(html: bytes, url: str):
    """The full-text extractor (WIREWATCH_FULL_TEXT), imported on first use: trafilatura takes a quarter
    of a second to import, which no command that leaves full text off should pay."""
    from bot.adapters.article_text import extract_page as extract

    return extract(html, url)


def gazetteer(settings: Settings) -> LazyPlaces:
    """The places resolver: the on-disk index is opened only when a query first needs a place, and
    built then if missing (about a minute for every country, seconds for a few), with progress on
    stderr, so no other command waits for it."""
    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    return LazyPlaces(settings.gazetteer_path or None, countries=settings.gazetteer_countries, progress=progress,
                      near_min_population=settings.near_min_population)


@contextlib.asynccontextmanager
async def build_app(
    settings: Settings, *, console: TextIO | None = None, isolated_parser: bool = True,
    metrics: Metrics | None = None,
) -> AsyncIterator[App]:
    """Open the store (migrating it to the current schema), the fetcher and the parser, and wire them.

    ``isolated_parser=False`` parses in-process (one-shot commands that parse nothing untrusted)."""
    store = await open_store(settings.database_url, pool_size=settings.database_pool)
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
    # WHY imports here: a chat SDK is loaded only when its token is set (discord.py ~9 MB resident, slack_bolt
    # and slack_sdk ~7 MB, ~0.3 s to import): a webhook-only or one-platform deployment never loads the other.
    if settings.slack_bot_token:
        from bot.adapters.slack_chat import SlackNotifier, sender_client

        notifiers["slack"] = SlackNotifier(
            sender_client(settings.slack_bot_token, settings.slack_api_url),
            functools.partial(render_delivery, tz=settings.zone), chart=render_png,
        )
    webhooks = WebhookNotifier(  # alert-only destinations; URLs from WIREWATCH_WEBHOOK_<NAME>
        settings.webhooks, render_discord=discord_embeds.render_webhook_delivery,
        render_slack=functools.partial(slack_blocks.render_webhook_delivery, tz=settings.zone),
        secret=settings.webhook_secret,
    )
    for kind in WEBHOOK_KINDS:
        notifiers[kind] = webhooks
    discord_session = None
    if settings.discord_bot_token:  # one client: the sender uses REST only, the front end adds the gateway
        from bot.adapters.discord_chat import DiscordNotifier, DiscordSession

        discord_session = DiscordSession(settings.discord_bot_token, settings.discord_api_url)
        notifiers["discord"] = DiscordNotifier(discord_session, discord_embeds.render_delivery,
                                               thread_name=discord_embeds.thread_name, chart=render_png)
    places = gazetteer(settings)
    service = Service(store, fetcher, parser, notifiers, config=service_config(settings), metrics=metrics,
                      places=places,
                      lexicons=load_lexicons(), article_extractor=extract_page if settings.full_text else None)
    slack = None
    if settings.slack_bot_token:
        from bot.adapters.slack_chat import SlackChat, app_client

        slack = SlackChat(
            app_client(settings.slack_bot_token, settings.slack_api_url), service.run_command, reply_text,
            signing_secret=settings.slack_signing_secret, app_token=settings.slack_app_token,
            admin_groups=settings.feed_admins,
        )
    discord = None
    if discord_session is not None:
        from bot.adapters.discord_chat import DiscordChat

        discord = DiscordChat(discord_session, service.run_command, discord_embeds.reply_content,
                              suggest_places=functools.partial(suggest_places, places.path),
                              admin_permission=settings.discord_admin_permission)
    try:
        yield App(settings=settings, service=service, slack=slack, discord=discord)
    finally:
        if slack is not None:
            await slack.close()
        if discord is not None:
            await discord.close()
        await webhooks.close()
        await parser.close()
        await fetcher.close()
        await store.close()
