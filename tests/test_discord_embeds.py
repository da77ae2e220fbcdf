"""Discord rendering, pure: escaping, word-boundary cuts, every embed limit, the 6,000 total, packing,
replies. The JSON as discord.py sends it is checked in test_discord_chat.py."""

from __future__ import annotations

import pytest

from bot.adapters import discord_embeds as de
from bot.core.commands import Reply
from bot.core.messages import Alert, AlertHit, AlertWatch


def alert(**changes) -> Alert:
    base = dict(alert_key="ww-abc", destination="discord:123456789012345678", title="Depot hit near Kupiansk",
                url="https://news.example/a", outlet="Wire", feed_id=1, entry_identity="e1", story_key="s1",
                published="2026-11-26T06:03:00+00:00", summary="An official said so.",
                watches=(AlertWatch(3, "place:Kupiansk"),),
                hits=(AlertHit("place:Kupiansk", "Kupiansk", "title", "Kupiansk"),),
                sourcing="relays one outlet; 3 anonymous sources", grade="weak",
                corroboration="not yet corroborated")
    base.update(changes)
    return Alert(**base)


@pytest.mark.parametrize(
    "raw,escaped",
    [
        ("@everyone look", "@\u200beveryone look"),
        ("@here", "@\u200bhere"),
        ("<@123456789012345678> and <@!123456789012345678>", "<@\u200b123456789012345678> and <@!\u200b123456789012345678>"),
        ("<@&223456789012345678>", "<@&\u200b223456789012345678>"),
        ("<#323456789012345678>", "<#\u200b323456789012345678>"),
        ("**bold** _it_ ~~s~~ ||spoiler|| `code`", r"\*\*bold\*\* \_it\_ \~\~s\~\~ \|\|spoiler\|\| \`code\`"),
        ("[click](https://evil.example)", r"\[click\](https://evil.example)"),
        ("# heading\n> quote\n- item", "\\# heading\n\\> quote\n\\- item"),
        ("a \\ b", "a \\\\ b"),
        ("Kupiansk: 3 drones", "Kupiansk: 3 drones"),
        ("e-mail me@example.org", "e-mail me@example.org"),
    ],
    ids=["everyone", "here", "user", "role", "channel", "markdown", "masked-link", "line-starts", "backslash",
         "plain", "at-in-address"],
)
def test_escape(raw, escaped):
    assert de.escape(raw) == escaped


@pytest.mark.parametrize(
    "text,limit,expected",
    [
        ("short", 10, "short"),
        ("hello world this is long", 12, "hello world…"),
        ("hello world, this is long", 14, "hello world…"),
        ("Supercalifragilistic", 8, "Superca…"),
        ("ab\\*cdef", 4, "ab…"),  # never end on the backslash of an escape
        ("ab\\\\cdef", 5, "ab\\\\…"),  # an escaped backslash is a whole pair: kept
    ],
    ids=["fits", "word-boundary", "drops-trailing-comma", "one-long-word", "no-dangling-escape", "escaped-backslash"],
)
def test_cut(text, limit, expected):
    assert de.cut(text, limit) == expected
    assert len(de.cut(text, limit)) <= limit


@pytest.mark.parametrize(
    "url,expected",
    [("https://a.example/x?y=1&z=2", "https://a.example/x?y=1&z=2"), ("javascript:alert(1)", None),
     ("http://a.example/a b\"c", "http://a.example/a%20b%22c"), ("", None), ("https://a/" + "x" * 3000, None)],
    ids=["https", "javascript", "spaces-quotes", "empty", "too-long"],
)
def test_link(url, expected):
    assert de.link(url) == expected


def test_alert_embed_has_every_part():
    embed = de.alert_embed(alert())
    assert embed["title"] == "Depot hit near Kupiansk" and embed["url"] == "https://news.example/a"
    assert embed["description"] == "An official said so."
    assert embed["timestamp"] == "2026-11-26T06:03:00+00:00"
    assert embed["color"] == de.GRADE_COLOURS["weak"]
    assert embed["footer"] == {"text": "wirewatch · ww-abc"}
    assert [(f["name"], f["value"]) for f in embed["fields"]] == [
        ("Outlet", "Wire"), ("Watch", "#3 place:Kupiansk"), ("Place", "Kupiansk"),
        ("Sourcing", "**weak**: relays one outlet; 3 anonymous sources"),
        ("Corroboration", "not yet corroborated")]


@pytest.mark.parametrize(
    "grade,colour",
    [("strong", 0x2E7D32), ("moderate", 0xF9A825), ("weak", 0xC62828), ("n/a", 0x607D8B), ("", de.UNGRADED_COLOUR)],
    ids=["strong", "moderate", "weak", "n/a", "ungraded"],
)
def test_colour_by_grade(grade, colour):
    assert de.alert_embed(alert(grade=grade))["color"] == colour


def test_every_limit_holds_for_an_absurd_alert():
    word = "Kupiansk "
    embed = de.alert_embed(alert(
        title=word * 100, summary=word * 1000, outlet=word * 200, sourcing=word * 300, corroboration=word * 300,
        watches=tuple(AlertWatch(i, word * 30) for i in range(40)),
        hits=tuple(AlertHit("t", f"place {i}", "title", word * 5 + str(i)) for i in range(40))))
    assert len(embed["title"]) <= de.TITLE_MAX and embed["title"].endswith("Kupiansk…")
    assert len(embed.get("description", "")) <= de.DESCRIPTION_MAX
    assert len(embed["fields"]) <= de.FIELDS_MAX
    assert all(len(f["name"]) <= de.FIELD_NAME_MAX and len(f["value"]) <= de.FIELD_VALUE_MAX for f in embed["fields"])
    assert de.embed_length(embed) <= de.MESSAGE_EMBEDS_TOTAL_MAX
    assert embed["footer"]["text"] == "wirewatch · ww-abc"  # the key survives every cut


def test_embed_length_counts_what_discord_counts():
    import discord

    embed = de.alert_embed(alert())
    assert de.embed_length(embed) == len(discord.Embed.from_dict(embed))


def test_a_non_http_link_is_dropped_and_no_published_time_means_no_timestamp():
    embed = de.alert_embed(alert(url="javascript:alert(1)", published=None, summary=""))
    assert "url" not in embed and "timestamp" not in embed and "description" not in embed


def test_followup_embed_and_render_delivery():
    message = de.render_delivery("followup", {"parent_key": "ww-abc", "text": "Now 2 independent outlets",
                                              "title": "Confirmed @everyone", "url": "https://o.example/b",
                                              "outlet": "Other"})
    [embed] = message["embeds"]
    assert "content" not in message
    assert embed["title"] == "Confirmed @\u200beveryone" and embed["url"] == "https://o.example/b"
    assert embed["fields"] == [{"name": "Outlet", "value": "Other", "inline": True}]
    with pytest.raises(ValueError, match="carrier-pigeon"):
        de.render_delivery("carrier-pigeon", {})


def test_pack_embeds_greedily_within_ten_and_six_thousand():
    embeds = [{"description": "x" * 925} for _ in range(14)]
    messages = de.pack_embeds(embeds)
    assert [len(m) for m in messages] == [6, 6, 2]
    small = de.pack_embeds([{"title": "t"}] * 23)
    assert [len(m) for m in small] == [10, 10, 3]


@pytest.mark.parametrize(
    "reply,user,expected",
    [
        (Reply("is now watching `x` here (watch 1)", mention_caller=True), "42",
         "<@42> is now watching `x` here (watch 1)"),
        (Reply("no watches @everyone <@1234567890123456789>"), "42", "no watches @\u200beveryone <@\u200b1234567890123456789>"),
        (Reply("feeds:\n• 1 `a`"), "", "feeds:\n• 1 `a`"),
    ],
    ids=["mention-caller", "mentions-inert", "backticks-kept"],
)
def test_reply_content(reply, user, expected):
    assert de.reply_content(reply, user) == expected


def test_a_long_reply_is_cut_at_a_line_end():
    text = de.reply_content(Reply("\n".join(f"• feed {i} https://example.org/{'x' * 40}" for i in range(200))))
    assert len(text) <= de.CONTENT_MAX and text.endswith("more lines")


def test_thread_name():
    assert de.thread_name({"parent_title": "Depot hit " * 20}).startswith("Follow-ups: Depot hit")
    assert len(de.thread_name({"parent_title": "Depot hit " * 20})) <= de.THREAD_NAME_MAX
    assert de.thread_name({}) == "wirewatch follow-ups"
