"""End to end through the composition root with the real discord.py against the local stand-in:
``/watch add`` in a Discord channel, a feed served on loopback publishes a matching item, the channel
gets exactly one embed alert with no mention parsed; a restart sends nothing more. Plus the CLI's
``wirewatch discord sync`` and ``invite``."""

from __future__ import annotations

import argparse

import discord
import pytest

from bot.app.bootstrap import build_app
from bot.app.cli import cmd_discord, main
from bot.app.settings import Settings
from tests.discordstub import APP_ID, CHANNEL_ID, GUILD_ID, DiscordStub, interaction
from tests.feedserver import FeedServer
from tests.test_slack_e2e import NEW, OLD, UNRELATED, rss


@pytest.fixture
async def world(tmp_path):
    before = discord.http.Route.BASE
    async with DiscordStub() as stub, FeedServer() as feeds:
        settings = Settings(
            database_url=f"sqlite:///{tmp_path / 'ww.db'}", allow_private_networks=True, min_interval_s=1,
            discord_bot_token="bot-e2e", discord_api_url=stub.api_url, timezone="Europe/Kyiv",
        )
        yield stub, feeds, settings
    discord.http.Route.BASE = before


async def test_watch_add_in_discord_to_one_embed_alert_and_a_restart_sends_nothing_more(world):
    stub, feeds, settings = world
    feeds.serve("/wire.xml", rss([OLD]))
    async with build_app(settings, isolated_parser=False) as app:
        await app.discord.session.ready()
        app.discord.session.client._connection.parse_interaction_create(
            interaction("watch", "add", {"query": "Kupiansk OR Kupyansk"}))
        answer = await stub.wait_for(lambda: next(iter(stub.called("interaction_callback")), None))
        assert answer.json["type"] == 4 and "is now watching `" in answer.json["data"]["content"]

        svc = app.service
        await svc.add_feed(feeds.url("/wire.xml"), interval_s=60)
        await svc.poll_due_feeds(force=True)  # the baseline: stored, not alerted
        await svc.deliver_all()
        assert stub.called("create_message") == []

        feeds.serve("/wire.xml", rss([NEW, UNRELATED, OLD]))
        await svc.poll_due_feeds(force=True)
        report = await svc.deliver_all()
        assert (report.sent, report.dead) == (1, 0)

    [post] = stub.called("create_message")
    assert post.path == f"/api/v10/channels/{CHANNEL_ID}/messages"
    assert post.json["allowed_mentions"] == {"parse": []} and post.json["enforce_nonce"] is True
    [embed] = post.json["embeds"]
    assert embed["title"] == "<!channel> Drone strike near Kupiansk & Oskil"  # Slack syntax is inert on Discord
    assert embed["url"] == "https://wire.example/2?a=1&b=2"
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Outlet"] == "Loopback Wire" and "Kupiansk" in fields["Watch"]
    assert embed["timestamp"].startswith("2026-11-26T06:03:00")

    async with build_app(settings, isolated_parser=False) as app:  # a restart
        await app.service.poll_due_feeds(force=True)
        await app.service.deliver_all()
        [sent] = await app.service.store.list_deliveries("sent")
        assert sent.message_ref == stub.messages(CHANNEL_ID)[0]["id"]  # the thread parent of follow-ups
    assert len(stub.called("create_message")) == 1 and len(stub.messages(CHANNEL_ID)) == 1


async def test_a_dead_channel_is_dead_lettered_and_shown_while_another_gets_its_alert(world):
    stub, feeds, settings = world
    feeds.serve("/wire.xml", rss([OLD]))
    async with build_app(settings, isolated_parser=False) as app:
        svc = app.service
        await svc.add_feed(feeds.url("/wire.xml"), interval_s=60)
        await svc.add_watch("Kupiansk", "discord:1300000000000000999")
        await svc.add_watch("Kupiansk", f"discord:{CHANNEL_ID}")
        await svc.poll_due_feeds(force=True)
        feeds.serve("/wire.xml", rss([NEW, OLD]))
        await svc.poll_due_feeds(force=True)
        stub.fail("create_message", status=403, code=50001, message="Missing Access")  # whichever goes first
        report = await svc.deliver_all()
        assert (report.sent, report.dead) == (1, 1)
        await app.discord.session.ready()
        app.discord.session.client._connection.parse_interaction_create(interaction("wirewatch", "status"))
        answer = await stub.wait_for(lambda: next(iter(stub.called("interaction_callback")), None))
    assert "1 dead-lettered" in answer.json["data"]["content"] and "Missing Access (50001)" in answer.json["data"]["content"]
    assert answer.json["data"]["flags"] == 64


@pytest.mark.parametrize("guild", [int(GUILD_ID), None], ids=["guild", "global"])
async def test_cli_discord_sync(world, capsys, guild):
    stub, _, settings = world
    assert await cmd_discord(argparse.Namespace(action="sync", guild=guild), settings) == 0
    out = capsys.readouterr().out
    assert out.startswith("registered 4 commands") and "/feed, /watch, /wirewatch" in out
    assert len(stub.called("sync_guild" if guild else "sync_global")) == 1


async def test_cli_discord_invite(world, capsys):
    _, _, settings = world
    assert await cmd_discord(argparse.Namespace(action="invite"), settings) == 0
    url = capsys.readouterr().out.strip()
    assert url.startswith("https://discord.com/oauth2/authorize?") and f"client_id={APP_ID}" in url


def test_cli_discord_without_a_token_is_a_usage_error(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DISCORD_BOT_TOKEN", raising=False)
    assert main(["discord", "invite"]) == 2
    assert "DISCORD_BOT_TOKEN is not set" in capsys.readouterr().err
