"""The loopback publisher and chat stand-in for ``wirewatch bench``, run in a process of its own.

WHY a separate process: on a two-core machine a server sharing the bot's event loop (or its GIL) would
slow the side being measured and the baseline alike, but not by the same amount. Here it has its own
interpreter, and both sides of each comparison talk to the same server.

It listens on 127.0.0.1 only, on several ports: the fetcher limits concurrency per host (host:port), and
a real deployment polls many hosts, so the feeds are spread over ``--ports`` "hosts".

Routes:
  GET  /f/{i}          feed i at its current generation (``?items=n``: n items, default 30); strong ETag,
                       304 on If-None-Match
  POST /_bump          every feed moves to the next generation (body: empty) or only ``?feed=i``
  POST /hook/{dest}    the chat stand-in: records the alert, answers {"ok": true, "id": n}
  GET  /_stats         JSON counters
Prints one JSON line ``{"ports": [...]}`` on stdout when ready; exits when stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from aiohttp import web

from bot.app.bench_inputs import ITEMS_PER_FEED, ItemPool, feed_body

RSS = "application/rss+xml; charset=utf-8"
ATOM = "application/atom+xml; charset=utf-8"


class BenchServer:
    def __init__(self, pool: ItemPool):
        self.pool = pool
        self.generation = 0
        self.feed_generation: dict[int, int] = {}
        self.cache: dict[tuple[int, int], bytes] = {}
        self.hooks = 0
        self.served = {"200": 0, "304": 0}

    def _gen(self, i: int) -> int:
        return max(self.generation, self.feed_generation.get(i, 0))

    async def feed(self, request: web.Request) -> web.Response:
        i = int(request.match_info["i"])
        g = self._gen(i)
        etag = f'"{i}-{g}"'
        if request.headers.get("If-None-Match") == etag:
            self.served["304"] += 1
            return web.Response(status=304, headers={"ETag": etag})
        items = int(request.query.get("items", ITEMS_PER_FEED))
        body = self.cache.get((i, g, items))
        if body is None:
            body = self.cache[(i, g, items)] = feed_body(i, g, self.pool, items)
            self.cache.pop((i, g - 1, items), None)
        self.served["200"] += 1
        return web.Response(body=body, headers={"ETag": etag, "Content-Type": ATOM if i % 3 == 2 else RSS})

    async def bump(self, request: web.Request) -> web.Response:
        feed = request.query.get("feed")
        if feed is None:
            self.generation += 1
            self.cache.clear()
        else:
            i = int(feed)
            self.feed_generation[i] = self._gen(i) + 1
        return web.json_response({"generation": self.generation})

    async def hook(self, request: web.Request) -> web.Response:
        await request.read()
        self.hooks += 1
        return web.json_response({"ok": True, "id": self.hooks})

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response({"hooks": self.hooks, **self.served, "generation": self.generation})


async def serve(ports: int) -> None:
    server = BenchServer(ItemPool())
    app = web.Application()
    app.router.add_get("/f/{i}", server.feed)
    app.router.add_post("/_bump", server.bump)
    app.router.add_post("/hook/{dest}", server.hook)
    app.router.add_get("/_stats", server.stats)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    bound = []
    for _ in range(ports):
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        bound.append(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
    print(json.dumps({"ports": bound}), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes our stdin (or dies)
    await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.app.bench_server")
    parser.add_argument("--ports", type=int, default=10)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.ports))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
