"""Discord: the outbox sender (``DiscordNotifier``) and the slash-command front end (``DiscordChat``)
on one discord.py ``Client`` (shared through ``DiscordSession``), in the bot's one asyncio loop.

The client is built with ``Intents.none()`` (slash commands need no privileged intent; interactions
arrive whatever the intents) and ``AllowedMentions.none()``, and every send passes
``AllowedMentions.none()`` again, so ``@everyone``, ``@here``, user and role mentions in article text or
in an echoed query never ping. Commands are registered on a ``CommandTree`` but synced only by the
explicit ``wirewatch discord sync`` (the sync endpoints have tight limits, and a bulk overwrite on every
start would be pointless churn).

The sender's promises, and how:
- *No double posts.* Every Create Message carries a ``nonce`` derived from the outbox key with
  ``enforce_nonce``: within Discord's window of a few minutes, a retry after an unknown outcome gets the
  first message back instead of a second one. Beyond that window, a delivery that may have gone through
  (``outcome_unknown`` or an earlier attempt) is looked for first in the channel's recent messages: the
  embed footer carries the alert key. discord.py itself retries 500/502/504/524 and connection resets
  a few times; the nonce makes those retries safe too.
- *Rate limits.* discord.py's per-bucket limiter handles 429 (it sleeps ``retry_after`` and retries,
  up to ``MAX_RATELIMIT_WAIT_S``); a longer wait becomes ``SendResult.retry`` with that delay.
- *Failures are values.* 5xx and timeouts retry through the outbox; Missing Access (50001), Unknown
  Channel (10003), Missing Permissions (50013) and our own bad payloads (400) dead-letter the delivery
  with the reason and do not hold up other channels.
- *Follow-ups* go in a thread started from the alert message (a thread started from a message has the
  message's id, so a second follow-up finds it), or as a reply to it where threads are not allowed.
- *Digests* are several messages in order (10 embeds and 6,000 characters each), each with its own
  nonce and its key in the footer, the chart PNG attached to the first; a retry posts only the parts
  the channel does not show yet.

Embed rendering lives beside this module in ``discord_embeds``; the composition root passes its
functions in (``render_delivery``, ``reply_content``), since adapters never import one another.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
from typing import Any, Awaitable, Callable, Mapping, Sequence

import aiohttp
import discord
from discord import app_commands

from bot.core.commands import Caller, Command, Reply, describe, help_text, parse_command
from bot.core.errors import ConfigError, UsageError
from bot.core.models import Delivery, SendResult

log = logging.getLogger("wirewatch.discord")

DEFAULT_API_URL = "https://discord.com/api/v10"
MAX_RATELIMIT_WAIT_S = 30.0  # discord.py sleeps through a 429 up to this; longer goes back to the outbox
SEND_TIMEOUT_S = 60.0  # one send, including a rate-limit wait and discord.py's own short 5xx retries
HISTORY_LOOKBACK = 50  # recent messages searched for an alert key before re-posting
NONCE_MAX = 25  # Discord's limit on a message nonce
THREAD_ARCHIVE_MINUTES = 10080  # a week: follow-ups can come days after the alert
ACK_BUDGET_S = 2.0  # Discord wants the first answer within 3 s; slower work is deferred
INTERACTION_ERROR = "something went wrong on our side; it has been logged. Try again in a minute."

#: Discord error codes that retrying will not fix: dead-letter the delivery with the reason.
PERMANENT_CODES = {
    10003: "Unknown Channel",
    50001: "Missing Access",
    50013: "Missing Permissions",
    50035: "Invalid Form Body",
    50006: "Cannot send an empty message",
    40005: "Request entity too large",
    50008: "Cannot send messages in a non-text channel",
    50083: "Thread is archived",
}
THREAD_EXISTS = 160004  # "A thread has already been created for this message"
#: Where a thread cannot be started from the alert: follow-ups become replies to it instead.
NO_THREADS = {50024, 50013, 50001, 160005, 160006}
UNKNOWN_MESSAGE = 10008

#: What ``wirewatch discord invite`` asks for: see and post in channels, embed links (alerts), read
#: history (finding an alert before re-posting), start and post in threads (follow-ups).
INVITE_PERMISSIONS = dict(view_channel=True, send_messages=True, embed_links=True, read_message_history=True,
                          create_public_threads=True, send_messages_in_threads=True)
INVITE_SCOPES = ("bot", "applications.commands")

#: kind, payload -> message JSON with ``embeds`` (``discord_embeds.render_delivery``, bound by bot/app)
Renderer = Callable[[str, Mapping[str, Any]], dict[str, Any]]
#: reply, caller's user ID -> content (``discord_embeds.reply_content``)
ReplyRenderer = Callable[[Reply, str], str]
#: what the user has typed so far of a place name -> place names to offer (the gazetteer's lookup)
PlaceSuggester = Callable[[str], Sequence[str]]
CommandRunner = Callable[[Command, Caller], Awaitable[Reply]]
#: a digest's payload -> PNG bytes (``digest_chart.render_png``, bound by bot/app)
ChartRenderer = Callable[[Mapping[str, Any]], bytes]

NO_MENTIONS = discord.AllowedMentions.none()


def use_api_url(api_url: str) -> None:
    """Point discord.py's REST base at ``api_url`` (``WIREWATCH_DISCORD_API_URL``: a proxy, or a test
    stand-in). ``discord.http.Route.BASE`` is a class variable read whenever a route is built, so this
    is process-wide (one Discord per process) and not public API: discord.py is pinned to its minor
    version, and the stand-in tests fail loudly if an upgrade moves it."""
    discord.http.Route.BASE = (api_url or DEFAULT_API_URL).strip().rstrip("/")


def nonce_for(key: str) -> str:
    """The message nonce for an outbox key: a hash, not a prefix, because keys are longer than
    Discord's 25 characters and a follow-up's key starts with its alert's key (a shared prefix would
    make Discord hand back the alert instead of posting the follow-up)."""
    return "ww" + hashlib.sha256(key.encode()).hexdigest()[: NONCE_MAX - 2]


def invite_url(application_id: int | str) -> str:
    """The OAuth2 URL that adds the bot to a server with the commands and the permissions it needs."""
    return discord.utils.oauth_url(application_id, permissions=discord.Permissions(**INVITE_PERMISSIONS),
                                   scopes=INVITE_SCOPES)


class _QuietIntentsWarning(logging.Filter):
    """discord.py warns that the Guilds intent is off; it is off on purpose (commands and alerts need no
    guild cache, and every intent is traffic and memory), so the warning would only alarm operators."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Guilds intent seems to be disabled" not in record.getMessage()


def build_client() -> discord.Client:
    state_log = logging.getLogger("discord.state")
    if not any(isinstance(f, _QuietIntentsWarning) for f in state_log.filters):
        state_log.addFilter(_QuietIntentsWarning())
    return discord.Client(intents=discord.Intents.none(), allowed_mentions=NO_MENTIONS,
                          max_ratelimit_timeout=MAX_RATELIMIT_WAIT_S)


class DiscordSession:
    """The one discord.py client of the process, logged in (REST only) on first use. The sender needs
    only REST (``wirewatch poll`` delivers without a gateway connection); ``DiscordChat.start`` adds the
    gateway for interactions."""

    def __init__(self, token: str, api_url: str = "", client: discord.Client | None = None):
        if not token:
            raise ConfigError("DISCORD_BOT_TOKEN is required for Discord")
        use_api_url(api_url)
        self.token = token
        self.client = client or build_client()
        self._lock = asyncio.Lock()

    async def ready(self) -> discord.Client:
        """Log in once (``GET /users/@me`` and ``/oauth2/applications/@me``). A token Discord refuses is
        a ``ConfigError`` naming the variable."""
        async with self._lock:
            if self.client.user is None:
                try:
                    await self.client.login(self.token)
                except discord.LoginFailure:
                    raise ConfigError("Discord refused DISCORD_BOT_TOKEN (401 Unauthorized)") from None
        return self.client

    async def close(self) -> None:
        if not self.client.is_closed():
            await self.client.close()


class DiscordNotifier:
    """Posts outbox rows to Discord channels (destination ``discord:CHANNEL_ID``). ``message_ref`` is the
    posted message's id: for an alert, the parent of its follow-ups' thread."""

    def __init__(self, session: DiscordSession, render: Renderer, *,
                 thread_name: Callable[[Mapping[str, Any]], str] = lambda payload: "wirewatch follow-ups",
                 history_lookback: int = HISTORY_LOOKBACK, timeout_s: float = SEND_TIMEOUT_S,
                 chart: ChartRenderer | None = None):
        self.session = session
        self.render = render
        self.chart = chart  # a digest's payload -> PNG bytes, attached to its first message
        self.thread_name = thread_name  # follow-up payload -> thread name (``discord_embeds.thread_name``)
        self.history_lookback = history_lookback
        self.timeout_s = timeout_s

    async def send(self, delivery: Delivery) -> SendResult:
        extra = {"channel": delivery.destination, "platform": "discord", "delivery_id": delivery.id}
        target = delivery.destination.split(":", 1)[1]
        if not target.isdigit():
            return SendResult.permanent(f"{target!r} is not a Discord channel ID")
        try:
            message = self.render(delivery.kind, delivery.payload)
            parts = [dict(m) for m in message["messages"]] if delivery.kind == "digest" else []
            embeds = [discord.Embed.from_dict(dict(e)) for e in message.get("embeds") or ()]
        except (KeyError, TypeError, ValueError) as exc:  # our bug or an unknown kind: keep it for a human
            return SendResult.permanent(f"cannot render this {delivery.kind} for Discord: {exc}")
        try:
            client = await self.session.ready()
            if parts:  # each part may wait out a rate limit: the budget grows with the parts
                return await asyncio.wait_for(
                    self._send_digest(client, int(target), delivery, parts, message.get("chart") or {}, extra),
                    self.timeout_s * len(parts))
            return await asyncio.wait_for(self._send(client, int(target), delivery, embeds, extra), self.timeout_s)
        except ConfigError as exc:
            log.error("Discord login failed", extra={**extra, "error": str(exc)})
            return SendResult.permanent(str(exc))
        except discord.RateLimited as exc:
            return SendResult.retry("rate limited by Discord", retry_after_s=exc.retry_after)
        except discord.HTTPException as exc:
            return self._failed(exc, extra)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            log.warning("send outcome unknown", extra={**extra, "error": type(exc).__name__})
            return SendResult.retry(f"outcome unknown ({type(exc).__name__}); the nonce and the channel's "
                                    "history are checked before a retry posts")

    async def _send(self, client: discord.Client, channel_id: int, delivery: Delivery,
                    embeds: list[discord.Embed], extra: Mapping[str, Any]) -> SendResult:
        channel = client.get_partial_messageable(channel_id)
        if delivery.outcome_unknown or delivery.attempts > 1:
            found = await self._find_posted(channel, delivery.dedupe_key)
            if found:
                log.info("already posted; not posting again", extra={**extra, "message_id": found})
                return SendResult.sent(found)
        if delivery.kind != "followup":
            posted = await channel.send(embeds=embeds, nonce=nonce_for(delivery.dedupe_key),
                                        allowed_mentions=NO_MENTIONS)
            return SendResult.sent(str(posted.id))
        return await self._send_followup(client, channel, delivery, embeds, extra)

    async def _send_digest(self, client: discord.Client, channel_id: int, delivery: Delivery,
                           parts: list[dict[str, Any]], chart: Mapping[str, Any],
                           extra: Mapping[str, Any]) -> SendResult:
        """A digest is several messages, in order, each with its own key (``KEY``, ``KEY#2`` ...) as its
        nonce and at the end of its last footer; the chart PNG is attached to the first. A retry reads the
        channel's recent history once and posts only the parts that are not there, so a digest cut short
        by an error or a crash is completed, never repeated (and the chart, part of the first message,
        goes with it exactly once). The chart is extra: if it cannot be drawn the text still goes."""
        channel = client.get_partial_messageable(channel_id)
        key = delivery.dedupe_key
        keys = [key if n == 1 else f"{key}#{n}" for n in range(1, len(parts) + 1)]
        posted: dict[str, str] = {}
        if delivery.outcome_unknown or delivery.attempts > 1:
            posted = await self._posted_parts(channel, keys)
        first = posted.get(keys[0], "")
        for n, (part, message) in enumerate(zip(keys, parts), 1):
            if part in posted:
                continue
            embeds = [dict(e) for e in message.get("embeds") or ()]
            footer = dict(embeds[-1].get("footer") or {})
            footer["text"] = f"{footer.get('text') or 'wirewatch'} · {part}"
            embeds[-1]["footer"] = footer
            files: list[discord.File] = []
            if n == 1:
                png = await self._chart_png(delivery, extra)
                if png and chart.get("filename"):
                    files.append(discord.File(io.BytesIO(png), filename=str(chart["filename"]),
                                              description=str(chart.get("description") or "") or None))
                else:  # no attachment to show: drop the reference to it
                    embeds = [{k: v for k, v in e.items() if k != "image"} for e in embeds]
            sent = await channel.send(embeds=[discord.Embed.from_dict(e) for e in embeds], files=files,
                                      nonce=nonce_for(part), allowed_mentions=NO_MENTIONS)
            first = first or str(sent.id)
        return SendResult.sent(first)

    async def _chart_png(self, delivery: Delivery, extra: Mapping[str, Any]) -> bytes | None:
        if self.chart is None:
            return None
        try:
            return await asyncio.to_thread(self.chart, delivery.payload)  # matplotlib: a few hundred ms
        except Exception:  # noqa: BLE001 - the chart is extra: log it with the traceback, send the text
            log.exception("digest chart could not be drawn; sending the digest without it", extra=extra)
            return None

    async def _posted_parts(self, channel: discord.PartialMessageable, keys: Sequence[str]) -> dict[str, str]:
        """Part key -> message id, for the parts of a digest found in the channel's recent history."""
        found: dict[str, str] = {}
        try:
            async for message in channel.history(limit=self.history_lookback):
                for embed in message.embeds:
                    text = embed.footer.text or ""
                    for part in keys:
                        if text.endswith(" " + part):
                            found.setdefault(part, str(message.id))
        except discord.HTTPException as exc:
            log.warning("cannot read channel history to reconcile; posting with the nonce",
                        extra={"channel": f"discord:{channel.id}", "platform": "discord", "status": exc.status,
                               "error": exc.code})
        return found

    async def _send_followup(self, client: discord.Client, channel: discord.PartialMessageable,
                             delivery: Delivery, embeds: list[discord.Embed],
                             extra: Mapping[str, Any]) -> SendResult:
        """In the alert's thread (started here on the first follow-up); a reply to the alert where
        threads are not allowed; a plain message when the alert cannot be found. ``message_ref`` is
        ``WHERE/MESSAGE_ID`` (the thread or channel it went to)."""
        payload = delivery.payload
        parent = str(payload.get("thread_ref") or payload.get("parent_message_ref") or "")
        if not parent and payload.get("parent_key"):
            parent = await self._find_posted(channel, str(payload["parent_key"])) or ""
        nonce = nonce_for(delivery.dedupe_key)
        if not parent.isdigit():
            posted = await channel.send(embeds=embeds, nonce=nonce, allowed_mentions=NO_MENTIONS)
            return SendResult.sent(f"{channel.id}/{posted.id}")
        thread = await self._thread_of(client, channel.id, int(parent), payload, extra)
        if thread is not None:
            try:
                posted = await client.get_partial_messageable(thread).send(
                    embeds=embeds, nonce=nonce, allowed_mentions=NO_MENTIONS)
                return SendResult.sent(f"{thread}/{posted.id}")
            except discord.HTTPException as exc:
                if exc.code not in NO_THREADS:
                    raise
                log.info("cannot post in the alert's thread; replying instead", extra={**extra, "error": exc.code})
        reference = discord.MessageReference(message_id=int(parent), channel_id=channel.id, fail_if_not_exists=False)
        posted = await channel.send(embeds=embeds, nonce=nonce, reference=reference, allowed_mentions=NO_MENTIONS)
        return SendResult.sent(f"{channel.id}/{posted.id}")

    async def _thread_of(self, client: discord.Client, channel_id: int, parent: int, payload: Mapping[str, Any],
                         extra: Mapping[str, Any]) -> int | None:
        """The thread of the alert message, started now if there is none yet. Its id is the message's
        id, so when Discord says one exists already (160004) that is the answer. None where threads
        are not allowed (no permission, a channel type without threads) or the alert is gone."""
        try:
            data = await client.http.start_thread_with_message(
                channel_id, parent, name=self.thread_name(payload), auto_archive_duration=THREAD_ARCHIVE_MINUTES)
            return int(data["id"])
        except discord.HTTPException as exc:
            if exc.code == THREAD_EXISTS:
                return parent
            if exc.code in NO_THREADS or exc.code == UNKNOWN_MESSAGE:
                log.info("no thread for follow-ups here", extra={**extra, "error": exc.code})
                return None
            raise

    async def _find_posted(self, channel: discord.PartialMessageable, key: str) -> str | None:
        """The id of a recent message in the channel whose embed footer carries ``key``; None if there is
        none or history cannot be read (then the nonce is the only guard, which is the lesser evil than
        never posting)."""
        try:
            async for message in channel.history(limit=self.history_lookback):
                for embed in message.embeds:
                    if embed.footer.text and embed.footer.text.endswith(" " + key):
                        return str(message.id)
        except discord.HTTPException as exc:
            log.warning("cannot read channel history to reconcile; posting with the nonce",
                        extra={"channel": f"discord:{channel.id}", "platform": "discord", "status": exc.status,
                               "error": exc.code})
        return None

    @staticmethod
    def _failed(exc: discord.HTTPException, extra: Mapping[str, Any]) -> SendResult:
        status, code = exc.status, exc.code
        if status == 429:  # not retried by discord.py: no Via header, a Cloudflare ban more than likely
            log.error("Discord answered 429 without Via: blocked in front of the API", extra=extra)
            return SendResult.retry("rate limited in front of Discord's API (Cloudflare)", retry_after_s=600.0)
        if status >= 500 or isinstance(exc, discord.DiscordServerError):
            log.warning("Discord error; retrying", extra={**extra, "status": status, "error": code})
            return SendResult.retry(f"Discord answered {status}")
        reason = PERMANENT_CODES.get(code) or exc.text or f"HTTP {status}"
        level = logging.ERROR if status == 401 else logging.WARNING
        log.log(level, "Discord refused the message", extra={**extra, "status": status, "error": code})
        return SendResult.permanent(f"{reason} ({code})" if code else reason)


class DiscordChat:
    """The slash commands: ``/watch``, ``/feed``, ``/digest``, ``/wirewatch`` as guild-only groups on a
    ``CommandTree``, the same subcommands and replies as Slack. Typed options are turned back into the
    shared grammar's line (``watch mute 3 2h``) and parsed by ``parse_command``, so every platform
    accepts and refuses exactly the same things. Handlers are parse -> ``run`` (the service's command
    entry, passed in) -> render.

    Feed and digest administration carry ``default_member_permissions`` (Manage Server unless
    ``WIREWATCH_DISCORD_ADMIN_PERMISSION`` says otherwise). Discord enforces it, but server admins can
    change it under *Integrations*, so it is checked again when the command runs; ``none`` turns both
    off and leaves the decision to the server's Integrations settings (and ``WIREWATCH_FEED_ADMINS``)."""

    def __init__(self, session: DiscordSession, run: CommandRunner, render_reply: ReplyRenderer, *,
                 admin_permission: str = "manage_guild", suggest_places: PlaceSuggester | None = None,
                 ack_budget_s: float = ACK_BUDGET_S):
        admin_permission = (admin_permission or "none").strip().lower()
        if admin_permission != "none" and admin_permission not in discord.Permissions.VALID_FLAGS:
            raise ConfigError(f"WIREWATCH_DISCORD_ADMIN_PERMISSION must be a Discord permission name such as "
                              f"manage_guild, manage_channels or administrator, or none; got {admin_permission!r}")
        self.session = session
        self.run = run
        self.render_reply = render_reply
        self.admin_permission = None if admin_permission == "none" else admin_permission
        self.suggest_places = suggest_places
        self.ack_budget_s = ack_budget_s
        self.tree = app_commands.CommandTree(session.client)
        self.tree.on_error = self._on_tree_error
        for group in self._groups():
            self.tree.add_command(group)
        self._gateway: asyncio.Task | None = None

    # ---- the commands: one visible place --------------------------------------------------------

    def _groups(self) -> list[app_commands.Group]:
        admin = discord.Permissions(**{self.admin_permission: True}) if self.admin_permission else None
        watch = app_commands.Group(name="watch", description="Watches that alert this channel", guild_only=True)
        feed = app_commands.Group(name="feed", description="The feeds wirewatch polls", guild_only=True,
                                  default_permissions=admin)
        digest = app_commands.Group(name="digest", description="This channel's daily digest", guild_only=True,
                                    default_permissions=admin)
        wirewatch = app_commands.Group(name="wirewatch", description="Help and status", guild_only=True)
        handle = self._handle
        query_help = "a watch query, e.g. place:Kupiansk AND (drone OR shelling)"

        @watch.command(name="add", description=describe("watch add"))
        @app_commands.describe(query=query_help)
        async def watch_add(interaction: discord.Interaction, query: app_commands.Range[str, 1, 500]):
            await handle(interaction, f"watch add {query}")

        @watch.command(name="list", description=describe("watch list"))
        async def watch_list(interaction: discord.Interaction):
            await handle(interaction, "watch list")

        @watch.command(name="remove", description=describe("watch remove"))
        @app_commands.describe(id="the watch's ID (/watch list shows it)")
        async def watch_remove(interaction: discord.Interaction, id: app_commands.Range[int, 1]):
            await handle(interaction, f"watch remove {id}")

        @watch.command(name="test", description=describe("watch test"))
        @app_commands.describe(query=query_help)
        async def watch_test(interaction: discord.Interaction, query: app_commands.Range[str, 1, 500]):
            await handle(interaction, f"watch test {query}")

        @watch.command(name="mute", description=describe("watch mute"))
        @app_commands.describe(id="the watch's ID", duration="for how long, e.g. 90m, 2h, 1d")
        async def watch_mute(interaction: discord.Interaction, id: app_commands.Range[int, 1],
                             duration: app_commands.Range[str, 1, 20]):
            await handle(interaction, f"watch mute {id} {duration}")

        @feed.command(name="add", description=describe("feed add"))
        @app_commands.describe(url="the feed's address (a page that links to its feed is fine)")
        async def feed_add(interaction: discord.Interaction, url: app_commands.Range[str, 1, 2000]):
            await handle(interaction, f"feed add {url}")

        @feed.command(name="list", description=describe("feed list"))
        async def feed_list(interaction: discord.Interaction):
            await handle(interaction, "feed list")

        @feed.command(name="remove", description=describe("feed remove"))
        @app_commands.describe(id="the feed's ID (/feed list shows it)")
        async def feed_remove(interaction: discord.Interaction, id: app_commands.Range[int, 1]):
            await handle(interaction, f"feed remove {id}")

        @digest.command(name="now", description=describe("digest now"))
        async def digest_now(interaction: discord.Interaction):
            await handle(interaction, "digest now")

        @digest.command(name="at", description=describe("digest at"))
        @app_commands.describe(time="local time as HH:MM, e.g. 08:00", zone="IANA time zone, e.g. Europe/Kyiv")
        async def digest_at(interaction: discord.Interaction, time: app_commands.Range[str, 4, 5],
                            zone: app_commands.Range[str, 1, 64] | None = None):
            await handle(interaction, f"digest at {time} {zone or ''}")

        @digest.command(name="off", description=describe("digest off"))
        async def digest_off(interaction: discord.Interaction):
            await handle(interaction, "digest off")

        @wirewatch.command(name="help", description=describe("wirewatch help"))
        async def wirewatch_help(interaction: discord.Interaction):
            await handle(interaction, "wirewatch help")

        @wirewatch.command(name="status", description=describe("wirewatch status"))
        async def wirewatch_status(interaction: discord.Interaction):
            await handle(interaction, "wirewatch status")

        if self.suggest_places is not None:
            watch_add.autocomplete("query")(self._complete_query)
            watch_test.autocomplete("query")(self._complete_query)
        return [watch, feed, digest, wirewatch]

    async def _complete_query(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        """While the last word typed is ``place:Kup…`` or ``near:Kup…``, offer the gazetteer's names for
        it, keeping the rest of the query as typed."""
        head, _, word = current.rpartition(" ")
        prefix, colon, partial = word.partition(":")
        if not colon or prefix.lower() not in ("place", "near") or not partial or self.suggest_places is None:
            return []
        choices = []
        # in a thread: a short prefix over the whole gazetteer can take a few hundred ms
        names = await asyncio.to_thread(self.suggest_places, partial.strip('"'))
        for name in list(names)[:25]:
            quoted = f'"{name}"' if (" " in name or "," in name) else name
            value = f"{head} {prefix}:{quoted}".strip()
            if len(value) <= 100:  # Discord's limit on a choice's name and value
                choices.append(app_commands.Choice(name=value, value=value))
        return choices

    # ---- the one handler --------------------------------------------------------------------------

    async def _handle(self, interaction: discord.Interaction, line: str) -> None:
        user_id = str(interaction.user.id)
        try:
            command = parse_command(line)
        except UsageError as exc:
            await self._answer(interaction, Reply(str(exc)), user_id)
            return
        if command.name == "wirewatch help":
            await self._answer(interaction, Reply(help_text()), user_id)
            return
        if command.group in ("feed", "digest") and command.action != "list" and self.admin_permission and \
                not getattr(interaction.permissions, self.admin_permission, False):
            needed = self.admin_permission.replace("_", " ").title().replace("Guild", "Server")
            await self._answer(interaction, Reply(f"`/{command.group} {command.action}` needs the {needed} "
                                                  "permission in this server"), user_id)
            return
        caller = Caller(platform="discord", destination=f"discord:{interaction.channel_id}", user_id=user_id,
                        groups=self._roles_of(interaction.user))
        work = asyncio.ensure_future(self._run(command, caller))
        done, _ = await asyncio.wait({work}, timeout=self.ack_budget_s)
        if not done:  # answer within Discord's 3 s: "thinking…", only the caller sees it
            try:
                await interaction.response.defer(ephemeral=True, thinking=True)
            except discord.HTTPException as exc:
                log.warning("could not defer the interaction", extra={"platform": "discord", "error": exc.code})
        await self._answer(interaction, await work, user_id)

    async def _run(self, command: Command, caller: Caller) -> Reply:
        try:
            return await self.run(command, caller)
        except UsageError as exc:
            return Reply(str(exc))
        except Exception:  # noqa: BLE001 - the one error handler of this platform: log, tell the user
            log.exception("command failed", extra={"platform": "discord", "command": command.name,
                                                   "channel": caller.destination})
            return Reply(INTERACTION_ERROR)

    async def _answer(self, interaction: discord.Interaction, reply: Reply, user_id: str) -> None:
        """The first answer is the interaction response (ephemeral unless the reply is public). After a
        deferral the "thinking" message is ephemeral: a public reply replaces it with a channel message."""
        content = self.render_reply(reply, user_id)
        try:
            if not interaction.response.is_done():
                await interaction.response.send_message(content, ephemeral=not reply.public,
                                                        allowed_mentions=NO_MENTIONS)
            elif reply.public:
                await interaction.delete_original_response()
                await interaction.followup.send(content, allowed_mentions=NO_MENTIONS)
            else:
                await interaction.followup.send(content, ephemeral=True, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as exc:  # e.g. 10062 Unknown interaction: the 3 s passed
            log.warning("could not answer the interaction",
                        extra={"platform": "discord", "status": exc.status, "error": exc.code})

    @staticmethod
    def _roles_of(user: discord.abc.User) -> frozenset[str]:
        """The member's role IDs, for ``WIREWATCH_FEED_ADMINS``. Read from the interaction's member
        payload (``Member._roles``): without the gateway's guild cache ``Member.roles`` resolves none."""
        return frozenset(str(r) for r in getattr(user, "_roles", ()) or ())

    async def _on_tree_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        log.error("command tree error", exc_info=error, extra={"platform": "discord"})

    # ---- connection, sync, invite -----------------------------------------------------------------

    async def start(self) -> None:
        """Log in and connect to the gateway in the background (discord.py reconnects by itself)."""
        client = await self.session.ready()
        self._gateway = asyncio.create_task(client.connect(reconnect=True), name="discord-gateway")
        log.info("Discord connecting", extra={"platform": "discord", "user": str(client.user)})

    async def check(self) -> str | None:
        """Health: None while the gateway session is up, else what is wrong (for ``/healthz``)."""
        if self._gateway is None:
            return "Discord is not started"
        if self._gateway.done():
            return "the Discord gateway connection ended"
        return None if self.session.client.is_ready() else "connecting to the Discord gateway"

    async def sync(self, guild_id: int | None = None) -> list[str]:
        """Register the commands with Discord: in one server (immediate) or globally (``guild_id``
        None; Discord may take a while to show them). A bulk overwrite: commands removed here go."""
        await self.session.ready()
        guild = discord.Object(id=guild_id) if guild_id else None
        if guild is not None:
            self.tree.copy_global_to(guild=guild)
        synced = await self.tree.sync(guild=guild)
        return [c.name for c in synced]

    async def invite_url(self) -> str:
        client = await self.session.ready()
        return invite_url(client.application_id or 0)

    async def close(self) -> None:
        await self.session.close()
        if self._gateway is not None:
            try:
                await asyncio.wait_for(self._gateway, 5)
            except (asyncio.TimeoutError, discord.DiscordException, aiohttp.ClientError, OSError):
                self._gateway.cancel()
            self._gateway = None
