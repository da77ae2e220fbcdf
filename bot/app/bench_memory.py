"""The ``memory`` figure's child process: load what a bot carrying 10k feeds and 10k watches holds, then
report the peak resident set size (``VmHWM``, see ``peak_rss_kb``) as one JSON line on stdout.

WHY a child process: the peak RSS of the bench itself says nothing (it holds the story index, the
baselines and the loopback server's client); a fresh interpreter holds only what the bot would.

Loaded, and named in the output: the SQLite store with the feeds and watches, every feed claimed in one
batch (a full poll cycle's claims), the matcher over every watch (``place:``/``near:`` watches resolved
through the gazetteer index unless ``--no-places``), the sourcing lexicons, and one feed parsed and
matched so that the parser and the place scanner's memo are warm.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
from datetime import datetime, timezone
from pathlib import Path


async def load(feeds: int, watches: int, db: str, places_wanted: bool) -> dict:
    from bot.adapters.sql_store import open_store
    from bot.app.bench import insert_feeds, insert_watches, load_places
    from bot.app.bench_inputs import WATCHED_NAMES, ItemPool, feed_body, make_watches, rare_names
    from bot.core.matching import Matcher
    from bot.core.parsing import parse_feed

    loaded: list[str] = []
    places, note = load_places(False, lambda m: None) if places_wanted else (None, "gazetteer not loaded (--no-places)")
    loaded.append(note)
    names = rare_names(WATCHED_NAMES)
    specs = make_watches(watches, names, places=places is not None)
    store = await open_store(f"sqlite:///{db}")
    try:
        await insert_feeds(store, [f"http://feeds{i % 500}.example.org/feed/{i}" for i in range(feeds)])
        await insert_watches(store, specs)
        claims = await store.claim_due_feeds(datetime.now(timezone.utc), limit=feeds, lease_s=120, force=True)
        loaded.append(f"store (SQLite) with {feeds} feeds, {len(claims)} claimed in one batch")
        stored = await store.list_watches()
        matcher = Matcher.build(stored, places=places)
        loaded.append(f"matcher over {matcher.watch_count} watches ({len(matcher.errors)} skipped)")
        try:
            from bot.adapters.lexicons import load_lexicons

            load_lexicons()
            loaded.append("sourcing lexicons")
        except Exception as exc:  # noqa: BLE001 - issue 4 work in progress; say so
            loaded.append(f"sourcing lexicons not loaded ({type(exc).__name__})")
        parsed = parse_feed(feed_body(1, 0, ItemPool()), {}, "http://feeds1.example.org/feed/1", 1)
        hits = sum(len(matcher.match(e)) for e in parsed.entries)
        loaded.append(f"one feed parsed and matched ({len(parsed.entries)} entries, {hits} matches)")
    finally:
        await store.close()
    return {"peak_rss_mb": peak_rss_kb() / 1024, "loaded": "; ".join(loaded)}


def peak_rss_kb() -> int:
    """This process's peak resident set size, in kB.

    WHY not ``ru_maxrss`` alone: on Linux it survives ``exec``, so a child started by a big parent reports
    the parent's size at the fork (the bench parent holds a 50,000-article story index by the time the
    memory figure runs: the figure read 568-632 MB for a child whose own peak was ~135 MB). ``VmHWM`` in
    /proc/self/status is the peak of this program's own memory since the exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux; no /proc elsewhere


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.app.bench_memory")
    parser.add_argument("--feeds", type=int, default=10_000)
    parser.add_argument("--watches", type=int, default=10_000)
    parser.add_argument("--db", required=True)
    parser.add_argument("--no-places", action="store_true")
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(load(args.feeds, args.watches, args.db, not args.no_places))), flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
