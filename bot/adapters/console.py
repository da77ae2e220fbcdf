"""The terminal notifier: alerts printed for people (the demo, and trying wirewatch without chat tokens).

A terminal cannot be asked what it already shows, so an alert whose earlier attempt may have gone
through (``outcome_unknown``) is printed again, marked as a possible repeat. Destinations that must never
repeat are the other notifiers.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone, tzinfo
from typing import TextIO

from bot.core.digests import Digest, render_text
from bot.core.messages import Alert
from bot.core.models import Delivery, SendResult


def format_time(when: datetime | None, tz: tzinfo | None) -> str:
    """A time in the reader's zone (the machine's when ``tz`` is None), with UTC beside it."""
    if when is None:
        return "undated"
    local = when.astimezone(tz)
    text = local.strftime("%Y-%m-%d %H:%M %Z").strip()
    if local.utcoffset():
        text += when.astimezone(timezone.utc).strftime(" (%H:%M UTC)")
    return text


def render_alert(alert: Alert, tz: tzinfo | None = None) -> str:
    lines = [f"● {alert.title}", f"  {alert.outlet} · {format_time(alert.published_at, tz)}"]
    if alert.url:
        lines.append(f"  {alert.url}")
    for w in alert.watches:
        lines.append(f"  watch #{w.id}: {w.query}")
    if alert.hits:
        hits = ", ".join(
            f"{h.matched_text!r}" + (f" → {h.place}" if h.place else "") + f" in {h.field}" for h in alert.hits[:6]
        )
        lines.append(f"  matched {hits}")
    if alert.sourcing or alert.corroboration:
        lines.append("  " + " · ".join(p for p in (alert.sourcing, alert.corroboration) if p))
    return "\n".join(lines)


def render_followup(payload) -> str:
    """A follow-up under the alert it updates (a terminal has no threads: it says which story)."""
    lines = [f"  ↳ {payload.get('text') or 'Update on this story'}"]
    if payload.get("title"):
        outlet = f" ({payload['outlet']})" if payload.get("outlet") else ""
        lines.append(f"    {payload['title']}{outlet}")
    if payload.get("url"):
        lines.append(f"    {payload['url']}")
    return "\n".join(lines)


class ConsoleNotifier:
    def __init__(self, stream: TextIO | None = None, tz: tzinfo | None = None):
        self.stream = stream
        self.tz = tz

    async def send(self, delivery: Delivery) -> SendResult:
        stream = self.stream or sys.stdout
        if delivery.kind == "alert":
            text = render_alert(Alert.from_payload(delivery.payload), self.tz)
        elif delivery.kind == "digest":  # no upload on a terminal: a sparkline per group instead of a chart
            text = render_text(Digest.from_payload(delivery.payload))
        elif delivery.kind == "followup":
            text = render_followup(delivery.payload)
        else:
            text = str(delivery.payload.get("text", delivery.payload))
        if delivery.outcome_unknown:
            text += "\n  (may repeat an alert printed before a restart)"
        stream.write(text + "\n\n")
        stream.flush()
        return SendResult.sent()
