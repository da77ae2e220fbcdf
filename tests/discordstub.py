"""A local stand-in for Discord's REST API, written for these tests (aiohttp.web on 127.0.0.1). Point
discord.py at it with ``use_api_url(stub.api_url)`` (that is ``WIREWATCH_DISCORD_API_URL``).

It answers what wirewatch uses (login, application info, command sync, messages, channel history,
threads from a message, interaction callbacks, follow-ups and the original response), records every
request with the JSON as discord.py serialised it, stores messages per channel (a thread is a channel
whose id is its starter message's), honours ``nonce`` + ``enforce_nonce`` like Discord (the same nonce
from the same author returns the first message), and can be scripted to fail the next requests of a
route. Messages sent with files (multipart: ``payload_json`` and ``files[N]``) are parsed like
Discord does; the files are recorded on the call and become the message's ``attachments``. Fidelity rules learnt from discord.py 2.7 (reference/chat.md §3.4): JSON answers carry
``Content-Type: application/json`` exactly; every 429 carries a ``Via`` header and a JSON body with
``retry_after``; absent fields are omitted, never ``null``.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import itertools
import json
from dataclasses import dataclass, field
from typing import Any, Callable

from aiohttp import web

APP_ID = "1100000000000000001"
BOT_ID = "1100000000000000002"
GUILD_ID = "1200000000000000001"
CHANNEL_ID = "1300000000000000001"
USER_ID = "1400000000000000001"
TIMESTAMP = "2026-11-26T06:03:00.000000+00:00"
MANAGE_GUILD = 1 << 5
MEMBER = 1024 | 2048  # view channel, send messages: an ordinary member
PASS = 0  # a scripted step that answers normally (``fail(..., after=N)``)


@dataclass
class Upload:
    name: str  # "files[0]"
    filename: str
    content_type: str
    data: bytes


FILES = web.RequestKey("files", list)  # the uploads of the request being served


@dataclass
class Call:
    route: str  # "create_message", "interaction_callback", ... (the handler's name)
    method: str
    path: str
    headers: dict[str, str]
    query: dict[str, str]
    json: Any
    files: list[Upload] = field(default_factory=list)  # the files of a multipart request, in order


@dataclass
class Scripted:
    status: int
    code: int = 0
    message: str = ""
    retry_after: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    disconnect: bool = False  # store the message, then drop the connection without answering


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=json.dumps(data).encode(),
                        headers={"Content-Type": "application/json", **(headers or {})})


def user(user_id: str = USER_ID, name: str = "ana", bot: bool = False) -> dict[str, Any]:
    data = {"id": user_id, "username": name, "discriminator": "0", "global_name": name.title(), "avatar": None,
            "public_flags": 0, "flags": 0}
    if bot:
        data["bot"] = True
    return data


class DiscordStub:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.channels: dict[str, list[dict[str, Any]]] = {}
        self.commands: dict[str, list[dict[str, Any]]] = {}  # "global" or guild id -> synced commands
        self.no_threads: set[str] = set()  # channels where starting a thread answers 50024
        self._script: dict[str, list[Scripted]] = {}
        self._ids = itertools.count(1_500_000_000_000_000_001)
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ---- lifecycle --------------------------------------------------------------------------------

    async def __aenter__(self) -> "DiscordStub":
        app = web.Application()
        r = app.router
        base = "/api/v10"
        r.add_get(base + "/users/@me", self._wrap("get_me", self._me))
        r.add_get(base + "/oauth2/applications/@me", self._wrap("application_info", self._app_info))
        r.add_put(base + "/applications/{app}/commands", self._wrap("sync_global", self._sync))
        r.add_put(base + "/applications/{app}/guilds/{guild}/commands", self._wrap("sync_guild", self._sync))
        r.add_post(base + "/channels/{channel}/messages", self._wrap("create_message", self._create_message))
        r.add_get(base + "/channels/{channel}/messages", self._wrap("history", self._history))
        r.add_post(base + "/channels/{channel}/messages/{message}/threads",
                   self._wrap("start_thread", self._start_thread))
        r.add_post(base + "/interactions/{id}/{token}/callback", self._wrap("interaction_callback", self._callback))
        r.add_post(base + "/webhooks/{app}/{token}", self._wrap("followup", self._followup))
        r.add_delete(base + "/webhooks/{app}/{token}/messages/@original",
                     self._wrap("delete_original", lambda req, body: web.Response(status=204)))
        r.add_patch(base + "/webhooks/{app}/{token}/messages/@original",
                    self._wrap("edit_original", lambda req, body: _json(self._message(CHANNEL_ID, body, user(BOT_ID)))))
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    # ---- scripting and reading the record ---------------------------------------------------------

    def fail(self, route: str, *, status: int, code: int = 0, message: str = "", retry_after: float = 0.0,
             headers: dict[str, str] | None = None, times: int = 1, disconnect: bool = False,
             after: int = 0) -> None:
        """The next ``times`` requests of ``route`` (after ``after`` that are answered normally) answer
        like this (a 429 gets ``Via`` unless ``headers`` says otherwise, as Discord's own answers have it)."""
        if status == 429 and headers is None:
            headers = {"Via": "1.1 google", "Retry-After": str(max(int(retry_after), 1)),
                       "X-RateLimit-Scope": "user"}
        self._script.setdefault(route, []).extend(Scripted(PASS) for _ in range(after))
        self._script.setdefault(route, []).extend(
            Scripted(status, code, message, retry_after, dict(headers or {}), disconnect) for _ in range(times))

    def called(self, route: str) -> list[Call]:
        return [c for c in self.calls if c.route == route]

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """Messages actually stored in a channel or thread (what a user would see)."""
        return list(self.channels.get(channel, ()))

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 10) -> Any:
        """Until ``predicate()`` is truthy (re-checked after every request); its value."""
        async def until():
            while not (value := predicate()):
                self._changed.clear()
                await self._changed.wait()
            return value
        return await asyncio.wait_for(until(), timeout)

    # ---- the server ---------------------------------------------------------------------------------

    def _wrap(self, route: str, handler):
        async def serve(request: web.Request) -> web.StreamResponse:
            raw = await request.read()
            body, files = None, []
            if raw and request.content_type == "application/json":
                body = json.loads(raw)
            elif raw and request.content_type == "multipart/form-data":
                body, files = _multipart(request.headers["Content-Type"], raw)
            request[FILES] = files
            self.calls.append(Call(route, request.method, request.path,
                                   {k.lower(): v for k, v in request.headers.items()}, dict(request.query), body,
                                   files))
            self._changed.set()
            script = self._script.get(route)
            step = script.pop(0) if script else None
            if step is not None and step.status != PASS:
                if step.disconnect:
                    handler(request, body)
                    assert request.transport is not None
                    request.transport.close()
                    await asyncio.sleep(0.05)
                    return web.Response(status=500)
                if step.status == 429:
                    return _json({"message": "You are being rate limited.", "retry_after": step.retry_after,
                                  "global": False}, 429, step.headers)
                error = {"message": step.message or "error", "code": step.code}
                return _json(error, step.status, step.headers)
            return handler(request, body)
        return serve

    def _me(self, request, body):
        return _json(user(BOT_ID, "wirewatch", bot=True))

    def _app_info(self, request, body):
        return _json({"id": APP_ID, "name": "wirewatch", "description": "", "icon": None, "bot_public": False,
                      "bot_require_code_grant": False, "owner": user(), "verify_key": "00" * 32, "flags": 0,
                      "summary": ""})

    def _sync(self, request, body):
        scope = request.match_info.get("guild", "global")
        answered = [{**c, "id": str(next(self._ids)), "application_id": APP_ID, "version": "1",
                     **({"guild_id": scope} if scope != "global" else {})} for c in body]
        self.commands[scope] = answered
        return _json(answered)

    def _message(self, channel: str, body: dict[str, Any], author: dict[str, Any],
                 files: list[Upload] = ()) -> dict[str, Any]:
        attachments = [{"id": str(next(self._ids)), "filename": f.filename, "size": len(f.data),
                        "url": f"https://cdn.example/{f.filename}", "proxy_url": f"https://media.example/{f.filename}",
                        "content_type": "image/png" if f.filename.endswith(".png") else f.content_type}
                       for f in files]
        message = {"id": str(next(self._ids)), "channel_id": channel, "type": 0, "content": body.get("content") or "",
                   "embeds": body.get("embeds") or [], "attachments": attachments, "mentions": [], "mention_roles": [],
                   "mention_everyone": False, "pinned": False, "tts": False, "timestamp": TIMESTAMP,
                   "edited_timestamp": None, "flags": body.get("flags") or 0, "author": author,
                   "components": []}
        if body.get("nonce") is not None:
            message["nonce"] = body["nonce"]
        if body.get("message_reference"):
            message["type"] = 19  # a reply
            message["message_reference"] = {**body["message_reference"], "channel_id": channel}
        return message

    def _create_message(self, request, body):
        channel = request.match_info["channel"]
        stored = self.channels.setdefault(channel, [])
        if body.get("enforce_nonce") and body.get("nonce") is not None:
            for old in stored:
                if old.get("nonce") == body["nonce"] and old["author"]["id"] == BOT_ID:
                    return _json(old)  # Discord: "that message will be returned and no new message created"
        message = self._message(channel, body, user(BOT_ID, "wirewatch", bot=True), request.get(FILES) or [])
        stored.append(message)
        return _json(message)

    def _history(self, request, body):
        limit = int(request.query.get("limit", 50))
        return _json(list(reversed(self.channels.get(request.match_info["channel"], [])))[:limit])

    def _start_thread(self, request, body):
        channel, parent = request.match_info["channel"], request.match_info["message"]
        if channel in self.no_threads:
            return _json({"message": "Cannot execute action on this channel type", "code": 50024}, 400)
        if not any(m["id"] == parent for m in self.channels.get(channel, [])):
            return _json({"message": "Unknown Message", "code": 10008}, 404)
        if parent in self.channels:
            return _json({"message": "A thread has already been created for this message", "code": 160004}, 400)
        self.channels[parent] = []
        return _json({"id": parent, "type": 11, "guild_id": GUILD_ID, "parent_id": channel, "name": body["name"],
                      "owner_id": BOT_ID, "message_count": 0, "member_count": 1, "rate_limit_per_user": 0,
                      "flags": 0, "thread_metadata": {"archived": False, "auto_archive_duration":
                                                      body["auto_archive_duration"], "locked": False,
                                                      "archive_timestamp": TIMESTAMP}})

    def _callback(self, request, body):
        response = {"interaction": {"id": request.match_info["id"], "type": 2,
                                    "response_message_loading": body["type"] == 5,
                                    "response_message_ephemeral": bool((body.get("data") or {}).get("flags", 0) & 64)}}
        return _json(response)

    def _followup(self, request, body):
        return _json(self._message(CHANNEL_ID, body or {}, user(BOT_ID, "wirewatch", bot=True)))


def _multipart(content_type: str, raw: bytes) -> tuple[Any, list[Upload]]:
    """discord.py's multipart body: ``payload_json`` (the message JSON) and ``files[N]`` parts."""
    parsed = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
    body, files = None, []
    for part in parsed.iter_parts():
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True) or b""
        if name == "payload_json":
            body = json.loads(data)
        else:
            files.append(Upload(name, part.get_filename() or "", part.get_content_type(), data))
    return body, files


# ---- what the gateway delivers: INTERACTION_CREATE -------------------------------------------------------

#: (group, subcommand) -> option name -> Discord option type (3 string, 4 integer)
OPTION_TYPES = {"query": 3, "url": 3, "duration": 3, "time": 3, "zone": 3, "id": 4}
_interaction_ids = itertools.count(1_600_000_000_000_000_001)


def interaction(group: str, sub: str, options: dict[str, Any] | None = None, *, channel: str = CHANNEL_ID,
                user_id: str = USER_ID, permissions: int = MEMBER | MANAGE_GUILD, roles: tuple[str, ...] = (),
                interaction_type: int = 2, focused: str | None = None) -> dict[str, Any]:
    """A gateway ``INTERACTION_CREATE`` payload for ``/group sub option:value …`` typed in a guild text
    channel by a member with ``permissions`` (type 4 with ``focused``: an autocomplete request)."""
    iid = str(next(_interaction_ids))
    opts = []
    for name, value in (options or {}).items():
        opt = {"type": OPTION_TYPES[name], "name": name, "value": value}
        if focused == name:
            opt["focused"] = True
        opts.append(opt)
    return {
        "id": iid, "application_id": APP_ID, "type": interaction_type, "token": f"itoken-{iid}", "version": 1,
        "guild_id": GUILD_ID, "channel_id": channel,
        "channel": {"id": channel, "type": 0, "guild_id": GUILD_ID, "name": "desk", "position": 0,
                    "permission_overwrites": [], "nsfw": False, "parent_id": None, "topic": None,
                    "last_message_id": None, "rate_limit_per_user": 0, "flags": 0},
        "member": {"user": user(user_id), "roles": list(roles), "permissions": str(permissions),
                   "joined_at": TIMESTAMP, "deaf": False, "mute": False, "flags": 0, "nick": None, "avatar": None,
                   "premium_since": None, "pending": False},
        "data": {"id": "1700000000000000001", "name": group, "type": 1, "guild_id": GUILD_ID,
                 "options": [{"type": 1, "name": sub, "options": opts}]},
        "locale": "en-US", "guild_locale": "en-US", "app_permissions": str(MEMBER), "entitlements": [],
        "authorizing_integration_owners": {"0": GUILD_ID}, "context": 0, "attachment_size_limit": 10485760,
    }
