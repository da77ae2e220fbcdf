"""Fault 4, database outage: PostgreSQL drops every connection of the bot and refuses new ones for a few
seconds, mid-run, while publishers keep publishing. The bot stays up, ``/healthz`` says "degraded"
meanwhile, and once the database is back it reconnects and delivers every alert exactly once.

Restarting the machine's PostgreSQL would disturb everyone else's tests, so the outage is made on this
test's own database only: ``ALTER DATABASE ... ALLOW_CONNECTIONS false`` and ``pg_terminate_backend`` on
its sessions, which is what a restart looks like from the bot's side (connections die, new ones fail).
"""

from __future__ import annotations

import time

import pytest

from tests.conftest import _admin, _run
from tests.feedserver import FeedServer
from tests.test_scale_harness import Bot, base_env, jsonl_records, prose, rss, seed_store, tail, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(240)]

N_FEEDS = 5
OUTAGE_S = 4.0


def items(feed: int, rounds: int) -> list[tuple[str, str, str]]:
    return [(f"{feed}-{r}-{i}", f"Kupiansk {prose(f't{feed}-{r}-{i}', 6)}", prose(f"{feed}-{r}-{i}"))
            for r in range(rounds, 0, -1) for i in range(3)]


def test_connections_cut_mid_run_degrade_health_then_nothing_is_lost_or_doubled(tmp_path, pg_url, pg_server_url):
    out = tmp_path / "alerts.jsonl"
    database = pg_url.rsplit("/", 1)[1]
    expected = {t for f in range(N_FEEDS) for _, t, _ in items(f, 3)}
    with FeedServer() as feeds:
        for f in range(N_FEEDS):
            feeds.serve(f"/{f}.xml", rss(f"Outlet {f}", items(f, 1)))
        _run(seed_store(pg_url, [feeds.url(f"/{f}.xml") for f in range(N_FEEDS)], [("Kupiansk", f"jsonl:{out}")]))
        bot = Bot(base_env(tmp_path, pg_url, WIREWATCH_POLL_LEASE="11", WIREWATCH_FETCH_TIMEOUT="5",
                           WIREWATCH_PARSE_TIMEOUT="5"), tmp_path / "bot.log").start()
        degraded: list[dict] = []
        try:
            bot.wait_healthy(timeout=60)
            assert wait_until(lambda: len(jsonl_records(out)) >= N_FEEDS * 3, timeout=60), tail(bot.log_path)

            _run(_admin(pg_server_url, f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS false'))
            try:
                _run(_admin(pg_server_url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                           f"WHERE datname = '{database}'"))
                for f in range(N_FEEDS):  # published during the outage
                    feeds.serve(f"/{f}.xml", rss(f"Outlet {f}", items(f, 2)))
                ends = time.monotonic() + OUTAGE_S
                while time.monotonic() < ends:
                    status, body = bot.health()
                    if status == 503:
                        degraded.append(body)
                    time.sleep(0.3)
                assert bot.alive(), "the bot must ride out the outage, not exit"
            finally:
                _run(_admin(pg_server_url, f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS true'))

            for f in range(N_FEEDS):  # and after it
                feeds.serve(f"/{f}.xml", rss(f"Outlet {f}", items(f, 3)))
            arrived = wait_until(lambda: len(jsonl_records(out)) >= len(expected), timeout=90)
            time.sleep(3)  # longer than the delivery lease: a row still claimed would be retried by now
            after = bot.wait_healthy(timeout=30)
        finally:
            code = bot.stop()
    log = tail(bot.log_path, 4000)
    assert arrived, f"alerts missing after the outage:\n{log}"
    assert code == 0, log
    assert degraded, "/healthz never said degraded while the database refused connections"
    assert all(b["status"] == "degraded" and b["checks"]["database"].startswith("down: ") for b in degraded)
    assert after["checks"]["database"] == "up"
    records = jsonl_records(out)
    keys = [r["alert_key"] for r in records]
    assert len(keys) == len(set(keys)), f"{len(keys) - len(set(keys))} alerts written twice"
    assert {r["title"] for r in records} == expected
