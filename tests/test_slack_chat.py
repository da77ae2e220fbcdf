"""The Slack adapter against local stand-ins: real slack_sdk clients and the real bolt app, a Web API
stand-in that records what crossed the wire (tests/slackstub.py), HTTP mode fed signed requests, Socket
Mode over a loopback websocket."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import time
from pathlib import Path

import pytest
import yaml

from bot.adapters.http_fetcher import HttpFetcher
from bot.adapters.memory import MemoryStore
from bot.adapters.parse_pool import InlineParser
from bot.adapters.slack_blocks import render_delivery, reply_text
from bot.adapters.slack_chat import COMMANDS, SlackChat, SlackNotifier, app_client, sender_client
from bot.core.errors import ConfigError
from bot.core.messages import Alert, AlertHit, AlertWatch
from bot.core.models import Delivery, SendStatus
from bot.service import Service
from tests import slackstub
from tests.slackstub import SlackStub

ROOT = Path(__file__).resolve().parents[1]
CHANNEL = "C0123456789"
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


@pytest.fixture
async def stub():
    async with SlackStub() as s:
        yield s


def notifier(stub: SlackStub) -> SlackNotifier:
    return SlackNotifier(sender_client("xoxb-test", stub.api_url), functools.partial(render_delivery, tz=None),
                         pace_s=0)


def delivery(key="ww-1", *, kind="alert", attempts=1, outcome_unknown=False, payload=None) -> Delivery:
    if payload is None:
        payload = Alert(alert_key=key, destination=f"slack:{CHANNEL}", title="<!channel> Depot hit & burning",
                        url="https://news.example/a", outlet="Wire", feed_id=1, entry_identity="e1",
                        story_key="s1", published="2026-11-26T06:03:00+00:00",
                        watches=(AlertWatch(1, "place:Kupiansk"),),
                        hits=(AlertHit("place:Kupiansk", "Kupiansk", "title", "Kupiansk"),)).to_payload()
    return Delivery(id=1, destination=f"slack:{CHANNEL}", dedupe_key=key, kind=kind, payload=payload,
                    attempts=attempts, outcome_unknown=outcome_unknown)


# ---- the sender ------------------------------------------------------------------------------------


async def test_alert_json_as_slack_sdk_sent_it(stub):
    result = await notifier(stub).send(delivery())
    assert result.status is SendStatus.SENT
    [call] = stub.called("chat.postMessage")
    assert call.headers["authorization"] == "Bearer xoxb-test"
    body = call.body
    assert body["channel"] == CHANNEL
    assert result.message_ref == stub.messages(CHANNEL)[0]["ts"]  # the ts is the thread parent later
    assert body["text"] == "&lt;!channel&gt; Depot hit &amp; burning (Wire)"
    assert body["blocks"][0]["text"] == {"type": "mrkdwn", "verbatim": True,
                                         "text": "*<https://news.example/a|&lt;!channel&gt; Depot hit &amp; burning>*"}
    assert body["unfurl_links"] is False and body["unfurl_media"] is False
    assert "link_names" not in body and "parse" not in body
    assert body["metadata"] == {"event_type": "wirewatch_alert", "event_payload": {"idempotency_key": "ww-1"}}
    assert "<!channel>" not in str(body)


@pytest.mark.parametrize(
    "script,status,retry_after,error",
    [
        (dict(status=429, headers={"Retry-After": "7"}), SendStatus.RETRY, 7.0, "rate limited by Slack"),
        (dict(status=500), SendStatus.RETRY, None, "Slack answered 500 fatal_error"),
        (dict(status=503, error="service_unavailable"), SendStatus.RETRY, None, "Slack answered 503 service_unavailable"),
        (dict(error="channel_not_found"), SendStatus.PERMANENT, None, "channel_not_found"),
        (dict(error="not_in_channel"), SendStatus.PERMANENT, None, "not_in_channel"),
        (dict(error="is_archived"), SendStatus.PERMANENT, None, "is_archived"),
        (dict(error="invalid_auth"), SendStatus.PERMANENT, None, "invalid_auth"),
        (dict(error="internal_error"), SendStatus.RETRY, None, "Slack answered 200 internal_error"),
    ],
    ids=["429-retry-after", "500", "503", "channel_not_found", "not_in_channel", "is_archived", "invalid_auth",
         "internal_error"],
)
async def test_failures_become_outbox_outcomes_with_one_attempt_each(stub, script, status, retry_after, error):
    stub.fail("chat.postMessage", **script)
    result = await notifier(stub).send(delivery())
    assert (result.status, result.retry_after_s, result.error) == (status, retry_after, error)
    assert len(stub.posts()) == 1  # no retry inside slack_sdk: the outbox owns retries
    assert stub.messages(CHANNEL) == []


async def test_a_dropped_connection_after_slack_stored_the_message_is_not_posted_twice(stub):
    stub.fail("chat.postMessage", disconnect=True)  # Slack stores it, the answer never arrives
    sender = notifier(stub)
    first = await sender.send(delivery())
    assert first.status is SendStatus.RETRY and "outcome unknown" in first.error
    assert len(stub.posts()) == 1  # slack_sdk's connection retry is off: it would have posted again

    again = await sender.send(delivery(attempts=2))  # the outbox's retry looks before posting
    assert again.status is SendStatus.SENT
    assert again.message_ref == stub.messages(CHANNEL)[0]["ts"]
    assert len(stub.posts()) == 1 and len(stub.messages(CHANNEL)) == 1
    history = stub.called("conversations.history")[0].body
    assert history["channel"] == CHANNEL and history["include_all_metadata"] in ("1", "true", True)


async def test_an_unknown_outcome_with_nothing_in_history_is_posted(stub):
    await notifier(stub).send(delivery("ww-other"))  # another alert in the channel
    result = await notifier(stub).send(delivery("ww-2", outcome_unknown=True))
    assert result.status is SendStatus.SENT
    assert [m["metadata"]["event_payload"]["idempotency_key"] for m in stub.messages(CHANNEL)] == ["ww-other", "ww-2"]


async def test_followup_goes_in_the_alerts_thread(stub):
    sender = notifier(stub)
    parent = await sender.send(delivery("ww-parent"))
    follow = delivery("ww-parent:f1", kind="followup", payload={
        "parent_key": "ww-parent", "text": "Now reported by 2 independent outlets",
        "title": "Depot confirmed", "url": "https://other.example/b", "outlet": "Other"})
    result = await sender.send(follow)
    assert result.status is SendStatus.SENT
    body = stub.posts()[-1]
    assert body["thread_ts"] == parent.message_ref
    assert body["metadata"]["event_payload"]["idempotency_key"] == "ww-parent:f1"
    # a stored parent ts (the outbox's message_ref) is used as it is, with no history lookup
    calls = len(stub.called("conversations.history"))
    await sender.send(dataclasses.replace(follow, dedupe_key="f2", payload={**follow.payload, "thread_ref": "9.1"}))
    assert stub.posts()[-1]["thread_ts"] == "9.1" and len(stub.called("conversations.history")) == calls


async def test_an_unknown_kind_is_dead_lettered_not_retried(stub):
    result = await notifier(stub).send(delivery(kind="carrier-pigeon", payload={}))
    assert result.status is SendStatus.PERMANENT and "carrier-pigeon" in result.error
    assert stub.posts() == []


# ---- the bolt front end --------------------------------------------------------------------------


@pytest.fixture
async def service():
    fetcher = HttpFetcher(timeout_s=5, allow_private_networks=True)
    svc = Service(MemoryStore(), fetcher, InlineParser(), {})
    yield svc
    await fetcher.close()


def command_form(stub: SlackStub, command: str, text: str, user: str = "U0ANA") -> str:
    return slackstub.command_form(stub, command, text, channel=CHANNEL, user=user)


@pytest.fixture
async def http_mode(stub, service):
    chat = SlackChat(app_client("xoxb-test", stub.api_url), service.run_command, reply_text,
                     signing_secret=SECRET)
    port = await chat.start(host="127.0.0.1", port=0)
    yield f"http://127.0.0.1:{port}/slack/events"
    await chat.close()


async def post(url: str, body: str, *, secret=SECRET, ts: str | None = None, signed_body: str | None = None):
    return await slackstub.post_signed(url, body, secret=secret, ts=ts, signed_body=signed_body)


async def test_http_mode_answers_a_correctly_signed_command(stub, http_mode):
    status, text = await post(http_mode, command_form(stub, "/wirewatch", "help"))
    assert status == 200
    assert "/watch add QUERY" in text and '"response_type": "ephemeral"' in text.replace('":"', '": "')


async def test_http_mode_add_is_confirmed_in_the_channel_and_lists_are_ephemeral(stub, http_mode, service):
    status, _ = await post(http_mode, command_form(stub, "/watch", "add place:Kupiansk &lt;!channel&gt;"))
    assert status == 200
    [added] = await stub.wait_hook(1)
    assert added["response_type"] == "in_channel"
    assert added["text"].startswith("<@U0ANA> is now watching `place:Kupiansk")
    assert "<!channel>" not in added["text"]
    [watch] = await service.store.list_watches(f"slack:{CHANNEL}")  # the watch alerts this channel

    await post(http_mode, command_form(stub, "/watch", "list"))
    listed = (await stub.wait_hook(2))[1]
    assert listed["response_type"] == "ephemeral" and f"{watch.id}: `" in listed["text"]

    await post(http_mode, command_form(stub, "/watch", "add place:"))  # a bad query: error, ephemeral
    error = (await stub.wait_hook(3))[2]
    assert error["response_type"] == "ephemeral" and "column" in error["text"]


@pytest.mark.parametrize(
    "how",
    ["wrong-secret", "body-altered-after-signing", "timestamp-6-minutes-old"],
)
async def test_http_mode_refuses_requests_that_are_not_from_slack(stub, http_mode, service, how):
    body = command_form(stub, "/watch", "add place:Kupiansk")
    if how == "wrong-secret":
        status, _ = await post(http_mode, body, secret="not-the-secret")
    elif how == "body-altered-after-signing":
        status, _ = await post(http_mode, body.replace("Kupiansk", "Izium"), signed_body=body)
    else:
        status, _ = await post(http_mode, body, ts=str(int(time.time()) - 6 * 60))
    assert status == 401
    assert await service.store.list_watches() == []


async def test_feed_admins_setting_refuses_others_and_says_why(stub, service):
    service.config = dataclasses.replace(service.config, feed_admins=("U0BOSS", "S0EDITORS"))
    stub.usergroups["S0EDITORS"] = ["U0EDITOR"]
    chat = SlackChat(app_client("xoxb-test", stub.api_url), service.run_command, reply_text,
                     signing_secret=SECRET, admin_groups=service.config.feed_admins)
    port = await chat.start(host="127.0.0.1", port=0)
    try:
        url = f"http://127.0.0.1:{port}/slack/events"
        await post(url, command_form(stub, "/feed", "remove 1", user="U0ANA"))
        await post(url, command_form(stub, "/feed", "remove 1", user="U0EDITOR"))
        refused, allowed = await stub.wait_hook(2)
    finally:
        await chat.close()
    assert "WIREWATCH_FEED_ADMINS" in refused["text"] and refused["response_type"] == "ephemeral"
    assert "there is no feed 1" in allowed["text"]  # past the permission check: the group counts


async def test_socket_mode_acks_over_the_websocket(stub, service):
    chat = SlackChat(app_client("xoxb-test", stub.api_url), service.run_command, reply_text,
                     app_token="xapp-1-test")
    await chat.start()
    try:
        payload = {"token": "legacy", "team_id": stub.team, "channel_id": CHANNEL, "user_id": "U0ANA",
                   "command": "/wirewatch", "text": "help", "api_app_id": "A0TEST",
                   "response_url": stub.hook_url(), "trigger_id": "1.2.3"}
        ack = await stub.push_slash_command("env-1", payload)
        assert ack["envelope_id"] == "env-1"
        assert ack["payload"]["response_type"] == "ephemeral" and "/feed add URL" in ack["payload"]["text"]

        ack = await stub.push_slash_command("env-2", {**payload, "command": "/watch", "text": "add Oskil"})
        assert ack == {"envelope_id": "env-2"}  # acked at once; the work answers through response_url
        [added] = await stub.wait_hook(1)
        assert added["response_type"] == "in_channel" and "is now watching `oskil`" in added["text"].lower()
    finally:
        await chat.close()
    opened = stub.called("apps.connections.open")[0]
    assert opened.headers["authorization"] == "Bearer xapp-1-test"


# ---- the manifests -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["socket", "http"])
def test_manifest_declares_every_command_and_the_scopes_the_sender_needs(mode):
    manifest = yaml.safe_load((ROOT / "slack" / f"manifest.{mode}.yml").read_text(encoding="utf-8"))
    commands = manifest["features"]["slash_commands"]
    assert sorted(c["command"] for c in commands) == sorted(COMMANDS)
    assert all(c["should_escape"] is False for c in commands)
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"commands", "chat:write", "channels:history", "groups:history"} <= scopes
    assert manifest["settings"]["socket_mode_enabled"] is (mode == "socket")
    if mode == "http":
        assert all(c["url"].endswith("/slack/events") for c in commands)
    else:
        assert all("url" not in c for c in commands)


async def test_pacing_holds_a_busy_channel_without_holding_up_another(stub):
    sender = SlackNotifier(sender_client("xoxb-test", stub.api_url), functools.partial(render_delivery, tz=None),
                           pace_s=3600)  # so long that only an ordering can be observed, never a timing
    other = dataclasses.replace(delivery("ww-b"), destination="slack:C0OTHER001")
    assert (await sender.send(delivery("ww-a1"))).status is SendStatus.SENT
    waiting = asyncio.ensure_future(sender.send(delivery("ww-a2")))  # same channel: must wait its turn
    assert (await sender.send(other)).status is SendStatus.SENT  # another channel goes straight through
    assert not waiting.done()
    waiting.cancel()
    assert [p["channel"] for p in stub.posts()] == [CHANNEL, "C0OTHER001"]


@pytest.mark.parametrize("mode", ["socket", "http"])
async def test_a_token_slack_refuses_stops_the_start_naming_the_variable(stub, service, mode):
    method, variable = ("apps.connections.open", "SLACK_APP_TOKEN") if mode == "socket" else \
        ("auth.test", "SLACK_BOT_TOKEN")
    stub.fail(method, error="invalid_auth")
    chat = SlackChat(app_client("xoxb-test", stub.api_url), service.run_command, reply_text,
                     app_token="xapp-1" if mode == "socket" else "", signing_secret=SECRET)
    with pytest.raises(ConfigError, match=f"Slack refused {variable}: invalid_auth"):
        await chat.start(host="127.0.0.1", port=0)
    await chat.close()
