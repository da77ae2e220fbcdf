"""Slack: the outbox sender (``SlackNotifier``) and the slash-command front end (``SlackChat``) on
slack-bolt's ``AsyncApp``, in the bot's one asyncio loop.

Connection: Socket Mode when an app-level token is given (outbound only: no port, no TLS, works behind
a firewall), else HTTP mode on our own aiohttp runner at ``/slack/events`` with every request's
signature and timestamp verified by bolt (``AsyncApp.start`` would bind 0.0.0.0; we bind the configured
host, 127.0.0.1 by default). The same listeners serve both modes.

The sender's promises, and how:
- *No double posts.* Each message carries metadata with the outbox key. When an earlier attempt may
  have reached Slack (a lapsed claim, or any earlier attempt that failed ambiguously), the channel's
  recent history is searched for that key first. The sender's ``AsyncWebClient`` has **no** retry
  handlers: slack_sdk's default connection-error retry can repost a message Slack already stored, and
  retrying in both the client and the outbox multiplies attempts. The outbox owns every retry.
- *Rate limits.* About one message per second per channel (a lock and a timestamp per channel, so one
  busy channel never holds up another); a 429 becomes ``SendResult.retry`` after ``Retry-After``.
- *Failures are values.* 5xx, timeouts and resets retry through the outbox; the errors in
  ``PERMANENT_ERRORS`` dead-letter the delivery with the reason (``/wirewatch status`` shows it).

Block Kit rendering lives beside this module in ``slack_blocks``; the composition root passes its
functions in (``render_delivery``, ``reply_text``), since adapters never import one another.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Awaitable, Callable, Mapping, Sequence

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.commands import GRAMMAR, Caller, Command, Reply, help_text, parse_command
from bot.core.errors import ConfigError, UsageError
from bot.core.models import Delivery, SendResult, SendStatus

log = logging.getLogger("wirewatch.slack")

DEFAULT_API_URL = "https://slack.com/api/"
EVENTS_PATH = "/slack/events"
CHANNEL_PACE_S = 1.0  # chat.postMessage: "one message per second per channel"
HISTORY_LOOKBACK = 200  # messages searched for an alert key before re-posting
SEND_TIMEOUT_S = 15  # one Web API call; a timeout is an ambiguous outcome, reconciled next attempt
COMMANDS = tuple(f"/{group}" for group in GRAMMAR)
METADATA_EVENT = "wirewatch_alert"  # message metadata event type carrying the outbox key

#: kind, payload -> chat.postMessage arguments (``slack_blocks.render_delivery``, bound by bot/app)
Renderer = Callable[[str, Mapping[str, Any]], dict[str, Any]]
#: reply, caller's user ID -> escaped mrkdwn (``slack_blocks.reply_text``)
ReplyRenderer = Callable[[Reply, str], str]
#: a digest's payload -> PNG bytes (``digest_chart.render_png``, bound by bot/app)
ChartRenderer = Callable[[Mapping[str, Any]], bytes]

#: Errors that will not go away by retrying: dead-letter the delivery with the reason.
PERMANENT_ERRORS = frozenset({
    "channel_not_found", "not_in_channel", "is_archived", "invalid_auth", "token_revoked",
    "account_inactive", "not_authed", "missing_scope", "restricted_action", "invalid_blocks",
    "msg_too_long", "invalid_metadata_format", "invalid_metadata_schema", "ekm_access_denied",
    "team_access_not_granted", "no_permission", "channel_is_archived",
})
#: Errors Slack reports for its own trouble: retry through the outbox.
TRANSIENT_ERRORS = frozenset({
    "ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout",
})


def sender_client(token: str, api_url: str = "") -> AsyncWebClient:
    """The Web API client of the outbox sender: no retry handlers at all (see the module docstring)."""
    return AsyncWebClient(token=token, base_url=_base(api_url), timeout=SEND_TIMEOUT_S, retry_handlers=[])


def app_client(token: str, api_url: str = "") -> AsyncWebClient:
    """The client bolt uses for commands and lookups: a 429 may be retried once, since Slack did not
    process it; nothing here posts alerts."""
    return AsyncWebClient(token=token, base_url=_base(api_url), timeout=SEND_TIMEOUT_S,
                          retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)])


def alert_metadata(key: str) -> dict[str, Any]:
    """Message metadata carrying the outbox key: after a crash or a timeout between posting and
    recording, the sender finds the key in the channel's history instead of posting again."""
    return {"event_type": METADATA_EVENT, "event_payload": {"idempotency_key": key}}


def _base(api_url: str) -> str:
    url = (api_url or DEFAULT_API_URL).strip()
    return url if url.endswith("/") else url + "/"  # method names are joined onto it


class SlackNotifier:
    """Posts outbox rows to Slack channels (destination ``slack:CHANNEL_ID``). ``message_ref`` is the
    posted message's ``ts``: the thread parent of the story's follow-ups."""

    def __init__(self, client: AsyncWebClient, render: Renderer, *, pace_s: float = CHANNEL_PACE_S,
                 history_lookback: int = HISTORY_LOOKBACK, chart: ChartRenderer | None = None):
        self.client = client
        self.render = render
        self.chart = chart
        self.pace_s = pace_s
        self.history_lookback = history_lookback
        self._channels: dict[str, tuple[asyncio.Lock, list[float]]] = {}

    async def send(self, delivery: Delivery) -> SendResult:
        channel = delivery.destination.split(":", 1)[1]
        extra = {"channel": delivery.destination, "platform": "slack", "delivery_id": delivery.id}
        if delivery.kind == "digest":
            return await self._send_digest(delivery, channel, extra)
        # attempts counts this claim too: above 1, an earlier attempt happened and may have been stored.
        if delivery.outcome_unknown or delivery.attempts > 1:
            found = await self._find_posted(channel, delivery.dedupe_key)
            if isinstance(found, SendResult):
                return found
            if found:
                log.info("already posted; not posting again", extra={**extra, "ts": found})
                return SendResult.sent(found)
        try:
            args = await self._render(delivery, channel)
        except (KeyError, TypeError, ValueError) as exc:  # our bug or an unknown kind: keep it for a human
            return SendResult.permanent(f"cannot render this {delivery.kind} for Slack: {exc}")
        if isinstance(args, SendResult):
            return args
        args["metadata"] = alert_metadata(delivery.dedupe_key)
        return await self._post(channel, args, extra)

    async def _post(self, channel: str, args: dict[str, Any], extra: Mapping[str, Any]) -> SendResult:
        """One paced ``chat.postMessage``; failures as values (see the module docstring)."""
        lock, last = self._channels.setdefault(channel, (asyncio.Lock(), [float("-inf")]))
        async with lock:
            wait = last[0] + self.pace_s - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                response = await self.client.chat_postMessage(channel=channel, **args)
            except SlackApiError as exc:
                return self._failed(exc, extra)
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                log.warning("send outcome unknown", extra={**extra, "error": repr(exc)})
                return SendResult.retry(f"outcome unknown ({type(exc).__name__}); history is checked before a retry")
            finally:
                last[0] = time.monotonic()
        return SendResult.sent(str(response.get("ts") or ""))

    async def _send_digest(self, delivery: Delivery, channel: str, extra: Mapping[str, Any]) -> SendResult:
        """A digest is several messages (each with its own key in metadata: ``KEY``, ``KEY#2`` ...) and a
        chart uploaded with ``files_upload_v2`` under a file name carrying the key. A retry reads the
        channel's history once and posts only the parts that are not there, in order, so a digest cut
        short by an error or a crash is completed, never repeated. The chart is extra: if Slack refuses
        it for good (say ``files:write`` is missing) the digest still counts as sent, with a warning."""
        try:
            rendered = self.render(delivery.kind, delivery.payload)
            messages = [dict(m) for m in rendered["messages"]]
        except (KeyError, TypeError, ValueError) as exc:
            return SendResult.permanent(f"cannot render this digest for Slack: {exc}")
        key = delivery.dedupe_key
        filename = digest_chart_filename(channel, key)
        posted: dict[str, str] = {}
        chart_there = False
        if delivery.outcome_unknown or delivery.attempts > 1:
            found = await self._history(channel)
            if isinstance(found, SendResult):
                return found
            for message in found:
                meta = message.get("metadata") or {}
                if meta.get("event_type") == METADATA_EVENT:
                    part = str((meta.get("event_payload") or {}).get("idempotency_key") or "")
                    posted.setdefault(part, str(message.get("ts")))
                chart_there = chart_there or any(f.get("name") == filename for f in message.get("files") or ())
        first_ts = ""
        for n, args in enumerate(messages, 1):
            part = key if n == 1 else f"{key}#{n}"
            if part in posted:
                first_ts = first_ts or posted[part]
                continue
            args["metadata"] = alert_metadata(part)
            result = await self._post(channel, args, extra)
            if result.status is not SendStatus.SENT:
                return result
            first_ts = first_ts or (result.message_ref or "")
        if self.chart is not None and not chart_there:
            failed = await self._upload_chart(delivery, channel, filename, rendered.get("chart") or {}, extra)
            if failed is not None:
                return failed
        return SendResult.sent(first_ts)

    async def _upload_chart(self, delivery: Delivery, channel: str, filename: str, chart: Mapping[str, Any],
                            extra: Mapping[str, Any]) -> SendResult | None:
        assert self.chart is not None
        png = await asyncio.to_thread(self.chart, delivery.payload)  # matplotlib takes a few hundred ms
        try:
            await self.client.files_upload_v2(
                channel=channel, file=png, filename=filename, title=str(chart.get("title") or "digest chart"),
                alt_txt=str(chart.get("alt_txt") or "") or None,
            )
        except SlackApiError as exc:
            result = self._failed(exc, extra)
            if result.status is SendStatus.PERMANENT:
                log.warning("digest chart refused; the digest text is posted",
                            extra={**extra, "error": result.error})
                return None
            return result
        except (SlackClientError, aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            log.warning("chart upload outcome unknown", extra={**extra, "error": repr(exc)})
            return SendResult.retry(f"chart upload failed ({type(exc).__name__}); history is checked before a retry")
        return None

    async def _history(self, channel: str) -> list[Mapping[str, Any]] | SendResult:
        try:
            response = await self.client.conversations_history(
                channel=channel, limit=self.history_lookback, include_all_metadata=True)
        except SlackApiError as exc:
            error = _error_code(exc)
            if exc.response.status_code == 429 or exc.response.status_code >= 500 or error in TRANSIENT_ERRORS:
                return SendResult.retry(f"history lookup failed: {error or exc.response.status_code}",
                                        retry_after_s=_retry_after(exc))
            log.warning("cannot read channel history to reconcile; posting",
                        extra={"channel": channel, "platform": "slack", "error": error})
            return []
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            return SendResult.retry(f"history lookup failed: {exc!r}")
        return list(response.get("messages") or ())

    async def _render(self, delivery: Delivery, channel: str) -> dict[str, Any] | SendResult:
        args = dict(self.render(delivery.kind, delivery.payload))
        if delivery.kind == "followup":
            parent = delivery.payload.get("thread_ref") or delivery.payload.get("parent_message_ref")
            parent_key = delivery.payload.get("parent_key")
            if not parent and parent_key:
                found = await self._find_posted(channel, str(parent_key))
                if isinstance(found, SendResult):
                    return found
                parent = found
            if parent:
                args["thread_ts"] = str(parent)
        return args

    async def _find_posted(self, channel: str, key: str) -> str | SendResult | None:
        """The ``ts`` of a message in the channel's recent history whose metadata carries ``key``; None if
        there is none or we cannot read history (then posting is the lesser evil than never posting)."""
        messages = await self._history(channel)
        if isinstance(messages, SendResult):
            return messages
        for message in messages:
            meta = message.get("metadata") or {}
            if meta.get("event_type") == METADATA_EVENT and \
                    (meta.get("event_payload") or {}).get("idempotency_key") == key:
                return str(message.get("ts"))
        return None

    @staticmethod
    def _failed(exc: SlackApiError, extra: Mapping[str, Any]) -> SendResult:
        status = exc.response.status_code
        error = _error_code(exc)
        if status == 429 or error == "ratelimited":
            return SendResult.retry("rate limited by Slack", retry_after_s=_retry_after(exc) or 1.0)
        if status >= 500 or error in TRANSIENT_ERRORS:
            log.warning("Slack error; retrying", extra={**extra, "status": status, "error": error})
            return SendResult.retry(f"Slack answered {status} {error}".strip())
        level = logging.ERROR if error in ("invalid_auth", "token_revoked", "account_inactive") else logging.WARNING
        log.log(level, "Slack refused the message", extra={**extra, "status": status, "error": error})
        return SendResult.permanent(error or f"HTTP {status}")


def digest_chart_filename(channel: str, key: str) -> str:
    """The chart's file name carries the digest's key: how a retry sees the chart is already there."""
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in f"{channel}-{key}")
    return f"wirewatch-{safe}.png"


def _error_code(exc: SlackApiError) -> str:
    data = exc.response.data
    return str(data.get("error") or "") if isinstance(data, dict) else ""


def _retry_after(exc: SlackApiError) -> float | None:
    for name, value in (exc.response.headers or {}).items():
        if name.lower() == "retry-after":
            value = value[0] if isinstance(value, (list, tuple)) else value
            try:
                return max(float(value), 0.0)
            except ValueError:
                return None
    return None


def unescape_command_text(text: str) -> str:
    """Slack sends slash-command text in its own format: ``&amp; &lt; &gt;`` escaped, and a pasted URL
    may arrive wrapped as ``<https://…>`` or ``<https://…|label>``. Give the command what was typed."""
    words = []
    for word in (text or "").split(" "):
        if word.startswith("<http") and word.endswith(">"):
            word = word[1:-1].split("|", 1)[0]
        words.append(word)
    return " ".join(words).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


CommandRunner = Callable[[Command, Caller], Awaitable[Reply]]


class _QuietTokenWarning(logging.Filter):
    """bolt falls back to ``SLACK_BOT_TOKEN`` from the environment and then warns that the client's
    token wins; it is the same token (Settings read it), so the warning would only alarm operators."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


class SlackChat:
    """The bolt app: slash commands in, replies out. Handlers are parse -> ``run`` -> render; ``run`` is
    the service's command entry, passed in by the composition root."""

    def __init__(self, client: AsyncWebClient, run: CommandRunner, render_reply: ReplyRenderer, *,
                 signing_secret: str = "", app_token: str = "", admin_groups: Sequence[str] = ()):
        if not (signing_secret or app_token):
            raise ValueError("Slack needs an app-level token (Socket Mode) or a signing secret (HTTP mode)")
        self.client = client
        self.run = run
        self.render_reply = render_reply
        self.app_token = app_token
        self.admin_groups = tuple(g for g in admin_groups if g.startswith("S"))  # Slack user group IDs
        # request verification stays on: bolt checks every HTTP request's signature and timestamp.
        bolt_log = logging.getLogger("wirewatch.slack.bolt")
        if not any(isinstance(f, _QuietTokenWarning) for f in bolt_log.filters):
            bolt_log.addFilter(_QuietTokenWarning())
        self.app = AsyncApp(client=client, signing_secret=signing_secret, process_before_response=False,
                            logger=bolt_log)
        for name in COMMANDS:
            self.app.command(name)(self._on_command)
        self.app.error(self._on_error)
        self._socket: AsyncSocketModeHandler | None = None
        self._runner: web.AppRunner | None = None

    # ---- listeners ------------------------------------------------------------------------------

    async def _on_command(self, ack, body: Mapping[str, Any], respond) -> None:
        """Ack within Slack's 3 s with anything known at once (help, a usage error); otherwise ack empty,
        do the work, and answer through ``response_url`` (ephemeral, or in the channel for an add)."""
        user_id = str(body.get("user_id") or "")
        line = f"{body.get('command', '')} {unescape_command_text(str(body.get('text') or ''))}"
        try:
            command = parse_command(line)
        except UsageError as exc:
            await ack(text=self.render_reply(Reply(str(exc)), user_id), response_type="ephemeral")
            return
        if command.name == "wirewatch help":
            await ack(text=self.render_reply(Reply(help_text()), user_id), response_type="ephemeral")
            return
        await ack()
        caller = Caller(platform="slack", destination=f"slack:{body.get('channel_id', '')}", user_id=user_id,
                        groups=await self._groups_of(user_id) if command.group == "feed" else frozenset())
        try:
            reply = await self.run(command, caller)
        except UsageError as exc:
            reply = Reply(str(exc))
        except Exception:  # noqa: BLE001 - the one error handler of this platform: log, tell the user
            log.exception("command failed", extra={"platform": "slack", "command": command.name,
                                                   "channel": caller.destination})
            reply = Reply("something went wrong on our side; it has been logged. Try again in a minute.")
        await respond(text=self.render_reply(reply, user_id), response_type="in_channel" if reply.public else "ephemeral")

    async def _on_error(self, error: Exception, body: Mapping[str, Any]) -> None:
        log.error("bolt error", exc_info=error, extra={"platform": "slack"})

    async def _groups_of(self, user_id: str) -> frozenset[str]:
        """Which of the user groups allowed to manage feeds this user is in (needs ``usergroups:read``;
        without it, only user IDs in the setting count)."""
        member_of = set()
        for group in self.admin_groups:
            try:
                response = await self.client.usergroups_users_list(usergroup=group)
            except SlackApiError as exc:
                log.warning("cannot read user group", extra={"platform": "slack", "group": group,
                                                             "error": _error_code(exc)})
                continue
            if user_id in (response.get("users") or ()):
                member_of.add(group)
        return frozenset(member_of)

    # ---- connection -----------------------------------------------------------------------------

    @property
    def mode(self) -> str:
        return "socket" if self.app_token else "http"

    def http_app(self) -> web.Application:
        """An aiohttp application serving ``POST /slack/events`` through bolt (signature verified)."""
        async def events(request: web.Request) -> web.StreamResponse:
            return await to_aiohttp_response(await self.app.async_dispatch(await to_bolt_request(request)))

        web_app = web.Application()
        web_app.router.add_post(EVENTS_PATH, events)
        return web_app

    async def start(self, *, host: str = "127.0.0.1", port: int = 8080) -> int | None:
        """Connect (Socket Mode) or listen (HTTP mode; returns the bound port, useful with port 0).
        A token Slack refuses stops the start with a ``ConfigError`` naming the variable, instead of
        slack_sdk's Socket Mode client retrying a dead token forever."""
        await self._check_token(lambda: self.client.auth_test(), "SLACK_BOT_TOKEN")
        if self.mode == "socket":
            await self._check_token(lambda: self.client.apps_connections_open(app_token=self.app_token),
                                    "SLACK_APP_TOKEN")
            self._socket = AsyncSocketModeHandler(self.app, self.app_token)
            await self._socket.connect_async()
            log.info("Slack connected in Socket Mode", extra={"platform": "slack"})
            return None
        self._runner = web.AppRunner(self.http_app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = self._runner.addresses[0][1]
        log.info("Slack HTTP mode listening", extra={"platform": "slack", "host": host, "port": bound,
                                                    "path": EVENTS_PATH})
        return bound

    @staticmethod
    async def _check_token(call: Callable[[], Awaitable[Any]], variable: str) -> None:
        try:
            await call()
        except SlackApiError as exc:
            raise ConfigError(f"Slack refused {variable}: {_error_code(exc) or exc.response.status_code}") from None

    async def close(self) -> None:
        if self._socket is not None:
            await self._socket.close_async()
            self._socket = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
