"""The sourcing analyser: one row per signal, on short passages written for these tests, then grading on
whole sample articles (tests/samples/articles/)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.adapters.lexicons import load_lexicons
from bot.core.sourcing import Article, assess, render_reasons

SAMPLES = Path(__file__).parent / "samples" / "articles"


@pytest.fixture(scope="module")
def lex():
    return load_lexicons()


def signals(lex, text, title="Officials describe the situation in the region", **kw):
    return assess(Article(title=title, text=text, **kw), lex).signals


def sample(name: str) -> Article:
    return Article(**json.loads((SAMPLES / name).read_text(encoding="utf-8")))


def dig(d, path):
    for part in path.split("."):
        d = d[int(part)] if part.isdigit() else d[part]
    return d


# (id, text, extra article fields, signal path, expected)
SIGNAL_ROWS = [
    ("named_inverted", "The bridge was closed on Monday, said Interior Minister Ihor Klymenko.", {},
     "named_on_record", ["Ihor Klymenko"]),
    ("named_title_before", "Kremlin spokesman Dmitry Peskov told reporters that talks had stalled.", {},
     "named_on_record", ["Dmitry Peskov"]),
    ("named_institution", "Ukraine's General Staff said 14 attacks had been repelled.", {},
     "sources.NAMED", 1),
    ("named_title_gap", "Seven people were wounded, the head of the city military administration Andriy "
     "Besedin said.", {}, "named_on_record", ["Andriy Besedin"]),
    ("pronoun_is_continuation", "Governor Oleh Syniehubov said two people were hurt. He said more were trapped.",
     {}, "named_on_record", ["Oleh Syniehubov"]),
    ("anonymous_bare", "Sources said the deal was close to being signed.", {}, "anonymous.specificity", [0]),
    ("anonymous_affiliation", "The deal is close, according to sources close to the ministry.", {},
     "anonymous.specificity", [1]),
    ("anonymous_rank", "A senior defence official said the deal was close.", {}, "anonymous.specificity", [2]),
    ("anonymous_reason", "The deal is close, said a senior official who was not authorised to speak publicly.",
     {}, "anonymous.reasons_given", 1),
    ("anonymous_familiar", "Two people familiar with the talks said the deal was close.", {},
     "sources.ANONYMOUS", 1),
    ("vague_believed", "It is believed that the bridge was hit twice overnight.", {}, "sources.VAGUE", 1),
    ("vague_reports", "The bridge was hit twice, according to media reports.", {}, "sources.VAGUE", 1),
    ("outlet_known", "The bridge was hit twice overnight, according to Reuters.", {}, "outlets_cited",
     {"Reuters": 1}),
    ("outlet_inferred_frame", "The bridge was hit twice overnight, Look reported.", {}, "outlets_cited",
     {"Look": 1}),
    ("outlet_own_is_not_secondary", "The mayor told Reuters the bridge was hit twice overnight.",
     {"outlet": "Reuters"}, "own_reporting", ["told Reuters"]),
    ("via_told_outlet", "Deputy commander Ivan Petrenko told Look that reinforcements were coming, Look reported.", {},
     "named_via", [{"name": "Ivan Petrenko", "via": "Look"}]),
    ("via_citing", "Look reported, citing a senior military official, that the brigade was withdrawn.", {},
     "attributions.1.via", "Look"),
    ("social_telegram", "Governor Oleh Syniehubov wrote on Telegram that two people were hurt.", {},
     "sources.SOCIAL", 1),
    ("document_decree", "The mobilisation age was lowered, according to a decree published on Tuesday.", {},
     "sources.DOCUMENT", 1),
    ("hedges_evidential", "The bridge was reportedly hit and the depot allegedly destroyed.", {},
     "hedges.evidential", 2),
    ("hedges_inside_quotes_ignored", '"It was reportedly hit twice and allegedly destroyed," he said.', {},
     "hedges.evidential", 0),
    ("hedges_speculative", "The offensive is expected to begin soon and will likely stall.", {},
     "hedges.speculative", 2),
    ("hedges_modal_low_weight", "The offensive could begin soon.", {}, "hedges.modal", 1),
    ("hedge_exception", "The ministry could not be reached for comment on Tuesday.", {}, "hedges.modal", 0),
    ("disclaimer", "The claims could not be independently verified by the outlet.", {},
     "verification_disclaimer", ["could not be independently verified"]),
    ("direct_quote_attributed", '"We will hold the city whatever it costs," said Oleksandr Syrskyi.', {},
     "quotes.attributed", 1),
    ("scare_quote", "Officials called the town a 'fortress' and then left it.", {}, "quotes.scare_phrases",
     ["fortress"]),
    ("scare_quote_not_direct", 'He called the plan "a third capital" in the interview.', {}, "quotes.direct", 0),
    ("primary_cue_statement", "The ministry said in a statement that the bridge was closed.", {},
     "primary.cues", ["a statement"]),
    ("primary_cue_court", "According to court documents, the commander ordered the strike.", {},
     "primary.cues", ["court documents"]),
    ("primary_link", "The decree was signed on Tuesday.", {"links": ("https://www.president.gov.ua/documents/1",)},
     "links.primary", 1),
    ("social_link_not_primary", "He posted a video.", {"links": ("https://t.me/channel/123",)}, "links.social", 1),
    ("byline_author", "The bridge was closed.", {"author": "Maria Example"}, "byline", True),
    ("byline_in_text", "By Maria Example\nThe bridge was closed.", {}, "byline", True),
    ("dateline_wire", "KYIV, Oct 5 (Reuters) - The bridge was closed, officials said.", {}, "dateline", "Kyiv"),
    ("wire_credit", "KYIV, Ukraine (AP) — The bridge was closed, officials said.", {}, "wire_credit",
     "Associated Press"),
    ("correction_note", "The bridge was closed.\nCorrection: An earlier version of this story misstated the date.",
     {}, "correction", True),
    ("type_opinion_url", "The bridge should have been closed years ago.", {"url": "https://x.example/opinion/bridge"},
     "article_type", "opinion"),
    ("type_analysis_label", "Analysis: what the closure means.\nThe bridge matters.", {}, "article_type", "analysis"),
    ("type_live_url", "09:00 The bridge was closed.", {"url": "https://x.example/live/ukraine-war"},
     "article_type", "live"),
    ("type_news_default", "The bridge was closed, the governor said.", {}, "article_type", "news"),
    ("partial_short_text", "The bridge was closed, the governor said.", {}, "partial_text", True),
    ("partial_flag", "The bridge was closed, the governor said.", {"is_summary": False}, "partial_text", False),
    ("uk_named", "Про це заявив міністр оборони Рустем Умєров.", {}, "named_on_record", ["Рустем Умєров"]),
    ("uk_hedge", "Росія нібито готує наступ на Куп'янськ.", {}, "hedges.evidential", 1),
    ("uk_outlet", "Росія готує наступ на Куп'янськ, як пише видання Look.", {}, "outlets_cited", {"Look": 1}),
    ("uk_anonymous", "За словами джерела у Генштабі, наступ почнеться восени.", {}, "sources.ANONYMOUS", 1),
    ("ru_hedge_and_anon", "По данным источников, удар якобы был нанесен ночью.", {}, "hedges.evidential", 1),
    ("ru_named", "Об этом сообщил губернатор Вячеслав Гладков.", {}, "named_on_record", ["Вячеслав Гладков"]),
    ("not_said_is_not_attribution", "The bridge is said to be closed. He did not say when.", {},
     "sources.NAMED", 0),
    ("name_with_lexicon_word", "The Institute for the Study of War, a Washington-based think tank, said Russian "
     "forces had made no confirmed advances.", {}, "named_on_record", ["Institute for the Study of War"]),
    ("outlet_after_adjective", "According to the Ukrainian outlet Ukrainska Pravda, the commander was dismissed.", {},
     "outlets_cited", {"Ukrainska Pravda": 1}),
    ("own_reporter_saw", "A Reuters reporter saw three destroyed tanks on the road to Kupiansk.",
     {"outlet": "Reuters"}, "own_reporting", ["reuters reporter"]),
    ("anonymous_told_own_outlet", "Two sources told Reuters the talks had stalled.", {"outlet": "Reuters"},
     "outlets_cited", {}),
    ("per_cent_is_not_attribution", "Prices rose 5 per cent in March.", {}, "attributions", []),
]


@pytest.mark.parametrize("text,extra,path,expected", [r[1:] for r in SIGNAL_ROWS], ids=[r[0] for r in SIGNAL_ROWS])
def test_signal(lex, text, extra, path, expected):
    assert dig(signals(lex, text, **extra), path) == expected


HEADLINE_ROWS = [
    ("overstates_hedged_body", "Russia to launch offensive on Kupiansk",
     "Russia is reportedly preparing an offensive on Kupiansk, according to unnamed sources.", True),
    ("hedged_headline_is_fine", "Russia may launch offensive on Kupiansk, sources say",
     "Russia is reportedly preparing an offensive on Kupiansk, according to unnamed sources.", False),
    ("attributed_headline_is_fine", "Zelensky: Russia prepares offensive on Kupiansk",
     "Russia is preparing an offensive on Kupiansk, President Volodymyr Zelensky said.", False),
    ("body_on_record", "Russia shells Kupiansk bridge",
     "Russian troops shelled the Kupiansk bridge on Tuesday, Governor Oleh Syniehubov said.", False),
]


@pytest.mark.parametrize("title,text,expected", [r[1:] for r in HEADLINE_ROWS], ids=[r[0] for r in HEADLINE_ROWS])
def test_headline_overstates(lex, title, text, expected):
    assert signals(lex, text, title=title)["headline"]["overstates_body"] is expected


SENSATIONAL_ROWS = [
    ("hyperbole", "SHOCKING footage from Kupiansk", True),
    ("all_caps", "RUSSIA LOSES THOUSANDS NEAR KUPIANSK", True),
    ("exclamation", "Kupiansk holds!", True),
    ("plain", "Russian assault near Kupiansk repelled, army says", False),
]


@pytest.mark.parametrize("title,expected", [r[1:] for r in SENSATIONAL_ROWS], ids=[r[0] for r in SENSATIONAL_ROWS])
def test_sensational_headline(lex, title, expected):
    assert bool(signals(lex, "The bridge was closed.", title=title)["headline"]["sensational"]) is expected


def test_wire_report_grades_above_relay(lex):
    wire = assess(sample("wire_report.json"), lex)
    relay = assess(sample("relay_rewrite.json"), lex)
    assert wire.grade == "strong"
    assert relay.grade == "weak"
    assert wire.score > relay.score
    assert relay.reasons.startswith("Weak sourcing: relays one outlet (Look); 3 anonymous sources")
    assert "1 named official (via Look)" in relay.reasons
    assert wire.reasons.startswith("Strong sourcing: ")
    assert "own reporting (Kyiv dateline)" in wire.reasons


RELAYS_THAT_MUST_NOT_BE_STRONG = [
    ("relay_with_document_and_quotes", "Army chief to be dismissed this week",
     "The army chief will be dismissed this week, Look reported, citing two senior officials familiar with the "
     "decision. The officials told Look that a decree had been drafted. \"The decision is final and will be "
     "announced on Friday,\" one of them told Look. \"Nobody in the office wants to wait any longer,\" another "
     "said, according to Look. The presidential office declined to comment to Look. Look said it had seen a "
     "draft of the decree in a statement prepared for the press."),
    ("relay_of_anonymous_claims_with_named_via", "Kremlin plans new mobilisation wave",
     "The Kremlin plans a new wave of mobilisation in the spring, according to Look. Sources in the presidential "
     "administration told Look that 300,000 people would be called up. Kremlin spokesman Dmitry Peskov told "
     "Look he had nothing to add. A person close to the General Staff told the outlet that lists were ready, "
     "and a second source confirmed the plan to Look. Look reported that the decree could be signed in March."),
]


RELAYS_THAT_MUST_NOT_BE_STRONG.append(
    ("wire_relaying_a_newspaper", "Russia weighs new offensive near Kupiansk - FT",
     "LONDON, March 3 (Reuters) - Russia is preparing a new offensive near Kupiansk, the Financial Times reported "
     "on Tuesday, citing three people familiar with the matter. Two Western officials told the newspaper that "
     "up to 40,000 troops had been massed. Kremlin spokesman Dmitry Peskov told the Financial Times he would not "
     "comment on military planning. The Financial Times said it had seen a planning document. Reuters could not "
     "immediately verify the report.\nReporting by Example Reporter; Editing by Example Editor"),
)


@pytest.mark.parametrize("title,text", [r[1:] for r in RELAYS_THAT_MUST_NOT_BE_STRONG],
                         ids=[r[0] for r in RELAYS_THAT_MUST_NOT_BE_STRONG])
def test_relay_of_one_outlet_never_strong(lex, title, text):
    a = assess(Article(title=title, text=text, outlet="Daily Scroll", is_summary=False), lex)
    assert a.grade != "strong"
    assert a.signals["single_outlet"] in ("Look", "Financial Times")
    assert a.reasons.startswith("Weak sourcing: relays one outlet") or a.grade == "moderate"


def test_opinion_is_not_graded_but_counts_are_shown(lex):
    a = assess(Article(title="Opinion: The West must not blink over Kupiansk",
                       text="Kupiansk will fall, sources said, unless the West acts now. President Volodymyr "
                            "Zelensky said so himself. The city allegedly has weeks left."), lex)
    assert a.grade == "n/a"
    assert a.reasons.startswith("Opinion: sourcing grade not applicable")
    assert "1 anonymous source" in a.reasons


def test_summary_only_is_marked_and_not_punished_for_absences(lex):
    a = assess(Article(title="Bridge closed", text="The bridge in Kupiansk was closed on Tuesday."), lex)
    assert a.reasons.endswith("(summary only)")
    rules = {p["rule"] for p in a.signals["points"]}
    assert not rules & {"no_named", "no_primary"}


def test_reasons_line_and_render(lex):
    relay = assess(sample("relay_rewrite.json"), lex)
    assert len(relay.reasons) < 200
    line = render_reasons(relay, "not yet corroborated")
    assert line.endswith(" · not yet corroborated")
    assert line.startswith("Weak sourcing: relays one outlet (Look)")
    assert len(line) < 200
    long = render_reasons(relay, "corroborated by 3 independent outlets (" + ", ".join(["Some Long Outlet Name"] * 3) + ")")
    assert len(long) < 200 and long.startswith("Weak sourcing: relays one outlet (Look)")


def test_assessment_to_dict_is_json(lex):
    d = assess(sample("wire_report.json"), lex).to_dict()
    again = json.loads(json.dumps(d))
    assert again["grade"] == "strong" and 0 <= again["score"] <= 100
    assert set(again["signals"]["sources"]) == {"DOCUMENT", "OUTLET", "NAMED", "ANONYMOUS", "VAGUE", "SOCIAL"}
    assert again["signals"]["points"]


def test_score_matches_grade_bands(lex):
    for name in ("wire_report.json", "relay_rewrite.json"):
        a = assess(sample(name), lex)
        assert (a.grade == "strong") == (a.score >= 80)
        assert (a.grade == "weak") == (a.score < 50)
