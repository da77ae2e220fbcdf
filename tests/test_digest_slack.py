"""Digests in Slack against the stand-in: `/digest now` through the real bolt app posts the blocks and
uploads the chart with files_upload_v2; a second `/digest now` the same day posts nothing. A digest too
big for one message is split in order, and a retry after a failure completes it without repeating."""

from __future__ import annotations

import functools
from dataclasses import replace
from datetime import timedelta

from bot.adapters import digest_chart
from bot.adapters.slack_blocks import BLOCKS_MAX, SECTION_TEXT_MAX, render_delivery
from bot.adapters.slack_chat import SlackNotifier, digest_chart_filename, sender_client
from bot.app.bootstrap import build_app
from bot.app.settings import Settings
from bot.core.digests import compose
from bot.core.models import Delivery, SendStatus
from tests.feedserver import FeedServer
from tests.slackstub import SlackStub
from tests.test_digest_chart import png_size
from tests.test_digests import DUE, END, START, STORED
from tests.test_slack_e2e import CHANNEL, NEW, OLD, SECRET, UNRELATED, command, rss


async def test_digest_now_in_slack_posts_blocks_and_a_chart_once_a_day(tmp_path):
    async with SlackStub() as stub, FeedServer() as feeds:
        settings = Settings(
            database_url=f"sqlite:///{tmp_path / 'ww.db'}", allow_private_networks=True, min_interval_s=1,
            slack_bot_token="xoxb-digest", slack_signing_secret=SECRET, slack_api_url=stub.api_url,
            timezone="Europe/Kyiv",
        )
        feeds.serve("/wire.xml", rss([NEW, UNRELATED, OLD]))
        async with build_app(settings, isolated_parser=False) as app:
            port = await app.slack.start(host="127.0.0.1", port=0)
            url = f"http://127.0.0.1:{port}/slack/events"
            svc = app.service
            await svc.add_feed(feeds.url("/wire.xml"), baseline=False)
            await command(stub, url, "/watch", "add Kupiansk OR Kupyansk")
            await svc.poll_due_feeds(force=True)
            await svc.deliver_all()
            alerts = len(stub.posts())

            at = await command(stub, url, "/digest", "at 08:00 Europe/Kyiv")
            assert at["response_type"] == "in_channel" and "daily digest here at 08:00 Europe/Kyiv" in at["text"]
            now = await command(stub, url, "/digest", "now")
            assert now["response_type"] == "ephemeral"
            assert now["text"] == "today's digest is on its way: 1 story in 1 group"
            report = await svc.deliver_all()
            assert report.sent == 1 and report.dead == 0

            again = await command(stub, url, "/digest", "now")
            assert "already posted here at" in again["text"]
            await svc.deliver_all()
            assert await svc.queue_due_digests(now=svc.clock() + timedelta(hours=1)) == []

    [digest_post] = stub.posts()[alerts:]
    assert digest_post["channel"] == CHANNEL
    blocks = digest_post["blocks"]
    assert blocks[0]["type"] == "header" and blocks[0]["text"]["text"].startswith("Daily digest · ")
    heading = next(b["text"]["text"] for b in blocks if b["type"] == "section")
    assert heading == "*Kupiansk OR Kupyansk* · 1 story, up from 0"
    story = [b["text"]["text"] for b in blocks if b["type"] == "section"][1]
    assert story.startswith("• *<https://wire.example/2?a=1&amp;b=2|&lt;!channel&gt; Drone strike near Kupiansk")
    assert "1 outlet · 1 independent origin · " in story and "sourcing · first seen <!date^" in story
    assert "<!channel>" not in str(digest_post)
    assert digest_post["metadata"]["event_payload"]["idempotency_key"].startswith("digest:")

    [get_url] = stub.called("files.getUploadURLExternal")
    [complete] = stub.called("files.completeUploadExternal")
    assert get_url.body["filename"] == digest_chart_filename(CHANNEL, digest_post["metadata"]["event_payload"][
        "idempotency_key"])
    assert complete.body["channel_id"] == CHANNEL
    [upload] = stub.uploads.values()
    assert png_size(upload["data"]) == (digest_chart.WIDTH_PX, digest_chart.HEIGHT_PX)
    assert [m.get("files", [{}])[0].get("name") for m in stub.messages(CHANNEL) if m.get("files")] == [
        get_url.body["filename"]]


def big_digest_delivery(attempts: int = 1) -> Delivery:
    """A digest with 30 groups of 5 long stories: more blocks than one message holds."""
    base = compose(STORED, due=DUE, start=START, end=END, top=5)
    kup = base.groups[0]
    long_story = replace(kup.stories[0], title="A long headline about shelling near Kupiansk " * 6)
    groups = tuple(replace(kup, label=f"Place {n}", stories=(long_story,) * 5) for n in range(30))
    digest = replace(base, groups=groups, total=150)
    return Delivery(id=7, destination=f"slack:{CHANNEL}", dedupe_key="digest:2025-03-30", kind="digest",
                    payload=digest.to_payload(), attempts=attempts)


def test_big_digest_is_split_in_order_within_limits():
    rendered = render_delivery("digest", big_digest_delivery().payload)
    messages = rendered["messages"]
    assert len(messages) >= 2
    labels = []
    for m in messages:
        assert len(m["blocks"]) <= BLOCKS_MAX
        for b in m["blocks"]:
            if b["type"] == "section":
                text = b["text"]["text"]
                assert len(text) <= SECTION_TEXT_MAX and text.count("<") == text.count(">"), "no link cut"
                assert text.count("<https://") == text.count("<!date^"), "each story whole: link and facts"
                if text.startswith("*Place "):
                    labels.append(text.split("*")[1])
    assert labels == [f"Place {n}" for n in range(30)], "groups in order, none lost"
    assert [m["text"].endswith(f"(part {n} of {len(messages)})") for n, m in enumerate(messages, 1)] == [True] * len(
        messages)


async def test_a_failed_part_is_retried_without_reposting_what_went_out():
    async with SlackStub() as stub:
        notifier = SlackNotifier(sender_client("xoxb-t", stub.api_url),
                                 functools.partial(render_delivery), pace_s=0, chart=digest_chart.render_png)
        parts = len(render_delivery("digest", big_digest_delivery().payload)["messages"])
        stub.fail("chat.postMessage", status=200, error="internal_error")  # the first part fails
        first = await notifier.send(big_digest_delivery())
        assert first.status is SendStatus.RETRY

        # second attempt: part 1 goes, part 2 fails
        stub.calls.clear()
        assert stub.messages(CHANNEL) == []
        ok_then_fail = await _send_with_failure_after(stub, notifier, 1)
        assert ok_then_fail.status is SendStatus.RETRY and len(stub.messages(CHANNEL)) == 1

        done = await notifier.send(big_digest_delivery(attempts=3))
        assert done.status is SendStatus.SENT and done.message_ref == stub.messages(CHANNEL)[0]["ts"]
        keys = [m["metadata"]["event_payload"]["idempotency_key"] for m in stub.messages(CHANNEL) if "metadata" in m]
        assert keys == ["digest:2025-03-30"] + [f"digest:2025-03-30#{n}" for n in range(2, parts + 1)]
        assert len(stub.called("files.completeUploadExternal")) == 1

        again = await notifier.send(big_digest_delivery(attempts=4))  # a lapsed claim after everything went
        assert again.status is SendStatus.SENT
        assert len(stub.messages(CHANNEL)) == parts + 1, "nothing posted twice, the chart included"


async def _send_with_failure_after(stub: SlackStub, notifier: SlackNotifier, ok_parts: int):
    original = stub._chat_postMessage
    count = 0

    def flaky(body):
        nonlocal count
        count += 1
        if count > ok_parts:
            raise RuntimeError("stand-in crash")
        return original(body)

    stub._chat_postMessage = flaky
    try:
        return await notifier.send(big_digest_delivery(attempts=2))
    finally:
        stub._chat_postMessage = original


async def test_a_refused_chart_does_not_undo_the_digest():
    async with SlackStub() as stub:
        notifier = SlackNotifier(sender_client("xoxb-t", stub.api_url), render_delivery, pace_s=0,
                                 chart=digest_chart.render_png)
        stub.fail("files.getUploadURLExternal", error="missing_scope")
        result = await notifier.send(big_digest_delivery())
        assert result.status is SendStatus.SENT and stub.called("files.completeUploadExternal") == []
