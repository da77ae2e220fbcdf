"""Story clustering and corroboration, on short reports written for these tests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bot.adapters.lexicons import load_lexicons
from bot.core.stories import (
    Corroboration,
    MinHasher,
    Relation,
    StoryArticle,
    StoryIndex,
    classify,
    corroboration,
    deserves_follow_up,
    outlet_label,
    spelling_key,
    profile,
    shingles,
    story_keys,
)

T0 = datetime(2026, 3, 3, 8, 0, tzinfo=timezone.utc)

WIRE = (
    "KYIV, Ukraine (AP) — A Russian glide bomb hit an apartment block in Kupiansk on Tuesday, wounding 7 "
    "people, Kharkiv Governor Oleh Syniehubov said. \"The building is partly destroyed and people are still "
    "under the rubble,\" Syniehubov told reporters. The Ukrainian General Staff said in a statement that 14 "
    "Russian attacks were repelled near the city overnight."
)
WIRE_TITLE = "Glide bomb hits Kupiansk apartment block, wounding 7"

INDEPENDENT = (
    "Seven people were wounded in Kupiansk when a Russian aerial bomb hit a five-storey building, the head of "
    "the city military administration Andriy Besedin told Suspilne. Our correspondent saw rescuers clearing "
    "rubble in the courtyard. Police said in a statement that a criminal investigation had been opened."
)
INDEPENDENT_2 = (
    "KUPIANSK (Reuters) - A Russian guided bomb struck an apartment block in Kupiansk on Tuesday, wounding "
    "seven people, regional prosecutors said in a statement. Prosecutor Ivan Marchenko said the bomb was a "
    "FAB-500. A Reuters witness saw firefighters at the scene."
)
DENIAL = (
    "Russian Defence Ministry spokesman Igor Konashenkov denied that Russian forces struck an apartment block "
    "in Kupiansk, calling the reports of 7 wounded fake. He said the Kupiansk footage was staged."
)


def echo_text(n: int) -> str:
    return (
        f"An apartment block in Kupiansk was hit by a Russian glide bomb on Tuesday, wounding 7 people, "
        f"according to Look. Look reported that rescuers were still working at the site {n}, citing a source in "
        f"the emergency service. The attack reportedly came at night, the outlet said."
    )


def art(entry_id, outlet, title, text, hours=0):
    return StoryArticle(entry_id, outlet, title, T0 + timedelta(hours=hours), text)


@pytest.fixture(scope="module")
def lex():
    return load_lexicons()


def build(lex, articles):
    idx = StoryIndex(lex)
    assignments = [idx.add(a) for a in articles]
    return idx, assignments


def test_copies_of_one_wire_story_are_one_origin(lex):
    sites = ["Associated Press", "Kyiv Post", "Newsweek", "The Guardian", "Axios"]
    idx, asg = build(lex, [art(f"w{i}", o, WIRE_TITLE, WIRE, i) for i, o in enumerate(sites)])
    assert {a.story_id for a in asg} == {"w0"}
    c = corroboration(idx.story("w0"))
    assert c.independent_origins == 1
    assert c.copies == 4
    assert c.line == "not yet corroborated"


def test_echoes_citing_one_outlet_are_one_voice(lex):
    outlets = ["Daily Scroll", "Newsweek", "Kyiv Post", "Axios", "Censor.net", "LIGA.net"]
    titles = ["Kupiansk apartment block hit by glide bomb, 7 wounded", "Glide bomb wounds 7 in Kupiansk block",
              "Seven wounded as glide bomb hits Kupiansk apartment block", "Kupiansk: glide bomb hits block, 7 hurt",
              "Glide bomb strike on Kupiansk apartment block wounds 7", "7 wounded in Kupiansk glide bomb attack"]
    idx, asg = build(lex, [art(f"e{i}", o, titles[i], echo_text(i), i) for i, o in enumerate(outlets)])
    assert {a.story_id for a in asg} == {"e0"}
    c = corroboration(idx.story("e0"))
    assert c.independent_origins == 1
    assert c.line == "echoed by 6 outlets, all citing Look"


def test_two_independent_reports_corroborate(lex):
    idx, asg = build(lex, [
        art("a", "Associated Press", WIRE_TITLE, WIRE),
        art("b", "Suspilne", "Seven wounded as bomb hits Kupiansk apartment block", INDEPENDENT, 2),
    ])
    assert asg[1].story_id == "a"
    c = corroboration(idx.story("a"))
    assert c.independent_origins == 2
    assert c.line == "corroborated by 2 independent outlets (Associated Press, Suspilne)"


def test_copy_of_an_independent_report_joins_that_report(lex):
    idx, _ = build(lex, [
        art("a", "Associated Press", WIRE_TITLE, WIRE),
        art("b", "Reuters", "Russian guided bomb strikes Kupiansk apartment block, 7 wounded", INDEPENDENT_2, 1),
        art("c", "The Telegraph", "Russian guided bomb strikes Kupiansk apartment block, 7 wounded", INDEPENDENT_2, 2),
        art("d", "Suspilne", "Seven wounded as bomb hits Kupiansk apartment block", INDEPENDENT, 3),
    ])
    c = corroboration(idx.story("a"))
    assert dict(c.relations)["c"] == Relation.COPY.value
    assert c.line == "corroborated by 3 independent outlets (Associated Press, Reuters, Suspilne)"


def test_denial_disputes(lex):
    idx, asg = build(lex, [
        art("a", "Associated Press", WIRE_TITLE, WIRE),
        art("t", "TASS", "Moscow denies strike on Kupiansk apartment block, calls 7 wounded fake", DENIAL, 2),
    ])
    assert asg[1].story_id == "a"
    c = corroboration(idx.story("a"))
    assert c.disputed_by == ("TASS",)
    assert c.line == "disputed by TASS"


def test_same_owner_and_same_state_are_one_voice(lex):
    ria = profile(art("r", "RIA Novosti", "x", "The Defence Ministry said in a statement that 7 were hurt."), lex)
    rt = profile(art("t", "RT", "x", "Defence Ministry spokesman Igor Konashenkov said 9 drones were downed."), lex)
    unian = profile(art("u", "UNIAN", "x", "Governor Oleh Syniehubov said in a statement that 7 were hurt."), lex)
    tsn = profile(art("s", "TSN", "x", "Mayor Andriy Besedin said in a statement that the hospital was hit."), lex)
    suspilne = profile(art("p", "Suspilne", "x", "Mayor Andriy Besedin told Suspilne the hospital was hit."), lex)
    assert classify(ria, rt) == Relation.SAME_VOICE  # both state media of Russia
    assert classify(unian, tsn) == Relation.SAME_VOICE  # same owner group
    assert classify(unian, suspilne) == Relation.INDEPENDENT  # a public broadcaster is not the same voice


RELATION_ROWS = [
    ("same_wire_credit", ("AP", WIRE), ("Kyiv Post", WIRE.replace("Tuesday", "Tuesday morning")), Relation.COPY),
    ("echo_of_origin_outlet", ("Look", "Officials in Kupiansk said 7 were wounded, Governor Oleh Syniehubov said."),
     ("Daily Scroll", echo_text(1)), Relation.ECHO),
    ("unsourced_repeat", ("Associated Press", WIRE),
     ("Daily Scroll", "Seven people were wounded when a bomb hit a building in Kupiansk on Tuesday."),
     Relation.UNSOURCED),
    ("independent", ("Associated Press", WIRE), ("Suspilne", INDEPENDENT), Relation.INDEPENDENT),
    ("dispute", ("Associated Press", WIRE), ("TASS", DENIAL), Relation.DISPUTE),
]


@pytest.mark.parametrize("first,later,expected", [r[1:] for r in RELATION_ROWS], ids=[r[0] for r in RELATION_ROWS])
def test_classify(lex, first, later, expected):
    a = profile(art("1", first[0], "t", first[1]), lex)
    b = profile(art("2", later[0], "t", later[1], 1), lex)
    assert classify(a, b) == expected


def test_unrelated_stories_stay_apart_and_window_applies(lex):
    idx, asg = build(lex, [
        art("a", "Associated Press", WIRE_TITLE, WIRE),
        art("b", "Reuters", "Central bank raises key rate to 16% as inflation quickens",
            "KYIV (Reuters) - The National Bank of Ukraine raised its key rate to 16% on Thursday, governor "
            "Andriy Pyshnyy said, citing inflation of 12%.", 1),
        art("c", "Kyiv Post", WIRE_TITLE, WIRE, 24 * 5),  # the same text, five days later: a new story
    ])
    assert [a.story_id for a in asg] == ["a", "b", "c"]
    assert all(a.is_new_story for a in asg)


def test_find_and_idempotent_add_and_prune(lex):
    idx = StoryIndex(lex)
    first = idx.add(art("a", "Associated Press", WIRE_TITLE, WIRE))
    copy = art("b", "Kyiv Post", WIRE_TITLE, WIRE, 1)
    assert idx.find(copy) == "a"
    assert idx.add(copy).story_id == "a"
    assert idx.add(copy).story_id == "a" and len(idx) == 2
    assert first.is_new_story
    assert idx.prune(T0 + timedelta(minutes=30)) == 1
    assert [a.entry_id for a in idx.story("a").articles] == ["b"]


def test_rebuilding_gives_the_same_story_ids(lex):
    articles = [art("a", "Associated Press", WIRE_TITLE, WIRE),
                art("b", "Suspilne", "Seven wounded as bomb hits Kupiansk apartment block", INDEPENDENT, 2)]
    one = [StoryIndex().add(a) for a in articles][0]
    idx1, asg1 = build(lex, articles)
    idx2, asg2 = build(lex, articles)
    assert [a.story_id for a in asg1] == [a.story_id for a in asg2] == ["a", "a"]
    assert one.story_id == "a"


FOLLOW_UP_ROWS = [
    ("gained_origin", Corroboration("s", 1), Corroboration("s", 2, disputed_by=()), True),
    ("gained_dispute", Corroboration("s", 1), Corroboration("s", 1, disputed_by=("TASS",)), True),
    ("more_echoes_only", Corroboration("s", 1, echoes=2), Corroboration("s", 1, echoes=6), False),
    ("no_change", Corroboration("s", 2), Corroboration("s", 2), False),
    ("never_alerted", None, Corroboration("s", 3), False),
]


@pytest.mark.parametrize("alerted,current,expected", [r[1:] for r in FOLLOW_UP_ROWS], ids=[r[0] for r in FOLLOW_UP_ROWS])
def test_deserves_follow_up(alerted, current, expected):
    assert deserves_follow_up(alerted, current) is expected


def test_corroboration_round_trips_through_dict(lex):
    idx, _ = build(lex, [art("a", "Associated Press", WIRE_TITLE, WIRE),
                         art("t", "TASS", "Moscow denies strike on Kupiansk apartment block, calls 7 wounded fake",
                             DENIAL, 2)])
    c = corroboration(idx.story("a"))
    assert Corroboration.from_dict(c.to_dict()) == c


def test_minhash_estimates_jaccard():
    h = MinHasher(128, seed=7)
    a = shingles("Glide bomb hits Kupiansk", WIRE)
    b = shingles("Glide bomb hits Kupiansk", WIRE + " Two more people were found in the rubble later.")
    exact = len(a & b) / len(a | b)
    assert abs(MinHasher.jaccard(h.signature(a), h.signature(b)) - exact) < 0.15
    assert h.signature(a) == MinHasher(128, seed=7).signature(a)  # seeded: the same on every run


def test_story_keys_are_names_and_numbers():
    keys = story_keys("Glide bomb hits Kupiansk", "A bomb wounded 7 people and 40,000 fled, Oleh Syniehubov said.")
    assert {"kupiansk", "oleh", "syniehubov", "#40000"} <= keys
    assert "#7" not in keys  # single digits say little


@pytest.mark.parametrize(
    "spellings",
    [
        pytest.param(("Kupiansk", "Kupyansk", "Kup'yansk", "Куп\u2019янськ", "Купянск", "Купянске", "Куп'янська"),
                     id="kupiansk"),
        pytest.param(("Oskil", "Oskol", "Оскіл", "Осколу", "Оскол"), id="oskil"),
        pytest.param(("Kharkiv", "Kharkov", "Харків", "Харкові", "Харьков"), id="kharkiv"),
        pytest.param(("Izium", "Izyum", "Ізюм", "Изюм", "Ізюмі"), id="izium"),
        pytest.param(("Vitaliy", "Vitalii", "Віталій", "Виталий"), id="vitaliy"),
    ],
)
def test_spellings_of_one_name_share_a_key(spellings):
    assert len({spelling_key(s) for s in spellings}) == 1, {s: spelling_key(s) for s in spellings}


@pytest.mark.parametrize(
    "a, b",
    [
        pytest.param("Kupiansk", "Kurylivka", id="two-villages"),
        pytest.param("Kharkiv", "Kherson", id="two-cities"),
        pytest.param("Izium", "Balakliia", id="unrelated"),
        pytest.param("Moroz", "Marchenko", id="two-people"),
    ],
)
def test_different_names_keep_different_keys(a, b):
    assert spelling_key(a) != spelling_key(b)


def test_a_denial_in_other_spellings_joins_the_story_it_denies(lex):
    """The rumour spells Oskol and Kupyansk, the wire's denial Oskil and Kupiansk: one story, and the denial
    is a dispute by the wire (its copy on the rumour's own site counts as the wire's, not the site's)."""
    rumour = art("r", "Look", "Russian troops reportedly cross Oskol river near Kupyansk",
                 "Russian forces have reportedly crossed the Oskol river north of Kupyansk, according to unconfirmed "
                 "reports circulating on Telegram. Sources close to the Russian military claim that several armoured "
                 "vehicles made it to the west bank.", 0)
    denial_text = ("KHARKIV, Ukraine, March 10 (Northern Wire) - Ukraine's military on Monday denied online reports "
                   "that Russian troops had crossed the Oskil river north of Kupiansk. \"There has been no crossing. "
                   "Our drones watch every metre of that bank,\" Colonel Vitaliy Moroz, spokesman for the Oskil "
                   "operational group, said at a briefing in Kharkiv. Reporting by Marta Hrytsenko.")
    denial = art("d", "Look", "Ukraine's military denies Russian forces crossed the Oskil near Kupiansk", denial_text, 2)
    other = art("o", "Kharkiv Courier", "Drone strike damages rail depot in Kupiansk, two injured",
                "KUPIANSK, Ukraine - A drone hit the rail depot in Kupiansk on Monday, injuring two workers, the "
                "regional administration said in a statement.", 1)
    idx, asg = build(lex, [rumour, other, denial])
    assert asg[2].story_id == asg[0].story_id, "the denial joins the rumour's story"
    assert asg[1].story_id != asg[0].story_id, "another Kupiansk story stays apart"
    corr = corroboration(idx.story(asg[0].story_id))
    assert corr.disputed_by == ("Northern Wire",), corr


def test_items_sharing_a_boilerplate_description_stay_separate_stories(lex):
    """Some feeds give every item the same description; different headlines are different stories."""
    boiler = ("Read the full story on our website. Subscribe to our newsletter for the latest news from "
              "the region, updated every hour by our editors in Kharkiv and Kyiv.")
    titles = ["Bridge over the Oskil damaged by drone strike", "Hospital in Izium reopens surgical wing",
              "Power restored in Balakliia after overnight attack"]
    idx, asg = build(lex, [art(f"b{i}", "Regional Desk", t, boiler, i) for i, t in enumerate(titles)])
    assert len({a.story_id for a in asg}) == 3


@pytest.mark.parametrize(
    "title, label",
    [
        pytest.param("Look | Breaking news, fast", "Look", id="pipe"),
        pytest.param("Northern Wire: Ukraine", "Northern Wire", id="colon"),
        pytest.param("Kharkiv Courier", "Kharkiv Courier", id="plain"),
        pytest.param("Слобідські новини — Харківщина", "Слобідські новини", id="dash"),
        pytest.param("Reuters - World News", "Reuters", id="hyphen"),
        pytest.param("Stop-Press", "Stop-Press", id="hyphen-in-a-name-stays"),
    ],
)
def test_outlet_label_is_the_outlet_not_the_feed_section(title, label):
    assert outlet_label(title) == label
