"""A local stand-in for Slack, written for these tests: the Web API (``/api/METHOD``), ``response_url``
hooks (``/hooks/N``) and a Socket Mode websocket (``/socket``), all on 127.0.0.1 (aiohttp.web).

It records every call with what crossed the wire (headers, and the JSON or form body as sent), keeps a
per-channel history with message metadata (so ``conversations.history`` can be asked for an alert key),
and can be scripted to answer a method with 429 + Retry-After, a 500, or ``{"ok": false, "error": …}``.
Point the code under test at ``stub.api_url`` (that is ``WIREWATCH_SLACK_API_URL``)::

    async with SlackStub() as stub:
        stub.fail("chat.postMessage", status=429, headers={"Retry-After": "7"})
        ...
        assert stub.posts()[0]["blocks"][0]["text"]["verbatim"] is True
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import aiohttp
from aiohttp import WSMsgType, web


@dataclass
class Call:
    method: str  # "chat.postMessage"
    http_verb: str
    headers: dict[str, str]
    body: dict[str, Any]  # JSON body, form fields, or query parameters, as sent


@dataclass
class Scripted:
    status: int = 200
    error: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    disconnect: bool = False  # store the message, then drop the connection without answering


class SlackStub:
    def __init__(self, *, bot_user: str = "UBOT", team: str = "T0TEST"):
        self.bot_user = bot_user
        self.team = team
        self.calls: list[Call] = []
        self.hooks: list[dict[str, Any]] = []  # what was posted to response_url
        self.history: dict[str, list[dict[str, Any]]] = {}  # channel -> messages, oldest first
        self.usergroups: dict[str, list[str]] = {}
        self.uploads: dict[str, dict[str, Any]] = {}  # file id -> {"filename", "length", "data"}
        self.acks: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.hook_posted = asyncio.Event()
        self._script: dict[str, list[Scripted]] = {}
        self._ts = itertools.count(1)
        self._ws: web.WebSocketResponse | None = None
        self._ws_ready = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ---- lifecycle ------------------------------------------------------------------------------

    async def __aenter__(self) -> "SlackStub":
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/hooks/{n}", self._hook)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/socket", self._socket)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc) -> None:
        if self._ws is not None:
            await self._ws.close()
        assert self._runner is not None
        await self._runner.cleanup()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def hook_url(self, n: int = 1) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/{n}"

    # ---- scripting and reading the record ---------------------------------------------------------

    def fail(self, method: str, *, status: int = 200, error: str | None = None,
             headers: dict[str, str] | None = None, times: int = 1, disconnect: bool = False) -> None:
        """The next ``times`` calls of ``method`` answer like this instead of succeeding."""
        self._script.setdefault(method, []).extend(
            Scripted(status, error, dict(headers or {}), disconnect) for _ in range(times))

    def called(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def posts(self) -> list[dict[str, Any]]:
        """The bodies of every chat.postMessage call, including refused ones."""
        return [c.body for c in self.called("chat.postMessage")]

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """Messages actually stored in a channel (what a user would see)."""
        return list(self.history.get(channel, ()))

    # ---- Web API ----------------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        raw = await request.read()
        ctype = request.headers.get("Content-Type", "")
        if "json" in ctype and raw:
            body = json.loads(raw)
        elif raw:
            body = dict(parse_qsl(raw.decode(), keep_blank_values=True))
        else:
            body = dict(request.query)
        self.calls.append(Call(method, request.method, {k.lower(): v for k, v in request.headers.items()}, body))
        script = self._script.get(method)
        if script:
            step = script.pop(0)
            if step.disconnect:
                if method == "chat.postMessage":
                    self._store(body)
                assert request.transport is not None
                request.transport.close()
                await asyncio.sleep(0.05)
                return web.Response(status=500)
            if step.status != 200 or step.error:
                payload = {"ok": False, "error": step.error or ("ratelimited" if step.status == 429 else "fatal_error")}
                return web.json_response(payload, status=step.status, headers=step.headers)
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        return web.json_response(handler(body))

    def _auth_test(self, body):
        return {"ok": True, "url": "https://test.slack.invalid/", "team": "Test", "user": "wirewatch",
                "team_id": self.team, "user_id": self.bot_user, "bot_id": "B0TEST", "is_enterprise_install": False}

    def _store(self, body) -> dict[str, Any]:
        ts = f"1700000000.{next(self._ts):06d}"
        message = {"type": "message", "ts": ts, "text": body.get("text", ""), "user": self.bot_user}
        if body.get("thread_ts"):
            message["thread_ts"] = body["thread_ts"]
        if body.get("metadata"):
            meta = body["metadata"]
            message["metadata"] = json.loads(meta) if isinstance(meta, str) else meta
        self.history.setdefault(body["channel"], []).append(message)
        return message

    def _chat_postMessage(self, body):
        message = self._store(body)
        return {"ok": True, "channel": body["channel"], "ts": message["ts"], "message": message}

    def _conversations_history(self, body):
        include = str(body.get("include_all_metadata", "")).lower() in ("1", "true")
        limit = int(body.get("limit") or 100)
        newest_first = list(reversed(self.history.get(body.get("channel", ""), [])))[:limit]
        if not include:
            newest_first = [{k: v for k, v in m.items() if k != "metadata"} for m in newest_first]
        return {"ok": True, "messages": newest_first, "has_more": False}

    # files_upload_v2: getUploadURLExternal -> POST the bytes to the upload URL -> completeUploadExternal,
    # which shares the file in the channel as a message with ``files`` (as Slack's history shows it).
    def _files_getUploadURLExternal(self, body):
        file_id = f"F{len(self.uploads) + 1:06d}"
        self.uploads[file_id] = {"filename": body.get("filename", ""), "length": int(body.get("length") or 0),
                                 "data": b""}
        return {"ok": True, "file_id": file_id, "upload_url": f"http://127.0.0.1:{self.port}/upload/{file_id}"}

    async def _upload(self, request: web.Request) -> web.Response:
        upload = self.uploads.get(request.match_info["file_id"])
        if upload is None:
            return web.Response(status=404)
        upload["data"] = await request.read()
        return web.Response(text="OK - " + str(len(upload["data"])))

    def _files_completeUploadExternal(self, body):
        files = json.loads(body.get("files") or "[]")
        shared = []
        for f in files:
            upload = self.uploads[f["id"]]
            shared.append({"id": f["id"], "name": upload["filename"], "title": f.get("title", ""),
                           "size": len(upload["data"])})
        channel = body.get("channel_id")
        if channel:
            ts = f"1700000000.{next(self._ts):06d}"
            message = {"type": "message", "ts": ts, "text": body.get("initial_comment", ""), "user": self.bot_user,
                       "files": shared}
            if body.get("thread_ts"):
                message["thread_ts"] = body["thread_ts"]
            self.history.setdefault(channel, []).append(message)
        return {"ok": True, "files": shared}

    def _apps_connections_open(self, body):
        return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket"}

    def _usergroups_users_list(self, body):
        return {"ok": True, "users": self.usergroups.get(body.get("usergroup", ""), [])}

    # ---- response_url ----------------------------------------------------------------------------

    async def _hook(self, request: web.Request) -> web.Response:
        self.hooks.append(await request.json())
        self.hook_posted.set()
        return web.Response(text="ok")

    async def wait_hook(self, count: int = 1, timeout: float = 10) -> list[dict[str, Any]]:
        async def until():
            while len(self.hooks) < count:
                self.hook_posted.clear()
                await self.hook_posted.wait()
        await asyncio.wait_for(until(), timeout)
        return self.hooks

    # ---- Socket Mode --------------------------------------------------------------------------------

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._ws = ws
        await ws.send_json({"type": "hello", "num_connections": 1})
        self._ws_ready.set()
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await self.acks.put(json.loads(msg.data))
        return ws

    async def push_slash_command(self, envelope_id: str, payload: dict[str, Any], timeout: float = 10) -> dict:
        """Push a ``slash_commands`` envelope over the socket and return the app's ack for it."""
        await asyncio.wait_for(self._ws_ready.wait(), timeout)
        assert self._ws is not None
        await self._ws.send_json({"envelope_id": envelope_id, "type": "slash_commands",
                                  "accepts_response_payload": True, "payload": payload})
        while True:
            ack = await asyncio.wait_for(self.acks.get(), timeout)
            if ack.get("envelope_id") == envelope_id:
                return ack


# ---- what Slack sends in HTTP mode ---------------------------------------------------------------------


def sign(secret: str, ts: str, body: str) -> str:
    """Slack's request signature: v0=HMAC-SHA256(secret, "v0:{timestamp}:{raw body}")."""
    return "v0=" + hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()


def command_form(stub: SlackStub, command: str, text: str, *, channel: str, user: str = "U0ANA") -> str:
    """A slash-command request body as Slack sends it (form-encoded), answering to the stub's hook."""
    return urlencode({"token": "legacy", "team_id": stub.team, "team_domain": "test", "channel_id": channel,
                      "channel_name": "desk", "user_id": user, "user_name": "ana", "command": command,
                      "text": text, "api_app_id": "A0TEST", "response_url": stub.hook_url(),
                      "trigger_id": "1.2.3"})


async def post_signed(url: str, body: str, *, secret: str, ts: str | None = None,
                      signed_body: str | None = None) -> tuple[int, str]:
    """POST ``body`` signed with ``secret`` (over ``signed_body`` if given, to fake tampering)."""
    ts = ts or str(int(time.time()))
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": ts,
               "X-Slack-Signature": sign(secret, ts, body if signed_body is None else signed_body)}
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data=body.encode(), headers=headers) as response:
            return response.status, await response.text()
