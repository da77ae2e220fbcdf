"""ParsePool: real worker processes, really killed. InlineParser: same interface, same answers."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from bot.adapters.parse_pool import InlineParser, ParsePool
from bot.core.parsing import parse_feed

SAMPLE = (Path(__file__).parent / "samples" / "parse" / "rss20_basic.xml").read_bytes()
URL = "https://courier.example.org/feed.xml"
# One element with 100k attributes: feedparser's SAX handler is quadratic in them (minutes of CPU).
SLOW = b'<rss version="2.0"><channel><title ' + b" ".join(b'a%d="x"' % i for i in range(100_000)) + b">t</title></channel></rss>"


async def test_pool_answers_like_parse_feed():
    pool = ParsePool(workers=1, timeout_s=10)
    try:
        assert await pool.parse(SAMPLE, {}, URL, 3) == parse_feed(SAMPLE, {}, URL, 3)
    finally:
        await pool.close()
    assert pool.worker_pids == []


async def test_runaway_parse_is_killed_and_the_pool_recovers():
    pool = ParsePool(workers=1, timeout_s=1, prefilter=False)  # prefilter off: reach feedparser itself
    try:
        await pool.parse(SAMPLE, {}, URL, 1)
        (first_pid,) = pool.worker_pids
        stopped = await pool.parse(SLOW, {}, URL, 1)
        assert stopped.is_feed is False
        assert stopped.problem == "parse took longer than 1 s and was stopped"
        assert first_pid not in pool.worker_pids
        with pytest.raises(ProcessLookupError):
            os.kill(first_pid, 0)  # the runaway worker is gone, not left burning CPU
        again = await pool.parse(SAMPLE, {}, URL, 1)
        assert again.is_feed and len(again.entries) == 2
    finally:
        await pool.close()


async def test_prefilter_in_the_pool_refuses_without_burning_the_timeout():
    pool = ParsePool(workers=1, timeout_s=30)
    try:
        parsed = await pool.parse(SLOW, {}, URL, 1)
        assert parsed.problem == "refused: an element with 100000 attributes (feedparser would take minutes)"
    finally:
        await pool.close()


async def test_cpu_limit_stops_a_worker_the_wall_clock_has_not():
    """RLIMIT_CPU is the backstop for a worker whose parent stopped watching the clock."""
    pool = ParsePool(workers=1, timeout_s=60, cpu_limit_s=1, prefilter=False)
    try:
        parsed = await pool.parse(SLOW, {}, URL, 1)
        assert parsed.is_feed is False
        assert parsed.problem.startswith("the parse worker died (exit code")
        assert (await pool.parse(SAMPLE, {}, URL, 1)).is_feed
    finally:
        await pool.close()


@pytest.mark.skipif(not Path("/proc/self/limits").exists(), reason="needs /proc to read a process's limits")
async def test_worker_runs_under_an_address_space_limit():
    pool = ParsePool(workers=1, memory_limit=768 * 1024 * 1024)
    try:
        await pool.parse(SAMPLE, {}, URL, 1)
        (pid,) = pool.worker_pids
        limits = Path(f"/proc/{pid}/limits").read_text()
        line = next(line for line in limits.splitlines() if line.startswith("Max address space"))
        assert str(768 * 1024 * 1024) in line.split()
    finally:
        await pool.close()


async def test_worker_killed_from_outside_is_replaced():
    pool = ParsePool(workers=1)
    try:
        await pool.parse(SAMPLE, {}, URL, 1)
        (pid,) = pool.worker_pids
        os.kill(pid, signal.SIGKILL)
        parsed = await pool.parse(SAMPLE, {}, URL, 1)
        if not parsed.is_feed:  # the kill landed while the request was on its way: reported in words
            assert parsed.problem.startswith("the parse worker died")
            parsed = await pool.parse(SAMPLE, {}, URL, 1)
        assert parsed.is_feed and pid not in pool.worker_pids
    finally:
        await pool.close()


async def test_parses_run_concurrently_on_several_workers():
    pool = ParsePool(workers=2, timeout_s=1, prefilter=False)
    try:
        slow, fast = await asyncio.gather(pool.parse(SLOW, {}, URL, 1), pool.parse(SAMPLE, {}, URL, 2))
        assert slow.problem == "parse took longer than 1 s and was stopped"
        assert fast.is_feed and fast.entries[0].feed_id == 2  # not blocked or lost by the killed neighbour
    finally:
        await pool.close()


async def test_cancelled_caller_does_not_leave_a_busy_worker():
    pool = ParsePool(workers=1, timeout_s=60, prefilter=False)
    try:
        await pool.parse(SAMPLE, {}, URL, 1)
        (pid,) = pool.worker_pids
        task = asyncio.create_task(pool.parse(SLOW, {}, URL, 1))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert pid not in pool.worker_pids
        assert (await pool.parse(SAMPLE, {}, URL, 1)).is_feed
    finally:
        await pool.close()


async def test_closed_pool_refuses_work():
    pool = ParsePool(workers=1)
    await pool.close()
    with pytest.raises(RuntimeError):
        await pool.parse(SAMPLE, {}, URL, 1)


async def test_inline_parser_is_the_same_interface():
    inline = InlineParser()
    assert await inline.parse(SAMPLE, {}, URL, 3) == parse_feed(SAMPLE, {}, URL, 3)
    refused = await inline.parse(SLOW, {}, URL, 3)
    assert refused.problem.startswith("refused:")
    await inline.close()
