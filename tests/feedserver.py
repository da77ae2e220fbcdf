"""A real feed server on 127.0.0.1 for the whole suite (aiohttp.web): feeds, validators, errors, redirects,
trickles, gzip bombs and oversized answers. It records every request so tests assert on what crossed
the wire (CONVENTIONS §9).

In an async test::

    async with FeedServer() as srv:
        srv.serve("/feed.xml", body, etag='"v1"')
        result = await fetcher.fetch(srv.url("/feed.xml"))
        assert srv.requests_to("/feed.xml")[0].headers["user-agent"].startswith("wirewatch/")

For a subprocess (the CLI), run it on its own thread and loop::

    with FeedServer() as srv:          # same as srv = FeedServer().start_in_thread(); ...; srv.stop()
        srv.serve_file("/feed.xml", "parsing/bbc.xml")
        subprocess.run([... , srv.url("/feed.xml")])

Or use the fixtures: ``feed_server`` (async, in the test's loop) and ``feed_server_thread`` (thread).
Routes can be registered or replaced at any time, also from another thread. Unknown paths answer 404.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import threading
import zlib
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Awaitable, Callable, Mapping

import pytest
import pytest_asyncio
from aiohttp import web

SAMPLES = Path(__file__).parent / "samples"
RSS = "application/rss+xml; charset=utf-8"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

__all__ = [
    "FeedServer", "RecordedRequest", "SAMPLES", "feed_server", "feed_server_thread", "gzip_bomb_bytes",
    "unused_port", "tiny_rss",
]


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: str
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names


def tiny_rss(title: str = "Loopback test feed", items: int = 1) -> bytes:
    """A small valid RSS 2.0 document, written here for the tests."""
    entries = "".join(
        f"<item><title>Item {i}</title><link>http://example.org/items/{i}</link>"
        f"<guid>http://example.org/items/{i}</guid></item>"
        for i in range(1, items + 1)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{title}</title><link>http://example.org/</link><description>test</description>"
        f"{entries}</channel></rss>"
    ).encode()


@functools.lru_cache(maxsize=4)
def gzip_bomb_bytes(size: int) -> bytes:
    """``size`` zero bytes, gzip-compressed (about 1000:1), built a MiB at a time to stay small."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: gzip container
    block = bytes(1024 * 1024)
    parts = []
    remaining = size
    while remaining > 0:
        n = min(remaining, len(block))
        parts.append(compressor.compress(block[:n]))
        remaining -= n
    parts.append(compressor.flush())
    return b"".join(parts)


def unused_port() -> int:
    """A loopback port that nothing listens on (bound, then released): connecting to it is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _etag_matches(if_none_match: str, etag: str) -> bool:
    """Weak comparison (RFC 9110 §13.1.2): ``W/"x"`` matches ``"x"``; ``*`` matches anything."""
    def strip(tag: str) -> str:
        tag = tag.strip()
        return tag[2:] if tag.startswith("W/") else tag

    wanted = [strip(t) for t in if_none_match.split(",")]
    return "*" in wanted or strip(etag) in wanted


def _not_modified_since(if_modified_since: str, last_modified: str) -> bool:
    try:
        return parsedate_to_datetime(last_modified) <= parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError, IndexError):
        return False


class FeedServer:
    """Loopback HTTP server with per-path behaviours. See the module docstring for use."""

    def __init__(self, host: str = "127.0.0.1"):
        self.host = host
        self.port: int = 0
        self.requests: list[RecordedRequest] = []
        self._routes: dict[str, Handler] = {}
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None

    # ---- addresses and records ------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]

    def hits(self, path: str) -> int:
        return len(self.requests_to(path))

    # ---- behaviours -------------------------------------------------------------------------------

    def handler(self, path: str, fn: Handler) -> None:
        """Any custom aiohttp handler (for sequences of answers and other one-offs)."""
        self._routes[path] = fn

    def serve(
        self, path: str, body: bytes, content_type: str = RSS, *, etag: str | None = None,
        last_modified: str | None = None, headers: Mapping[str, str] | None = None, status: int = 200,
    ) -> None:
        """Serve ``body``; with ``etag``/``last_modified`` it sends them and answers a matching
        ``If-None-Match`` (or, without one, ``If-Modified-Since``) with 304 and no body."""
        validators = {}
        if etag is not None:
            validators["ETag"] = etag
        if last_modified is not None:
            validators["Last-Modified"] = last_modified

        async def respond(request: web.Request) -> web.StreamResponse:
            inm = request.headers.get("If-None-Match")
            ims = request.headers.get("If-Modified-Since")
            fresh = (inm is not None and etag is not None and _etag_matches(inm, etag)) or (
                inm is None and ims is not None and last_modified is not None
                and _not_modified_since(ims, last_modified)
            )
            if fresh:
                return web.Response(status=304, headers={**validators, **(headers or {})})
            return web.Response(
                status=status, body=body,
                headers={"Content-Type": content_type, **validators, **(headers or {})},
            )

        self._routes[path] = respond

    def serve_file(self, path: str, sample: str | Path, content_type: str = RSS, **kwargs) -> None:
        """Serve a file from ``tests/samples/`` (or an absolute path)."""
        file = Path(sample)
        if not file.is_absolute():
            file = SAMPLES / file
        self.serve(path, file.read_bytes(), content_type, **kwargs)

    def status(
        self, path: str, code: int, headers: Mapping[str, str] | None = None, body: bytes = b""
    ) -> None:
        async def respond(request: web.Request) -> web.StreamResponse:
            return web.Response(status=code, body=body, headers=dict(headers or {}))

        self._routes[path] = respond

    def redirect(self, path: str, to: str, code: int = 301) -> None:
        """Answer ``code`` with ``Location: to`` (a path stays relative, as some servers send it)."""
        self.status(path, code, {"Location": to})

    def slow(self, path: str, bytes_per_second: float, body: bytes | None = None) -> None:
        """Trickle ``body`` (default a small feed) at about ``bytes_per_second``, with a true
        Content-Length, so only a total time cap ends it early."""
        payload = body if body is not None else tiny_rss("Slow feed", items=20)
        step = max(1, int(bytes_per_second / 10))

        async def respond(request: web.Request) -> web.StreamResponse:
            resp = web.StreamResponse(headers={"Content-Type": RSS})
            resp.content_length = len(payload)
            await resp.prepare(request)
            try:
                for i in range(0, len(payload), step):
                    await resp.write(payload[i:i + step])
                    await asyncio.sleep(step / bytes_per_second)
                await resp.write_eof()
            except (ConnectionError, RuntimeError):
                pass  # the client gave up, which is what the test wanted
            return resp

        self._routes[path] = respond

    def gzip_bomb(self, path: str, size: int) -> None:
        """A feed whose gzip body inflates to ``size`` bytes (tiny on the wire)."""
        compressed = gzip_bomb_bytes(size)

        async def respond(request: web.Request) -> web.StreamResponse:
            return web.Response(body=compressed, headers={"Content-Type": RSS, "Content-Encoding": "gzip"})

        self._routes[path] = respond

    def large(self, path: str, size: int, *, declare_length: bool = True) -> None:
        """A ``size``-byte RSS document streamed in chunks; ``declare_length=False`` sends it chunked
        (no Content-Length), so only a running count can stop it."""
        head = b'<?xml version="1.0"?><rss version="2.0"><channel><title>Large</title><!--'
        tail = b"--></channel></rss>"
        pad = max(0, size - len(head) - len(tail))
        block = b"x" * 65536

        async def respond(request: web.Request) -> web.StreamResponse:
            resp = web.StreamResponse(headers={"Content-Type": RSS})
            if declare_length:
                resp.content_length = len(head) + pad + len(tail)
            await resp.prepare(request)
            try:
                await resp.write(head)
                left = pad
                while left > 0:
                    n = min(left, len(block))
                    await resp.write(block[:n])
                    left -= n
                await resp.write(tail)
                await resp.write_eof()
            except (ConnectionError, RuntimeError):
                pass
            return resp

        self._routes[path] = respond

    # ---- the server -------------------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        headers: dict[str, str] = {}
        for name, value in request.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        self.requests.append(RecordedRequest(request.method, request.path, request.query_string, headers))
        route = self._routes.get(request.path)
        if route is None:
            return web.Response(status=404, text=f"no route for {request.path}")
        return await route(request)

    async def start(self) -> "FeedServer":
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server  # the bound socket tells us the port the OS chose
        assert server is not None and server.sockets
        self.port = server.sockets[0].getsockname()[1]
        return self

    async def aclose(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> "FeedServer":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ---- on a thread, for subprocess tests --------------------------------------------------------

    def start_in_thread(self) -> "FeedServer":
        ready = threading.Event()
        failure: list[BaseException] = []

        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop_event = asyncio.Event()
            try:
                await self.start()
            except BaseException as exc:  # reported to the starting thread below
                failure.append(exc)
                ready.set()
                return
            ready.set()
            try:
                await self._stop_event.wait()
            finally:
                await self.aclose()

        self._thread = threading.Thread(target=asyncio.run, args=(main(),), name="feedserver", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._thread is None:
            return
        assert self._loop is not None and self._stop_event is not None
        self._loop.call_soon_threadsafe(self._stop_event.set)
        self._thread.join(10)
        self._thread = None

    def __enter__(self) -> "FeedServer":
        return self.start_in_thread()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest_asyncio.fixture
async def feed_server():
    """A FeedServer running in the test's own event loop."""
    async with FeedServer() as srv:
        yield srv


@pytest.fixture
def feed_server_thread():
    """A FeedServer on a background thread (for tests that run the CLI in a subprocess)."""
    with FeedServer() as srv:
        yield srv
