"""The chat command grammar (shared with Discord) and the service commands behind it, with real parts:
a loopback feed server, the real fetcher and parser, the in-memory store. Table-driven where pure."""

from __future__ import annotations

import pytest

from bot.adapters.http_fetcher import HttpFetcher
from bot.adapters.memory import MemoryStore
from bot.adapters.parse_pool import InlineParser
from bot.adapters.slack_chat import unescape_command_text
from bot.app.settings import Settings
from bot.core.commands import Caller, Command, may_manage_feeds, parse_command
from bot.core.errors import ConfigError, UsageError
from bot.service import Service, ServiceConfig
from bot.core.polling import PollPolicy
from tests.feedserver import FeedServer

HERE = Caller("slack", "slack:C0DESK0001", "U0ANA")
THERE = Caller("slack", "slack:C0OTHER001", "U0BOB")


@pytest.mark.parametrize(
    "line,command",
    [
        ("/watch add place:Kupiansk", Command("watch", "add", argument="place:Kupiansk")),
        ("watch add \"Oskil river\" OR Oskol", Command("watch", "add", argument="\"Oskil river\" OR Oskol")),
        ("/watch list", Command("watch", "list")),
        ("/watch remove 12", Command("watch", "remove", target_id=12)),
        ("/watch remove #12", Command("watch", "remove", target_id=12)),
        ("/watch test drones near:Izium~20km", Command("watch", "test", argument="drones near:Izium~20km")),
        ("/watch mute 3 2h", Command("watch", "mute", target_id=3, duration_s=7200)),
        ("/feed add https://wire.example/rss", Command("feed", "add", argument="https://wire.example/rss")),
        ("/feed list", Command("feed", "list")),
        ("/feed remove 4", Command("feed", "remove", target_id=4)),
        ("/digest now", Command("digest", "now")),
        ("/digest at 8:00 Europe/Kyiv", Command("digest", "at", at="08:00", zone="Europe/Kyiv")),
        ("/digest at 17:30", Command("digest", "at", at="17:30")),
        ("/digest off", Command("digest", "off")),
        ("/wirewatch help", Command("wirewatch", "help")),
        ("/wirewatch", Command("wirewatch", "help")),
        ("/WireWatch STATUS", Command("wirewatch", "status")),
    ],
    ids=["watch-add", "watch-add-phrase", "watch-list", "watch-remove", "watch-remove-hash", "watch-test",
         "watch-mute", "feed-add", "feed-list", "feed-remove", "digest-now", "digest-at-zone", "digest-at",
         "digest-off", "help", "bare-wirewatch", "case"],
)
def test_grammar(line, command):
    assert parse_command(line) == command


@pytest.mark.parametrize(
    "line,says",
    [
        ("/watch", "is not a command"),
        ("/watch frob", "`/watch frob` is not a command"),
        ("/watch add", "say what to watch for"),
        ("/watch remove abc", "is not an ID"),
        ("/watch remove 1 2", "write it like `/watch remove ID`"),
        ("/watch mute 3", "write it like `/watch mute ID 2h`"),
        ("/watch mute 3 forever", "not a duration"),
        ("/watch list everything", "takes nothing after it"),
        ("/feed add", "say what to add"),
        ("/digest at 25:00", "HH:MM"),
        ("/digest at 08:00 Kyiv;rm", "not a time zone"),
        ("/weather today", "unknown command /weather"),
        ("", "wirewatch commands"),
    ],
    ids=["no-action", "unknown-action", "add-nothing", "bad-id", "two-ids", "mute-no-duration", "bad-duration",
         "list-extra", "feed-add-nothing", "bad-time", "bad-zone", "unknown-group", "empty"],
)
def test_grammar_refusals_say_how_to_fix_it(line, says):
    with pytest.raises(UsageError, match=None) as info:
        parse_command(line)
    assert says in str(info.value)


@pytest.mark.parametrize(
    "allowed,caller,ok",
    [
        ((), HERE, True),
        (("U0ANA",), HERE, True),
        (("U0BOSS",), HERE, False),
        (("S0EDITORS",), Caller("slack", "slack:C0DESK0001", "U0ANA", frozenset({"S0EDITORS"})), True),
    ],
    ids=["empty-means-everyone", "listed-user", "not-listed", "listed-group"],
)
def test_who_may_manage_feeds(allowed, caller, ok):
    assert may_manage_feeds(allowed, caller) is ok


@pytest.mark.parametrize(
    "text,typed",
    [
        ("add <https://wire.example/rss>", "add https://wire.example/rss"),
        ("add <https://wire.example/rss|wire.example/rss>", "add https://wire.example/rss"),
        ("add re:/a&lt;b/ &amp; c", "add re:/a<b/ & c"),
    ],
    ids=["wrapped-url", "labelled-url", "entities"],
)
def test_slack_command_text_is_read_as_typed(text, typed):
    assert unescape_command_text(text) == typed


@pytest.mark.parametrize(
    "env,error",
    [
        ({"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET"),
        ({"SLACK_APP_TOKEN": "xapp-1"}, "SLACK_BOT_TOKEN is required"),
        ({"SLACK_SIGNING_SECRET": "s"}, "SLACK_BOT_TOKEN is required"),
        ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"}, None),
        ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}, None),
    ],
    ids=["bot-alone", "app-alone", "secret-alone", "socket-mode", "http-mode"],
)
def test_slack_settings_name_the_missing_variable(env, error, tmp_path):
    env = {**env, "WIREWATCH_ENV_FILE": str(tmp_path / "none.env")}
    if error is None:
        assert Settings.from_env(env).slack_bot_token == "xoxb-1"
    else:
        with pytest.raises(ConfigError, match=error.replace("(", r"\(").replace(")", r"\)")):
            Settings.from_env(env)


def test_feed_admins_setting_is_a_list_of_ids(tmp_path):
    env = {"WIREWATCH_FEED_ADMINS": "U0BOSS, S0EDITORS,", "WIREWATCH_ENV_FILE": str(tmp_path / "none.env")}
    assert Settings.from_env(env).feed_admins == ("U0BOSS", "S0EDITORS")


# ---- the service behind the commands ------------------------------------------------------------


def rss(*titles: str) -> bytes:
    items = "".join(f"<item><title>{t}</title><link>https://wire.example/{i}</link>"
                    f"<guid>https://wire.example/{i}</guid></item>" for i, t in enumerate(titles))
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Test Wire</title>'
            f"<link>https://wire.example/</link><description>d</description>{items}</channel></rss>").encode()


@pytest.fixture
async def env():
    fetcher = HttpFetcher(timeout_s=5, allow_private_networks=True)
    async with FeedServer() as feeds:
        svc = Service(MemoryStore(), fetcher, InlineParser(), {},
                      config=ServiceConfig(policy=PollPolicy(min_interval_s=1)))
        yield svc, feeds
    await fetcher.close()


async def run(svc: Service, line: str, caller: Caller = HERE):
    return await svc.run_command(parse_command(line), caller)


async def test_feed_add_of_a_page_says_it_is_not_a_feed_and_names_the_feeds_it_links_to(env):
    svc, feeds = env
    page = ('<!doctype html><html><head><title>Wire</title>'
            '<link rel="alternate" type="application/rss+xml" href="/rss.xml">'
            '</head><body><p>News</p></body></html>').encode()
    feeds.serve("/", page, content_type="text/html; charset=utf-8")
    with pytest.raises(UsageError) as info:
        await run(svc, f"/feed add {feeds.url('/')}")
    text = str(info.value)
    assert "is not a feed" in text and f"/feed add {feeds.url('/rss.xml')}" in text
    assert await svc.store.list_feeds() == []
    assert len(feeds.requests_to("/")) == 1  # fetched once


async def test_feed_add_checks_once_then_reuses_the_feed(env):
    svc, feeds = env
    feeds.serve("/rss.xml", rss("One"))
    first = await run(svc, f"/feed add {feeds.url('/rss.xml')}")
    assert first.public and first.mention_caller and "added feed 1: Test Wire" in first.text
    second = await run(svc, f"/feed add {feeds.url('/rss.xml')}")
    assert not second.public and "already polls" in second.text
    assert len(feeds.requests_to("/rss.xml")) == 1
    with pytest.raises(UsageError, match="could not fetch"):
        await run(svc, f"/feed add {feeds.url('/missing.xml')}")


async def test_watches_belong_to_their_channel(env):
    svc, _ = env
    added = await run(svc, "/watch add Kupiansk")
    assert added.public and added.text == "is now watching `Kupiansk` here (watch 1)"
    assert "1: `Kupiansk`" in (await run(svc, "/watch list")).text
    assert "no watches" in (await run(svc, "/watch list", THERE)).text
    with pytest.raises(UsageError, match="no watch 1 in this channel"):
        await run(svc, "/watch remove 1", THERE)
    removed = await run(svc, "/watch remove 1")
    assert removed.text == "removed watch 1"
    with pytest.raises(UsageError, match="column"):
        await run(svc, "/watch add (Kupiansk")


async def test_watch_test_runs_the_query_over_stored_items_and_saves_nothing(env):
    svc, feeds = env
    feeds.serve("/rss.xml", rss("Drone strike near Kupiansk", "Harvest in Poltava", "Kupyansk shelled"))
    await svc.add_feed(feeds.url("/rss.xml"), interval_s=60)
    await svc.poll_due_feeds(force=True)
    reply = await run(svc, "/watch test Kupiansk OR Kupyansk")
    assert reply.text.startswith("`Kupiansk OR Kupyansk` matches 2 of the 3 items")
    assert "Drone strike near Kupiansk" in reply.text and "Poltava" not in reply.text
    assert await svc.store.list_watches() == []


async def test_status_mute_digest_and_help(env):
    svc, feeds = env
    await svc.add_feed(feeds.url("/nothing-here.xml"), interval_s=60)
    await svc.poll_due_feeds(force=True)
    status = (await run(svc, "/wirewatch status")).text
    assert status.startswith("1 feeds, 1 failing; last poll 20") and "/nothing-here.xml" in status
    await run(svc, "/watch add Kupiansk")
    muted = await run(svc, "/watch mute 1 2h")
    assert "mute" in muted.text.lower()
    [watch] = await svc.store.list_watches()
    assert watch.muted_until is not None
    digest = await run(svc, "/digest at 08:00 Europe/Kyiv")  # digests are real now (tests/test_digest_*.py)
    assert digest.public and "daily digest here at 08:00 Europe/Kyiv" in digest.text
    assert "/watch add QUERY" in (await run(svc, "/wirewatch help")).text
