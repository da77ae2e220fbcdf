"""Security: the SSRF guard, chat input limits and channel ownership, and secrets kept out of the logs.

The guard is exercised through the real fetcher against a loopback server: loopback is exactly what it
must refuse, and ``allow_networks`` lets one test address through so that a *redirect* to a forbidden one
can be shown refused at that hop. The secrets test runs the whole bot (``wirewatch run``, DEBUG logs,
JSON) with every token set, drives it through a Slack stand-in, and greps what it logged.
"""

from __future__ import annotations

import time

import pytest

from bot.adapters.http_fetcher import HttpFetcher, blocked_address_reason
from bot.adapters.memory import MemoryStore
from bot.adapters.parse_pool import InlineParser
from bot.core.commands import Caller, parse_command
from bot.core.errors import UsageError
from bot.core.models import FetchOutcome
from bot.service import MAX_COMMAND_ARGUMENT, Service
from tests import slackstub
from tests.conftest import _run
from tests.feedserver import FeedServer, feed_server, tiny_rss  # noqa: F401 - the fixture
from tests.test_scale_harness import Bot, ThreadedStub, base_env, cli, jsonl_records, wait_until


@pytest.mark.parametrize(
    ("address", "words"),
    [
        pytest.param("127.0.0.1", "loopback", id="ipv4-loopback"),
        pytest.param("10.1.2.3", "private", id="ipv4-private-10"),
        pytest.param("172.16.0.1", "private", id="ipv4-private-172"),
        pytest.param("192.168.1.1", "private", id="ipv4-private-192"),
        pytest.param("169.254.169.254", "link-local", id="cloud-metadata"),
        pytest.param("100.64.0.1", "carrier-grade NAT", id="cgnat"),
        pytest.param("224.0.0.1", "multicast", id="ipv4-multicast"),
        pytest.param("0.0.0.0", "unspecified", id="ipv4-unspecified"),
        pytest.param("::1", "loopback", id="ipv6-loopback"),
        pytest.param("::", "unspecified", id="ipv6-unspecified"),
        pytest.param("fe80::1", "link-local", id="ipv6-link-local"),
        pytest.param("fd12:3456::1", "unique-local", id="ipv6-unique-local"),
        pytest.param("ff02::1", "multicast", id="ipv6-multicast"),
        pytest.param("::ffff:127.0.0.1", "loopback address (IPv4 inside IPv6)", id="ipv4-mapped-loopback"),
        pytest.param("::ffff:169.254.169.254", "link-local", id="ipv4-mapped-metadata"),
        pytest.param("::ffff:10.0.0.1", "private address (IPv4 inside IPv6)", id="ipv4-mapped-private"),
        pytest.param("64:ff9b::a9fe:a9fe", "link-local", id="nat64-metadata"),
        pytest.param("2002:7f00:1::1", "loopback address (IPv4 inside IPv6)", id="6to4-loopback"),
        pytest.param("2002:a9fe:a9fe::1", "link-local", id="6to4-metadata"),
        pytest.param("8.8.8.8", None, id="public-ipv4"),
        pytest.param("2606:4700:4700::1111", None, id="public-ipv6"),
        pytest.param("::ffff:8.8.8.8", None, id="ipv4-mapped-public"),
    ],
)
def test_the_guard_names_why_an_address_is_refused(address, words):
    reason = blocked_address_reason(address)
    if words is None:
        assert reason is None
    else:
        assert reason is not None and words in reason


@pytest.mark.parametrize(
    ("how", "words"),
    [
        pytest.param("literal", "refused to fetch", id="ip-literal"),
        pytest.param("name", "localhost resolves to", id="name-resolving-to-loopback"),
        pytest.param("redirect", "refused to follow the redirect to", id="redirect-hop"),
        pytest.param("mapped-redirect", "IPv4 inside IPv6", id="redirect-to-ipv4-mapped"),
    ],
)
async def test_the_fetcher_refuses_private_targets_at_every_hop_and_says_why(feed_server, how, words):
    feed_server.serve("/feed.xml", tiny_rss())
    port = feed_server.port
    feed_server.redirect("/to-other.xml", f"http://127.0.0.2:{port}/feed.xml", 302)
    feed_server.redirect("/to-mapped.xml", f"http://[::ffff:127.0.0.1]:{port}/feed.xml", 302)
    url = {
        "literal": f"http://127.0.0.1:{port}/feed.xml",
        "name": f"http://localhost:{port}/feed.xml",
        "redirect": f"http://127.0.0.1:{port}/to-other.xml",
        "mapped-redirect": f"http://127.0.0.1:{port}/to-mapped.xml",
    }[how]
    # Only the test server's own address is let through, and only for the redirect rows.
    allowed = ["127.0.0.1/32"] if "redirect" in how else []
    fetcher = HttpFetcher(timeout_s=5, allow_networks=allowed)
    try:
        result = await fetcher.fetch(url)
    finally:
        await fetcher.close()
    assert result.outcome is FetchOutcome.ERROR
    assert words in result.error and "WIREWATCH_ALLOW_PRIVATE_NETWORKS=1" in result.error
    assert feed_server.hits("/feed.xml") == 0, "nothing was fetched from a refused address"


async def test_the_setting_lets_private_networks_through(feed_server):
    feed_server.serve("/feed.xml", tiny_rss())
    fetcher = HttpFetcher(timeout_s=5, allow_private_networks=True)
    try:
        result = await fetcher.fetch(feed_server.url("/feed.xml"))
    finally:
        await fetcher.close()
    assert result.outcome is FetchOutcome.MODIFIED


# ---- chat input ----------------------------------------------------------------------------------------


@pytest.fixture
def service():
    return Service(MemoryStore(), HttpFetcher(timeout_s=1), InlineParser(), {})


@pytest.mark.parametrize(
    "line",
    [
        pytest.param("/watch add " + "Kupiansk OR " * 200 + "Izium", id="long-query"),
        pytest.param("/feed add https://example.org/" + "a" * 2000, id="long-url"),
        pytest.param("/watch test " + "x" * 5000, id="long-test-query"),
    ],
)
async def test_over_long_command_input_is_refused_before_any_work(service, line):
    caller = Caller(platform="slack", destination="slack:C0DESK001", user_id="U1")
    with pytest.raises(UsageError, match=f"at most {MAX_COMMAND_ARGUMENT}"):
        await service.run_command(parse_command(line), caller)
    assert await service.store.list_watches() == [] and await service.store.list_feeds() == []


async def test_a_channel_sees_and_removes_only_its_own_watches(service):
    desk = Caller(platform="slack", destination="slack:C0DESK001", user_id="U1")
    other = Caller(platform="slack", destination="slack:C0OTHER02", user_id="U2")
    await service.run_command(parse_command("/watch add Kupiansk"), desk)
    [watch] = await service.store.list_watches()
    listed = await service.run_command(parse_command("/watch list"), other)
    assert "Kupiansk" not in listed.text
    for line in (f"/watch remove {watch.id}", f"/watch mute {watch.id} 1h"):
        with pytest.raises(UsageError, match="no watch"):
            await service.run_command(parse_command(line), other)
    assert await service.store.list_watches() == [watch]


# ---- secrets ---------------------------------------------------------------------------------------------


SECRETS = {
    "SLACK_BOT_TOKEN": "xoxb-SECRET-bot-token-4242",
    "SLACK_SIGNING_SECRET": "SECRET-signing-secret-4242",
    "DISCORD_BOT_TOKEN": "SECRET.discord.token-4242",
    "WIREWATCH_WEBHOOK_SECRET": "SECRET-webhook-hmac-key-4242",
    "WIREWATCH_WEBHOOK_NEWSROOM": "http://127.0.0.1:9/hooks/SECRET-path-4242",
}


@pytest.mark.slow
def test_a_full_run_never_logs_the_secrets_it_was_given(tmp_path):
    out = tmp_path / "alerts.jsonl"
    with FeedServer() as feeds, ThreadedStub() as slack:
        feeds.serve("/f.xml", tiny_rss("Desk", items=2).replace(b"Item", b"Kupiansk item"))
        env = base_env(tmp_path, f"sqlite:///{tmp_path / 'ww.db'}", WIREWATCH_LOG_LEVEL="DEBUG",
                       WIREWATCH_SLACK_API_URL=slack.api_url, **SECRETS)
        env.pop("DISCORD_BOT_TOKEN")  # the Discord gateway has no stand-in here; its token is checked below
        cli(env, "feed", "add", feeds.url("/f.xml"), "--interval", "1s", "--no-baseline")
        cli(env, "watch", "add", "Kupiansk", "--to", f"jsonl:{out}")
        cli(env, "watch", "add", "Kupiansk", "--to", "slack:C0DESK001")
        bot = Bot(env, tmp_path / "bot.log").start()
        try:
            bot.wait_healthy(timeout=60)
            events = f"http://127.0.0.1:{bot.port}/slack/events"
            form = slackstub.command_form(slack, "/watch", "list", channel="C0DESK001")
            signed, _ = _run(slackstub.post_signed(events, form, secret=SECRETS["SLACK_SIGNING_SECRET"]))
            forged, _ = _run(slackstub.post_signed(events, form, secret="guess"))
            wait_until(lambda: len(jsonl_records(out)) >= 2 and len(slack.messages("C0DESK001")) >= 2, timeout=60)
            time.sleep(0.5)
        finally:
            assert bot.stop() == 0
        discord_env = {**env, "DISCORD_BOT_TOKEN": SECRETS["DISCORD_BOT_TOKEN"]}
        cli(discord_env, "feed", "list")  # builds the app with the Discord token set, then exits
    logged = bot.log_path.read_text(encoding="utf-8")
    assert (signed, forged) == (200, 401)
    assert len(slack.messages("C0DESK001")) == 2, "the run did real work: alerts went out"
    assert '"level": "debug"' in logged, "the logs are as verbose as they get"
    leaked = [name for name, value in SECRETS.items() if value in logged or value.split("-", 1)[-1] in logged]
    assert not leaked, f"secrets in the logs: {leaked}"
