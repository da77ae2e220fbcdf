"""Fault 3, chat outage: the Slack stand-in answers 500, then stores messages without answering in time
(an ambiguous timeout), then recovers. Every alert reaches its channel once, in order, and none is posted
during the hard outage.

The real outbox (SQLite), the real ``SlackNotifier`` with the shipped sender client (no SDK retries; its
timeout shortened so the test waits a fraction of a second, not 15 s) and a Slack stand-in on loopback.
The clock is real; backoff is shortened through ``ServiceConfig``.
"""

from __future__ import annotations

import asyncio
import functools
import time

import pytest
from aiohttp import web

from bot.adapters.http_fetcher import HttpFetcher
from bot.adapters.parse_pool import InlineParser
from bot.adapters.slack_blocks import render_delivery
from bot.adapters.slack_chat import SlackNotifier, sender_client
from bot.adapters.sql_store import open_store
from bot.service import Service, ServiceConfig
from tests.feedserver import FeedServer
from tests.slackstub import SlackStub
from tests.test_scale_harness import prose, rss, slack_keys

CHANNELS = {"alpha": "C0ALPHA01", "bravo": "C0BRAVO02"}
PER_CHANNEL = 6
CLIENT_TIMEOUT_S = 0.3
HANG_S = 1.0


class FlakySlack(SlackStub):
    """The stand-in, with an outage switch: ``"500"`` refuses every post and history read (nothing is
    stored), ``"hang"`` stores a post but answers only after the client gave up."""

    outage: str | None = None
    refused = 0
    hung = 0

    async def _api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        touched = method in ("chat.postMessage", "conversations.history")
        if self.outage == "500" and touched:
            self.refused += 1
            return web.json_response({"ok": False, "error": "internal_error"}, status=500)
        response = await super()._api(request)
        if self.outage == "hang" and method == "chat.postMessage":
            self.hung += 1
            await asyncio.sleep(HANG_S)
        return response


async def drain(service: Service, until, timeout: float) -> None:
    """Run delivery passes (as the scheduler's tick would) until ``until()`` holds or time is up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = until()
        if asyncio.iscoroutine(done):
            done = await done
        if done:
            return
        await service.deliver_pending()
        await asyncio.sleep(0.02)


@pytest.mark.slow
async def test_slack_outage_then_ambiguous_timeouts_then_recovery_delivers_each_alert_once_in_order(tmp_path):
    items = [(f"{word}-{i}", f"{word.title()} {prose(f't{word}-{i}', 6)}", prose(f"{word}-{i}"))
             for i in range(PER_CHANNEL) for word in CHANNELS]
    store = await open_store(f"sqlite:///{tmp_path / 'ww.db'}")
    fetcher = HttpFetcher(timeout_s=5, allow_private_networks=True)
    async with FeedServer() as feeds, FlakySlack() as slack:
        client = sender_client("xoxb-outage-test", slack.api_url)
        client.timeout = CLIENT_TIMEOUT_S
        notifier = SlackNotifier(client, functools.partial(render_delivery, tz=None), pace_s=0.0)
        config = ServiceConfig(retry_base_s=0.05, retry_cap_s=0.2, delivery_lease_s=5, max_attempts=1000)
        service = Service(store, fetcher, InlineParser(), {"slack": notifier}, config=config)
        try:
            feeds.serve("/f.xml", rss("Outlet", items))
            await service.add_feed(feeds.url("/f.xml"), interval_s=60, baseline=False)
            for word, channel in CHANNELS.items():
                await service.add_watch(word, f"slack:{channel}")
            await service.poll_due_feeds(force=True)
            outbox = await store.list_deliveries()
            assert len(outbox) == PER_CHANNEL * len(CHANNELS)

            slack.outage = "500"
            await drain(service, lambda: slack.refused >= 12, timeout=10)
            assert slack.refused >= 12, "the senders kept trying through the outage"
            assert all(not slack.messages(c) for c in CHANNELS.values()), "nothing is stored while Slack is down"
            assert not await store.list_deliveries("sent") and not await store.list_deliveries("dead")

            slack.outage = "hang"
            await drain(service, lambda: slack.hung >= 4 and len(slack.history) == 2, timeout=15)
            ambiguous = {c: slack_keys(slack, c) for c in CHANNELS.values()}
            assert all(ambiguous.values()), "each channel has a post whose answer never came"

            slack.outage = None
            async def everything_sent() -> bool:
                return len(await store.list_deliveries("sent")) == len(outbox)

            await drain(service, everything_sent, timeout=30)
            rows = await store.list_deliveries()
        finally:
            await fetcher.close()
            await store.close()

    assert {r.status.value for r in rows} == {"sent"}, [(r.dedupe_key, r.status, r.last_error) for r in rows]
    for channel in CHANNELS.values():
        expected = [r.dedupe_key for r in sorted(rows, key=lambda r: r.id) if r.destination == f"slack:{channel}"]
        got = slack_keys(slack, channel)
        assert len(got) == len(set(got)), f"{channel}: an alert was posted twice"
        assert got == expected, f"{channel}: alerts missing or out of order"
    assert any(r.attempts > 2 for r in rows), "some rows went through several attempts"
