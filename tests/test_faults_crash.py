"""Fault 2, crashes: SIGKILL workers at random moments of polling and delivering, over and over, and
restart them; at the end every matching item has produced exactly one alert at each destination (a JSON
Lines file, two Slack channels and a Discord channel on loopback stand-ins): none lost, none doubled.

Four ``wirewatch run`` processes share one PostgreSQL database: two ``--role poller`` and two
``--role sender``. Each, once up (its log says it runs), is killed after a random 0.2-1.5 s of work and
started again at once, until 20 kills. The publishers add a second round of items half-way through the killing.

Small counts keep the Slack stand-in's honest pacing (one message a second per channel) from dominating
the run: 6 feeds x 2 items x 2 rounds = 24 items, each alerting the file, one of two Slack channels and
Discord: 72 alerts in all.
"""

from __future__ import annotations

import hashlib
import random
import time
from datetime import datetime, timezone

import pytest

from bot.adapters.sql_store import open_store
from tests.conftest import _run
from tests.discordstub import DiscordStub
from tests.feedserver import FeedServer
from tests.test_scale_harness import (
    Bot,
    ThreadedStub,
    base_env,
    jsonl_records,
    log_records,
    prose,
    rss,
    seed_store,
    slack_keys,
    tail,
    wait_until,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(420)]

N_FEEDS = 6
ITEMS = 2
KILLS = 20
SLACK = {"alpha": "C0ALPHA01", "bravo": "C0BRAVO02"}
DISCORD = "1300000000000000777"


def items(feed: int, rounds: int) -> list[tuple[str, str, str]]:
    out = []
    for r in range(rounds, 0, -1):
        for i in range(ITEMS):
            word = list(SLACK)[(feed + i) % 2]
            out.append((f"{feed}-{r}-{i}", f"Kupiansk {word} {prose(f't{feed}-{r}-{i}', 6)}", prose(f"{feed}-{r}-{i}")))
    return out


async def _outbox(url: str) -> tuple[list, list]:
    store = await open_store(url)
    try:
        since = datetime(2000, 1, 1, tzinfo=timezone.utc)
        return await store.list_deliveries(limit=10_000), await store.recent_entries(since)
    finally:
        await store.close()


def _nonce(key: str) -> str:
    return "ww" + hashlib.sha256(key.encode()).hexdigest()[:23]


def test_sigkill_of_pollers_and_senders_loses_and_doubles_nothing(tmp_path, pg_url):
    out = tmp_path / "alerts.jsonl"
    rng = random.Random(8_2026)
    expected_titles = {t for f in range(N_FEEDS) for _, t, _ in items(f, 2)}
    with FeedServer() as feeds, ThreadedStub() as slack, ThreadedStub(DiscordStub) as discord:
        for f in range(N_FEEDS):
            feeds.serve(f"/{f}.xml", rss(f"Outlet {f}", items(f, 1)))
        _run(seed_store(pg_url, [feeds.url(f"/{f}.xml") for f in range(N_FEEDS)],
                         [("Kupiansk", f"jsonl:{out}"), ("Kupiansk", f"discord:{DISCORD}"),
                          *((word, f"slack:{channel}") for word, channel in SLACK.items())]))
        env = base_env(
            tmp_path, pg_url, WIREWATCH_POLL_LEASE="7", WIREWATCH_FETCH_TIMEOUT="3", WIREWATCH_PARSE_TIMEOUT="3",
            WIREWATCH_DELIVERY_LEASE="4", SLACK_BOT_TOKEN="xoxb-crash-test", SLACK_SIGNING_SECRET="crash-test",
            WIREWATCH_SLACK_API_URL=slack.api_url, DISCORD_BOT_TOKEN="crash.test.token",
            WIREWATCH_DISCORD_API_URL=discord.api_url,
        )
        workers = [Bot(env, tmp_path / f"w{n}.log", role=role).start()
                   for n, role in enumerate(["poller", "poller", "sender", "sender"])]
        kills: list[str] = []
        kill_at: dict[int, float] = {}
        published = False
        try:
            deadline = time.monotonic() + 240
            while len(kills) < KILLS and time.monotonic() < deadline:
                if len(kills) >= KILLS // 2 and not published:
                    published = True  # the publishers add a round while workers keep dying
                    for f in range(N_FEEDS):
                        feeds.serve(f"/{f}.xml", rss(f"Outlet {f}", items(f, 2)))
                for n, worker in enumerate(workers):  # each worker dies after 0.2-1.5 s of work, and again
                    if not worker.ready():
                        continue
                    when = kill_at.setdefault(n, time.monotonic() + rng.uniform(0.2, 1.5))
                    if time.monotonic() >= when:
                        if worker.kill():
                            kills.append(worker.role)
                        del kill_at[n]
                        worker.start()
                time.sleep(0.05)
            assert len(kills) >= KILLS, f"only {len(kills)} kills in time"

            def all_arrived() -> bool:
                slack_total = sum(len(slack.messages(c)) for c in SLACK.values())
                return (len(jsonl_records(out)) >= len(expected_titles) and slack_total >= len(expected_titles)
                        and len(discord.messages(DISCORD)) >= len(expected_titles))

            wait_until(all_arrived, timeout=90, interval=0.3)
            time.sleep(5)  # past the delivery lease: a row still claimed somewhere would be retried by now
        finally:
            codes = [w.stop() for w in workers]
        rows, entries = _run(_outbox(pg_url))
        logs = "\n".join(tail(w.log_path, 1500) for w in workers)

    assert {c for c in codes} <= {0}, f"a worker did not stop cleanly: {codes}\n{logs}"
    assert kills.count("poller") >= 5 and kills.count("sender") >= 5, kills
    # Nothing lost: every item is stored. One alert per story: items that story clustering put in one
    # story (it may, across feeds) alert once; the stories are what must each arrive exactly once.
    stored = {e.title: e.story_key for e in entries}
    assert expected_titles <= set(stored), f"items never stored: {expected_titles - set(stored)}"
    stories = {stored[t] for t in expected_titles}
    records = jsonl_records(out)
    keys = [r["alert_key"] for r in records]
    assert len(keys) == len(set(keys)), f"{len(keys) - len(set(keys))} JSON Lines alerts written twice"
    assert {r["story_key"] for r in records} == stories, "a story without its alert, or an alert too many"
    if len(stories) < len(expected_titles):
        print(f"\nstory clustering joined {len(expected_titles)} items into {len(stories)} stories")
    assert {r.status.value for r in rows} == {"sent"}, [(r.destination, r.status.value, r.last_error) for r in rows
                                                        if r.status.value != "sent"]
    for word, channel in SLACK.items():
        got = slack_keys(slack, channel)
        wanted = {r.dedupe_key for r in rows if r.destination == f"slack:{channel}"}
        assert len(got) == len(set(got)), f"{channel}: {len(got) - len(set(got))} alerts posted twice"
        assert set(got) == wanted, channel
    nonces = [m.get("nonce") for m in discord.messages(DISCORD)]
    assert len(nonces) == len(set(nonces)), "a Discord alert was posted twice"
    assert set(nonces) == {_nonce(r.dedupe_key) for r in rows if r.destination == f"discord:{DISCORD}"}
    assert len(nonces) == len(stories)
    polled = [r for w in workers for r in log_records(w.log_path) if r.get("message") == "polled"]
    assert polled, "the pollers did work between the kills"
