"""Digests on Discord: the embeds packed into ordered messages within Discord's limits (pure, table-driven
over digests of every shape), then the real discord.py against the stand-in: the multipart request that
left discord.py (payload_json with the embeds, the chart PNG as files[0]), one nonce and footer key per
part, a retry after a failed part completes the digest without repeating anything, a chart that cannot
be drawn does not hold the text back; and `/digest now` typed twice in a Discord channel the same local
day posts one digest."""

from __future__ import annotations

import re
from dataclasses import replace

import discord
import pytest

from bot.adapters import digest_chart, discord_embeds as de
from bot.adapters.discord_chat import DiscordNotifier, DiscordSession, nonce_for
from bot.app.bootstrap import build_app
from bot.app.settings import Settings
from bot.core import digests
from bot.core.digests import Digest, DigestStory, compose
from bot.core.models import Delivery, SendStatus
from tests.discordstub import CHANNEL_ID, DiscordStub, interaction
from tests.feedserver import FeedServer
from tests.test_digest_chart import png_size
from tests.test_digests import DUE, END, START, STORED
from tests.test_slack_e2e import NEW, OLD, UNRELATED, rss

KEY = "digest:2025-03-30"
LINK = re.compile(r"\*\*\[(?:[^\]\\]|\\.)*\]\((https?://[^)\s]+)\)\*\*")  # a whole masked link


def base() -> Digest:
    return compose(STORED, due=DUE, start=START, end=END, top=5, watches=3)


def many_groups(n: int = 30, stories: int = 5, title: str = "A long headline about shelling near Kupiansk " * 4,
                url: str = "https://news.example/story") -> Digest:
    d = base()
    kup = d.groups[0]
    story = replace(kup.stories[0], title=title, url=url)
    groups = tuple(replace(kup, label=f"Place {g}", stories=tuple(replace(story, url=f"{url}/{g}/{s}")
                                                                  for s in range(stories)), more=3)
                   for g in range(n))
    return replace(d, groups=groups, total=n * (stories + 3))


def hostile() -> Digest:
    """Titles that try markdown, masked links and mentions; a URL with parentheses and spaces."""
    d = base()
    evil = DigestStory(title="[click](https://evil.example) **@everyone** <@123456789012345678> ) done",
                       url="https://news.example/a (b)/c?d=1&e=2", outlets=2, origins=1, grade="weak",
                       first_seen=d.groups[0].stories[0].first_seen)
    return replace(d, groups=(replace(d.groups[0], stories=(evil,) + d.groups[0].stories[1:]),) + d.groups[1:])


DIGESTS = {
    "small": base,
    "quiet": lambda: compose([], due=DUE, start=START, end=END, watches=2),
    "late": lambda: replace(base(), late=True),
    "30-groups": many_groups,
    "40-stories-in-one-group": lambda: many_groups(n=1, stories=40),
    "huge-urls": lambda: many_groups(n=6, stories=5, url="https://news.example/" + "p" * 1900),
    "hostile": hostile,
}


def stamped(messages: list[dict]) -> list[dict]:
    """What the sender adds before posting: the part's key at the end of the last footer."""
    out = []
    for n, m in enumerate(messages, 1):
        embeds = [dict(e) for e in m["embeds"]]
        part = KEY if n == 1 else f"{KEY}#{n}"
        embeds[-1]["footer"] = {"text": embeds[-1]["footer"]["text"] + " · " + part}
        out.append({"embeds": embeds})
    return out


def within_limits(message: dict) -> None:
    embeds = message["embeds"]
    assert 1 <= len(embeds) <= de.EMBEDS_MAX
    assert sum(len(discord.Embed.from_dict(e)) for e in embeds) <= de.MESSAGE_EMBEDS_TOTAL_MAX
    for e in embeds:
        assert len(e["title"]) <= de.TITLE_MAX and len(e.get("description", "")) <= de.DESCRIPTION_MAX
        assert "@everyone" not in str(e) and "<@1" not in str(e)


def story_urls(messages: list[dict]) -> list[str]:
    """Every story link, in order, each found whole: ``**[title](url)**`` with its facts on the next line."""
    urls = []
    for m in messages:
        for e in m["embeds"][1:] if m is messages[0] else m["embeds"]:
            text = e.get("description", "")
            found = LINK.findall(text)
            assert len(found) == text.count("first seen <t:"), "every story line has its link, whole"
            urls += found
    return urls


@pytest.mark.parametrize("name", list(DIGESTS), ids=list(DIGESTS))
def test_bot_digest_is_split_in_order_within_limits_and_no_link_is_cut(name):
    digest = DIGESTS[name]()
    rendered = de.render_delivery("digest", digest.to_payload())
    messages = stamped(rendered["messages"])
    for m in messages:
        within_limits(m)
    intro = messages[0]["embeds"][0]
    assert intro["title"] == digests.headline(digest)
    assert intro["image"] == {"url": f"attachment://{rendered['chart']['filename']}"}
    assert rendered["chart"]["filename"] == "wirewatch-digest-2025-03-30.png"
    expected = [de._masked_target(s.url) for g in digest.groups for s in g.stories if s.url]
    assert story_urls(messages) == expected, "every story once, in order"
    every = [e for m in messages for e in m["embeds"]][1:]
    headings = [e["title"] for e in every if not e["title"].endswith("(continued)")]
    assert headings == [de.escape(g.heading) for g in digest.groups], "groups in order, none lost"
    if len(messages) > 1:
        assert messages[1]["embeds"][-1]["footer"]["text"].endswith(f"part 2 of {len(messages)} · {KEY}#2")
    if digest.late:
        assert intro["description"].startswith("\u26a0\ufe0f This digest is late")
    if digest.quiet:
        assert len(messages) == 1 and "Quiet day" in intro["description"]


def test_hostile_titles_and_urls_stay_inert_and_whole():
    [message] = de.render_delivery("digest", hostile().to_payload())["messages"]
    text = message["embeds"][1]["description"]
    first = text.split("\n")[0]
    assert first == ("• **[\\[click\\](https://evil.example) \\*\\*@\u200beveryone\\*\\* <@\u200b123456789012345678> ) "
                     "done](https://news.example/a%20%28b%29/c?d=1&e=2)**")


def test_more_stories_and_the_command_to_see_them():
    group = base().groups[0]
    [embed] = de._group_embeds(replace(group, more=12, more_command="/watch test place:Kupiansk"))
    assert embed["description"].endswith("… and 12 more: `/watch test place:Kupiansk`")


@pytest.mark.parametrize("name", list(DIGESTS), ids=list(DIGESTS))
def test_webhook_digest_is_one_message_with_sparklines(name):
    digest = DIGESTS[name]()
    message = de.render_webhook_delivery("digest", digest.to_payload())
    within_limits(message)
    embeds = message["embeds"]
    assert "image" not in embeds[0]  # a webhook posts JSON: no attachment to show
    assert embeds[-1]["footer"]["text"] == "wirewatch · daily digest"
    shown = [g for g in digest.groups if any(e["title"] == de.escape(g.heading) for e in embeds)]
    assert shown == list(digest.groups[: len(shown)])
    for g in shown:
        embed = next(e for e in embeds if e["title"] == de.escape(g.heading))
        assert embed["description"].startswith(f"`{digests.sparkline(g.hourly)}` stories per hour")
        listed = len(LINK.findall(embed["description"]))
        if listed < len(g.stories) + g.more:
            assert f"… and {len(g.stories) + g.more - listed} more: `" in embed["description"]
    if len(digest.groups) > de.EMBEDS_MAX - 1:
        assert embeds[-1]["title"] == f"{len(digest.groups) - len(shown)} more groups"


# ---- the sender, against the stand-in -----------------------------------------------------------------


@pytest.fixture
async def stub():
    before = discord.http.Route.BASE
    async with DiscordStub() as s:
        yield s
    discord.http.Route.BASE = before


@pytest.fixture
async def session(stub):
    s = DiscordSession("bot-token", stub.api_url)
    yield s
    await s.close()


def sender(session: DiscordSession, chart=digest_chart.render_png) -> DiscordNotifier:
    return DiscordNotifier(session, de.render_delivery, thread_name=de.thread_name, chart=chart)


def digest_delivery(digest: Digest, *, attempts: int = 1, outcome_unknown: bool = False) -> Delivery:
    return Delivery(id=9, destination=f"discord:{CHANNEL_ID}", dedupe_key=KEY, kind="digest",
                    payload=digest.to_payload(), attempts=attempts, outcome_unknown=outcome_unknown)


async def test_digest_goes_out_as_multipart_with_the_chart_on_the_first_part(stub, session):
    digest = many_groups()
    parts = len(de.render_delivery("digest", digest.to_payload())["messages"])
    result = await sender(session).send(digest_delivery(digest))
    assert result.status is SendStatus.SENT
    posts = stub.called("create_message")
    assert len(posts) == parts >= 3
    assert result.message_ref == stub.messages(CHANNEL_ID)[0]["id"]
    first = posts[0]
    assert first.headers["content-type"].startswith("multipart/form-data")
    [upload] = first.files
    assert (upload.name, upload.filename) == ("files[0]", "wirewatch-digest-2025-03-30.png")
    assert png_size(upload.data) == (digest_chart.WIDTH_PX, digest_chart.HEIGHT_PX)
    assert first.json["attachments"] == [{"id": 0, "filename": upload.filename,
                                          "description": first.json["attachments"][0]["description"]}]
    assert first.json["embeds"][0]["image"] == {"url": "attachment://wirewatch-digest-2025-03-30.png"}
    assert stub.messages(CHANNEL_ID)[0]["attachments"][0]["filename"] == upload.filename
    for n, post in enumerate(posts, 1):
        part = KEY if n == 1 else f"{KEY}#{n}"
        assert post.json["nonce"] == nonce_for(part) and post.json["enforce_nonce"] is True
        assert post.json["allowed_mentions"] == {"parse": []}
        assert post.json["embeds"][-1]["footer"]["text"].endswith(" · " + part)
        assert not post.json.get("content")
        assert (post.files == []) == (n > 1), "the chart goes once, with the first part"
        within_limits(post.json)
    assert story_urls([p.json for p in posts]) == [de._masked_target(s.url) for g in digest.groups
                                                   for s in g.stories]


async def test_a_failed_part_is_retried_without_reposting_what_went_out(stub, session):
    digest = many_groups()
    parts = len(de.render_delivery("digest", digest.to_payload())["messages"])
    notifier = sender(session)
    stub.fail("create_message", status=503, message="upstream", after=1)  # part 1 goes, part 2 fails
    first = await notifier.send(digest_delivery(digest))
    assert first.status is SendStatus.RETRY and len(stub.messages(CHANNEL_ID)) == 1

    done = await notifier.send(digest_delivery(digest, attempts=2))
    assert done.status is SendStatus.SENT and done.message_ref == stub.messages(CHANNEL_ID)[0]["id"]
    keys = [m["embeds"][-1]["footer"]["text"].rsplit(" · ", 1)[1] for m in stub.messages(CHANNEL_ID)]
    assert keys == [KEY] + [f"{KEY}#{n}" for n in range(2, parts + 1)]
    assert sum(len(c.files) for c in stub.called("create_message")) == 1, "the chart once"

    again = await notifier.send(digest_delivery(digest, attempts=3, outcome_unknown=True))
    assert again.status is SendStatus.SENT and again.message_ref == done.message_ref
    assert len(stub.messages(CHANNEL_ID)) == parts, "nothing posted twice"


async def test_a_part_whose_answer_was_lost_is_not_posted_twice(stub, session):
    """Discord stored part 1 but the answer never came: the retry finds it by its nonce or footer."""
    digest = base()
    notifier = sender(session)
    stub.fail("create_message", status=200, disconnect=True)
    lost = await notifier.send(digest_delivery(digest))
    assert lost.status is SendStatus.RETRY and "outcome unknown" in lost.error
    again = await notifier.send(digest_delivery(digest, attempts=2))
    assert again.status is SendStatus.SENT
    assert len(stub.messages(CHANNEL_ID)) == 1 and again.message_ref == stub.messages(CHANNEL_ID)[0]["id"]


def _broken_chart(payload):
    raise RuntimeError("no fonts")


@pytest.mark.parametrize("chart", [None, _broken_chart], ids=["no-chart-renderer", "chart-fails"])
async def test_without_a_chart_the_text_still_goes_and_shows_no_broken_image(stub, session, chart):
    result = await sender(session, chart=chart).send(digest_delivery(base()))
    assert result.status is SendStatus.SENT
    [post] = stub.called("create_message")
    assert post.files == [] and post.headers["content-type"].startswith("application/json")
    assert "image" not in post.json["embeds"][0] and post.json["embeds"][0]["title"].startswith("Daily digest")


@pytest.mark.parametrize("code,status", [(50001, 403), (10003, 404)], ids=["missing-access", "unknown-channel"])
async def test_a_channel_the_bot_cannot_use_dead_letters_the_digest(stub, session, code, status):
    stub.fail("create_message", status=status, code=code, message="no")
    result = await sender(session).send(digest_delivery(base()))
    assert result.status is SendStatus.PERMANENT and f"({code})" in result.error


# ---- end to end: `/digest now` in a Discord channel, twice the same day -------------------------------


async def test_digest_now_in_discord_posts_embeds_and_a_chart_once_a_day(tmp_path):
    before = discord.http.Route.BASE
    async with DiscordStub() as stub, FeedServer() as feeds:
        settings = Settings(
            database_url=f"sqlite:///{tmp_path / 'ww.db'}", allow_private_networks=True, min_interval_s=1,
            discord_bot_token="bot-digest", discord_api_url=stub.api_url, timezone="Europe/Kyiv",
        )
        feeds.serve("/wire.xml", rss([NEW, UNRELATED, OLD]))
        try:
            async with build_app(settings, isolated_parser=False) as app:
                await app.discord.session.ready()

                async def command(sub: str, options=None) -> dict:
                    payload = interaction("digest" if sub != "add" else "watch", sub, options)
                    app.discord.session.client._connection.parse_interaction_create(payload)
                    call = await stub.wait_for(lambda: next(
                        (c for c in stub.calls if payload["token"] in c.path and c.route == "interaction_callback"),
                        None))
                    return call.json["data"]

                svc = app.service
                await svc.add_feed(feeds.url("/wire.xml"), baseline=False)
                await command("add", {"query": "Kupiansk OR Kupyansk"})
                await svc.poll_due_feeds(force=True)
                await svc.deliver_all()
                alerts = len(stub.called("create_message"))

                now = await command("now")
                assert now["content"] == "today's digest is on its way: 1 story in 1 group"
                report = await svc.deliver_all()
                assert (report.sent, report.dead) == (1, 0)

                again = await command("now")
                assert "already posted here at" in again["content"]
                await svc.deliver_all()
                assert await svc.queue_due_digests(now=svc.clock()) == []
        finally:
            discord.http.Route.BASE = before

    [post] = stub.called("create_message")[alerts:]
    assert post.path == f"/api/v10/channels/{CHANNEL_ID}/messages"
    assert post.json["allowed_mentions"] == {"parse": []}
    intro, group = post.json["embeds"]
    assert intro["title"].startswith("Daily digest · ") and "1 story in 1 group" in intro["description"]
    assert group["title"] == "Kupiansk OR Kupyansk: 1 story, up from 0"
    assert group["description"].startswith(
        "• **[<!channel> Drone strike near Kupiansk & Oskil](https://wire.example/2?a=1&b=2)**\n  1 outlet · ")
    [upload] = post.files
    assert png_size(upload.data) == (digest_chart.WIDTH_PX, digest_chart.HEIGHT_PX)
    assert intro["image"]["url"] == f"attachment://{upload.filename}"
    assert group["footer"]["text"].startswith("wirewatch · daily digest · digest:")
