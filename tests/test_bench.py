"""`wirewatch bench --quick --json` runs and reports every figure of BENCHMARKS.md.

Deliberately no assertion on any value: timings belong to the benchmark's report, not to the test suite
(issue 9). What is checked is the shape: every figure present, numeric where it exists, pending (with the
issue named) only for the figures whose code belongs to an issue not done yet.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.app.bench import FIGURE_ORDER, PENDING_ALLOWED, poll_times, simulate_latency
from bot.app.bench_digest import DESTINATIONS, rows
from bot.core.polling import PollPolicy

ROOT = Path(__file__).resolve().parents[1]
KEYS = ("value", "unit", "baseline", "ratio", "target", "met", "min", "max")
WITH_BASELINE = ("poll_304", "poll_changed", "ingest", "match", "deliver", "latency")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    home = tmp_path_factory.mktemp("bench")
    env = {**os.environ, "WIREWATCH_DATABASE_URL": f"sqlite:///{home / 'unused.db'}",
           "WIREWATCH_ENV_FILE": str(home / "no.env")}
    proc = subprocess.run(
        [sys.executable, "-m", "bot.app.cli", "bench", "--quick", "--json"],
        cwd=home, env=env, capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "[bench" in proc.stderr  # progress goes to stderr, never into the JSON
    return json.loads(proc.stdout)  # exactly one JSON document on stdout


def test_report_has_every_figure_and_the_machine(report: dict) -> None:
    assert set(report) == {"figures", "machine"}
    assert list(report["figures"]) == list(FIGURE_ORDER)
    assert report["machine"]["mode"] == "quick"
    assert report["machine"]["cores"] >= 1


@pytest.mark.parametrize("name", FIGURE_ORDER)
def test_figure_is_numeric_or_allowed_pending(report: dict, name: str) -> None:
    fig = report["figures"][name]
    assert all(k in fig for k in KEYS), fig
    assert isinstance(fig["target"], str) and fig["target"]
    if fig["value"] is None:
        assert name in PENDING_ALLOWED, f"{name} is pending but must be measured: {fig}"
        assert fig["met"] is None and "issue" in fig["pending"]
        return
    for key in ("value", "min", "max"):
        assert isinstance(fig[key], (int, float)) and not isinstance(fig[key], bool), (key, fig)
    assert fig["min"] <= fig["value"] <= fig["max"]
    assert isinstance(fig["met"], bool)
    if name in WITH_BASELINE:
        assert isinstance(fig["baseline"], (int, float)) and isinstance(fig["ratio"], (int, float)), fig


@pytest.mark.parametrize(
    "processing, tick_s, interval_s",
    [
        pytest.param([0.5], 5.0, 60, id="default-tick"),
        pytest.param([0.05, 2.0], 1.0, 60, id="fast-tick-slow-processing"),
        pytest.param([0.1], 5.0, 300, id="five-minute-interval"),
    ],
)
def test_simulated_latency_stays_within_one_jittered_interval(processing, tick_s, interval_s) -> None:
    """The wait for the next poll is at most one jittered interval plus one tick; nothing is negative."""
    import random

    policy = PollPolicy()
    lat = simulate_latency(processing, interval_s=interval_s, tick_s=tick_s, delivery_tick_s=1.0, policy=policy,
                           rng=random.Random(1), publications=2000)
    assert len(lat) == 2000
    assert min(lat) >= min(processing)
    assert max(lat) <= max(interval_s, policy.min_interval_s) * 1.1 + tick_s + max(processing) + 1.0


@pytest.mark.parametrize(
    "processing, tick_s, interval_s",
    [
        pytest.param([0.5], 5.0, 60, id="at-the-minimum-slow-tick"),
        pytest.param([0.05, 2.0], 1.0, 60, id="at-the-minimum-default-tick-slow-processing"),
        pytest.param([0.1], 5.0, 300, id="five-minute-interval"),
        pytest.param([0.3, 0.8], 1.0, 600, id="ten-minute-interval"),
    ],
)
def test_simulated_latency_stays_within_the_interval_when_the_schedule_knows_the_tick(
    processing, tick_s, interval_s
) -> None:
    """With the tick in the policy (bootstrap puts it there), the next poll comes by the end of the interval
    counted from the previous fetch, or at most a tick past it at the minimum interval (no room to aim
    early); the item then waits for its own processing and a delivery tick."""
    import random

    policy = PollPolicy(tick_s=tick_s)
    lat = simulate_latency(processing, interval_s=interval_s, tick_s=tick_s, delivery_tick_s=1.0, policy=policy,
                           rng=random.Random(1), publications=2000)
    longest_gap = max(processing) + max(interval_s, policy.min_interval_s + tick_s)
    assert min(lat) >= min(processing)
    assert max(lat) <= longest_gap + max(processing) + 1.0
    # the schedule itself: poll to poll within the interval wherever there is room to aim a tick early (a
    # schedule blind to the tick comes up to a tick late: 305 s at 300 s / 5 s); at the minimum interval,
    # counted from the end of the fetch, the next tick after it
    polls = poll_times(processing, interval_s=interval_s, tick_s=tick_s, policy=policy, rng=random.Random(2),
                       until=200 * interval_s)
    gap = max(b - a for a, b in zip(polls, polls[1:]))
    room = interval_s >= policy.min_interval_s + tick_s
    assert gap <= (interval_s if room else policy.min_interval_s + max(processing) + tick_s) + 1e-6


def test_digest_query_is_measured_on_sqlite_and_postgres_or_says_why_not(report: dict) -> None:
    """Issue 7 has landed: digest_query may no longer be pending. SQLite is always measured; PostgreSQL
    is measured, or the figure names the server it could not reach."""
    assert "digest_query" not in PENDING_ALLOWED
    fig = report["figures"]["digest_query"]
    assert "pending" not in fig
    assert isinstance(fig["sqlite_ms"], (int, float))
    assert isinstance(fig.get("postgres_ms"), (int, float)) or "unreachable" in fig["postgres"], fig
    assert fig["n"] == fig["stored"]["entries"]
    assert fig["digest"]["match_rows"] > 0 and fig["digest"]["stories"] > 0


@pytest.mark.parametrize("n", [pytest.param(1, id="one-entry"), pytest.param(3000, id="three-thousand")])
def test_digest_bench_rows_are_a_store_that_could_exist(n: int) -> None:
    """The bulk-loaded rows respect the schema's keys: ids unique, every match names a stored entry, one
    alert per (destination, story), entries in time order inside the retention window."""
    from datetime import datetime, timedelta, timezone

    end = datetime(2025, 6, 1, tzinfo=timezone.utc)
    entries, matches, outbox = [], [], []
    for e, m, d in rows(n, end, days=90):
        entries += e
        matches += m
        outbox += d
    assert [e[0] for e in entries] == list(range(1, n + 1))
    assert all(end - timedelta(days=90) <= e[10] <= end for e in entries)
    assert [e[10] for e in entries] == sorted(e[10] for e in entries)
    ids = {e[0] for e in entries}
    assert all(m[1] in ids for m in matches)
    assert len({(m[1], m[2]) for m in matches}) == len(matches)
    assert len({(d[1], d[2]) for d in outbox}) == len(outbox)
    assert {d[1] for d in outbox} <= {f"webhook:digest{k}" for k in range(DESTINATIONS)}


def _bench(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "WIREWATCH_DATABASE_URL": f"sqlite:///{home / 'unused.db'}",
           "WIREWATCH_ENV_FILE": str(home / "no.env")}
    return subprocess.run([sys.executable, "-m", "bot.app.cli", "bench", *args], cwd=home, env=env,
                          capture_output=True, text=True, timeout=240)


def test_only_measures_the_named_figures(tmp_path: Path) -> None:
    proc = _bench(tmp_path, "--quick", "--json", "--only", "assess,match")
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(proc.stdout)
    assert list(doc["figures"]) == ["match", "assess"]  # report order, whatever order they were named in
    assert isinstance(doc["figures"]["match"]["value"], (int, float))


def test_only_with_an_unknown_figure_is_a_usage_error(tmp_path: Path) -> None:
    proc = _bench(tmp_path, "--only", "match,speed")
    assert proc.returncode == 2
    assert "speed" in proc.stderr and "poll_304" in proc.stderr  # what is wrong, and what to choose from
    assert proc.stdout == ""


def test_the_memory_figure_is_the_childs_own_peak_not_its_parents() -> None:
    """Linux keeps ``ru_maxrss`` across exec: a child of a big parent would report the parent's size (the
    memory figure once read 632 MB for a ~135 MB child). The figure reads the child's own peak."""
    parent = bytearray(200 * 1024 * 1024)
    for i in range(0, len(parent), 4096):
        parent[i] = 1  # resident, not just reserved
    code = "from bot.app.bench_memory import peak_rss_kb; print(peak_rss_kb())"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) < 150 * 1024  # a bare interpreter: tens of MB, not the parent's 200+
    del parent
