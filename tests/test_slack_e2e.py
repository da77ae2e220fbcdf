"""End to end through the composition root: a slash command (signed, HTTP mode, real bolt) adds a feed
and a watch, a feed served on loopback publishes a matching item, the Slack stand-in receives exactly one
alert with the right blocks; a restart sends nothing more, and neither does a crash between posting and
recording the post."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from html import escape as xml_escape

import pytest

from bot.app.bootstrap import build_app
from bot.app.settings import Settings
from bot.core.models import DeliveryStatus
from tests.feedserver import FeedServer
from tests.slackstub import SlackStub, command_form, post_signed

CHANNEL = "C0DESK0001"
SECRET = "e2e-signing-secret"


def rss(items: list[tuple[str, str, str]]) -> bytes:
    """RSS 2.0 written for this test; items are (title, link, RFC 822 date)."""
    body = "".join(
        f"<item><title>{xml_escape(t)}</title><link>{link}</link><guid>{link}</guid>"
        f"<description>{xml_escape(t)}. A regional official said so.</description><pubDate>{d}</pubDate></item>"
        for t, link, d in items
    )
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Loopback Wire</title>'
            f"<link>https://wire.example/</link><description>test</description>{body}</channel></rss>").encode()


OLD = ("Weather in Lviv", "https://wire.example/1", "Wed, 25 Nov 2026 06:00:00 +0000")
NEW = ("<!channel> Drone strike near Kupiansk & Oskil", "https://wire.example/2?a=1&b=2",
       "Thu, 26 Nov 2026 06:03:00 +0000")
UNRELATED = ("Harvest in Poltava", "https://wire.example/3", "Thu, 26 Nov 2026 06:04:00 +0000")


@pytest.fixture
async def world(tmp_path):
    async with SlackStub() as stub, FeedServer() as feeds:
        settings = Settings(
            database_url=f"sqlite:///{tmp_path / 'ww.db'}", allow_private_networks=True, min_interval_s=1,
            slack_bot_token="xoxb-e2e", slack_signing_secret=SECRET, slack_api_url=stub.api_url,
            timezone="Europe/Kyiv",
        )
        yield stub, feeds, settings


async def command(stub: SlackStub, url: str, name: str, text: str) -> dict:
    seen = len(stub.hooks)
    status, _ = await post_signed(url, command_form(stub, name, text, channel=CHANNEL), secret=SECRET)
    assert status == 200
    return (await stub.wait_hook(seen + 1))[seen]


async def test_slash_command_to_one_alert_and_a_restart_sends_nothing_more(world):
    stub, feeds, settings = world
    feeds.serve("/wire.xml", rss([OLD]))
    async with build_app(settings, isolated_parser=False) as app:
        port = await app.slack.start(host="127.0.0.1", port=0)
        url = f"http://127.0.0.1:{port}/slack/events"
        added = await command(stub, url, "/feed", f"add <{feeds.url('/wire.xml')}>")
        assert added["response_type"] == "in_channel" and "added feed 1: Loopback Wire" in added["text"]
        again = await command(stub, url, "/feed", f"add {feeds.url('/wire.xml')}")
        assert "already polls" in again["text"] and again["response_type"] == "ephemeral"
        watch = await command(stub, url, "/watch", "add Kupiansk OR Kupyansk")
        assert watch["text"].startswith("<@U0ANA> is now watching `")

        svc = app.service
        await svc.poll_due_feeds(force=True)  # the baseline: stored, not alerted
        await svc.deliver_all()
        assert stub.posts() == []

        feeds.serve("/wire.xml", rss([NEW, UNRELATED, OLD]))
        await svc.poll_due_feeds(force=True)
        report = await svc.deliver_all()
        assert report.sent == 1

    [post] = stub.posts()
    assert post["channel"] == CHANNEL
    assert post["blocks"][0]["text"]["text"] == (
        "*<https://wire.example/2?a=1&amp;b=2|&lt;!channel&gt; Drone strike near Kupiansk &amp; Oskil>*")
    assert "*Watch:* `" in post["blocks"][2]["text"]["text"]
    assert "Kupiansk" in post["blocks"][2]["text"]["text"]
    context = [e["text"] for e in post["blocks"][-1]["elements"]]
    assert context[0] == "*Source:* Loopback Wire"
    assert "08:03 EET" in context[1] and "06:03 UTC" in context[1]
    assert post["unfurl_links"] is False and "<!channel>" not in str(post)

    async with build_app(settings, isolated_parser=False) as app:  # a restart
        await app.service.poll_due_feeds(force=True)
        await app.service.deliver_all()
        [sent] = await app.service.store.list_deliveries("sent")
        assert sent.message_ref == stub.messages(CHANNEL)[0]["ts"]  # the thread parent of follow-ups
    assert len(stub.posts()) == 1


async def test_a_crash_between_posting_and_recording_does_not_post_twice(world):
    stub, feeds, settings = world
    feeds.serve("/wire.xml", rss([OLD]))
    async with build_app(settings, isolated_parser=False) as app:
        svc = app.service
        await svc.add_feed(feeds.url("/wire.xml"), interval_s=60)
        await svc.add_watch("Kupiansk", f"slack:{CHANNEL}")
        await svc.poll_due_feeds(force=True)
        feeds.serve("/wire.xml", rss([NEW, OLD]))
        await svc.poll_due_feeds(force=True)
        [claimed] = await svc.store.claim_deliveries(datetime.now(timezone.utc), limit=10, lease_s=60)
        posted = await svc.notifiers["slack"].send(claimed)  # Slack has it ...
        assert posted.status.value == "sent"
        # ... and the process dies before mark_sent.

    async with build_app(settings, isolated_parser=False) as app:
        later = datetime.now(timezone.utc) + timedelta(minutes=5)  # the lease has lapsed by then
        report = await app.service.deliver_pending(now=later)
        assert report.sent == 1
        [row] = await app.service.store.list_deliveries()
        assert row.status is DeliveryStatus.SENT and row.message_ref == posted.message_ref
    assert len(stub.posts()) == 1 and len(stub.messages(CHANNEL)) == 1
    assert len(stub.called("conversations.history")) == 1


async def test_dead_lettered_channel_is_shown_by_status_and_does_not_block_others(world):
    stub, feeds, settings = world
    feeds.serve("/wire.xml", rss([OLD]))
    async with build_app(settings, isolated_parser=False) as app:
        svc = app.service
        port = await app.slack.start(host="127.0.0.1", port=0)
        await svc.add_feed(feeds.url("/wire.xml"), interval_s=60)
        await svc.add_watch("Kupiansk", "slack:C0GONE0001")
        await svc.add_watch("Kupiansk", f"slack:{CHANNEL}")
        await svc.poll_due_feeds(force=True)
        feeds.serve("/wire.xml", rss([NEW, OLD]))
        await svc.poll_due_feeds(force=True)
        stub.fail("chat.postMessage", error="channel_not_found")  # whichever channel goes first
        report = await svc.deliver_all()
        assert (report.sent, report.dead) == (1, 1)
        status = await command(stub, f"http://127.0.0.1:{port}/slack/events", "/wirewatch", "status")
    assert "1 dead-lettered" in status["text"] and "channel_not_found" in status["text"]
    assert status["response_type"] == "ephemeral"
