"""A loopback webhook receiver written for these tests (aiohttp.web on 127.0.0.1): a Discord-style
Execute Webhook endpoint, a Slack-style incoming webhook and a generic endpoint that verifies the
wirewatch signature the way the README tells a receiver to (its own code, not wirewatch's).

Every POST is recorded with its headers, query and raw body; answers can be scripted (status, body,
headers) for the next N posts to a path::

    async with WebhookStub(secret="s3cret") as hooks:
        hooks.fail("/slack/T0/B0/x", status=404, body="channel_not_found")
        ...
        [post] = hooks.posts("/hook/ops")
        assert post.verified
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Post:
    path: str
    headers: dict[str, str]
    query: dict[str, str]
    raw: bytes
    verified: bool | None = None  # generic endpoint: did the signature check out?

    @property
    def json(self) -> Any:
        return json.loads(self.raw)


@dataclass
class Scripted:
    status: int
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)


def receiver_verifies(secret: str, header: str, raw: bytes, tolerance_s: float = 300) -> bool:
    """As in the README: t=UNIX,v1=HEX; HEX = HMAC-SHA256(secret, f"{t}." + raw body); recent t."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    if "t" not in fields or "v1" not in fields or not fields["t"].isdigit():
        return False
    if abs(time.time() - int(fields["t"])) > tolerance_s:
        return False
    expected = hmac.new(secret.encode(), fields["t"].encode() + b"." + raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields["v1"])


class WebhookStub:
    def __init__(self, *, secret: str = ""):
        self.secret = secret
        self.record: list[Post] = []
        self.stored: list[Post] = []  # posts that were accepted (what a channel would show)
        self._script: dict[str, list[Scripted]] = {}
        self._ids = itertools.count(1_100_000_000_000_000_001)
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def __aenter__(self) -> "WebhookStub":
        app = web.Application()
        app.router.add_post("/api/webhooks/{id}/{token}", self._discord)
        app.router.add_post("/slack/{rest:.*}", self._slack)
        app.router.add_post("/hook/{name}", self._generic)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def fail(self, path: str, *, status: int, body: str = "", headers: dict[str, str] | None = None,
             times: int = 1) -> None:
        self._script.setdefault(path, []).extend(Scripted(status, body, dict(headers or {})) for _ in range(times))

    def posts(self, path: str | None = None) -> list[Post]:
        return [p for p in self.record if path is None or p.path == path]

    async def _take(self, request: web.Request) -> tuple[Post, Scripted | None]:
        post = Post(request.path, {k.lower(): v for k, v in request.headers.items()}, dict(request.query),
                    await request.read())
        self.record.append(post)
        script = self._script.get(request.path)
        return post, (script.pop(0) if script else None)

    @staticmethod
    def _scripted(step: Scripted) -> web.Response:
        return web.Response(status=step.status, body=step.body.encode(), headers=step.headers)

    async def _discord(self, request: web.Request) -> web.Response:
        post, step = await self._take(request)
        if step:
            return self._scripted(step)
        self.stored.append(post)
        if post.query.get("wait") != "true":
            return web.Response(status=204)
        message = {"id": str(next(self._ids)), "channel_id": "1", "webhook_id": request.match_info["id"],
                   **post.json}
        return web.Response(body=json.dumps(message).encode(), headers={"Content-Type": "application/json"})

    async def _slack(self, request: web.Request) -> web.Response:
        post, step = await self._take(request)
        if step:
            return self._scripted(step)
        self.stored.append(post)
        return web.Response(text="ok")

    async def _generic(self, request: web.Request) -> web.Response:
        post, step = await self._take(request)
        post.verified = receiver_verifies(self.secret, post.headers.get("x-wirewatch-signature", ""), post.raw)
        if not post.verified:
            return web.Response(status=401, text="bad signature")
        if step:
            return self._scripted(step)
        self.stored.append(post)
        return web.Response(status=202, text="accepted")
