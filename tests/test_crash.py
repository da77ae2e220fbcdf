"""Kill the bot with SIGKILL while it runs, start it again, and count the alerts: each exactly once.

This drives the real ``wirewatch`` command in subprocesses against feeds served on loopback and a
SQLite database, the way a user runs it; the JSON Lines destination is the record of what was sent.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.feedserver import FeedServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

WIREWATCH = [sys.executable, "-m", "bot.app.cli"]
N_FEEDS = 6
ITEMS = 20


def words(seed: str, n: int) -> str:
    """Letters-only nonsense words of their own for every item: distinct stories for the story index
    (items sharing a description and near-identical titles would rightly be one story)."""
    digest = hashlib.sha256(seed.encode()).hexdigest() * 2
    letters = digest.translate(str.maketrans("0123456789abcdef", "ghijklmnopqrstuv"))
    return " ".join(letters[k:k + 6] for k in range(0, 6 * n, 6))


def title_of(feed: int, r: int, i: int) -> str:
    return f"Kupiansk {words(f'title {feed} {r} {i}', 3)}"


def feed_body(feed: int, rounds: int) -> bytes:
    items = []
    for r in range(rounds, 0, -1):
        for i in range(ITEMS):
            link = f"https://news.example/{feed}/{r}/{i}"
            items.append(
                f"<item><title>{title_of(feed, r, i)}</title><link>{link}</link><guid>{link}</guid>"
                f"<description>{words(f'text {feed} {r} {i}', 12)}</description></item>"
            )
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Outlet {feed}</title>'
            f"{''.join(items)}</channel></rss>").encode()


def cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(WIREWATCH + list(args), env=env, capture_output=True, text=True, timeout=60, check=True)


def jsonl_records(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_sigkill_during_runs_delivers_every_alert_once_and_none_twice(tmp_path):
    out = tmp_path / "alerts.jsonl"
    env = {
        **os.environ,
        "WIREWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'ww.db'}",
        "WIREWATCH_ALLOW_PRIVATE_NETWORKS": "1",
        "WIREWATCH_MIN_INTERVAL": "1",
        "WIREWATCH_TICK_SECONDS": "0.2",
        "WIREWATCH_DELIVERY_TICK_SECONDS": "0.1",
        "WIREWATCH_FETCH_TIMEOUT": "10",
        "WIREWATCH_PARSE_TIMEOUT": "10",
        "WIREWATCH_POLL_LEASE": "25",
        "WIREWATCH_DELIVERY_LEASE": "2",
        "WIREWATCH_ENV_FILE": str(tmp_path / "no.env"),
        "WIREWATCH_LOG_LEVEL": "WARNING",
    }
    rng = random.Random(20261126)
    with FeedServer() as server:
        for f in range(N_FEEDS):
            server.serve(f"/{f}.xml", feed_body(f, rounds=1))
            cli(env, "feed", "add", server.url(f"/{f}.xml"), "--interval", "1s", "--no-baseline")
        cli(env, "watch", "add", "Kupiansk", "--to", f"jsonl:{out}")

        kills = 0
        for run in range(8):
            if run == 4:  # the publishers add a second round of items while the bot keeps dying
                for f in range(N_FEEDS):
                    server.serve(f"/{f}.xml", feed_body(f, rounds=2))
            proc = subprocess.Popen(WIREWATCH + ["run"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(rng.uniform(0.8, 3.0))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait(timeout=10)
            assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
            proc.stderr.close()

        expected = {title_of(f, r, i) for f in range(N_FEEDS) for r in (1, 2) for i in range(ITEMS)}
        proc = subprocess.Popen(WIREWATCH + ["run"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and len(jsonl_records(out)) < len(expected):
                time.sleep(0.3)
            time.sleep(3)  # longer than the delivery lease: any row still claimed would be retried by now
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)
            stderr = proc.stderr.read().decode()
            proc.stderr.close()
        assert proc.returncode == 0, stderr[-2000:]

        health = cli(env, "feed", "list").stdout  # for the failure message: what each feed went through

    records = jsonl_records(out)
    keys = [r["alert_key"] for r in records]
    titles = [r["title"] for r in records]
    assert kills >= 6
    assert len(keys) == len(set(keys)), f"{len(keys) - len(set(keys))} alerts were written twice"
    assert set(titles) == expected, f"missing: {sorted(expected - set(titles))[:5]}\n{health}"
