"""Alerts without a bot: Discord webhooks, Slack incoming webhooks and signed generic JSON webhooks
(destinations ``discord-webhook:NAME``, ``slack-webhook:NAME``, ``webhook:NAME``; the URL behind NAME is
the setting ``WIREWATCH_WEBHOOK_<NAME>``, never a tracked file).

A webhook URL is a bearer secret: it is never logged; log lines name the destination. Each kind is one
HTTP POST with aiohttp, so there is no SDK between us and what crosses the wire:

- *Discord*: the message JSON from ``discord_embeds`` (passed in by the composition root) plus
  ``allowed_mentions: {"parse": []}`` sent explicitly, because a webhook has no client default and
  Discord's own default parses every mention; posted with ``?wait=true`` so the answer carries the
  message id. Execute Webhook has no ``nonce``: an ambiguous outcome (timeout, reset) may post twice
  when retried, the price of alert-only mode (the bot destination ``discord:`` does not have it). For
  the same reason a digest is one message (``discord_embeds.render_webhook_delivery``: shortened to
  fit, a sparkline per group instead of the chart), never parts that a retry could repeat.
- *Slack*: the ``chat.postMessage`` arguments from ``slack_blocks`` (escaped there: ``&``, ``<``, ``>``
  and broadcast words) without channel or metadata, which incoming webhooks do not take.
- *Generic*: ``{"event", "id", "sent_at", "data"}`` where ``data`` is the outbox payload (the Alert as
  JSON), signed: ``X-Wirewatch-Signature: t=UNIX,v1=HEX`` with HEX = HMAC-SHA256(secret,
  ``"{t}.{raw body}"``). The timestamp is inside the signed text so a captured request cannot be
  replayed later. The README shows how to verify.
- *Repeats.* A POST that times out may still have reached the receiver, and the outbox retries it: a
  webhook has no nonce and no history to look in, so at-least-once is all a sender can promise. For the
  generic webhook the receiver can make it exactly-once: ``id`` (also in ``X-Wirewatch-Delivery``) is the
  outbox key, the same on every retry of one delivery (the signature's timestamp is new each time), so
  the receiver drops a delivery id it has already processed (the README shows how). Discord and Slack
  webhooks cannot: a copy may appear there after a timeout.

Outcomes follow the Slack and Discord senders: 2xx sent; 429 retried after ``Retry-After`` (or
Discord's ``retry_after``); 408, 5xx, timeouts and resets retried through the outbox; any other 4xx
dead-lettered with the status and the receiver's short reason.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from datetime import datetime, timezone
from typing import Any, Callable, Mapping

import aiohttp

from bot.core import digests
from bot.core.digests import Digest
from bot.core.models import Delivery, SendResult

log = logging.getLogger("wirewatch.webhooks")

SEND_TIMEOUT_S = 15.0  # one POST; a timeout is an ambiguous outcome
UNCONFIGURED_RETRY_S = 600.0  # a missing URL or secret may be set by the operator: wait, do not drop
SIGNATURE_HEADER = "X-Wirewatch-Signature"
DELIVERY_HEADER = "X-Wirewatch-Delivery"
REASON_MAX = 200  # characters of a receiver's error body kept as the dead-letter reason
KINDS = ("discord-webhook", "slack-webhook", "webhook")

#: kind, payload -> message JSON (``discord_embeds.render_delivery`` / ``slack_blocks.render_delivery``)
Renderer = Callable[[str, Mapping[str, Any]], dict[str, Any]]


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Wirewatch-Signature`` value: ``t=UNIX,v1=HEX``, HMAC-SHA256 over ``"{t}." + body``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, *, now: float, tolerance_s: float = 300) -> bool:
    """What a receiver does (and what the README shows): recompute the HMAC over the raw body, compare
    in constant time, and refuse a timestamp more than ``tolerance_s`` away from ``now``."""
    parts = dict(p.split("=", 1) for p in (header or "").split(",") if "=" in p)
    try:
        stamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - stamp) > tolerance_s:
        return False
    expected = sign(secret, stamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def generic_body(delivery: Delivery, sent_at: datetime) -> bytes:
    """The generic webhook's JSON: compact and UTF-8, exactly the bytes that are signed. A digest also
    carries ``text``: the digest as plain text with a sparkline per group (a receiver that forwards it to
    a pager or a mail has no chart to show)."""
    document: dict[str, Any] = {"event": delivery.kind, "id": delivery.dedupe_key, "sent_at": sent_at.isoformat(),
                                "data": dict(delivery.payload)}
    if delivery.kind == "digest":
        document["text"] = digests.render_text(Digest.from_payload(delivery.payload))
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


class WebhookNotifier:
    """Posts outbox rows to webhooks; one instance serves all three destination kinds."""

    def __init__(self, urls: Mapping[str, str], *, render_discord: Renderer, render_slack: Renderer,
                 secret: str = "", clock: Callable[[], float] = time.time,
                 timeout_s: float = SEND_TIMEOUT_S):
        self.urls = {k.lower(): v for k, v in urls.items()}
        self.render_discord = render_discord
        self.render_slack = render_slack
        self.secret = secret
        self.clock = clock
        self.timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_s))
        return self._session

    async def send(self, delivery: Delivery) -> SendResult:
        kind, _, name = delivery.destination.partition(":")
        extra = {"channel": delivery.destination, "platform": kind, "delivery_id": delivery.id}
        url = self.urls.get(name.lower())
        if not url:
            return SendResult.retry(f"WIREWATCH_WEBHOOK_{name.upper()} is not set", UNCONFIGURED_RETRY_S)
        headers = {"Content-Type": "application/json", "User-Agent": "wirewatch"}
        params: dict[str, str] = {}
        try:
            if kind == "discord-webhook":
                message = dict(self.render_discord(delivery.kind, delivery.payload))
                message["allowed_mentions"] = {"parse": []}
                body = json.dumps(message, ensure_ascii=False).encode()
                params["wait"] = "true"
            elif kind == "slack-webhook":
                message = dict(self.render_slack(delivery.kind, delivery.payload))
                body = json.dumps(message, ensure_ascii=False).encode()
            elif kind == "webhook":
                if not self.secret:
                    return SendResult.retry("WIREWATCH_WEBHOOK_SECRET is not set: generic webhooks are signed",
                                            UNCONFIGURED_RETRY_S)
                now = self.clock()
                body = generic_body(delivery, datetime.fromtimestamp(now, timezone.utc))
                headers[SIGNATURE_HEADER] = sign(self.secret, int(now), body)
                headers[DELIVERY_HEADER] = delivery.dedupe_key
            else:
                return SendResult.permanent(f"not a webhook destination: {delivery.destination}")
        except (KeyError, TypeError, ValueError) as exc:  # our bug or an unknown kind: keep it for a human
            return SendResult.permanent(f"cannot render this {delivery.kind} for {kind}: {exc}")
        try:
            async with self._http().post(url, data=body, headers=headers, params=params) as response:
                text = await response.text(errors="replace")
                return self._outcome(kind, response.status, response.headers, text, extra)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            log.warning("webhook outcome unknown", extra={**extra, "error": type(exc).__name__})
            return SendResult.retry(f"outcome unknown ({type(exc).__name__})")

    @staticmethod
    def _outcome(kind: str, status: int, headers: Mapping[str, str], text: str,
                 extra: Mapping[str, Any]) -> SendResult:
        if 200 <= status < 300:
            ref = None
            if kind == "discord-webhook":
                try:
                    ref = str(json.loads(text).get("id") or "") or None
                except (ValueError, AttributeError):
                    ref = None
            return SendResult.sent(ref)
        reason = _reason(text)
        if status == 429:
            return SendResult.retry(f"rate limited ({kind})", retry_after_s=_retry_after(headers, text) or 1.0)
        if status == 408 or status >= 500:
            log.warning("webhook answered an error; retrying", extra={**extra, "status": status})
            return SendResult.retry(f"{kind} answered {status} {reason}".strip(),
                                    retry_after_s=_retry_after(headers, text))
        log.warning("webhook refused the message", extra={**extra, "status": status, "error": reason})
        return SendResult.permanent(f"{kind} answered {status} {reason}".strip())


def _reason(text: str) -> str:
    """A receiver's short reason: Discord's ``message`` (and ``code``), Slack's plain text, else the body."""
    text = (text or "").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text[:REASON_MAX]
    if isinstance(data, dict) and "message" in data:
        code = f" ({data['code']})" if data.get("code") else ""
        return f"{data['message']}{code}"[:REASON_MAX]
    return text[:REASON_MAX]


def _retry_after(headers: Mapping[str, str], text: str) -> float | None:
    """Seconds to wait: Discord's JSON ``retry_after`` (it has fractions), else ``Retry-After``."""
    try:
        data = json.loads(text)
        if isinstance(data, dict) and data.get("retry_after") is not None:
            return max(float(data["retry_after"]), 0.0)
    except (ValueError, TypeError):
        pass
    value = headers.get("Retry-After")
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None
