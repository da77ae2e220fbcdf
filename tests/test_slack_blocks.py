"""Block Kit rendering, pure: escaping, link targets, limits, the alert layout. One row per case."""

from __future__ import annotations

import json
from zoneinfo import ZoneInfo

import pytest

from bot.adapters.slack_blocks import (
    SECTION_TEXT_MAX,
    cut,
    escape,
    link_target,
    render_alert,
    render_delivery,
    render_followup,
    reply_text,
)
from bot.core.commands import Reply
from bot.core.messages import Alert, AlertHit, AlertWatch


@pytest.mark.parametrize(
    "raw,escaped",
    [
        ("Plain headline", "Plain headline"),
        ("Tom & Jerry", "Tom &amp; Jerry"),
        ("<!channel> breaking", "&lt;!channel&gt; breaking"),
        ("hi <@U024BE7LH>", "hi &lt;@U024BE7LH&gt;"),
        ("<http://evil.example|click>", "&lt;http://evil.example|click&gt;"),
        ("already &amp; escaped", "already &amp;amp; escaped"),
        ("ping @here and @channel", "ping @\u200bhere and @\u200bchannel"),
        ("quotes \"stay\" 'as' they are", "quotes \"stay\" 'as' they are"),
        ("<!subteam^S123>", "&lt;!subteam^S123&gt;"),
    ],
    ids=["plain", "ampersand", "channel-mention", "user-mention", "link", "double-escape", "broadcast-words",
         "quotes-untouched", "subteam"],
)
def test_escape(raw, escaped):
    assert escape(raw) == escaped


@pytest.mark.parametrize(
    "url,target",
    [
        ("https://ex.org/a", "https://ex.org/a"),
        ("https://ex.org/a?b=1&c=2", "https://ex.org/a?b=1&amp;c=2"),
        ("https://ex.org/a|b", "https://ex.org/a%7Cb"),
        ("https://ex.org/<x>", "https://ex.org/%3Cx%3E"),
        ("https://ex.org/a b\"c", "https://ex.org/a%20b%22c"),
        ("javascript:alert(1)", None),
        ("slack://channel?id=C1", None),
        ("", None),
    ],
    ids=["plain", "ampersand", "pipe", "angles", "space-quote", "javascript", "slack-scheme", "empty"],
)
def test_link_target(url, target):
    assert link_target(url) == target


@pytest.mark.parametrize(
    "text,limit,expected",
    [
        ("short", 10, "short"),
        ("a &amp; b", 4, "a …"),  # would have ended inside "&amp;"
        ("abcdefghij", 5, "abcd…"),
    ],
    ids=["fits", "never-inside-entity", "plain-cut"],
)
def test_cut(text, limit, expected):
    assert cut(text, limit) == expected


def alert(**overrides) -> Alert:
    values = dict(
        alert_key="ww-abc", destination="slack:C0123456789", title="Drone strike near Kupiansk",
        url="https://news.example/kupiansk?id=1&src=rss", outlet="Example Wire", feed_id=1,
        entry_identity="e1", story_key="s1", published="2026-11-26T06:03:00+00:00",
        summary="Officials said the strike hit a depot.",
        watches=(AlertWatch(3, "place:Kupiansk"),),
        hits=(AlertHit("place:Kupiansk", "Kupiansk", "title", "Kupiansk"),),
        sourcing="Weak sourcing: relays one outlet (Look); 3 anonymous sources", grade="Weak",
        corroboration="not yet corroborated",
    )
    values.update(overrides)
    return Alert(**values)


def test_alert_layout_title_link_place_watch_source_time_sourcing_corroboration():
    args = render_alert(alert(), tz=ZoneInfo("Europe/Kyiv"))
    blocks = args["blocks"]
    assert blocks[0] == {"type": "section", "text": {
        "type": "mrkdwn", "verbatim": True,
        "text": "*<https://news.example/kupiansk?id=1&amp;src=rss|Drone strike near Kupiansk>*"}}
    assert blocks[1]["text"]["text"] == "Officials said the strike hit a depot."
    assert blocks[2]["text"]["text"] == "*Watch:* `place:Kupiansk` · *Place:* Kupiansk"
    context = [e["text"] for e in blocks[3]["elements"]]
    assert context[0] == "*Source:* Example Wire"
    assert context[1].startswith("<!date^1795672980^{date_short_pretty} {time}|2026-11-26 06:03 UTC>")
    assert "08:03 EET" in context[1] and "06:03 UTC" in context[1]  # the channel's zone and UTC
    assert context[2] == "*Weak*: Weak sourcing: relays one outlet (Look); 3 anonymous sources"
    assert context[3] == "not yet corroborated"
    assert args["text"] == "Drone strike near Kupiansk (Example Wire)"
    assert args["unfurl_links"] is False and args["unfurl_media"] is False
    for key in ("link_names", "parse", "mrkdwn"):
        assert key not in args


def test_every_text_object_is_verbatim_and_no_mention_survives_a_hostile_feed():
    hostile = "<!channel> <!here> <@U024BE7LH> <http://evil.example|click> & @everyone"
    args = render_alert(alert(title=hostile, summary=hostile, outlet=hostile, url="javascript:x",
                              corroboration=hostile, sourcing=hostile,
                              hits=(AlertHit("x", hostile, "title", hostile),)))
    wire = json.dumps(args)
    for raw in ("<!channel>", "<!here>", "<@U024BE7LH>", "<http://evil", "@everyone"):
        assert raw not in wire
    texts = [b["text"] for b in args["blocks"] if "text" in b]
    texts += [e for b in args["blocks"] for e in b.get("elements", ())]
    assert texts and all(t["verbatim"] is True and t["type"] == "mrkdwn" for t in texts)
    assert args["blocks"][0]["text"]["text"].startswith("*&lt;!channel&gt;")  # no link for javascript:


def test_limits_hold_for_huge_text():
    args = render_alert(alert(summary="word & " * 2000, title="T" * 5000))
    for block in args["blocks"]:
        if "text" in block:
            assert len(block["text"]["text"]) <= SECTION_TEXT_MAX
    assert len(args["blocks"]) <= 50
    assert not args["blocks"][1]["text"]["text"][:-1].endswith(("&", "&a", "&am", "&amp"))


def test_alert_without_places_names_the_words_that_matched_and_without_date_omits_time():
    args = render_alert(alert(published=None, hits=(AlertHit("drone", "drones", "text"),), grade="",
                              sourcing="", corroboration=""))
    assert args["blocks"][2]["text"]["text"] == "*Watch:* `place:Kupiansk` · *Matched:* drones"
    assert [e["text"] for e in args["blocks"][3]["elements"]] == ["*Source:* Example Wire"]


def test_followup_and_front_door():
    args = render_delivery("followup", {"text": "Now confirmed by 2 independent outlets",
                                        "title": "Depot hit <confirmed>", "url": "https://b.example/x",
                                        "outlet": "B"})
    assert args["text"] == ("Now confirmed by 2 independent outlets <https://b.example/x|Depot hit "
                            "&lt;confirmed&gt;> (B)")
    assert args == render_followup({"text": "Now confirmed by 2 independent outlets",
                                    "title": "Depot hit <confirmed>", "url": "https://b.example/x", "outlet": "B"})
    assert render_delivery("alert", alert().to_payload()) == render_alert(alert())
    with pytest.raises(ValueError):
        render_delivery("carrier-pigeon", {})


@pytest.mark.parametrize(
    "reply,user,text",
    [
        (Reply("is now watching `<!channel>` here", public=True, mention_caller=True), "U1",
         "<@U1> is now watching `&lt;!channel&gt;` here"),
        (Reply("feeds: a & b"), "U1", "feeds: a &amp; b"),
    ],
    ids=["mention-and-escaped-query", "ephemeral-no-mention"],
)
def test_reply_text(reply, user, text):
    assert reply_text(reply, user) == text
