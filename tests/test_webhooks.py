"""Webhooks (alert-only mode) against a loopback receiver (tests/webhookstub.py): the JSON that left
wirewatch for Discord and Slack webhooks, the generic webhook's signature checked by the receiver's
own code, outcomes for every kind of answer, and the whole path through the composition root."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from datetime import datetime

import pytest
from aiohttp import web

from bot.adapters import discord_embeds, slack_blocks
from bot.adapters.webhooks import WebhookNotifier, sign, verify
from bot.app.bootstrap import build_app
from bot.app.settings import Settings
from bot.core.digests import render_text, sparkline
from bot.core.messages import Alert, AlertHit, AlertWatch
from bot.core.models import Delivery, DeliveryStatus, SendStatus
from tests.feedserver import FeedServer
from tests.test_discord_digest import base, many_groups
from tests.test_slack_e2e import NEW, OLD, UNRELATED, rss
from tests.webhookstub import WebhookStub, receiver_verifies

SECRET = "whsec-test-0123456789"
DISCORD_PATH = "/api/webhooks/1234567890/tok-en"
SLACK_PATH = "/slack/T0/B0/xyz"
GENERIC_PATH = "/hook/ops"
HOSTILE = "@everyone <@123456789012345678> <@&223456789012345678> Depot *hit* & burning <!channel>"


@pytest.fixture
async def hooks():
    async with WebhookStub(secret=SECRET) as stub:
        yield stub


def notifier(hooks: WebhookStub, *, secret: str = SECRET, clock=None) -> WebhookNotifier:
    urls = {"desk": hooks.url(DISCORD_PATH), "team": hooks.url(SLACK_PATH), "ops": hooks.url(GENERIC_PATH)}
    kwargs = {"clock": clock} if clock else {}
    return WebhookNotifier(urls, render_discord=discord_embeds.render_webhook_delivery,
                           render_slack=slack_blocks.render_webhook_delivery, secret=secret, **kwargs)


def delivery(destination: str, key: str = "ww-1", *, kind: str = "alert", payload=None) -> Delivery:
    if payload is None:
        payload = Alert(alert_key=key, destination=destination, title=HOSTILE, url="https://news.example/a?b=1&c=2",
                        outlet="Wire", feed_id=1, entry_identity="e1", story_key="s1",
                        published="2026-11-26T06:03:00+00:00", summary="Summary @here.",
                        watches=(AlertWatch(1, "place:Kupiansk"),),
                        hits=(AlertHit("place:Kupiansk", "Kupiansk", "title", "Kupiansk"),),
                        grade="weak", sourcing="relays one outlet").to_payload()
    return Delivery(id=7, destination=destination, dedupe_key=key, kind=kind, payload=payload, attempts=1)


@pytest.fixture
async def sender(hooks):
    n = notifier(hooks)
    yield n
    await n.close()


async def test_discord_webhook_sends_embeds_with_mentions_parsed_explicitly_off(hooks, sender):
    result = await sender.send(delivery("discord-webhook:desk"))
    assert result.status is SendStatus.SENT
    [post] = hooks.posts(DISCORD_PATH)
    assert post.query == {"wait": "true"}  # so the answer carries the message id
    assert result.message_ref == "1100000000000000001"  # the id Discord answered with
    body = post.json
    assert body["allowed_mentions"] == {"parse": []}
    assert "content" not in body  # untrusted text stays in the embed, where mentions never notify
    [embed] = body["embeds"]
    assert embed["url"] == "https://news.example/a?b=1&c=2"
    assert "@\u200beveryone" in embed["title"] and "<@\u200b123456789012345678>" in embed["title"]
    assert "<@&\u200b223456789012345678>" in embed["title"] and "\\*hit\\*" in embed["title"]
    assert embed["footer"] == {"text": "wirewatch · ww-1"}
    assert embed["color"] == discord_embeds.GRADE_COLOURS["weak"]


async def test_slack_webhook_sends_escaped_text_and_blocks(hooks, sender):
    result = await sender.send(delivery("slack-webhook:team"))
    assert result.status is SendStatus.SENT
    [post] = hooks.posts(SLACK_PATH)
    body = post.json
    assert "<!channel>" not in post.raw.decode() and "&lt;!channel&gt;" in body["text"]
    assert "@\u200beveryone" in body["text"]
    assert body["blocks"][0]["text"]["verbatim"] is True
    assert body["unfurl_links"] is False
    assert "channel" not in body and "metadata" not in body  # incoming webhooks take neither


async def test_generic_webhook_is_signed_and_the_receiver_verifies_it(hooks):
    sender = notifier(hooks, clock=lambda: 1_790_000_000.0)
    try:
        # the receiver refuses a timestamp this old: the signature is right but the request is stale
        stale = await sender.send(delivery("webhook:ops"))
        assert stale.status is SendStatus.PERMANENT and "401" in stale.error
    finally:
        await sender.close()
    sender = notifier(hooks)
    try:
        result = await sender.send(delivery("webhook:ops", "ww-2"))
    finally:
        await sender.close()
    assert result.status is SendStatus.SENT
    post = hooks.posts(GENERIC_PATH)[-1]
    assert post.verified is True
    assert post.headers["content-type"] == "application/json"
    assert post.headers["x-wirewatch-delivery"] == "ww-2"
    document = post.json
    assert (document["event"], document["id"]) == ("alert", "ww-2")
    assert document["data"]["title"] == HOSTILE and document["data"]["alert_key"] == "ww-2"
    assert datetime.fromisoformat(document["sent_at"]).tzinfo is not None


async def test_a_wrong_secret_is_refused_by_the_receiver_and_dead_lettered(hooks):
    sender = notifier(hooks, secret="not-the-receivers-secret")
    try:
        result = await sender.send(delivery("webhook:ops"))
    finally:
        await sender.close()
    assert result.status is SendStatus.PERMANENT and result.error == "webhook answered 401 bad signature"
    assert hooks.posts(GENERIC_PATH)[0].verified is False and hooks.stored == []


@pytest.mark.parametrize(
    "stamp_offset,body_change,valid",
    [(0, b"", True), (-301, b"", False), (400, b"", False), (0, b" ", False)],
    ids=["fresh", "too-old", "from-the-future", "body-altered"],
)
def test_verify_checks_the_hmac_and_the_timestamp(stamp_offset, body_change, valid):
    body = b'{"event":"alert"}'
    header = sign(SECRET, 1_800_000_000 + stamp_offset, body)
    assert verify(SECRET, header, body + body_change, now=1_800_000_000) is valid


@pytest.mark.parametrize(
    "destination,path,script,status,retry_after,error",
    [
        ("discord-webhook:desk", DISCORD_PATH,
         dict(status=429, body='{"message": "You are being rate limited.", "retry_after": 2.5, "global": false}',
              headers={"Content-Type": "application/json", "Retry-After": "3", "Via": "1.1 google"}),
         SendStatus.RETRY, 2.5, "rate limited (discord-webhook)"),
        ("discord-webhook:desk", DISCORD_PATH,
         dict(status=404, body='{"message": "Unknown Webhook", "code": 10015}',
              headers={"Content-Type": "application/json"}),
         SendStatus.PERMANENT, None, "discord-webhook answered 404 Unknown Webhook (10015)"),
        ("discord-webhook:desk", DISCORD_PATH,
         dict(status=400, body='{"message": "Invalid Form Body", "code": 50035}'),
         SendStatus.PERMANENT, None, "discord-webhook answered 400 Invalid Form Body (50035)"),
        ("discord-webhook:desk", DISCORD_PATH, dict(status=502, body="bad gateway"),
         SendStatus.RETRY, None, "discord-webhook answered 502 bad gateway"),
        ("slack-webhook:team", SLACK_PATH, dict(status=404, body="channel_not_found"),
         SendStatus.PERMANENT, None, "slack-webhook answered 404 channel_not_found"),
        ("slack-webhook:team", SLACK_PATH, dict(status=410, body="channel_is_archived"),
         SendStatus.PERMANENT, None, "slack-webhook answered 410 channel_is_archived"),
        ("slack-webhook:team", SLACK_PATH, dict(status=429, headers={"Retry-After": "30"}),
         SendStatus.RETRY, 30.0, "rate limited (slack-webhook)"),
        ("slack-webhook:team", SLACK_PATH, dict(status=500, body="rollup_error"),
         SendStatus.RETRY, None, "slack-webhook answered 500 rollup_error"),
        ("webhook:ops", GENERIC_PATH, dict(status=503, headers={"Retry-After": "12"}),
         SendStatus.RETRY, 12.0, "webhook answered 503"),
        ("webhook:ops", GENERIC_PATH, dict(status=408), SendStatus.RETRY, None, "webhook answered 408"),
        ("webhook:ops", GENERIC_PATH, dict(status=422, body="unknown event"),
         SendStatus.PERMANENT, None, "webhook answered 422 unknown event"),
    ],
    ids=["discord-429", "discord-unknown-webhook", "discord-invalid-form", "discord-502", "slack-404",
         "slack-410", "slack-429", "slack-500", "generic-503-retry-after", "generic-408", "generic-422"],
)
async def test_answers_become_outbox_outcomes(hooks, sender, destination, path, script, status, retry_after, error):
    hooks.fail(path, **script)
    result = await sender.send(delivery(destination))
    assert (result.status, result.retry_after_s, result.error) == (status, retry_after, error)
    assert len(hooks.posts(path)) == 1  # one attempt: the outbox owns retries


async def test_a_receiver_that_is_down_is_retried_through_the_outbox(hooks):
    sender = WebhookNotifier({"gone": "http://127.0.0.1:9/hook"}, render_discord=discord_embeds.render_delivery,
                             render_slack=slack_blocks.render_delivery, secret=SECRET)
    try:
        result = await sender.send(delivery("webhook:gone"))
    finally:
        await sender.close()
    assert result.status is SendStatus.RETRY and result.error.startswith("outcome unknown")


@pytest.mark.parametrize(
    "destination,secret,error",
    [("webhook:nobody", SECRET, "WIREWATCH_WEBHOOK_NOBODY is not set"),
     ("webhook:ops", "", "WIREWATCH_WEBHOOK_SECRET is not set: generic webhooks are signed")],
    ids=["url-missing", "secret-missing"],
)
async def test_missing_settings_wait_for_the_operator_and_say_which(hooks, destination, secret, error):
    sender = notifier(hooks, secret=secret)
    result = await sender.send(delivery(destination))
    await sender.close()
    assert (result.status, result.error, result.retry_after_s) == (SendStatus.RETRY, error, 600.0)
    assert hooks.record == []


async def test_followups_are_posted_as_their_own_message(hooks, sender):
    follow = delivery("discord-webhook:desk", "ww-1:f1", kind="followup", payload={
        "parent_key": "ww-1", "text": "Now reported by 2 independent outlets", "title": "Depot confirmed",
        "url": "https://other.example/b", "outlet": "Other"})
    assert (await sender.send(follow)).status is SendStatus.SENT
    assert (await sender.send(dataclasses.replace(follow, destination="slack-webhook:team"))).status is SendStatus.SENT
    [embed] = hooks.posts(DISCORD_PATH)[0].json["embeds"]
    assert embed["title"] == "Depot confirmed" and embed["description"] == "Now reported by 2 independent outlets"
    assert "Depot confirmed" in hooks.posts(SLACK_PATH)[0].json["text"]


async def test_the_url_is_a_secret_and_never_logged(hooks, sender, caplog):
    hooks.fail(DISCORD_PATH, status=403, body='{"message": "Missing Access", "code": 50001}')
    with caplog.at_level(logging.DEBUG):
        await sender.send(delivery("discord-webhook:desk"))
    text = caplog.text + " ".join(str(r.__dict__) for r in caplog.records)
    assert "tok-en" not in text and "discord-webhook:desk" in text


# ---- end to end: watch -> loopback feed item -> one post per webhook kind; a restart sends nothing more


async def test_each_webhook_kind_gets_one_alert_and_a_restart_sends_nothing_more(tmp_path, hooks):
    async with FeedServer() as feeds:
        feeds.serve("/wire.xml", rss([OLD]))
        settings = Settings(
            database_url=f"sqlite:///{tmp_path / 'ww.db'}", allow_private_networks=True, min_interval_s=1,
            webhooks={"desk": hooks.url(DISCORD_PATH), "team": hooks.url(SLACK_PATH),
                      "ops": hooks.url(GENERIC_PATH)},
            webhook_secret=SECRET,
        )
        async with build_app(settings, isolated_parser=False) as app:
            svc = app.service
            await svc.add_feed(feeds.url("/wire.xml"), interval_s=60)
            for destination in ("discord-webhook:desk", "slack-webhook:team", "webhook:ops"):
                await svc.add_watch("Kupiansk", destination)
            await svc.poll_due_feeds(force=True)  # baseline
            feeds.serve("/wire.xml", rss([NEW, UNRELATED, OLD]))
            await svc.poll_due_feeds(force=True)
            report = await svc.deliver_all()
            assert (report.sent, report.dead, report.retried) == (3, 0, 0)
        async with build_app(settings, isolated_parser=False) as app:  # a restart
            await app.service.poll_due_feeds(force=True)
            await app.service.deliver_all()
            sent = await app.service.store.list_deliveries("sent")
            assert len(sent) == 3 and all(d.status is DeliveryStatus.SENT for d in sent)
    assert [len(hooks.posts(p)) for p in (DISCORD_PATH, SLACK_PATH, GENERIC_PATH)] == [1, 1, 1]
    discord = hooks.posts(DISCORD_PATH)[0].json
    assert discord["allowed_mentions"] == {"parse": []}
    assert discord["embeds"][0]["title"].startswith("<!channel> Drone strike near Kupiansk")
    assert "&lt;!channel&gt; Drone strike near Kupiansk &amp; Oskil" in hooks.posts(SLACK_PATH)[0].json["text"]
    generic = hooks.posts(GENERIC_PATH)[0]
    assert generic.verified and generic.json["data"]["url"] == "https://wire.example/2?a=1&b=2"
    assert {d.message_ref for d in sent if d.destination == "discord-webhook:desk"} == {"1100000000000000001"}


# ---- digests: one message to a Discord webhook, text with sparklines to a generic one -------------------


def digest_delivery(destination: str, digest=None) -> Delivery:
    digest = digest or base()
    return Delivery(id=8, destination=destination, dedupe_key="digest:2025-03-30", kind="digest",
                    payload=digest.to_payload(), attempts=1)


@pytest.mark.parametrize("size", ["small", "30-groups"])
async def test_a_digest_to_a_discord_webhook_is_one_message_with_sparklines(hooks, sender, size):
    digest = base() if size == "small" else many_groups()
    result = await sender.send(digest_delivery("discord-webhook:desk", digest))
    assert result.status is SendStatus.SENT
    [post] = hooks.posts(DISCORD_PATH)
    body = post.json
    assert body["allowed_mentions"] == {"parse": []} and "content" not in body
    assert 2 <= len(body["embeds"]) <= discord_embeds.EMBEDS_MAX
    assert sum(discord_embeds.embed_length(e) for e in body["embeds"]) <= discord_embeds.MESSAGE_EMBEDS_TOTAL_MAX
    assert body["embeds"][0]["title"].startswith("Daily digest · ") and "image" not in body["embeds"][0]
    assert body["embeds"][1]["description"].startswith(f"`{sparkline(digest.groups[0].hourly)}` stories per hour")


async def test_a_digest_to_a_generic_webhook_carries_its_text_with_sparklines(hooks, sender):
    result = await sender.send(digest_delivery("webhook:ops"))
    assert result.status is SendStatus.SENT
    [post] = hooks.posts(GENERIC_PATH)
    assert post.verified and post.headers["x-wirewatch-delivery"] == "digest:2025-03-30"
    document = post.json
    assert document["event"] == "digest" and document["data"] == base().to_payload()
    assert document["text"] == render_text(base()) and sparkline(base().groups[0].hourly) in document["text"]


# ---- at-least-once: a POST that timed out is sent again; the receiver drops it by X-Wirewatch-Delivery ---


class DedupingReceiver:
    """A receiver written the way the README tells one to: verify the signature, then drop a delivery id
    it has processed already. Its first answer hangs (the work is done, the answer never arrives in
    time), as when a proxy or a slow database holds the response past wirewatch's timeout."""

    def __init__(self, secret: str):
        self.secret = secret
        self.seen: set[str] = set()
        self.processed: list[dict] = []
        self.requests: list[tuple[str, str, bytes]] = []  # (delivery id, signature, raw body)
        self.hang_first = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> "DedupingReceiver":
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/hook"
        return self

    async def __aexit__(self, *exc) -> None:
        self.hang_first.set()
        assert self._runner is not None
        await self._runner.cleanup()

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        delivery = request.headers.get("X-Wirewatch-Delivery", "")
        signature = request.headers.get("X-Wirewatch-Signature", "")
        self.requests.append((delivery, signature, raw))
        if not receiver_verifies(self.secret, signature, raw):
            return web.Response(status=401, text="bad signature")
        if delivery in self.seen:
            return web.Response(status=200, text="duplicate: already processed")
        self.processed.append(json.loads(raw))
        self.seen.add(delivery)
        if len(self.requests) == 1:
            await self.hang_first.wait()  # processed, but the answer does not come back in time
        return web.Response(status=202, text="accepted")


async def test_a_generic_webhook_retried_after_a_timeout_is_processed_once_by_its_delivery_id():
    async with DedupingReceiver(SECRET) as receiver:
        sender = WebhookNotifier({"ops": receiver.url}, render_discord=discord_embeds.render_delivery,
                                 render_slack=slack_blocks.render_delivery, secret=SECRET, timeout_s=0.5)
        try:
            first = await sender.send(delivery("webhook:ops", "ww-7"))
            assert first.status is SendStatus.RETRY and first.error.startswith("outcome unknown")
            retry = await sender.send(dataclasses.replace(delivery("webhook:ops", "ww-7"), attempts=2))
            assert retry.status is SendStatus.SENT
        finally:
            await sender.close()
    assert [r[0] for r in receiver.requests] == ["ww-7", "ww-7"], "the same delivery id on the retry"
    assert [json.loads(r[2])["id"] for r in receiver.requests] == ["ww-7", "ww-7"]
    assert all(receiver_verifies(SECRET, sig, raw) for _, sig, raw in receiver.requests)
    assert len(receiver.processed) == 1 and receiver.processed[0]["data"]["alert_key"] == "ww-7"
