"""Block Kit rendering for Slack: alerts, follow-ups and command replies, as the JSON ``chat.postMessage``
takes. Pure functions of the outbox payload; the sending is in ``slack_chat``.

Safety rule, and why: every string that came from a feed (title, summary, outlet, matched words) is
escaped with ``escape`` before it is placed in mrkdwn, and every mrkdwn text object carries
``verbatim: true``. Slack's control characters are exactly ``&``, ``<`` and ``>``, and every mention or
link form is a ``<…>`` sequence (``<!channel>``, ``<@U…>``, ``<http://x|label>``), so escaping those three
makes a title such as ``<!channel> breaking`` literal text that pings no one. We never send
``link_names`` or ``parse=full`` (with those a bare ``@here`` would ping), and as belt and braces a
zero-width space follows the ``@`` of ``@here``, ``@channel`` and ``@everyone``.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone, tzinfo
from typing import Any, Mapping
from urllib.parse import quote

from bot.core import digests
from bot.core.commands import Reply
from bot.core.digests import Digest
from bot.core.messages import Alert

SECTION_TEXT_MAX = 3000  # characters in a section's text object
CONTEXT_ELEMENTS_MAX = 10  # elements in one context block
BLOCKS_MAX = 50  # blocks in one message
FALLBACK_TEXT_MAX = 3000  # the top-level ``text``: notifications and screen readers read it
TITLE_MAX = 300  # a headline longer than this is cut: the link carries the rest
HEADER_TEXT_MAX = 150  # a header block's plain_text
DIGEST_TITLE_MAX = 200  # a story title in a digest line (the link carries the rest)

_BROADCAST = re.compile(r"@(here|channel|everyone)\b", re.IGNORECASE)
_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,4}$")


def escape(text: str) -> str:
    """Escape Slack's three control characters (``&`` first) and defuse broadcast words. Nothing else
    is HTML-encoded: Slack shows ``&quot;`` literally."""
    text = (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BROADCAST.sub(lambda m: "@\u200b" + m.group(1), text)


def cut(escaped: str, limit: int) -> str:
    """Shorten already escaped text to ``limit`` characters without splitting an ``&amp;`` entity."""
    if len(escaped) <= limit:
        return escaped
    head = _PARTIAL_ENTITY.sub("", escaped[: limit - 1])
    return head + "…"


def link_target(url: str) -> str | None:
    """A URL fit for ``<url|label>``: http(s) only (no ``javascript:``, no ``slack://``), with the
    characters that would end the link (``|``, ``<``, ``>``), quotes and spaces percent-encoded and
    ``&`` written as ``&amp;``."""
    url = (url or "").strip()
    if not url.lower().startswith(("http://", "https://")):
        return None
    url = quote(url, safe="%/:=?#[]@!$&'()*+,;~-._")
    return url.replace("&", "&amp;")


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _time_line(published: datetime | None, tz: tzinfo | None) -> str:
    """``<!date^…>`` renders in each reader's own zone; the fallback and the explicit part say UTC and
    the channel's zone, so the time is unambiguous in notifications and exports too."""
    if published is None:
        return ""
    utc = published.astimezone(timezone.utc)
    utc_text = utc.strftime("%Y-%m-%d %H:%M UTC")
    local = ""
    if tz is not None:
        there = utc.astimezone(tz)
        if there.utcoffset() != utc.utcoffset():
            local = f"{there.strftime('%H:%M')} {there.tzname()} · "
    stamp = int(utc.timestamp())
    return f"<!date^{stamp}^{{date_short_pretty}} {{time}}|{utc_text}> ({local}{utc_text})"


def render_alert(alert: Alert, *, tz: tzinfo | None = None) -> dict[str, Any]:
    """The ``chat.postMessage`` arguments (without channel) for one alert."""
    title = cut(escape(alert.title), TITLE_MAX)
    target = link_target(alert.url)
    headline = f"*<{target}|{title}>*" if target else f"*{title}*"
    blocks: list[dict[str, Any]] = [{"type": "section", "text": mrkdwn(headline)}]
    if alert.summary:
        blocks.append({"type": "section", "text": mrkdwn(cut(escape(alert.summary), SECTION_TEXT_MAX))})

    matched: list[str] = []
    if alert.watches:
        matched.append("*Watch:* " + ", ".join(f"`{escape(w.query)}`" for w in alert.watches))
    if alert.places:
        matched.append("*Place:* " + ", ".join(escape(p) for p in alert.places))
    elif alert.matched_terms:
        matched.append("*Matched:* " + ", ".join(escape(t) for t in alert.matched_terms[:8]))
    if matched:
        blocks.append({"type": "section", "text": mrkdwn(cut(" · ".join(matched), SECTION_TEXT_MAX))})

    context = [mrkdwn(f"*Source:* {escape(alert.outlet)}")]
    when = _time_line(alert.published_at, tz)
    if when:
        context.append(mrkdwn(when))
    if alert.sourcing or alert.grade:
        grade = f"*{escape(alert.grade)}*: " if alert.grade else ""
        context.append(mrkdwn(cut(grade + escape(alert.sourcing), SECTION_TEXT_MAX)))
    if alert.corroboration:
        context.append(mrkdwn(cut(escape(alert.corroboration), SECTION_TEXT_MAX)))
    blocks.append({"type": "context", "elements": context[:CONTEXT_ELEMENTS_MAX]})

    fallback = f"{escape(alert.title)} ({escape(alert.outlet)})"
    return {
        "text": cut(fallback, FALLBACK_TEXT_MAX),
        "blocks": blocks[:BLOCKS_MAX],
        "unfurl_links": False,
        "unfurl_media": False,
    }


def render_followup(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A follow-up (a corroborating or disputing outlet) as a thread reply. The payload's ``text`` is
    what the core says happened; ``title``/``url``/``outlet`` name the new report when present."""
    parts = [escape(str(payload.get("text") or payload.get("corroboration") or "Update on this story"))]
    title = payload.get("title")
    if title:
        target = link_target(str(payload.get("url") or ""))
        label = cut(escape(str(title)), TITLE_MAX)
        parts.append(f"<{target}|{label}>" if target else label)
    if payload.get("outlet"):
        parts.append(f"({escape(str(payload['outlet']))})")
    text = cut(" ".join(parts), SECTION_TEXT_MAX)
    return {
        "text": text,
        "blocks": [{"type": "section", "text": mrkdwn(text)}],
        "unfurl_links": False,
        "unfurl_media": False,
    }


def _digest_story_line(story: digests.DigestStory, zone: tzinfo) -> str:
    """One story, one item: ``• *<url|title>*`` and its facts on the next line. An item is never split
    across sections or messages, so a link is never cut in half."""
    title = cut(escape(story.title), DIGEST_TITLE_MAX)
    target = link_target(story.url)
    head = f"• *<{target}|{title}>*" if target else f"• *{title}*"
    if len(head) > SECTION_TEXT_MAX - 200:  # an absurd URL: keep the title, drop the link
        head = f"• *{title}*"
    seen = story.first_seen_at
    stamp = f"<!date^{int(seen.timestamp())}^{{time}}|{seen.astimezone(zone).strftime('%H:%M %Z')}>"
    return f"{head}\n      {escape(digests.story_facts(story))} · first seen {stamp}"


def render_digest(digest: Digest) -> dict[str, Any]:
    """A digest as one or more ``chat.postMessage`` argument sets, in order, plus what the chart upload
    says: ``{"messages": [...], "chart": {"title", "alt_txt"}}``.

    Layout: a header, the window (and a late note), then per group a divider, a bold heading with the
    count and its change, the top stories (packed into sections of at most ``SECTION_TEXT_MAX``
    characters, never splitting a story) and "… and N more" with the command. Blocks are split into
    messages of at most ``BLOCKS_MAX``, a group's heading never left alone at the end of a message."""
    zone = digest.zoneinfo
    intro: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": cut(digests.headline(digest), HEADER_TEXT_MAX),
                                    "emoji": False}},
    ]
    if digest.late:
        intro.append({"type": "section", "text": mrkdwn(":warning: " + escape(digests.late_note(digest)))})
    intro.append({"type": "context", "elements": [mrkdwn(escape(digests.window_line(digest)))]})

    groups: list[list[dict[str, Any]]] = []
    for g in digest.groups:
        noun = "story" if g.count == 1 else "stories"
        blocks = [{"type": "divider"},
                  {"type": "section", "text": mrkdwn(cut(f"*{escape(g.label)}* · {g.count} {noun}, {g.change}",
                                                         SECTION_TEXT_MAX))}]
        lines = [_digest_story_line(s, zone) for s in g.stories]
        blocks += [{"type": "section", "text": mrkdwn(text)} for text in digests.pack(lines, SECTION_TEXT_MAX)]
        if g.more:
            blocks.append({"type": "context", "elements": [
                mrkdwn(f"… and {g.more} more: `{escape(g.more_command)}`")]})
        groups.append(blocks)

    messages: list[list[dict[str, Any]]] = [list(intro)]
    for blocks in groups:
        if len(messages[-1]) + len(blocks) > BLOCKS_MAX:
            messages.append([])
        while len(blocks) > BLOCKS_MAX:  # a group bigger than a message (a very large top N)
            messages[-1].extend(blocks[:BLOCKS_MAX])
            blocks = blocks[BLOCKS_MAX:]
            messages.append([])
        messages[-1].extend(blocks)
    messages = [m for m in messages if m]

    fallback = escape(f"{digests.headline(digest)}: {digests.window_line(digest)}")
    rendered = []
    for n, blocks in enumerate(messages, 1):
        part = f" (part {n} of {len(messages)})" if len(messages) > 1 else ""
        rendered.append({"text": cut(fallback + part, FALLBACK_TEXT_MAX), "blocks": blocks,
                         "unfurl_links": False, "unfurl_media": False})
    groups_text = ", ".join(g.label for g in digest.groups[:6]) or "no stories"
    chart = {"title": f"Stories per hour, last 24 h ({digest.local_date})",
             "alt_txt": cut(f"Line chart of stories first seen per hour over the last 24 hours: {groups_text}", 1000)}
    return {"messages": rendered, "chart": chart}


def render_delivery(kind: str, payload: Mapping[str, Any], *, tz: tzinfo | None = None) -> dict[str, Any]:
    """The one front door: an outbox row's kind and payload -> ``chat.postMessage`` arguments (no
    channel, no thread, no metadata: those are the sender's). A digest is several messages and a chart:
    ``{"messages": [...], "chart": {...}}`` (see ``render_digest``). Unknown kinds raise ``ValueError``."""
    if kind == "alert":
        return render_alert(Alert.from_payload(payload), tz=tz)
    if kind == "followup":
        return render_followup(payload)
    if kind == "digest":
        return render_digest(Digest.from_payload(payload))
    raise ValueError(f"Slack cannot render a {kind!r} delivery yet")


def render_webhook_delivery(kind: str, payload: Mapping[str, Any], *, tz: tzinfo | None = None) -> dict[str, Any]:
    """For a Slack incoming webhook: one message per row and no file upload, so a digest is its text
    with a sparkline per group (escaped; within the text limit, cut on a whole line)."""
    if kind != "digest":
        return render_delivery(kind, payload, tz=tz)
    lines = escape(digests.render_text(Digest.from_payload(payload))).splitlines()
    text = digests.pack(lines, FALLBACK_TEXT_MAX * 10)[0] if lines else ""
    return {"text": text, "unfurl_links": False, "unfurl_media": False}


def reply_text(reply: Reply, user_id: str = "") -> str:
    """A command reply as mrkdwn: the platform-neutral text escaped (it may echo a feed title or a
    query), and the caller's mention (``<@U…>``) put in front when the reply asks for it."""
    text = escape(reply.text)
    if reply.mention_caller and user_id:
        text = f"<@{user_id}> {text}"
    return text
