"""Places in the running bot and the CLI: `watch test`, `watch add` checks and warnings, `match` with the
gazetteer, and the demo's place watches. The gazetteer is the real UA+RU index, built once per session.

Feed items here are written for these tests.
"""

from __future__ import annotations

import io
import json
import sys
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

import pytest

from bot.adapters.gazetteer_index import LazyPlaces
from bot.app.cli import main
from bot.core.errors import UsageError
from bot.core.query import Place
from tests.feedserver import FeedServer

ROOT = Path(__file__).resolve().parents[1]

ITEMS = [  # (title, description): most mention drones; a few name Kupiansk in one of its spellings
    ("Drone attack on a depot", "A drone hit a fuel depot overnight, officials said."),
    ("Drones over the border", "Several drones were shot down."),
    ("Обстріл Куп'янська", "Російські війська обстріляли Куп'янськ вночі; дрон влучив у склад."),
    ("Shelling near Petropavlivka", "Villages east of Kupyansk came under fire."),
    ("Grain exports rise", "Ports handled more ships this week."),
]


def rss(count: int) -> bytes:
    now = datetime.now(timezone.utc)
    items = []
    for n in range(count):
        title, text = ITEMS[n % len(ITEMS)]
        when = format_datetime(now - timedelta(hours=n))
        items.append(f"<item><title>{title} ({n})</title><link>https://desk.example/{n}</link><guid>g{n}</guid>"
                     f"<pubDate>{when}</pubDate><description>{text}</description></item>")
    return ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Desk</title>'
            "<link>https://desk.example/</link>" + "".join(items) + "</channel></rss>").encode()


@pytest.fixture
def env(tmp_path, monkeypatch, ua_ru_gazetteer):
    monkeypatch.setenv("WIREWATCH_DATABASE_URL", f"sqlite:///{tmp_path / 'ww.db'}")
    monkeypatch.setenv("WIREWATCH_ENV_FILE", str(tmp_path / "none.env"))
    monkeypatch.setenv("WIREWATCH_ALLOW_PRIVATE_NETWORKS", "1")
    monkeypatch.setenv("WIREWATCH_MIN_INTERVAL", "1")
    monkeypatch.setenv("WIREWATCH_GAZETTEER_PATH", str(ua_ru_gazetteer))
    monkeypatch.setenv("WIREWATCH_GAZETTEER_COUNTRIES", "UA,RU")
    return tmp_path


def run(capsys, *argv: str, stdin: str | None = None, monkeypatch=None) -> tuple[int, str, str]:
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def stored(env, capsys):
    """25 items stored through the real path: a loopback feed, `feed add --no-baseline`, `poll`."""
    with FeedServer() as server:
        server.serve("/desk.xml", rss(25))
        assert run(capsys, "feed", "add", server.url("/desk.xml"), "--no-baseline")[0] == 0
        code, out, _ = run(capsys, "poll", "--force")
        assert code == 0 and "25 new" in out, out
    return env


WATCH_TESTS = [
    # (id, query, expected count of the 25 items)
    ("word", "drone OR drones", 10),
    ("place, every spelling and case", "place:Kupiansk", 10),
    ("near, the village 7 km away", "near:Kupiansk~10km AND NOT Куп'янськ", 5),
    ("nothing", "Zaporizhzhia", 0),
]


@pytest.mark.parametrize("query,count", [w[1:] for w in WATCH_TESTS], ids=[w[0] for w in WATCH_TESTS])
def test_watch_test_counts_recent_items_with_examples(stored, capsys, query, count):
    code, out, _ = run(capsys, "watch", "test", query, "--days", "3", "--json")
    assert code == 0
    got = json.loads(out)
    assert (got["scanned"], got["matched"], got["days"]) == (25, count, 3)
    assert len(got["examples"]) == min(count, 5)
    code, out, _ = run(capsys, "watch", "test", query)
    assert code == 0
    assert (f"matches {count} of the 25 items" if count else "matches none of the 25 items") in out


def test_watch_test_days_window(stored, capsys):
    """Items are fetched now, so a one-day window still sees all of them; a bad --days is a usage error."""
    assert json.loads(run(capsys, "watch", "test", "drone", "--days", "1", "--json")[1])["scanned"] == 25
    code, _, err = run(capsys, "watch", "test", "drone", "--days", "0")
    assert code == 2 and "--days" in err


def test_watch_add_warns_when_a_query_is_too_broad(stored, capsys):
    code, out, err = run(capsys, "watch", "add", "drone OR drones OR Grain", "--to", "console")
    assert code == 0 and "added watch 1" in out
    assert "would have matched 15 of the 25 items" in err
    code, out, err = run(capsys, "watch", "add", "place:Kupiansk AND дрон", "--to", "console")
    assert code == 0 and "added watch 2" in out and err == ""


BAD_PLACES = [
    ("unknown place suggests the nearest names", "place:Kupyanks", "did you mean", "Kupiansk, UA"),
    ("ambiguous place lists candidates", "place:Petropavlivka", "ambiguous", "Kharkiv Oblast, UA (pop. 2,486)"),
    ("country code that has no such place", 'place:"Kupiansk,PL"', "there is no 'kupiansk' in 'pl'", "Kupyansk"),
    ("near: with an unknown centre", "near:Kupyanks~20km", "did you mean", "Kupiansk, UA"),
]


@pytest.mark.parametrize("query,words,example", [b[1:] for b in BAD_PLACES], ids=[b[0] for b in BAD_PLACES])
def test_watch_add_refuses_unresolvable_places(env, capsys, query, words, example):
    code, out, err = run(capsys, "watch", "add", query, "--to", "console")
    assert code == 2 and out == ""
    assert words in err.lower() and example in err
    assert run(capsys, "watch", "list", "--json")[1].strip() == "[]"


def test_match_resolves_places_and_names_the_village(env, capsys, monkeypatch):
    article = json.dumps({"title": "Обстріл Петропавлівки", "text": "Кupiansk district"}, ensure_ascii=False)
    code, out, _ = run(capsys, "match", "near:Kupiansk~30km", "--json", stdin=article, monkeypatch=monkeypatch)
    assert code == 0
    got = json.loads(out)
    assert got["matched"] is True
    assert got["hits"][0]["place"] == "Petropavlivka (7 km E of Kupiansk)"
    assert got["hits"][0]["text"] == "Петропавлівки"


def test_commands_without_places_never_open_the_gazetteer(env, capsys, monkeypatch, tmp_path):
    missing = tmp_path / "cache" / "no-index.sqlite"
    monkeypatch.setenv("WIREWATCH_GAZETTEER_PATH", str(missing))
    code, out, _ = run(capsys, "match", "drone", "--json", stdin="Drone seen\nover the river", monkeypatch=monkeypatch)
    assert code == 0 and json.loads(out)["matched"] is True
    assert run(capsys, "watch", "add", "drone", "--to", "console")[0] == 0
    assert not missing.parent.exists()


def test_a_failed_gazetteer_build_is_a_usage_error_once(tmp_path):
    """A build that fails (here: an unwritable path) is reported on place queries, not retried each time."""
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    lines: list[str] = []
    places = LazyPlaces(blocker / "index.sqlite", countries=["UA"], progress=lines.append)
    with pytest.raises(UsageError, match="could not be built"):
        places.resolve(Place("Kupiansk"))
    with pytest.raises(UsageError, match="could not be built"):
        places.resolve(Place("Kupiansk"))
    assert not places.loaded


def test_every_gazetteer_watch_of_the_demo_alerts_on_some_demo_item(ua_ru_gazetteer):
    """seeds/gazetteer/watches.txt: each place watch earns its place on the demo feeds."""
    from bot.adapters.gazetteer_index import open_places
    from bot.app.demo import default_watches, demo_feed_files
    from bot.core.matching import match_query
    from bot.core.parsing import parse_feed

    places = open_places(ua_ru_gazetteer, build=False)
    entries = []
    for path in demo_feed_files(ROOT / "seeds" / "demo"):
        entries += parse_feed(path.read_bytes(), {}, f"https://demo.example/{path.name}", 1).entries
    queries = default_watches(ROOT / "seeds" / "gazetteer" / "watches.txt")
    assert len(queries) >= 3
    for query in queries:
        assert any(match_query(query, e.title, e.summary, places=places)[0] for e in entries), query
