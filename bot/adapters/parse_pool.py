"""The FeedParser port: ``parse_feed`` in worker processes that can be killed.

feedparser 6.0.14 still has CPU blow-ups inside ``parse()`` (one element with 200k attributes runs for
minutes; a long ``<author>`` trips a super-linear regex, kurtmckee/feedparser#562). A thread cannot be
stopped and a runaway parse would hold the GIL, so each parse runs in a worker PROCESS:

- started with the ``spawn`` method (a fork of an asyncio process with running threads is unsafe);
- limited by ``RLIMIT_AS`` (memory) and ``RLIMIT_CPU`` (CPU seconds, re-armed before each parse because
  the limit counts the worker's whole life), so a worker orphaned by a dead bot stops by itself;
- given a wall-clock timeout: when it passes, the worker is killed, a fresh one takes its place, and the
  caller gets ``ParsedFeed(is_feed=False, problem="parse took longer than 10 s and was stopped")``.

A worker that dies for any other reason (the CPU limit, out of memory, killed from outside) is replaced
the same way; the next parse works again. ``InlineParser`` is the same interface without processes, for
``wirewatch parse`` and fast tests.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import multiprocessing.connection
import resource
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Mapping

from bot.core.models import ParsedFeed
from bot.core.parsing import parse_feed

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MEMORY_LIMIT = 1 << 30  # 1 GiB of address space per worker: a 100 MB feed peaks near 400 MB
DEFAULT_WORKERS = 2
STARTUP_TIMEOUT_S = 60.0


def _set_limit(which: int, soft: int) -> None:
    _, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(which, (soft, hard))


def _cpu_used() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _worker_main(conn: multiprocessing.connection.Connection, memory_limit: int, cpu_budget_s: int) -> None:
    """The worker loop: one request, one answer, until the pipe closes."""
    if memory_limit:
        _set_limit(resource.RLIMIT_AS, memory_limit)
    conn.send(("ready", None))  # imports are done: from here on, the clock of each parse is fair
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        body, headers, url, feed_id, prefilter = request
        # RLIMIT_CPU counts the process's whole life: allow this parse its budget on top of what is spent.
        _set_limit(resource.RLIMIT_CPU, int(_cpu_used()) + cpu_budget_s + 1)
        try:
            answer: tuple[str, Any] = ("ok", parse_feed(body, headers, url, feed_id, prefilter=prefilter))
        except MemoryError:
            answer = ("problem", "parse ran out of memory and was stopped")
        except Exception as exc:  # a bug in our parsing code: report it in words, keep the worker
            answer = ("problem", f"parse failed: {type(exc).__name__}: {exc}"[:300])
        try:
            conn.send(answer)
        except (OSError, ValueError):
            return
        # feedparser leaves large reference cycles behind on some hostile documents (an entity-laden one
        # kept ~67 MB per parse alive): collect them now, not whenever the collector next runs.
        del answer, body, request
        gc.collect()


class _WorkerDied(Exception):
    pass


class _Worker:
    """One worker process and its pipe. ``call`` blocks; it runs in a thread of the pool."""

    def __init__(self, ctx: Any, memory_limit: int, cpu_budget_s: int) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(
            target=_worker_main, args=(child, memory_limit, cpu_budget_s), name="wirewatch-parse",
            daemon=True,
        )
        self.process.start()
        child.close()
        # Starting a Python process and importing feedparser takes a second or more on a busy machine;
        # wait for the worker here, outside any parse's timeout, so a slow start is not a slow parse.
        try:
            ready = self.conn.poll(STARTUP_TIMEOUT_S) and self.conn.recv() == ("ready", None)
        except (EOFError, OSError):
            ready = False
        if not ready:
            self.kill()
            raise _WorkerDied(f"the parse worker did not start within {STARTUP_TIMEOUT_S:g} s")

    def call(self, request: tuple) -> tuple[str, Any]:
        try:
            self.conn.send(request)
            return self.conn.recv()
        except (EOFError, OSError, BrokenPipeError) as exc:
            raise _WorkerDied(str(exc)) from exc

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)

    def close_pipe(self) -> None:
        self.conn.close()


class ParsePool:
    """``FeedParser`` backed by ``workers`` killable processes (started lazily, on the first parse)."""

    def __init__(
        self,
        *,
        workers: int = DEFAULT_WORKERS,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        memory_limit: int = DEFAULT_MEMORY_LIMIT,
        cpu_limit_s: int | None = None,
        prefilter: bool = True,
    ) -> None:
        """``timeout_s``: wall-clock limit per parse. ``memory_limit``: RLIMIT_AS per worker in bytes
        (0: none). ``cpu_limit_s``: RLIMIT_CPU per parse (default 3 × timeout, at least 2 s), the backstop
        that stops a worker nobody waits for. ``prefilter=False`` lets pathological documents reach
        feedparser (only to prove that the limits work)."""
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.timeout_s = timeout_s
        self.memory_limit = memory_limit
        self.prefilter = prefilter
        # The CPU limit backs up the wall-clock timeout: generous, so it only catches orphans.
        self._cpu_budget_s = cpu_limit_s if cpu_limit_s is not None else max(2, int(timeout_s * 3))
        self._size = workers
        self._ctx = multiprocessing.get_context("spawn")
        self._threads = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="wirewatch-parse")
        self._idle: asyncio.Queue[_Worker | None] | None = None
        self._all: set[_Worker] = set()
        self._closed = False

    @property
    def worker_pids(self) -> list[int]:
        """Process ids of the live workers (for health output and tests)."""
        return sorted(w.process.pid for w in self._all if w.process.pid is not None)

    def _spawn(self) -> _Worker:
        worker = _Worker(self._ctx, self.memory_limit, self._cpu_budget_s)
        self._all.add(worker)
        return worker

    def _retire(self, worker: _Worker) -> None:
        worker.kill()
        worker.close_pipe()
        self._all.discard(worker)

    async def parse(self, body: bytes, headers: Mapping[str, str], url: str, feed_id: int) -> ParsedFeed:
        if self._closed:
            raise RuntimeError("ParsePool is closed")
        if self._idle is None:
            self._idle = asyncio.Queue()
            for _ in range(self._size):
                self._idle.put_nowait(None)  # a slot; its worker is started when first used
        slot = await self._idle.get()
        loop = asyncio.get_running_loop()
        worker = slot
        try:
            if worker is None or not worker.process.is_alive():
                if worker is not None:
                    await loop.run_in_executor(self._threads, self._retire, worker)
                try:
                    worker = await loop.run_in_executor(self._threads, self._spawn)
                except _WorkerDied as exc:
                    worker = None
                    return ParsedFeed(is_feed=False, problem=str(exc))
            request = (bytes(body), dict(headers), url, feed_id, self.prefilter)
            call = loop.run_in_executor(self._threads, worker.call, request)
            try:
                kind, value = await asyncio.wait_for(asyncio.shield(call), self.timeout_s)
            except asyncio.CancelledError:
                # The caller gave up: the answer would arrive on a pipe nobody reads, so the worker goes.
                await self._kill_during(call, worker)
                worker = None
                raise
            except asyncio.TimeoutError:
                await self._kill_during(call, worker)
                worker = None
                return ParsedFeed(
                    is_feed=False, problem=f"parse took longer than {self.timeout_s:g} s and was stopped"
                )
            except _WorkerDied:
                await loop.run_in_executor(self._threads, self._retire, worker)
                code = worker.process.exitcode
                worker = None
                return ParsedFeed(
                    is_feed=False, problem=f"the parse worker died (exit code {code}) and was replaced"
                )
            if kind == "ok":
                return value
            return ParsedFeed(is_feed=False, problem=str(value))
        finally:
            if self._idle is not None:
                self._idle.put_nowait(worker)

    async def _kill_during(self, call: asyncio.Future, worker: _Worker) -> None:
        # Kill first: that ends the blocked recv in the thread, which then finishes with _WorkerDied.
        worker.kill()
        await asyncio.gather(call, return_exceptions=True)
        self._retire(worker)

    async def close(self) -> None:
        """Stop every worker. Parses still running get cancelled."""
        self._closed = True
        for worker in list(self._all):
            try:
                worker.conn.send(None)
            except (OSError, ValueError):
                pass
        loop = asyncio.get_running_loop()
        for worker in list(self._all):
            await loop.run_in_executor(None, worker.process.join, 1)
            self._retire(worker)
        self._threads.shutdown(wait=False, cancel_futures=True)


class InlineParser:
    """``FeedParser`` that parses in the calling thread: no time limit, no processes. For the CLI's
    ``wirewatch parse`` and for tests where speed matters more than isolation."""

    def __init__(self, *, prefilter: bool = True) -> None:
        self.prefilter = prefilter

    async def parse(self, body: bytes, headers: Mapping[str, str], url: str, feed_id: int) -> ParsedFeed:
        return parse_feed(body, headers, url, feed_id, prefilter=self.prefilter)

    async def close(self) -> None:
        return None
