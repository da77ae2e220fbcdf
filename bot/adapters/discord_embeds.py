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
from datetime import timezone
from typing import Any, Iterable, Mapping
from urllib.parse import quote

from bot.core.commands import Reply
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
    raise ValueError(f"Discord cannot render a {kind!r} delivery yet")


def thread_name(payload: Mapping[str, Any]) -> str:
    """The name of the thread follow-ups go in: the story's title when the payload has it."""
    title = str(payload.get("parent_title") or payload.get("story_title") or "").strip()
    return cut(f"Follow-ups: {title}" if title else "wirewatch follow-ups", THREAD_NAME_MAX)


def pack_embeds(embeds: Iterable[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    """Split embeds into messages greedily, in order: at most 10 per message and 6,000 characters
    together (a digest of many stories becomes a few messages, never a refused one)."""
    messages: list[list[Mapping[str, Any]]] = []
    current: list[Mapping[str, Any]] = []
    size = 0
    for embed in embeds:
        n = embed_length(embed)
        if current and (len(current) == EMBEDS_MAX or size + n > MESSAGE_EMBEDS_TOTAL_MAX):
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

