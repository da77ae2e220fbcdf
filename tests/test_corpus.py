"""The shared corpora (not part of the project; skipped, saying why, when absent).

- feedparser-tests: feedparser's own 2,100 test files (wellformed, illformed, encodings, entities) go
  through parse_feed in the ParsePool, each under a time limit: none may raise, hang or break an invariant.
- real-feeds: 50 real feeds; the entry count of each must be the one MANIFEST.json records (capped at our
  MAX_ENTRIES), and the feed version the same.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from pathlib import Path

import pytest

from bot.adapters.parse_pool import ParsePool
from bot.core.parsing import MAX_ENTRIES, parse_feed

CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpus"
FEEDPARSER_TESTS = CORPUS / "feedparser-tests"
REAL_FEEDS = CORPUS / "real-feeds"
PER_FILE_TIMEOUT_S = 10


def _groups() -> dict[str, list[Path]]:
    groups: dict[str, list[Path]] = defaultdict(list)
    if FEEDPARSER_TESTS.is_dir():
        for path in sorted(FEEDPARSER_TESTS.rglob("*")):
            if path.is_file() and path.name != "LICENSE":
                groups[str(path.parent.relative_to(FEEDPARSER_TESTS))].append(path)
    return dict(groups)


GROUPS = _groups()


def _manifest() -> list[dict]:
    path = REAL_FEEDS / "MANIFEST.json"
    return json.loads(path.read_text()) if path.is_file() else []


MANIFEST = _manifest()


def _check(parsed) -> str | None:
    identities = [e.identity for e in parsed.entries]
    if len(identities) != len(set(identities)):
        return "duplicate identities"
    for e in parsed.entries:
        if any("\x00" in t for t in (e.title, e.summary, e.author, e.guid)):
            return "NUL in a text field"
        if e.url and not e.url.startswith(("http://", "https://")):
            return f"non-absolute url {e.url!r}"
        if e.published is not None and e.published.utcoffset().total_seconds() != 0:
            return "published not UTC"
    if parsed.problem and parsed.problem.startswith(("parse took longer", "the parse worker died", "parse failed")):
        return parsed.problem
    return None


@pytest.mark.skipif(not GROUPS, reason=f"feedparser's test files are not at {FEEDPARSER_TESTS}")
@pytest.mark.parametrize("group", sorted(GROUPS) or ["absent"])
async def test_feedparser_corpus_parses_within_the_time_limit(group):
    pool = ParsePool(workers=2, timeout_s=PER_FILE_TIMEOUT_S)
    failures: list[str] = []

    async def one(path: Path) -> None:
        parsed = await pool.parse(path.read_bytes(), {}, "http://127.0.0.1:8097/feed.xml", 1)
        reason = _check(parsed)
        if reason:
            failures.append(f"{path.relative_to(FEEDPARSER_TESTS)}: {reason}")

    try:
        await asyncio.gather(*(one(p) for p in GROUPS[group]))
    finally:
        await pool.close()
    assert failures == []


@pytest.mark.skipif(not MANIFEST, reason=f"no MANIFEST.json under {REAL_FEEDS}")
@pytest.mark.parametrize("item", MANIFEST or [{}], ids=[m.get("file", "?") for m in MANIFEST] or ["absent"])
def test_real_feed_entry_counts_match_the_manifest(item):
    parsed = parse_feed((REAL_FEEDS / item["file"]).read_bytes(), {}, "https://feeds.example.com/feed", 1)
    assert parsed.is_feed
    assert parsed.version == item["version"]
    assert len(parsed.entries) == min(item["n"], MAX_ENTRIES)
    assert _check(parsed) is None
