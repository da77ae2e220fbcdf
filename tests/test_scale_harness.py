"""The harness of the scale-out and fault tests (it holds no tests): ``wirewatch run`` in subprocesses with
JSON logs on disk, the Slack stand-in on a thread of its own (the bots are other processes), and small
readers for what crossed the boundaries (JSON Lines alerts, stored Slack messages, health answers).

Everything runs on 127.0.0.1; nothing here reaches the internet.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

from tests.feedserver import unused_port
from tests.slackstub import SlackStub

WIREWATCH = [sys.executable, "-m", "bot.app.cli"]


def base_env(tmp_path: Path, database_url: str, **overrides: str) -> dict[str, str]:
    """Settings for a fast bot on loopback: short ticks and leases, JSON logs, no env file."""
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith(("WIREWATCH_", "SLACK_", "DISCORD_")) or k == "WIREWATCH_TEST_POSTGRES_URL"
    }
    env.update({
        "WIREWATCH_DATABASE_URL": database_url,
        "WIREWATCH_ALLOW_PRIVATE_NETWORKS": "1",
        "WIREWATCH_MIN_INTERVAL": "1",
        "WIREWATCH_TICK_SECONDS": "0.2",
        "WIREWATCH_DELIVERY_TICK_SECONDS": "0.1",
        "WIREWATCH_FETCH_TIMEOUT": "5",
        "WIREWATCH_PARSE_TIMEOUT": "5",
        "WIREWATCH_POLL_LEASE": "12",
        "WIREWATCH_DELIVERY_LEASE": "2",
        "WIREWATCH_ENV_FILE": str(tmp_path / "no.env"),
        "WIREWATCH_LOG_FORMAT": "json",
        "WIREWATCH_LOG_LEVEL": "INFO",
        "WIREWATCH_HTTP_PORT": "0",
        "WIREWATCH_DATABASE_POOL": "4",
    })
    env.update(overrides)
    return env


def cli(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(WIREWATCH + list(args), env=env, capture_output=True, text=True, timeout=timeout,
                          check=True)


class Bot:
    """One ``wirewatch run`` process; its stderr (JSON log lines) goes to a file that outlives it."""

    def __init__(self, env: dict[str, str], log_path: Path, *, role: str = "all", port: int | None = None):
        self.env = dict(env)
        self.role = role
        self.log_path = log_path
        self.port = port if port is not None else unused_port()
        self.env["WIREWATCH_HTTP_PORT"] = str(self.port)
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Bot":
        self._offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._ready = False
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(WIREWATCH + ["run", "--role", self.role], env=self.env,
                                     stdout=subprocess.DEVNULL, stderr=self._log)
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def ready(self) -> bool:
        """Running and past start-up: this run's log says so (a kill then lands in work, not in imports)."""
        if not self.alive():
            return False
        if not self._ready:
            with self.log_path.open("rb") as f:
                f.seek(self._offset)
                self._ready = b'"message": "wirewatch ' in f.read()
        return self._ready

    def kill(self) -> bool:
        """SIGKILL; True if it was still running (so it really died mid-work, not at its own end)."""
        assert self.proc is not None
        running = self.proc.poll() is None
        if running:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=20)
        self._log.close()
        return running

    def stop(self) -> int:
        """SIGTERM and wait: the exit status (0 for a clean stop)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(timeout=10)
        self._log.close()
        return code

    def health(self, timeout: float = 5) -> tuple[int, dict[str, Any]]:
        return get_json(f"http://127.0.0.1:{self.port}/healthz", timeout=timeout)

    def metrics(self, timeout: float = 5) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=timeout) as r:
            return r.read().decode()

    def wait_healthy(self, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            if not self.alive():
                raise AssertionError(f"the bot exited with {self.proc.returncode}:\n{tail(self.log_path)}")
            try:
                status, body = self.health()
                if status == 200:
                    return body
                last = body
            except OSError as exc:
                last = exc
            time.sleep(0.1)
        raise AssertionError(f"not healthy within {timeout} s: {last}\n{tail(self.log_path)}")


def get_json(url: str, timeout: float = 5) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def log_records(path: Path) -> list[dict[str, Any]]:
    """The JSON log lines of a run (a line cut by SIGKILL is skipped)."""
    records = []
    if not path.exists():
        return records
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def tail(path: Path, n: int = 3000) -> str:
    return path.read_text(encoding="utf-8", errors="replace")[-n:] if path.exists() else ""


def jsonl_records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


class ThreadedStub:
    """A chat stand-in (``SlackStub``, ``DiscordStub``) on its own thread and loop, for bots running in
    other processes. Reading its record from the test's thread is fine: lists only grow."""

    def __init__(self, factory: Callable[[], Any] = SlackStub) -> None:
        self.factory = factory
        self.stub: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Any:
        ready = threading.Event()

        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            async with self.factory() as stub:
                self.stub = stub
                ready.set()
                await self._stop.wait()

        self._thread = threading.Thread(target=asyncio.run, args=(main(),), name="chatstub", daemon=True)
        self._thread.start()
        assert ready.wait(10), "the chat stand-in did not start"
        assert self.stub is not None
        return self.stub

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the stub's loop (to script it while it serves)."""
        assert self._loop is not None
        done = threading.Event()
        box: list[Any] = []

        def run() -> None:
            box.append(fn())
            done.set()

        self._loop.call_soon_threadsafe(run)
        done.wait(5)
        return box[0] if box else None

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._stop is not None and self._thread is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


ThreadedSlackStub = ThreadedStub


def slack_keys(stub: SlackStub, channel: str) -> list[str]:
    """The alert keys of the messages stored in a channel, oldest first (what its members saw)."""
    keys = []
    for message in list(stub.history.get(channel, ())):
        payload = (message.get("metadata") or {}).get("event_payload") or {}
        keys.append(payload.get("idempotency_key", ""))
    return keys


async def seed_store(database_url: str, feed_urls: list[str], watches: list[tuple[str, str]], *,
                     interval_s: int = 1) -> None:
    """The feeds (polled from now on, every ``interval_s``) and the ``(query, destination)`` watches the
    bots of a fault test start with, written through the real store before any bot runs."""
    from datetime import datetime, timezone

    from bot.adapters.sql_store import open_store

    store = await open_store(database_url)
    now = datetime.now(timezone.utc)
    try:
        for url in feed_urls:
            await store.add_feed(url, interval_s=interval_s, baseline=False, now=now, first_poll_at=now)
        for query, destination in watches:
            await store.add_watch(query, destination, created_by="test", now=now)
    finally:
        await store.close()


def prose(seed: str, words: int = 12) -> str:
    """Text of its own for every seed (hash words), so that story clustering sees distinct stories:
    items sharing a description would rightly be one story told by many outlets."""
    digest = "".join(hashlib.sha256(f"{seed}/{k}".encode()).hexdigest() for k in range(1 + words // 9))
    return " ".join(digest[i:i + 7] for i in range(0, 7 * words, 7))


def rss(title: str, items: list[tuple[str, str, str]]) -> bytes:
    """A small RSS 2.0 body written for these tests: items are (guid, title, description)."""
    body = "".join(
        f"<item><title>{t}</title><link>https://news.example/{g}</link><guid>{g}</guid>"
        f"<description>{d}</description></item>"
        for g, t, d in items
    )
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{title}</title>'
            f"<link>https://news.example/</link>{body}</channel></rss>").encode()
