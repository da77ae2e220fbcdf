"""``wirewatch run --role all|poller|sender|chat``: one code base, deployed as one process or as many.

Why roles: polling is CPU and network work that scales out with feeds; sending is paced by the chat
platforms and scales with destinations; the chat front end must be exactly one process, because Slack
Socket Mode and the Discord gateway want one connection per bot. Every role coordinates only through the
database (leases with fencing tokens on feeds and outbox rows), so any number of pollers and senders can
run on any number of machines sharing one PostgreSQL.

- ``poller``: the scheduler's poll jobs (ids starting ``poll``) and hourly retention.
- ``sender``: every other scheduled job: the outbox delivery tick, digests, and any job added later
  that talks to chat (the safe default: a new job runs in the role that holds the chat credentials).
- ``chat``: no scheduled job; the Slack (Socket Mode or HTTP mode) front end for slash commands.
- ``all``: everything, in one process (the one-machine deployment).

Every role serves ``/healthz`` and ``/metrics`` on ``WIREWATCH_HTTP_HOST:PORT``.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from typing import Iterable

from bot import __version__
from bot.app.bootstrap import App, build_app
from bot.app.health import Health, HealthServer, PromMetrics
from bot.app.scheduler import build_scheduler
from bot.app.settings import Settings
from bot.core.errors import ConfigError

log = logging.getLogger("wirewatch")

ROLES = ("all", "poller", "sender", "chat")
RETENTION_JOB = "retention"
RETENTION_EVERY_S = 3600


def jobs_for_role(role: str, job_ids: Iterable[str]) -> set[str]:
    """Which of the scheduler's jobs run in ``role`` (see the module docstring for the rule and why)."""
    ids = set(job_ids)
    if role == "all":
        return ids
    if role == "chat":
        return set()
    polling = {j for j in ids if j.startswith("poll") or j == RETENTION_JOB}
    if role == "poller":
        return polling
    if role == "sender":
        return ids - polling
    raise ConfigError(f"--role must be one of {', '.join(ROLES)}, got {role!r}")


def runs_chat_front_end(role: str) -> bool:
    return role in ("all", "chat")


def slack_check(chat) -> "callable":
    """Is the Slack front end connected? Socket Mode: the websocket is up. HTTP mode: Slack calls us, so
    this very server answering is the proof."""

    async def check() -> str | None:
        if chat.mode == "http":
            return None
        handler = getattr(chat, "_socket", None)
        if handler is None:
            return "Socket Mode not connected"
        return None if await handler.client.is_connected() else "Socket Mode disconnected; reconnecting"

    return check


async def _check_slack_token(app: App) -> None:
    """HTTP mode is served by our own listener, so the token check ``SlackChat.start`` does is done here."""
    from slack_sdk.errors import SlackApiError  # only a Slack deployment loads the SDK (see bootstrap.build_app)

    assert app.slack is not None
    try:
        await app.slack.client.auth_test()
    except SlackApiError as exc:
        error = exc.response.data.get("error") if isinstance(exc.response.data, dict) else None
        raise ConfigError(f"Slack refused SLACK_BOT_TOKEN: {error or exc.response.status_code}") from None


async def run(settings: Settings, role: str, stop: asyncio.Event) -> None:
    """Run one process in ``role`` until ``stop`` is set."""
    if role not in ROLES:
        raise ConfigError(f"--role must be one of {', '.join(ROLES)}, got {role!r}")
    metrics = PromMetrics()
    async with build_app(settings, metrics=metrics) as app:
        scheduler = build_scheduler(app.service, settings)
        scheduler.add_job(app.service.prune_old_entries, "interval", seconds=RETENTION_EVERY_S, id=RETENTION_JOB,
                          next_run_time=datetime.now(timezone.utc), max_instances=1, coalesce=True,
                          misfire_grace_time=None)
        wanted = jobs_for_role(role, [j.id for j in scheduler.get_jobs()])
        for job in scheduler.get_jobs():
            if job.id not in wanted:
                scheduler.remove_job(job.id)

        health = Health(app.service.store, metrics, role=role)
        chat = app.slack if runs_chat_front_end(role) else None
        mount = None
        if chat is not None:
            health.add_check("slack", slack_check(chat))
            if chat.mode == "http":
                await _check_slack_token(app)
                mount = chat.http_app()
        discord = app.discord if runs_chat_front_end(role) else None
        if discord is not None:
            health.add_check("discord", discord.check)
        server = HealthServer(health, host=settings.http_host, port=settings.http_port, mount=mount)
        try:
            await server.start()
        except OSError as exc:
            where = f"{settings.http_host}:{settings.http_port}"
            if mount is not None:  # Slack HTTP mode cannot work without its listener
                raise ConfigError(f"WIREWATCH_HTTP_HOST/WIREWATCH_HTTP_PORT: cannot listen on {where}: "
                                  f"{exc.strerror or exc}") from None
            # Health and metrics are for operators; polling and delivery go on without them.
            log.error("health and metrics not served: cannot listen on %s (%s); set WIREWATCH_HTTP_PORT",
                      where, exc.strerror or exc, extra={"host": settings.http_host, "port": settings.http_port})
        try:
            if chat is not None and chat.mode == "socket":
                await chat.start()
            if discord is not None:  # logs in (a refused token stops the start), then the gateway
                await discord.start()
            scheduler.start()
            log.info("wirewatch %s running; Ctrl-C stops it", __version__,
                     extra={"role": role, "jobs": sorted(wanted)})
            await stop.wait()
        finally:
            if scheduler.running:
                scheduler.shutdown(wait=False)
            await server.close()
