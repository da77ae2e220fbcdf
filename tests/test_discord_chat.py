"""The Discord adapter with the real discord.py against a local stand-in (tests/discordstub.py): real
``login()``, real tree sync, commands driven by gateway-shaped ``INTERACTION_CREATE`` payloads, and
assertions on the exact JSON that left discord.py."""

from __future__ import annotations

import asyncio
import dataclasses
import json

import discord
import pytest

from bot.adapters import discord_embeds
from bot.adapters.discord_chat import (
    DiscordChat,
    DiscordNotifier,
    DiscordSession,
    invite_url,
    nonce_for,
    use_api_url,
)
from bot.adapters.http_fetcher import HttpFetcher
from bot.adapters.memory import MemoryStore
from bot.adapters.parse_pool import InlineParser
from bot.core.commands import GRAMMAR
from bot.core.errors import ConfigError
from bot.core.messages import Alert, AlertHit, AlertWatch
from bot.core.models import Delivery, SendStatus
from bot.service import Service
from tests.discordstub import (
    APP_ID,
    BOT_ID,
    CHANNEL_ID,
    GUILD_ID,
    MANAGE_GUILD,
    MEMBER,
    USER_ID,
    DiscordStub,
    interaction,
)

HOSTILE = "@everyone @here <@123456789012345678> <@&223456789012345678> Depot hit"


@pytest.fixture
async def stub():
    before = discord.http.Route.BASE
    async with DiscordStub() as s:
        yield s
    discord.http.Route.BASE = before  # the seam is process-wide: leave it as found


@pytest.fixture
async def session(stub):
    s = DiscordSession("bot-token", stub.api_url)
    yield s
    await s.close()


def notifier(session: DiscordSession) -> DiscordNotifier:
    return DiscordNotifier(session, discord_embeds.render_delivery, thread_name=discord_embeds.thread_name)


def delivery(key="ww-1", *, kind="alert", attempts=1, outcome_unknown=False, payload=None,
             channel=CHANNEL_ID) -> Delivery:
    if payload is None:
        payload = Alert(alert_key=key, destination=f"discord:{channel}", title=HOSTILE,
                        url="https://news.example/a", outlet="Wire", feed_id=1, entry_identity="e1", story_key="s1",
                        published="2026-11-26T06:03:00+00:00", summary="Officials said so. @everyone",
                        watches=(AlertWatch(1, "place:Kupiansk"),),
                        hits=(AlertHit("place:Kupiansk", "Kupiansk", "title", "Kupiansk"),), grade="moderate",
                        sourcing="names two officials", corroboration="2 independent outlets").to_payload()
    return Delivery(id=1, destination=f"discord:{channel}", dedupe_key=key, kind=kind, payload=payload,
                    attempts=attempts, outcome_unknown=outcome_unknown)


# ---- login and the sender ---------------------------------------------------------------------------


async def test_login_uses_the_token_against_the_configured_base(stub, session):
    client = await session.ready()
    assert client.user.id == int(BOT_ID) and client.application_id == int(APP_ID)
    me = stub.called("get_me")[0]
    assert me.headers["authorization"] == "Bot bot-token" and me.path == "/api/v10/users/@me"


async def test_a_refused_token_is_a_config_error_naming_the_variable(stub, session):
    stub.fail("get_me", status=401, code=0, message="401: Unauthorized")
    with pytest.raises(ConfigError, match="DISCORD_BOT_TOKEN"):
        await session.ready()


async def test_alert_json_as_discord_py_sent_it(stub, session):
    result = await notifier(session).send(delivery())
    assert result.status is SendStatus.SENT
    [call] = stub.called("create_message")
    assert call.path == f"/api/v10/channels/{CHANNEL_ID}/messages"
    body = call.json
    assert body["allowed_mentions"] == {"parse": []}
    assert body["nonce"] == nonce_for("ww-1") and len(body["nonce"]) <= 25 and body["enforce_nonce"] is True
    assert "content" not in body or not body["content"]  # feed text only ever in the embed
    [embed] = body["embeds"]
    assert embed["url"] == "https://news.example/a"
    assert embed["title"].startswith("@\u200beveryone @\u200bhere <@\u200b123456789012345678> <@&\u200b2234")
    assert embed["description"] == "Officials said so. @\u200beveryone"
    assert embed["color"] == discord_embeds.GRADE_COLOURS["moderate"]
    assert embed["timestamp"].startswith("2026-11-26T06:03:00")
    assert [f["name"] for f in embed["fields"]] == ["Outlet", "Watch", "Place", "Sourcing", "Corroboration"]
    assert embed["footer"]["text"] == "wirewatch · ww-1"
    assert len(discord.Embed.from_dict(embed)) <= discord_embeds.MESSAGE_EMBEDS_TOTAL_MAX
    assert result.message_ref == stub.messages(CHANNEL_ID)[0]["id"]


async def test_a_429_is_waited_out_by_discord_py_then_sent(stub, session):
    stub.fail("create_message", status=429, retry_after=0.01)
    result = await notifier(session).send(delivery())
    assert result.status is SendStatus.SENT
    first, second = stub.called("create_message")
    assert first.json == second.json  # the same nonce: even a 429 that was processed could not double-post
    assert len(stub.messages(CHANNEL_ID)) == 1


@pytest.mark.parametrize(
    "script,status,error",
    [
        (dict(status=403, code=50001, message="Missing Access"), SendStatus.PERMANENT, "Missing Access (50001)"),
        (dict(status=404, code=10003, message="Unknown Channel"), SendStatus.PERMANENT, "Unknown Channel (10003)"),
        (dict(status=403, code=50013, message="Missing Permissions"), SendStatus.PERMANENT,
         "Missing Permissions (50013)"),
        (dict(status=400, code=50035, message="Invalid Form Body"), SendStatus.PERMANENT, "Invalid Form Body (50035)"),
        (dict(status=503, message="upstream"), SendStatus.RETRY, "Discord answered 503"),
        (dict(status=429, retry_after=120.0), SendStatus.RETRY, "rate limited by Discord"),
        (dict(status=429, retry_after=1.0, headers={}), SendStatus.RETRY,
         "rate limited in front of Discord's API (Cloudflare)"),
    ],
    ids=["50001-missing-access", "10003-unknown-channel", "50013-missing-permissions", "400-invalid-form",
         "503", "429-longer-than-we-wait", "429-without-via"],
)
async def test_failures_become_outbox_outcomes(stub, session, script, status, error):
    stub.fail("create_message", **script)
    result = await notifier(session).send(delivery())
    assert (result.status, result.error) == (status, error)
    assert len(stub.called("create_message")) == 1 and stub.messages(CHANNEL_ID) == []


async def test_a_dead_channel_does_not_block_another(stub, session):
    sender = notifier(session)
    stub.fail("create_message", status=403, code=50001, message="Missing Access")
    gone = await sender.send(delivery("ww-a", channel="1300000000000000999"))
    ok = await sender.send(delivery("ww-b"))
    assert gone.status is SendStatus.PERMANENT and ok.status is SendStatus.SENT


async def test_a_dropped_connection_is_retried_with_the_same_nonce_and_posts_once(stub, session):
    stub.fail("create_message", status=200, disconnect=True)  # Discord stores it; the answer never arrives
    sender = notifier(session)
    first = await sender.send(delivery())
    assert first.status is SendStatus.RETRY and "outcome unknown" in first.error
    again = await sender.send(delivery(attempts=2))
    assert again.status is SendStatus.SENT
    assert len(stub.messages(CHANNEL_ID)) == 1 and again.message_ref == stub.messages(CHANNEL_ID)[0]["id"]


async def test_an_unknown_outcome_past_the_nonce_window_is_found_in_history(stub, session):
    sender = notifier(session)
    posted = await sender.send(delivery("ww-old"))
    for message in stub.channels[CHANNEL_ID]:  # Discord forgets nonces after minutes: forget it here too
        message.pop("nonce")
    again = await sender.send(delivery("ww-old", outcome_unknown=True))
    assert again.status is SendStatus.SENT and again.message_ref == posted.message_ref
    assert len(stub.called("create_message")) == 1
    assert stub.called("history")[0].query["limit"] == "50"


async def test_followups_go_in_a_thread_started_from_the_alert(stub, session):
    sender = notifier(session)
    parent = await sender.send(delivery("ww-p"))
    follow = delivery("ww-p:f1", kind="followup", payload={
        "parent_key": "ww-p", "thread_ref": parent.message_ref, "parent_title": "Depot hit near Kupiansk",
        "text": "Now reported by 2 independent outlets @everyone", "title": "Depot confirmed",
        "url": "https://other.example/b", "outlet": "Other"})
    first = await sender.send(follow)
    second = await sender.send(dataclasses.replace(follow, dedupe_key="ww-p:f2"))
    assert first.status is SendStatus.SENT and second.status is SendStatus.SENT
    thread, again = stub.called("start_thread")  # the second answered 160004: it exists, its id is known
    assert thread.path == f"/api/v10/channels/{CHANNEL_ID}/messages/{parent.message_ref}/threads"
    assert thread.json["name"] == "Follow-ups: Depot hit near Kupiansk"
    assert thread.json["auto_archive_duration"] == 10080
    posts = [c for c in stub.called("create_message") if c.path.endswith(f"/{parent.message_ref}/messages")]
    assert len(posts) == 2  # both in the thread (its id is the alert's); the second found it existing
    assert posts[0].json["allowed_mentions"] == {"parse": []}
    assert posts[0].json["embeds"][0]["description"] == "Now reported by 2 independent outlets @\u200beveryone"
    assert posts[0].json["nonce"] != posts[1].json["nonce"] != nonce_for("ww-p")
    assert first.message_ref == f"{parent.message_ref}/{stub.messages(parent.message_ref)[0]['id']}"
    assert len(stub.messages(CHANNEL_ID)) == 1  # nothing more in the channel itself


async def test_followups_find_their_alert_by_key_and_reply_where_threads_are_not_allowed(stub, session):
    sender = notifier(session)
    parent = await sender.send(delivery("ww-p"))
    stub.no_threads.add(CHANNEL_ID)
    result = await sender.send(delivery("ww-p:f1", kind="followup", payload={
        "parent_key": "ww-p", "text": "Disputed by Other", "outlet": "Other"}))
    assert result.status is SendStatus.SENT
    reply = stub.called("create_message")[-1]
    assert reply.json["message_reference"]["message_id"] == int(parent.message_ref)
    assert reply.json["message_reference"]["fail_if_not_exists"] is False
    assert reply.json["allowed_mentions"] == {"parse": []}  # replied_user absent: Discord's default is no ping
    assert result.message_ref == f"{CHANNEL_ID}/{stub.messages(CHANNEL_ID)[-1]['id']}"


async def test_an_unknown_kind_is_dead_lettered_not_sent(stub, session):
    result = await notifier(session).send(delivery(kind="carrier-pigeon", payload={}))
    assert result.status is SendStatus.PERMANENT and "carrier-pigeon" in result.error
    assert stub.called("create_message") == []


# ---- the command tree: sync, invite ---------------------------------------------------------------


@pytest.fixture
async def service():
    fetcher = HttpFetcher(timeout_s=5, allow_private_networks=True)
    svc = Service(MemoryStore(), fetcher, InlineParser(), {})
    yield svc
    await fetcher.close()


@pytest.fixture
async def chat(session, service):
    c = DiscordChat(session, service.run_command, discord_embeds.reply_content)
    await session.ready()
    yield c
    await c.close()


async def test_sync_to_a_guild_puts_every_command_guild_only_with_admin_permissions(stub, chat):
    names = await chat.sync(int(GUILD_ID))
    assert sorted(names) == sorted(GRAMMAR)
    [call] = stub.called("sync_guild")
    assert call.method == "PUT" and call.path == f"/api/v10/applications/{APP_ID}/guilds/{GUILD_ID}/commands"
    commands = {c["name"]: c for c in call.json}
    assert commands["feed"]["default_member_permissions"] == MANAGE_GUILD
    assert commands["digest"]["default_member_permissions"] == MANAGE_GUILD
    assert commands["watch"]["default_member_permissions"] is None
    assert all(c["dm_permission"] is False for c in commands.values())
    for group, actions in GRAMMAR.items():  # the same subcommands as the shared grammar, no more
        assert sorted(o["name"] for o in commands[group]["options"]) == sorted(actions)
    mute = next(o for o in commands["watch"]["options"] if o["name"] == "mute")
    assert [(o["name"], o["type"], o["required"]) for o in mute["options"]] == [("id", 4, True), ("duration", 3, True)]
    assert stub.called("sync_global") == []


async def test_sync_without_a_guild_is_global(stub, chat):
    await chat.sync()
    assert len(stub.called("sync_global")) == 1 and stub.called("sync_guild") == []


async def test_invite_url_names_the_application_scopes_and_permissions(chat):
    url = await chat.invite_url()
    assert url == invite_url(APP_ID)
    assert f"client_id={APP_ID}" in url and "scope=bot+applications.commands" in url
    perms = discord.Permissions(int(url.rsplit("permissions=", 1)[1]))
    assert perms.send_messages and perms.embed_links and perms.read_message_history
    assert perms.create_public_threads and perms.send_messages_in_threads
    assert not perms.administrator and not perms.mention_everyone


def test_an_unknown_admin_permission_is_a_config_error(session, service):
    with pytest.raises(ConfigError, match="WIREWATCH_DISCORD_ADMIN_PERMISSION"):
        DiscordChat(session, service.run_command, discord_embeds.reply_content, admin_permission="manage_everything")


# ---- interactions -----------------------------------------------------------------------------------


async def drive(stub: DiscordStub, chat: DiscordChat, payload: dict) -> list:
    """Feed one INTERACTION_CREATE through discord.py and return the requests it made for it."""
    seen = len(stub.calls)
    chat.session.client._connection.parse_interaction_create(payload)
    token = payload["token"]

    def answered():
        mine = [c for c in stub.calls[seen:] if token in c.path]
        final = [c for c in mine if c.route in ("followup",) or
                 (c.route == "interaction_callback" and c.json["type"] in (4, 8))]
        return mine if final else None
    return await stub.wait_for(answered)


async def test_watch_add_answers_in_the_channel_and_the_watch_alerts_this_channel(stub, chat, service):
    [call] = await drive(stub, chat, interaction("watch", "add", {"query": "Kupiansk OR @everyone"}))
    assert call.path.endswith("/callback") and call.query == {"with_response": "1"}
    assert call.json["type"] == 4
    data = call.json["data"]
    assert "flags" not in data or not data["flags"] & 64  # public: the channel sees the new watch
    assert data["content"].startswith(f"<@{USER_ID}> is now watching `")
    assert "@everyone" not in data["content"] and "@\u200beveryone" in data["content"]
    assert data["allowed_mentions"] == {"parse": []}
    [watch] = await service.store.list_watches(f"discord:{CHANNEL_ID}")
    assert watch.created_by == USER_ID


async def test_lists_errors_and_help_are_ephemeral(stub, chat):
    for payload, expect in [
        (interaction("watch", "list"), "no watches alert this channel yet"),
        (interaction("watch", "add", {"query": "place:"}), "column"),
        (interaction("watch", "mute", {"id": 3, "duration": "soon"}), "is not a duration"),
        (interaction("wirewatch", "help"), "/watch add QUERY"),
        (interaction("digest", "at", {"time": "25:00"}), "HH:MM"),
    ]:
        [call] = await drive(stub, chat, payload)
        assert call.json["type"] == 4 and call.json["data"]["flags"] == 64
        assert expect in call.json["data"]["content"]
        assert call.json["data"]["allowed_mentions"] == {"parse": []}


async def test_feed_administration_is_checked_again_when_it_runs(stub, chat, service):
    [refused] = await drive(stub, chat, interaction("feed", "remove", {"id": 1}, permissions=MEMBER))
    assert refused.json["data"]["flags"] == 64
    assert "needs the Manage Server permission" in refused.json["data"]["content"]
    [allowed] = await drive(stub, chat, interaction("feed", "remove", {"id": 1}, permissions=MEMBER | MANAGE_GUILD))
    assert "there is no feed 1" in allowed.json["data"]["content"]
    [listed] = await drive(stub, chat, interaction("feed", "list", permissions=MEMBER))
    assert "no feeds yet" in listed.json["data"]["content"]


async def test_feed_admins_may_be_discord_roles(stub, session, service):
    service.config = dataclasses.replace(service.config, feed_admins=("1800000000000000001",))
    chat = DiscordChat(session, service.run_command, discord_embeds.reply_content, admin_permission="none")
    await session.ready()
    [refused] = await drive(stub, chat, interaction("feed", "remove", {"id": 1}, permissions=MEMBER))
    [allowed] = await drive(stub, chat, interaction("feed", "remove", {"id": 1}, permissions=MEMBER,
                                                    roles=("1800000000000000001",)))
    assert "WIREWATCH_FEED_ADMINS" in refused.json["data"]["content"]
    assert "there is no feed 1" in allowed.json["data"]["content"]


async def test_slow_work_is_deferred_then_answered(stub, session, service):
    gate = asyncio.Event()  # the work waits until Discord has seen the deferral: slow, deterministically

    async def slow(command, caller):
        await gate.wait()
        return await service.run_command(command, caller)

    chat = DiscordChat(session, slow, discord_embeds.reply_content, ack_budget_s=0.01)
    await session.ready()
    for payload, routes in [
        (interaction("watch", "list"), ["interaction_callback", "followup"]),
        (interaction("watch", "add", {"query": "Oskil"}), ["interaction_callback", "delete_original", "followup"]),
    ]:
        gate.clear()
        seen = len(stub.calls)
        session.client._connection.parse_interaction_create(payload)
        defer = await stub.wait_for(lambda: next(
            (c for c in stub.calls[seen:] if c.route == "interaction_callback"), None))
        assert defer.json == {"type": 5, "data": {"flags": 64}}  # "thinking…", only the caller sees it
        gate.set()
        mine = lambda: [c for c in stub.calls[seen:] if payload["token"] in c.path]  # noqa: E731
        calls = await stub.wait_for(lambda: mine() if any(c.route == "followup" for c in mine()) else None)
        assert [c.route for c in calls] == routes
    list_followup = stub.called("followup")[0]
    assert list_followup.json["flags"] == 64 and list_followup.query["wait"] == "1"
    assert list_followup.json["allowed_mentions"] == {"parse": []}
    add_followup = stub.called("followup")[1]
    assert not add_followup.json.get("flags", 0) & 64  # the add is public: the channel sees it
    assert "is now watching `oskil`" in add_followup.json["content"].lower()


async def test_a_service_bug_is_logged_and_the_user_told(stub, session, caplog):
    async def broken(command, caller):
        raise RuntimeError("boom")
    chat = DiscordChat(session, broken, discord_embeds.reply_content)
    await session.ready()
    [call] = await drive(stub, chat, interaction("watch", "list"))
    assert "something went wrong on our side" in call.json["data"]["content"]
    assert any(r.exc_info for r in caplog.records if r.name == "wirewatch.discord")


async def test_place_autocomplete_offers_gazetteer_names(stub, session, service):
    names = {"kup": ["Kupiansk", "Kupiansk-Vuzlovyi"]}
    chat = DiscordChat(session, service.run_command, discord_embeds.reply_content,
                       suggest_places=lambda typed: names.get(typed.lower(), []))
    await session.ready()
    seen = len(stub.calls)
    chat.session.client._connection.parse_interaction_create(
        interaction("watch", "add", {"query": "drone AND place:Kup"}, interaction_type=4, focused="query"))
    call = await stub.wait_for(lambda: next((c for c in stub.calls[seen:] if c.route == "interaction_callback"), None))
    assert call.json["type"] == 8
    assert [c["value"] for c in call.json["data"]["choices"]] == [
        "drone AND place:Kupiansk", "drone AND place:Kupiansk-Vuzlovyi"]


def test_the_seam_is_process_wide_and_restorable(stub):
    use_api_url("http://127.0.0.1:1/api/v10/")
    assert discord.http.Route("GET", "/users/@me").url == "http://127.0.0.1:1/api/v10/users/@me"
    assert json.dumps({"parse": []}) == json.dumps(discord.AllowedMentions.none().to_dict())
