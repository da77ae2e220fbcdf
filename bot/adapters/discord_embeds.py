"""Discord rendering: alerts, follow-ups and command replies as the JSON Discord's REST API takes
(``embeds``: a list of embed objects). Pure functions of the outbox payload, shared by the bot sender
(``discord_chat``, which turns them into ``discord.Embed``) and by Discord webhooks (``webhooks``, which
posts them as they are); the composition root passes them in, since adapters never import one another.

Rules, and why:
- *Untrusted text stays in embeds.* Mentions inside an embed never notify anyone, whatever
  ``allowed_mentions`` says, and no feed text is ever put in ``content``. ``allowed_mentions`` is still
  empty on every send (the sender's and the webhook's job): belt and braces.
- *Text is escaped before it is cut.* Markdown characters (``* _ ~ | `` ``), masked-link brackets and
  line-leading ``#``/``>`` are backslash-escaped so a headline cannot fake a link or a heading; ``@``
  before ``everyone``/``here`` and in ``<@…>`` forms gets a zero-width space, so the text is safe to
  copy elsewhere too. Then each field is cut to its limit on a word boundary (never after a lone
  backslash), and the whole embed to the 6,000-character message total.
- *Limits are named here*: discord.py validates none of them, and Discord answers an oversized payload
  with 400 "Invalid Form Body", which would dead-letter the alert.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping
from urllib.parse import quote

from bot.core import digests
from bot.core.commands import Reply
from bot.core.digests import Digest
from bot.core.messages import Alert

TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FIELDS_MAX = 25
FOOTER_MAX = 2048
AUTHOR_MAX = 256
EMBEDS_MAX = 10  # embeds in one message
MESSAGE_EMBEDS_TOTAL_MAX = 6000  # all embeds of one message together
CONTENT_MAX = 2000  # message ``content``
THREAD_NAME_MAX = 100
URL_MAX = 2048

#: Embed colour by sourcing grade (``core.sourcing.GRADES``): read at a glance, before the words.
GRADE_COLOURS = {
    "strong": 0x2E7D32,  # green
    "moderate": 0xF9A825,  # amber
    "weak": 0xC62828,  # red
    "n/a": 0x607D8B,  # grey: opinion, analysis; the grade does not apply
}
UNGRADED_COLOUR = 0x546E7A
FOLLOWUP_COLOUR = 0x1565C0
FOOTER_PREFIX = "wirewatch · "  # the footer carries the alert key: the sender finds a posted alert by it
DIGEST_COLOUR = 0x37474F
DIGEST_TITLE_MAX = 200  # a story title in a digest line (the link carries the rest)
#: Characters of each digest message kept free for the sender, which appends the part's outbox key to
#: the last embed's footer (``digest:YYYY-MM-DD#N`` and a separator: well under this).
DIGEST_KEY_RESERVE = 80
DIGEST_FOOTER_MAX = 48  # "wirewatch · daily digest, part 12 of 12": the renderer's own footer

_MARKDOWN = re.compile(r"([\\*_~|`\[\]])")
_LINE_START = re.compile(r"^(\s*)([#>-])", re.MULTILINE)
_MENTION = re.compile(r"@(everyone|here)\b|<(@[!&]?|#)(?=\d)", re.IGNORECASE)


def escape(text: str) -> str:
    """Make feed text literal in Discord markdown and inert as a mention (see the module docstring)."""
    text = _MARKDOWN.sub(r"\\\1", text or "")
    text = _LINE_START.sub(r"\1\\\2", text)
    return _MENTION.sub(lambda m: f"@\u200b{m.group(1)}" if m.group(1) else f"<{m.group(2)}\u200b", text)


def cut(text: str, limit: int) -> str:
    """Shorten to ``limit`` characters on a word boundary, marked with "…". An escaping backslash is
    never left dangling at the end (it would escape the ellipsis)."""
    text = text or ""
    if len(text) <= limit:
        return text
    head = text[: max(limit - 1, 0)]
    if not text[len(head)].isspace() and " " in head[len(head) // 2:]:  # end on a word, if one is near
        head = head.rsplit(" ", 1)[0]
    head = head.rstrip(" ,;:")
    while head.endswith("\\") and (len(head) - len(head.rstrip("\\"))) % 2 == 1:
        head = head[:-1]
    return head + "…"


def link(url: str) -> str | None:
    """A URL fit for an embed's ``url``: http(s) only (no ``javascript:``), spaces and quotes encoded."""
    url = (url or "").strip()
    if not url.lower().startswith(("http://", "https://")):
        return None
    url = quote(url, safe="%/:=?#[]@!$&'()*+,;~-._")
    return url if len(url) <= URL_MAX else None


def embed_length(embed: Mapping[str, Any]) -> int:
    """What Discord counts toward the 6,000 total: title, description, field names and values, footer
    text and author name (the same sum as ``discord.Embed.__len__``)."""
    total = len(embed.get("title") or "") + len(embed.get("description") or "")
    for f in embed.get("fields") or ():
        total += len(f.get("name") or "") + len(f.get("value") or "")
    total += len((embed.get("footer") or {}).get("text") or "")
    total += len((embed.get("author") or {}).get("name") or "")
    return total


def _field(name: str, value: str, inline: bool = True) -> dict[str, Any]:
    return {"name": cut(name, FIELD_NAME_MAX), "value": cut(value, FIELD_VALUE_MAX), "inline": inline}


def _fit(embed: dict[str, Any]) -> dict[str, Any]:
    """Keep one embed within the message total: shorten the description first (the link carries the
    rest), then drop fields from the end."""
    over = embed_length(embed) - MESSAGE_EMBEDS_TOTAL_MAX
    if over > 0 and embed.get("description"):
        keep = max(len(embed["description"]) - over, 0)
        embed["description"] = cut(embed["description"], keep) if keep > 1 else ""
        if not embed["description"]:
            del embed["description"]
    while embed_length(embed) > MESSAGE_EMBEDS_TOTAL_MAX and embed.get("fields"):
        embed["fields"].pop()
    return embed


def alert_embed(alert: Alert) -> dict[str, Any]:
    """One alert as one embed: the linked title, the summary, fields for outlet, watch, place,
    sourcing and corroboration, the published time, and the alert key in the footer."""
    embed: dict[str, Any] = {"type": "rich", "title": cut(escape(alert.title), TITLE_MAX)}
    target = link(alert.url)
    if target:
        embed["url"] = target
    if alert.summary:
        embed["description"] = cut(escape(alert.summary), DESCRIPTION_MAX)
    embed["color"] = GRADE_COLOURS.get(alert.grade, UNGRADED_COLOUR)
    fields = [_field("Outlet", escape(alert.outlet) or "unknown")]
    if alert.watches:
        fields.append(_field("Watch", ", ".join(f"#{w.id} {escape(w.query)}" for w in alert.watches)))
    if alert.places:
        fields.append(_field("Place", ", ".join(escape(p) for p in alert.places)))
    elif alert.matched_terms:
        fields.append(_field("Matched", ", ".join(escape(t) for t in alert.matched_terms[:8])))
    if alert.sourcing or alert.grade:
        grade = f"**{escape(alert.grade)}**: " if alert.grade else ""
        fields.append(_field("Sourcing", grade + escape(alert.sourcing), inline=False))
    if alert.corroboration:
        fields.append(_field("Corroboration", escape(alert.corroboration), inline=False))
    embed["fields"] = fields[:FIELDS_MAX]
    published = alert.published_at
    if published is not None:
        embed["timestamp"] = published.astimezone(timezone.utc).isoformat()
    embed["footer"] = {"text": cut(FOOTER_PREFIX + alert.alert_key, FOOTER_MAX)}
    return _fit(embed)


def followup_embed(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A follow-up (a corroborating or disputing report) as one embed: what happened in the
    description, the new report's title linked, its outlet as a field."""
    text = str(payload.get("text") or payload.get("corroboration") or "Update on this story")
    embed: dict[str, Any] = {"type": "rich", "description": cut(escape(text), DESCRIPTION_MAX),
                             "color": FOLLOWUP_COLOUR}
    if payload.get("title"):
        embed["title"] = cut(escape(str(payload["title"])), TITLE_MAX)
        target = link(str(payload.get("url") or ""))
        if target:
            embed["url"] = target
    if payload.get("outlet"):
        embed["fields"] = [_field("Outlet", escape(str(payload["outlet"])))]
    key = payload.get("followup_key") or payload.get("parent_key")
    if key:
        embed["footer"] = {"text": cut(FOOTER_PREFIX + str(key), FOOTER_MAX)}
    return _fit(embed)


def render_delivery(kind: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """The one front door: an outbox row's kind and payload -> message JSON (``{"embeds": [...]}``,
    no ``content``). Channel, nonce, thread and ``allowed_mentions`` are the sender's. Unknown kinds
    raise ``ValueError`` (the sender dead-letters them)."""
    if kind == "alert":
        return {"embeds": [alert_embed(Alert.from_payload(payload))]}
    if kind == "followup":
        return {"embeds": [followup_embed(payload)]}
    if kind == "digest":
        return render_digest(Digest.from_payload(payload))
    raise ValueError(f"Discord cannot render a {kind!r} delivery yet")


def render_webhook_delivery(kind: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """For a Discord webhook: alerts and follow-ups as for the bot; a digest as one message with a
    text sparkline per group (see ``render_digest_single``)."""
    if kind == "digest":
        return render_digest_single(Digest.from_payload(payload))
    return render_delivery(kind, payload)


# ---- digests ------------------------------------------------------------------------------------------


def chart_filename(digest: Digest) -> str:
    """The chart attachment's name; the intro embed shows it with ``attachment://`` + this name."""
    return f"wirewatch-digest-{digest.local_date}.png"


def _masked_target(url: str) -> str | None:
    """A URL fit for ``[label](url)`` in a description: ``link`` plus parentheses encoded, since a
    ``)`` would end the link early (and leave the rest of the URL as text a reader could be fooled by)."""
    target = link(url)
    return target.replace("(", "%28").replace(")", "%29") if target else None


def _story_line(story: digests.DigestStory) -> str:
    """One story, one item: the linked title, then its facts and Discord's ``<t:UNIX:t>`` (the time in
    each reader's zone). An item is never split across embeds or messages, so a link is never cut."""
    title = cut(escape(story.title), DIGEST_TITLE_MAX)
    target = _masked_target(story.url)
    head = f"• **[{title}]({target})**" if target else f"• **{title}**"
    seen = int(story.first_seen_at.timestamp())
    return f"{head}\n  {escape(digests.story_facts(story))} · first seen <t:{seen}:t>"


def _code(text: str) -> str:
    """Inline code for a command to copy; a backtick inside would end the span, so it is replaced."""
    return "`" + text.replace("`", "\u02cb") + "`"


def _group_embeds(group: digests.DigestGroup, *, top: int | None = None, spark: bool = False) -> list[dict[str, Any]]:
    """A group as one embed (more when its stories need more than one description): the heading with
    the count and its change as the title, the top stories, "… and N more" with the command. Coloured
    by the best sourcing grade shown."""
    stories = group.stories if top is None else group.stories[:max(top, 0)]
    more = group.more + len(group.stories) - len(stories)
    lines = []
    if spark:
        lines.append(f"`{digests.sparkline(group.hourly)}` stories per hour, last 24 h")
    lines += [_story_line(s) for s in stories]
    if more:
        lines.append(f"… and {more} more: {_code(group.more_command)}")
    graded = [s.grade for s in stories if s.grade]
    colour = GRADE_COLOURS.get(min(graded, key=digests.grade_rank), DIGEST_COLOUR) if graded else DIGEST_COLOUR
    chunks = digests.pack(lines, DESCRIPTION_MAX) or [""]
    title = cut(escape(group.heading), TITLE_MAX)
    embeds = []
    for n, chunk in enumerate(chunks):
        embed: dict[str, Any] = {"type": "rich", "title": title if n == 0 else cut(f"{title} (continued)", TITLE_MAX),
                                 "color": colour}
        if chunk:
            embed["description"] = chunk
        embeds.append(embed)
    return embeds


def _intro_embed(digest: Digest, *, image: str | None) -> dict[str, Any]:
    lines = []
    if digest.late:
        lines.append("\u26a0\ufe0f " + escape(digests.late_note(digest)))
    lines.append(escape(digests.window_line(digest)))
    embed: dict[str, Any] = {"type": "rich", "title": cut(escape(digests.headline(digest)), TITLE_MAX),
                             "description": cut("\n".join(lines), DESCRIPTION_MAX), "color": DIGEST_COLOUR,
                             "timestamp": datetime.fromisoformat(digest.window_end).astimezone(timezone.utc).isoformat()}
    if image:
        embed["image"] = {"url": f"attachment://{image}"}
    return embed


def _footers(messages: list[list[Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """Messages as JSON, the last embed of each with a footer saying which part it is (the sender
    appends the part's key to it: how a retry finds the parts already posted)."""
    out = []
    for n, embeds in enumerate(messages, 1):
        embeds = [dict(e) for e in embeds]
        part = f", part {n} of {len(messages)}" if len(messages) > 1 else ""
        embeds[-1]["footer"] = {"text": f"{FOOTER_PREFIX}daily digest{part}"}
        out.append({"embeds": embeds})
    return out


def render_digest(digest: Digest) -> dict[str, Any]:
    """A digest for the bot: ``{"messages": [{"embeds": [...]}, ...], "chart": {"filename",
    "description"}}``, in order.

    Layout: an intro embed (headline, late note, window; the chart as its image, attached by the
    sender to the first message), then per group one embed (see ``_group_embeds``). Embeds are packed
    greedily into messages of at most 10 embeds and 6,000 characters less ``DIGEST_KEY_RESERVE`` (the
    sender's key in the footer); a story line is never split, so no link is ever cut."""
    image = chart_filename(digest)
    embeds = [_intro_embed(digest, image=image)]
    for group in digest.groups:
        embeds += _group_embeds(group)
    messages = _footers(pack_embeds(embeds, budget=MESSAGE_EMBEDS_TOTAL_MAX - DIGEST_KEY_RESERVE - DIGEST_FOOTER_MAX))
    labels = ", ".join(g.label for g in digest.groups[:6]) or "no stories"
    chart = {"filename": image,
             "description": cut(f"Stories first seen per hour over the last 24 hours: {labels}", 1000)}
    return {"messages": messages, "chart": chart}


def render_digest_single(digest: Digest) -> dict[str, Any]:
    """A digest as ONE message, for a Discord webhook, with a text sparkline per group (a webhook
    posts JSON here, no attachment).

    Why one: Execute Webhook has no nonce and a webhook cannot read the channel, so a digest in several
    messages, retried after its second part failed, would repeat its first part. Instead it is shortened
    until it fits: fewer stories per group (5, 3, 1, none: "… and N more" says how many and the command
    lists them), and beyond 8 groups the rest are named in one last embed."""
    shown_groups = list(digest.groups)
    rest: list[digests.DigestGroup] = []
    if len(shown_groups) > EMBEDS_MAX - 1:
        shown_groups, rest = shown_groups[:EMBEDS_MAX - 2], shown_groups[EMBEDS_MAX - 2:]
    tail = []
    if rest:
        names = ", ".join(f"{escape(g.label)} ({g.count})" for g in rest)
        tail = [{"type": "rich", "title": f"{len(rest)} more groups", "color": DIGEST_COLOUR,
                 "description": cut(names, DESCRIPTION_MAX)}]
    widest = max((len(g.stories) for g in shown_groups), default=0)
    for top in dict.fromkeys((widest, 3, 1, 0)):
        embeds = [_intro_embed(digest, image=None)]
        for group in shown_groups:
            embeds += _group_embeds(group, top=top, spark=True)
        embeds += tail
        packed = pack_embeds(embeds, budget=MESSAGE_EMBEDS_TOTAL_MAX - DIGEST_FOOTER_MAX)
        if len(packed) == 1:
            break
    return _footers(packed[:1])[0]


def thread_name(payload: Mapping[str, Any]) -> str:
    """The name of the thread follow-ups go in: the story's title when the payload has it."""
    title = str(payload.get("parent_title") or payload.get("story_title") or "").strip()
    return cut(f"Follow-ups: {title}" if title else "wirewatch follow-ups", THREAD_NAME_MAX)


def pack_embeds(embeds: Iterable[Mapping[str, Any]], *,
                budget: int = MESSAGE_EMBEDS_TOTAL_MAX) -> list[list[Mapping[str, Any]]]:
    """Split embeds into messages greedily, in order: at most 10 per message and ``budget`` (6,000)
    characters together (a digest of many stories becomes a few messages, never a refused one)."""
    messages: list[list[Mapping[str, Any]]] = []
    current: list[Mapping[str, Any]] = []
    size = 0
    for embed in embeds:
        n = embed_length(embed)
        if current and (len(current) == EMBEDS_MAX or size + n > budget):
            messages.append(current)
            current, size = [], 0
        current.append(embed)
        size += n
    if current:
        messages.append(current)
    return messages


def reply_content(reply: Reply, user_id: str = "") -> str:
    """A command reply as message content: mentions in it made inert (it may echo a feed title or a
    query), the caller's mention in front when the reply asks for it (it renders as a name and, with
    ``allowed_mentions`` empty, pings no one), cut to 2,000 characters at a line end."""
    text = _MENTION.sub(lambda m: f"@\u200b{m.group(1)}" if m.group(1) else f"<{m.group(2)}\u200b",
                        reply.text)
    if reply.mention_caller and user_id.isdigit():
        text = f"<@{user_id}> {text}"
    if len(text) <= CONTENT_MAX:
        return text
    lines, size = [], 0
    for line in text.split("\n"):
        if size + len(line) + 1 > CONTENT_MAX - 40:
            break
        lines.append(line)
        size += len(line) + 1
    more = text.count("\n") + 1 - len(lines)
    return "\n".join(lines) + f"\n… and {more} more lines"

