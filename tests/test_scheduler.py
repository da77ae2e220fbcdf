"""The scheduler's fixed jobs, run for a moment against a recording stand-in for the service."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.app.scheduler import APSCHEDULER_LOG, SKIPPED_TICK, build_scheduler
from bot.app.settings import Settings


class SlowPolls:
    """A service whose poll tick takes longer than the tick interval (a batch of slow feeds)."""

    def __init__(self, poll_s: float):
        self.poll_s = poll_s
        self.polls = 0

    async def poll_due_feeds(self):
        self.polls += 1
        await asyncio.sleep(self.poll_s)

        class Report:
            feeds: list = []

        return Report()

    async def deliver_all(self) -> None:
        return None

    async def queue_due_digests(self) -> list:
        return []


async def test_a_tick_skipped_while_the_last_one_runs_is_not_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    """A poll that outlasts several ticks is the normal case at a 1 s tick (``max_instances=1`` skips the
    ticks in between): no warning per skipped tick, while APScheduler's other warnings still get through."""
    caplog.set_level(logging.WARNING)
    service = SlowPolls(poll_s=0.8)
    scheduler = build_scheduler(service, Settings(tick_s=0.1, delivery_tick_s=0.1))  # type: ignore[arg-type]
    scheduler.start()
    try:
        await asyncio.sleep(1.0)
    finally:
        scheduler.shutdown(wait=False)
    logging.getLogger(APSCHEDULER_LOG).warning("job store unreachable")
    assert service.polls >= 1
    assert not [r for r in caplog.records if SKIPPED_TICK in r.getMessage()]
    assert "job store unreachable" in caplog.text
