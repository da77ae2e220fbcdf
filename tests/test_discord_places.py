"""Place autocomplete in Discord: ``gazetteer_index.suggest_places`` over a small index built here (any
spelling finds the place, homonyms get their region, nothing without an index), and the real discord.py
answering a gateway-shaped autocomplete interaction with those names, wired through the composition root."""

from __future__ import annotations

import json

import discord
import pytest

from bot.adapters import discord_embeds
from bot.adapters.discord_chat import DiscordChat, DiscordSession
from bot.adapters.gazetteer_index import build_index, open_places, suggest_places
from bot.app.bootstrap import build_app
from bot.app.settings import Settings
from tests.discordstub import DiscordStub, interaction
from tests.test_gazetteer import TINY

# TINY (Kupyansk, Petropavlivka, Kupiansk-Vuzlovyi, Kharkiv, Paris) and a namesake in another region.
PLACES = {**TINY, "6": {"geonameid": 6, "name": "Petropavlivka", "latitude": 48.45, "longitude": 38.9,
                        "countrycode": "UA", "population": 1200, "timezone": "Europe/Kyiv", "admin1code": "14",
                        "alternatenames": ["Петропавлівка"]}}


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    root = tmp_path_factory.mktemp("places")
    source = root / "cities.json"
    source.write_text(json.dumps(PLACES, ensure_ascii=False), encoding="utf-8")
    path = root / "gazetteer.sqlite"
    build_index(path, source=source, countries=["UA", "FR"])
    return path


@pytest.mark.parametrize(
    "typed,expected",
    [
        ("Kup", ["Kupyansk", "Kupiansk-Vuzlovyi"]),
        ("kupia", ["Kupyansk", "Kupiansk-Vuzlovyi"]),  # the index's folding: Kupiansk and Kupyansk are one key
        ("Kupiansk-V", ["Kupiansk-Vuzlovyi"]),
        ("Куп", ["Куп’янськ", "Купянск-Узловой"]),  # typed in Cyrillic: offered in Cyrillic
        ("Khar", ["Kharkiv"]),
        ("Petrop", ["Petropavlivka,Kharkiv Oblast", "Petropavlivka,Luhansk Oblast"]),  # homonyms: region
        ("Par", ["Paris"]),
        ("K", []),  # one letter would list half the world
        ("Zzyzx", []),
        ("", []),
    ],
    ids=["latin-prefix", "other-spelling", "with-dash", "cyrillic", "kh", "homonyms", "another-country",
         "one-letter", "nothing", "empty"],
)
def test_suggest_places(index, typed, expected):
    assert suggest_places(index, typed) == expected


def test_every_suggestion_resolves_to_the_place_it_names(index):
    places = open_places(index, build=False)
    for typed in ("Kup", "Петроп", "Petrop", "Khar"):
        for name in suggest_places(index, typed):
            spelled, _, qualifier = name.partition(",")
            assert places.resolve_place(spelled, qualifier).name.startswith(("Kup", "Petrop", "Khar"))
    assert {places.resolve_place(*n.split(",")).id for n in suggest_places(index, "Petrop")} == {2, 6}


def test_limit_and_no_index(index, tmp_path):
    assert suggest_places(index, "Kup", limit=1) == ["Kupyansk"]
    assert suggest_places(tmp_path / "missing.sqlite", "Kup") == []  # never builds: autocomplete must be quick
    (tmp_path / "broken.sqlite").write_bytes(b"not a database")
    assert suggest_places(tmp_path / "broken.sqlite", "Kup") == []


# ---- the real discord.py answering an autocomplete interaction --------------------------------------------


@pytest.fixture
async def stub():
    before = discord.http.Route.BASE
    async with DiscordStub() as s:
        yield s
    discord.http.Route.BASE = before


async def autocomplete(stub: DiscordStub, client: discord.Client, sub: str, typed: str) -> list[str]:
    payload = interaction("watch", sub, {"query": typed}, interaction_type=4, focused="query")
    client._connection.parse_interaction_create(payload)
    call = await stub.wait_for(lambda: next(
        (c for c in stub.calls if payload["token"] in c.path and c.route == "interaction_callback"), None))
    assert call.json["type"] == 8  # APPLICATION_COMMAND_AUTOCOMPLETE_RESULT
    choices = call.json["data"]["choices"]
    assert all(c["name"] == c["value"] and len(c["value"]) <= 100 for c in choices)
    return [c["value"] for c in choices]


async def test_watch_add_autocompletes_places_from_the_index(stub, index):
    session = DiscordSession("bot-token", stub.api_url)
    chat = DiscordChat(session, lambda command, caller: None, discord_embeds.reply_content,
                       suggest_places=lambda typed: suggest_places(index, typed))
    try:
        client = await session.ready()
        assert await autocomplete(stub, client, "add", "drone AND place:Petrop") == [
            'drone AND place:"Petropavlivka,Kharkiv Oblast"', 'drone AND place:"Petropavlivka,Luhansk Oblast"']
        assert await autocomplete(stub, client, "test", "near:Kupia") == [
            "near:Kupyansk", "near:Kupiansk-Vuzlovyi"]
        assert await autocomplete(stub, client, "add", "Kupiansk drone") == []  # not a place term: nothing
    finally:
        await chat.close()


async def test_bootstrap_wires_the_gazetteer_into_discord_autocomplete(stub, index, tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'ww.db'}", discord_bot_token="bot-places",
                        discord_api_url=stub.api_url, gazetteer_path=str(index))
    async with build_app(settings, isolated_parser=False) as app:
        client = await app.discord.session.ready()
        assert await autocomplete(stub, client, "add", "place:Khar") == ["place:Kharkiv"]
