"""The scheduler: a few fixed jobs in this process, each reading its due work from the store.

Never one job per feed (which feeds are due is data in the store), never a job store shared between
processes (APScheduler 3 cannot coordinate them: several workers coordinate through the store's leases).
``max_instances=1`` and ``coalesce=True``: a slow tick is never run twice at once, and missed ticks
collapse into one.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.app.settings import Settings
from bot.service import Service

log = logging.getLogger("wirewatch.scheduler")


def build_scheduler(service: Service, settings: Settings) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone="UTC")

    async def poll_tick() -> None:
        report = await service.poll_due_feeds()
        if report.feeds:
            log.info("poll tick: %d feeds, %d new entries, %d alerts queued",
                     len(report.feeds), report.new_entries, report.alerts)

    async def delivery_tick() -> None:
        await service.deliver_all()  # a burst of alerts does not wait one tick per batch

    async def digest_tick() -> None:
        # Due-ness comes from the store and the clock, so a tick missed (the bot was down) is simply
        # caught up by the next one; several workers race on a unique key and one digest goes out.
        queued = await service.queue_due_digests()
        if queued:
            log.info("digest tick: %d digests queued", len(queued))

    common = dict(max_instances=1, coalesce=True, misfire_grace_time=None)
    scheduler.add_job(poll_tick, "interval", seconds=settings.tick_s, id="poll", next_run_time=_now(), **common)
    scheduler.add_job(delivery_tick, "interval", seconds=settings.delivery_tick_s, id="deliver",
                      next_run_time=_now(), **common)
    scheduler.add_job(digest_tick, "interval", seconds=settings.digest_tick_s, id="digest",
                      next_run_time=_now(), **common)
    return scheduler


def _now() -> datetime:
    return datetime.now(timezone.utc)
