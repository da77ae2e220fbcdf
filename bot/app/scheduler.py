"""The scheduler: a few fixed jobs in this process, each reading its due work from the store.

Never one job per feed (which feeds are due is data in the store), never a job store shared between
processes (APScheduler 3 cannot coordinate them: several workers coordinate through the store's leases).
``max_instances=1`` and ``coalesce=True``: a slow tick is never run twice at once, and missed ticks
collapse into one. A tick skipped that way is the design, not a fault, so APScheduler's warning about it is
dropped: at the 1 s poll and delivery ticks a 30 s batch would otherwise log 30 of them, and each tick
logs what it did.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.app.settings import Settings
from bot.service import Service

log = logging.getLogger("wirewatch.scheduler")
# A child of "apscheduler", so it keeps the level ``logs.setup_logging`` gives that logger.
APSCHEDULER_LOG = "apscheduler.scheduler.wirewatch"
SKIPPED_TICK = "maximum number of running instances reached"  # APScheduler 3's text for a skipped run


class _DropSkippedTicks(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return SKIPPED_TICK not in record.getMessage()


def _scheduler_logger() -> logging.Logger:
    logger = logging.getLogger(APSCHEDULER_LOG)
    if not any(isinstance(f, _DropSkippedTicks) for f in logger.filters):
        logger.addFilter(_DropSkippedTicks())
    return logger


def build_scheduler(service: Service, settings: Settings) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone="UTC", logger=_scheduler_logger())

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
