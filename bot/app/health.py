"""``/healthz`` and ``/metrics`` on ``WIREWATCH_HTTP_HOST:PORT`` (and Slack's ``/slack/events`` in HTTP mode).

- ``/healthz`` answers 200 ``{"status": "ok", ...}`` when every check passes and 503
  ``{"status": "degraded", ...}`` when one fails, naming the part and why (``"database": "down: ..."``).
  The process itself answering at all is the liveness signal; the checks say whether it can do its work.
  Checks run on request, each under a short timeout, so a hung database makes the answer "degraded",
  never a hung health probe.
- ``/metrics`` is Prometheus text from a registry of this process's own (no global registry: two bots in
  one test process, or a library of ours imported twice, must not collide). Counters are fed by the
  service through the ``Metrics`` port; queue figures (outbox depth and age, feeds due, poll lag) are read
  from the store when scraped, because every worker shares them and the database is the truth.
- Slack HTTP mode wants the same host and port (one published port per container): its routes are
  mounted on this server instead of a second listener; bolt still verifies every request's signature.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timezone
from typing import Awaitable, Callable, Mapping

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

log = logging.getLogger("wirewatch.health")

CHECK_TIMEOUT_S = 3.0  # one check; the probe answers within about this, whatever hangs
FETCH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

#: a check returns None when the part is up, else the reason in words
Check = Callable[[], Awaitable[str | None]]


class PromMetrics:
    """The ``Metrics`` port on prometheus-client, plus the gauges read from the store at scrape time."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.polled = Counter("wirewatch_feeds_polled", "Feed polls finished, by outcome", ["outcome"], registry=r)
        self.fetch_seconds = Histogram("wirewatch_fetch_seconds", "Time to fetch one feed (all redirect hops)",
                                       buckets=FETCH_BUCKETS, registry=r)
        self.new_entries = Counter("wirewatch_new_entries", "New entries stored", registry=r)
        self.delivered = Counter("wirewatch_alerts_delivered", "Outbox rows delivered", ["platform"], registry=r)
        self.failed = Counter("wirewatch_alerts_failed", "Send attempts that failed and will be retried",
                              ["platform"], registry=r)
        self.dead = Counter("wirewatch_alerts_dead_lettered", "Outbox rows given up on (permanent error)",
                            ["platform"], registry=r)
        self.outbox_depth = Gauge("wirewatch_outbox_depth", "Outbox rows pending or being sent", registry=r)
        self.outbox_age = Gauge("wirewatch_outbox_age_seconds", "Age of the oldest unsent outbox row", registry=r)
        self.feeds_due = Gauge("wirewatch_feeds_due", "Feeds due and not being polled", registry=r)
        self.poll_lag = Gauge("wirewatch_poll_lag_seconds", "How long the most overdue feed has waited", registry=r)
        self.up = Gauge("wirewatch_up", "1 when a part (database, slack, ...) is reachable", ["part"], registry=r)

    # ---- the Metrics port -----------------------------------------------------------------------

    def feed_polled(self, outcome: str, *, fetch_s: float, new_entries: int) -> None:
        self.polled.labels(outcome).inc()
        if outcome not in ("lease_lost", "internal_error"):
            self.fetch_seconds.observe(max(fetch_s, 0.0))
        if new_entries:
            self.new_entries.inc(new_entries)

    def delivery_finished(self, platform: str, status: str) -> None:
        counter = {"sent": self.delivered, "retry": self.failed, "dead": self.dead}.get(status)
        if counter is not None:
            counter.labels(platform).inc()

    # ---- scrape-time figures --------------------------------------------------------------------

    def set_backlog(self, figures: Mapping[str, float]) -> None:
        self.outbox_depth.set(figures.get("outbox_depth", 0))
        self.outbox_age.set(figures.get("outbox_age_s", 0))
        self.feeds_due.set(figures.get("feeds_due", 0))
        self.poll_lag.set(figures.get("poll_lag_s", 0))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class Health:
    """Named checks, run together. ``database`` is built in: one backlog read (which also refreshes the
    queue gauges); chat connections are added by the composition root."""

    def __init__(self, store, metrics: PromMetrics, *, role: str = "all",
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        self.store = store
        self.metrics = metrics
        self.role = role
        self.clock = clock
        self.started = time.monotonic()
        self.checks: dict[str, Check] = {"database": self._database}

    def add_check(self, name: str, check: Check) -> None:
        self.checks[name] = check

    async def _database(self) -> str | None:
        figures = await self.store.backlog(self.clock())
        self.metrics.set_backlog(figures)
        return None

    async def report(self) -> tuple[bool, dict]:
        names = list(self.checks)
        results = await asyncio.gather(*(self._run(self.checks[n]) for n in names))
        parts = {}
        healthy = True
        for name, problem in zip(names, results):
            parts[name] = "up" if problem is None else f"down: {problem}"
            self.metrics.up.labels(name).set(1 if problem is None else 0)
            healthy = healthy and problem is None
        body = {"status": "ok" if healthy else "degraded", "role": self.role,
                "uptime_s": round(time.monotonic() - self.started, 1), "checks": parts}
        return healthy, body

    @staticmethod
    async def _run(check: Check) -> str | None:
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_S):
                return await check()
        except TimeoutError:
            return f"no answer within {CHECK_TIMEOUT_S:g} s"
        except Exception as exc:  # noqa: BLE001 - any failure of a check is "down", said in words
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
            return f"{type(exc).__name__}: {reason[0] if reason else ''}"[:300]


class HealthServer:
    """The one HTTP listener of a process: health, metrics, and (HTTP mode) Slack's events."""

    def __init__(self, health: Health, *, host: str = "127.0.0.1", port: int = 8080,
                 mount: web.Application | None = None):
        self.health = health
        self.host = host
        self.port = port
        self.app = web.Application()
        self.app.router.add_get("/healthz", self._healthz)
        self.app.router.add_get("/metrics", self._metrics)
        if mount is not None:  # copy the routes: bolt's app serves /slack/events at the root, as we do
            for route in mount.router.routes():
                self.app.router.add_route(route.method, route.resource.canonical, route.handler)
        self._runner: web.AppRunner | None = None

    async def start(self) -> int:
        """Listen; returns the bound port (useful with port 0)."""
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        bound = self._runner.addresses[0][1]
        log.info("health and metrics listening", extra={"host": self.host, "port": bound})
        return bound

    async def close(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def _healthz(self, request: web.Request) -> web.Response:
        healthy, body = await self.health.report()
        if not healthy:
            log.warning("health degraded", extra={"checks": body["checks"]})
        return web.json_response(body, status=200 if healthy else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        await self.health.report()  # refresh the queue gauges and the up gauges
        return web.Response(body=self.health.metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})
