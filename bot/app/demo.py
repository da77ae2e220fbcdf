"""``wirewatch demo``: the real pipeline, offline, in one command.

The bundled demo feeds (``seeds/demo/``) are served on 127.0.0.1 by a tiny HTTP server that speaks ETag
and 304 like a real publisher. A temporary SQLite database, the default watches (``seeds/watches.txt``)
pointed at this terminal, then two polls: the first alerts on what matches (the demo opts out of the
usual silent baseline), the second serves the feeds as they look one poll later, and only the new items
alert; unchanged feeds answer 304 and cost no parse.
"""

from __future__ import annotations

import dataclasses
import hashlib
import sys
import tempfile
from pathlib import Path

from aiohttp import web

import bot
from bot.app.bootstrap import build_app
from bot.adapters.gazetteer_index import index_ready
from bot.app.settings import Settings
from bot.core.digests import render_digest_now

SEEDS = Path(bot.__file__).resolve().parents[1] / "seeds"


class DemoFeedServer:
    """Serves the files of one directory, with strong ETags and 304s; the directory can be switched."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.requests: list[tuple[str, int]] = []
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/{name}", self._serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    async def _serve(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        path = self.directory / name
        if "/" in name or not path.is_file():
            self.requests.append((name, 404))
            raise web.HTTPNotFound()
        body = path.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if request.headers.get("If-None-Match") == etag:
            self.requests.append((name, 304))
            return web.Response(status=304, headers={"ETag": etag})
        self.requests.append((name, 200))
        ctype = "application/atom+xml" if b"<feed" in body[:500] else "application/rss+xml"
        return web.Response(body=body, headers={"ETag": etag, "Content-Type": f"{ctype}; charset=utf-8"})


def demo_feed_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.suffix in (".xml", ".rss", ".atom"))


def default_watches(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


DEMO_COUNTRIES = ("UA", "RU")  # the demo's places; an index of these builds in seconds


def demo_gazetteer(settings: Settings) -> Settings:
    """The demo's place watches need a gazetteer. Use the one configured, or the full index if it was
    built already; else a Ukraine + Russia index (built once, in seconds, in the user's cache)."""
    if settings.gazetteer_path or settings.gazetteer_countries or index_ready():
        return settings
    return dataclasses.replace(settings, gazetteer_countries=DEMO_COUNTRIES)


async def run_demo(settings: Settings, *, out=None, seeds: Path = SEEDS) -> int:
    out = out or sys.stdout
    say = lambda text="": print(text, file=out, flush=True)  # noqa: E731
    rounds = [seeds / "demo", seeds / "demo" / "update"]
    server = DemoFeedServer(rounds[0])
    await server.start()
    with tempfile.TemporaryDirectory(prefix="wirewatch-demo-") as tmp:
        demo_settings = dataclasses.replace(
            demo_gazetteer(settings), database_url=f"sqlite:///{tmp}/demo.db", allow_private_networks=True,
            min_interval_s=1,
        )
        try:
            async with build_app(demo_settings, console=out) as app:
                svc = app.service
                say(f"wirewatch demo: serving {len(demo_feed_files(rounds[0]))} demo feeds on {server.base_url}")
                say(f"database: {tmp}/demo.db (deleted when the demo ends)\n")
                for path in demo_feed_files(rounds[0]):
                    await svc.add_feed(f"{server.base_url}/{path.name}", interval_s=600, baseline=False)
                for query in default_watches(seeds / "watches.txt") + default_watches(
                        seeds / "gazetteer" / "watches.txt"):
                    watch = await svc.add_watch(query, "console", created_by="demo")
                    say(f"watching #{watch.id}: {watch.query}")
                say("\n── first poll: every matching item alerts once, even when several feeds carry it ──\n")
                first = await _poll_and_deliver(svc)
                say(f"first poll: {first[0]} feeds, {first[1]} items stored, {first[2]} alerts\n")

                server.directory = rounds[1]
                server.requests.clear()
                say("── second poll: the publishers added a few items (and edited one) ──\n")
                second = await _poll_and_deliver(svc)
                unchanged = sum(1 for _, status in server.requests if status == 304)
                say(f"second poll: {unchanged} feeds unchanged (HTTP 304, nothing parsed), "
                    f"{second[1]} new items stored, {second[2]} new alerts")
                say("\n── the daily digest (what `wirewatch digest now --to console` posts) ──\n")
                await svc.digest_now("console")
                await svc.deliver_all()
                again = await svc.digest_now("console")  # one digest per local day: this one sends nothing
                say("a second `digest now` the same day: " + render_digest_now(again, svc.clock()).replace("`", ""))
                say("\nNext: `wirewatch feed add URL`, `wirewatch watch add QUERY --to console`, `wirewatch run`.")
        finally:
            await server.stop()
    return 0


async def _poll_and_deliver(svc) -> tuple[int, int, int]:
    report = await svc.poll_due_feeds(force=True)
    delivered = await svc.deliver_all()
    return len(report.feeds), report.new_entries, delivered.sent
