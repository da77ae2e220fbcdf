"""``/healthz``, ``/metrics`` and ``--role``: what an operator and a load balancer see.

Real parts only: the service polls a loopback feed and delivers to a recording notifier, the server is
asked over HTTP, the database outage is a real PostgreSQL database refusing connections, and the chat
role is the real ``wirewatch run`` with Slack's HTTP mode mounted on the health server.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from bot.adapters.http_fetcher import HttpFetcher
from bot.adapters.memory import MemoryStore
from bot.adapters.parse_pool import InlineParser
from bot.adapters.sql_store import open_store
from bot.app.health import Health, HealthServer, PromMetrics
from bot.app.roles import jobs_for_role
from bot.core.errors import ConfigError
from bot.core.models import Delivery, SendResult
from bot.service import Service, ServiceConfig
from tests import slackstub
from tests.conftest import _admin, _run
from tests.feedserver import FeedServer, feed_server  # noqa: F401 - the fixture
from tests.test_scale_harness import Bot, ThreadedSlackStub, base_env, rss

JOBS = ["poll", "deliver", "digest", "retention", "poll_hot"]


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        pytest.param("all", set(JOBS), id="all-runs-everything"),
        pytest.param("poller", {"poll", "poll_hot", "retention"}, id="poller-polls-and-prunes"),
        pytest.param("sender", {"deliver", "digest"}, id="sender-gets-every-other-job"),
        pytest.param("chat", set(), id="chat-runs-no-job"),
    ],
)
def test_roles_split_the_scheduled_jobs(role, expected):
    assert jobs_for_role(role, JOBS) == expected


def test_an_unknown_role_is_refused_by_name():
    with pytest.raises(ConfigError, match="--role"):
        jobs_for_role("worker", JOBS)


class Recorder:
    def __init__(self, answers: list[SendResult]):
        self.answers = answers
        self.sent: list[Delivery] = []

    async def send(self, delivery: Delivery) -> SendResult:
        self.sent.append(delivery)
        return self.answers.pop(0) if self.answers else SendResult.sent("ok")


async def _get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as r:
            return r.status, await r.text()


async def test_metrics_count_polls_entries_and_alerts_and_read_the_queues(feed_server: FeedServer):
    feed_server.serve("/a.xml", rss("A", [("a1", "Kupiansk shelled", "x"), ("a2", "Kupiansk again", "y")]))
    feed_server.status("/broken.xml", 500)
    metrics = PromMetrics()
    recorder = Recorder([SendResult.retry("Slack answered 500"), SendResult.permanent("channel_not_found")])
    fetcher = HttpFetcher(timeout_s=5, allow_private_networks=True)
    store = MemoryStore()
    service = Service(store, fetcher, InlineParser(), {"console": recorder},
                      config=ServiceConfig(retry_base_s=0.01, retry_cap_s=0.01), metrics=metrics)
    server = HealthServer(Health(store, metrics), port=0)
    port = await server.start()
    try:
        await service.add_feed(feed_server.url("/a.xml"), interval_s=60, baseline=False)
        await service.add_feed(feed_server.url("/broken.xml"), interval_s=60, baseline=False)
        await service.add_watch("Kupiansk", "console")
        await service.poll_due_feeds(force=True)
        _, before = await _get(f"http://127.0.0.1:{port}/metrics")
        for _ in range(4):
            await service.deliver_all()
            await asyncio.sleep(0.02)
        status, text = await _get(f"http://127.0.0.1:{port}/metrics")
    finally:
        await server.close()
        await fetcher.close()
    assert status == 200
    assert 'wirewatch_feeds_polled_total{outcome="modified"} 1.0' in text
    assert 'wirewatch_feeds_polled_total{outcome="error"} 1.0' in text
    assert "wirewatch_new_entries_total 2.0" in text
    assert "wirewatch_fetch_seconds_count 2.0" in text
    assert "wirewatch_outbox_depth 2.0" in before, "two alerts queued before delivery"
    assert 'wirewatch_alerts_failed_total{platform="console"} 1.0' in text
    assert 'wirewatch_alerts_dead_lettered_total{platform="console"} 1.0' in text
    assert 'wirewatch_alerts_delivered_total{platform="console"} 1.0' in text
    assert "wirewatch_outbox_depth 0.0" in text
    assert 'wirewatch_up{part="database"} 1.0' in text


@pytest.mark.postgres
async def test_healthz_says_degraded_while_the_database_refuses_and_recovers(pg_url, pg_server_url):
    store = await open_store(pg_url)
    server = HealthServer(Health(store, PromMetrics()), port=0)
    port = await server.start()
    database = pg_url.rsplit("/", 1)[1]
    url = f"http://127.0.0.1:{port}/healthz"
    try:
        status, body = await _get(url)
        assert status == 200 and '"database": "up"' in body
        await asyncio.to_thread(_run, _admin(pg_server_url, f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS false'))
        await asyncio.to_thread(_run, _admin(
            pg_server_url, f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'"))
        status, body = await _get(url)
        assert status == 503 and '"status": "degraded"' in body and '"database": "down: ' in body
    finally:
        await asyncio.to_thread(_run, _admin(pg_server_url, f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS true'))
    try:
        status, body = await _get(url)
        assert status == 200, body
    finally:
        await server.close()
        await store.close()


@pytest.mark.slow
def test_chat_role_serves_health_metrics_and_signed_slack_commands_on_one_port(tmp_path, ua_ru_gazetteer):
    secret = "health-test-signing-secret"
    with ThreadedSlackStub() as stub:
        env = base_env(tmp_path, f"sqlite:///{tmp_path / 'ww.db'}", SLACK_BOT_TOKEN="xoxb-health-test",
                       SLACK_SIGNING_SECRET=secret, WIREWATCH_SLACK_API_URL=stub.api_url,
                       WIREWATCH_GAZETTEER_PATH=str(ua_ru_gazetteer), WIREWATCH_GAZETTEER_COUNTRIES="UA,RU")
        bot = Bot(env, tmp_path / "chat.log", role="chat").start()
        try:
            body = bot.wait_healthy()
            assert body["role"] == "chat"
            assert body["checks"] == {"database": "up", "slack": "up"}
            events = f"http://127.0.0.1:{bot.port}/slack/events"
            form = slackstub.command_form(stub, "/watch", "add place:Kupiansk", channel="C0HEALTH")
            ok, _ = _run(slackstub.post_signed(events, form, secret=secret))
            forged, _ = _run(slackstub.post_signed(events, form, secret="not-the-secret"))
            deadline = time.monotonic() + 10
            while not stub.hooks and time.monotonic() < deadline:
                time.sleep(0.1)
            text = bot.metrics()
        finally:
            assert bot.stop() == 0
    assert (ok, forged) == (200, 401)
    assert stub.hooks and "now watching" in stub.hooks[0]["text"]
    assert 'wirewatch_up{part="slack"} 1.0' in text
    assert "wirewatch_feeds_polled_total" not in text.replace("# HELP wirewatch_feeds_polled_total", "").replace(
        "# TYPE wirewatch_feeds_polled_total", ""), "the chat role polls nothing"
