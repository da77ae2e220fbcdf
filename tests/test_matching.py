"""Folding and matching: one row per case, over text written for these tests."""

from __future__ import annotations

import pytest

from bot.core.errors import QueryError
from bot.core.matching import Matcher, match_query
from bot.core.models import Entry, Watch
from bot.core.textfold import FoldedText, fold

FOLDS = [
    ("lower case", "KYIV Kyiv", "kyiv kyiv"),
    ("latin accents", "Kýiv Zaporižžja Charków Bałakleja", "kyiv zaporizzja charkow balakleja"),
    ("decomposed accent", "Cafe\u0301", "cafe"),
    ("cyrillic й kept", "Бахмут й Краматорськ", "бахмут й краматорськ"),
    ("cyrillic ї kept", "Ї ї Київ", "ї ї київ"),
    ("cyrillic ё kept", "Артёмовск", "артёмовск"),
    ("decomposed й recomposed", "и\u0306", "й"),
    ("stress mark dropped", "Изю\u0301м", "изюм"),
    ("soft hyphen dropped", "Kup\u00adiansk", "kupiansk"),
    ("apostrophe U+0027", "Куп'янськ", "куп янськ"),
    ("apostrophe U+2019", "Куп’янськ", "куп янськ"),
    ("apostrophe U+02BC", "Купʼянськ", "куп янськ"),
    ("apostrophe backtick", "Куп`янськ", "куп янськ"),
    ("apostrophe acute", "Куп´янськ", "куп янськ"),
    ("apostrophe U+2018", "Куп‘янськ", "куп янськ"),
    ("dashes", "Kupiansk—Vuzlovyi – a-b", "kupiansk vuzlovyi a b"),
    ("whitespace collapsed", "  Oskil \n\t river  ", "oskil river"),
    ("non-breaking space", "Oskil\u00a0river", "oskil river"),
    ("punctuation separates", "drone, strike! (Kharkiv)", "drone strike kharkiv"),
    ("dotted capital I", "İstanbul", "istanbul"),
    ("polish l stroke", "Łódź", "lodz"),
]


@pytest.mark.parametrize("text,expected", [f[1:] for f in FOLDS], ids=[f[0] for f in FOLDS])
def test_fold(text, expected):
    assert fold(text) == expected


@pytest.mark.parametrize("text", [f[1] for f in FOLDS], ids=[f[0] for f in FOLDS])
def test_folded_offsets_map_back_to_whole_original_words(text):
    ft = FoldedText(text)
    pos = 0
    for word in ft.text.split(" "):
        if not word:
            continue
        start, end = ft.original_span(pos, pos + len(word))
        assert fold(text[start:end]) == word
        pos += len(word) + 1


MATCHES = [
    # (id, query, title, text, matched, matched_texts)
    ("word", "war", "", "The war goes on.", True, ["war"]),
    ("whole word: not in warsaw", "war", "Warsaw hosts an award", "", False, []),
    ("whole word: not a prefix", "drone", "Dronebase raises money", "", False, []),
    ("case folded", "kharkiv", "KHARKIV UNDER FIRE", "", True, ["KHARKIV"]),
    ("accent folded in text", "kyiv", "Kýiv mayor speaks", "", True, ["Kýiv"]),
    ("accent folded in term", "Kýiv", "Kyiv mayor speaks", "", True, ["Kyiv"]),
    ("possessive", "kharkiv", "", "Kharkiv’s mayor said", True, ["Kharkiv"]),
    ("cyrillic word", "Ізюм", "", "Обстріл Ізюм вночі", True, ["Ізюм"]),
    ("cyrillic case-insensitive", "ізюм", "", "ІЗЮМ", True, ["ІЗЮМ"]),
    ("cyrillic whole word", "ліс", "", "Лісова вулиця", False, []),
    ("й is not и", "край", "", "Краи", False, []),
    ("apostrophe forms", "Куп’янськ", "", "Обстріл Купʼянськ і Куп'янськ", True, ["Купʼянськ", "Куп'янськ"]),
    ("phrase", '"Oskil river"', "", "near the Oskil river bank", True, ["Oskil river"]),
    ("phrase across line break", '"Oskil river"', "", "the Oskil\n   river", True, ["Oskil\n   river"]),
    ("phrase across punctuation dash", '"Kupiansk Vuzlovyi"', "", "Kupiansk-Vuzlovyi station", True,
     ["Kupiansk-Vuzlovyi"]),
    ("phrase words out of order", '"Oskil river"', "", "river Oskil", False, []),
    ("phrase not partial", '"Oskil river"', "", "the Oskil rivers", False, []),
    ("AND both", "drone AND Kharkiv", "Drone over Kharkiv", "", True, ["Drone", "Kharkiv"]),
    ("AND one missing", "drone AND Kharkiv", "Drone over Kyiv", "", False, []),
    ("juxtaposition", "drone Kharkiv", "Drone", "over Kharkiv", True, ["Drone", "Kharkiv"]),
    ("OR", "drone OR uav", "UAV shot down", "", True, ["UAV"]),
    ("NOT excludes", "drone AND NOT exercise", "Drone seen", "during an exercise", False, []),
    ("NOT absent", "drone AND NOT exercise", "Drone seen", "over the city", True, ["Drone"]),
    ("precedence AND over OR", "a b OR c", "", "c only", True, ["c"]),
    ("precedence: a alone is not enough", "a b OR c", "", "a only", False, []),
    ("parentheses", "a (b OR c)", "", "a and c", True, ["a", "c"]),
    ("regex", "re:/drone(s)? strikes?/i", "Drones strike depot", "", True, ["Drones strike"]),
    ("regex with word", "Kharkiv re:/\\d+ drones/", "Kharkiv", "12 drones", True, ["Kharkiv", "12 drones"]),
    ("regex no match", "Kharkiv re:/\\d+ drones/", "Kharkiv", "drones", False, []),
    ("digits", "F-16", "", "An F-16 crashed", True, ["F-16"]),
]


@pytest.mark.parametrize("query,title,text,matched,texts", [m[1:] for m in MATCHES], ids=[m[0] for m in MATCHES])
def test_match_query(query, title, text, matched, texts):
    ok, hits = match_query(query, title, text)
    assert ok is matched
    assert [h.matched_text for h in hits] == texts
    for h in hits:  # offsets point into the original field
        assert (title if h.field == "title" else text)[h.start:h.end] == h.matched_text


def test_match_query_bad_query_raises_with_column():
    with pytest.raises(QueryError) as info:
        match_query("drone AND", "t", "x")
    assert info.value.column == 7


def test_match_query_refused_regex():
    with pytest.raises(QueryError, match="RE2 cannot run"):
        match_query("re:/(a)\\1/", "t", "x")


def test_matcher_skips_bad_watches_and_reports_them():
    watches = [
        Watch(1, "drone AND NOT exercise", "console"),
        Watch(2, "NOT exercise", "console"),
        Watch(3, "(unclosed", "console"),
        Watch(4, "place:Kupiansk", "console"),  # no gazetteer passed in
        Watch(5, "Kharkiv", "console"),
    ]
    matcher = Matcher.build(watches)
    assert set(matcher.errors) == {2, 3, 4}
    assert "column" in matcher.errors[3]
    entry = Entry(feed_id=1, identity="e1", title="Drone over Kharkiv", summary="no drill")
    matches = matcher.match(entry)
    assert [(m.watch_id, m.entry_identity) for m in matches] == [(1, "e1"), (5, "e1")]
    assert [h.field for h in matches[0].hits] == ["title"]
    assert matcher.match(Entry(feed_id=1, identity="e2", title="Drone", summary="an exercise")) == []


def test_two_thousand_watches_build_and_match():
    words = [f"w{i}x" for i in range(1000)]
    watches = [Watch(i, f"{words[i]} AND NOT skip{i}", "console") for i in range(1000)]
    watches += [Watch(1000 + i, f'"{words[i]} {words[(i + 1) % 1000]}" OR zz{i}', "console") for i in range(1000)]
    matcher = Matcher.build(watches)
    assert matcher.errors == {}
    entry = Entry(feed_id=1, identity="e", title="w5x w6x", summary="w7x and skip7 and zz900")
    got = sorted(m.watch_id for m in matcher.match(entry))
    assert got == [5, 6, 1005, 1900]
    assert matcher.match(Entry(feed_id=1, identity="n", title="nothing here")) == []


def test_triggers_move_off_frequent_words_and_results_do_not_change():
    """The matcher learns that 'attack' is in every entry and re-plans the watch to wait for a rare name;
    which watches match must be exactly what each query says, before and after."""
    watches = [
        Watch(1, "(acme OR tolbrin) AND attack AND NOT exercise", "console"),
        Watch(2, '"attack on" OR varnexo', "console"),
        Watch(3, "attack", "console"),
        Watch(4, "(acme OR tolbrin) AND attack AND NOT exercise", "console"),  # same query, other channel
    ]
    matcher = Matcher.build(watches)
    texts = ["The attack on the depot", "Acme said the attack was repelled", "Tolbrin: attack, an exercise",
             "Varnexo reports an attack", "Another attack overnight"]
    atom = matcher._atom_ids[("text", "attack")]
    assert 0 in matcher._triggers[atom]  # planned without statistics: the cheaper-looking single word
    for n in range(300):
        title = texts[n % len(texts)]
        got = [m.watch_id for m in matcher.match(Entry(feed_id=1, identity=str(n), title=title))]
        expected = [w.id for w in watches if match_query(w.query, title, "")[0]]
        assert got == expected, title
    assert 0 not in matcher._triggers.get(atom, [])  # re-planned: now waits for acme or tolbrin
    rebuilt = Matcher.build(watches, previous=matcher)  # what was learnt survives a rebuild
    assert 0 not in rebuilt._triggers.get(rebuilt._atom_ids[("text", "attack")], [])


# --------------------------------------------------------------------------------------------------
# The compiled matcher against a naive oracle (every watch evaluated on its own, straight from the tree)
# --------------------------------------------------------------------------------------------------


def _oracle(query, title: str, text: str) -> tuple[bool, set[str]]:
    """``(matched, terms that occur)`` computed the slow, obvious way: fold each field, look for each term
    as a whole word (apostrophes separate words) or a phrase, evaluate the boolean tree."""
    import re2

    from bot.core.query import And, Not, Or, Phrase, Regex, Term, parse

    folded = [fold(t) for t in (title, text) if t]
    present: set[str] = set()

    def occurs(node) -> bool:
        if isinstance(node, (Term, Phrase)):
            key = fold(node.word if isinstance(node, Term) else node.text)
            hit = any(f" {key} " in f" {f} " for f in folded)
        elif isinstance(node, Regex):
            prefix = "".join(f for f in "ims" if f in node.flags)
            rx = re2.compile(f"(?{prefix}){node.pattern}" if prefix else node.pattern)
            hit = any(rx.search(t) for t in (title, text) if t)
        else:  # pragma: no cover - no places in this test
            raise TypeError(node)
        if hit:
            present.add(node.render())
        return hit

    def evaluate(node) -> bool:
        if isinstance(node, And):
            return all([evaluate(i) for i in node.items])  # a list: every term is looked at (hits)
        if isinstance(node, Or):
            return any([evaluate(i) for i in node.items])
        if isinstance(node, Not):
            return not evaluate(node.item)
        return occurs(node)

    tree = parse(query)
    matched = evaluate(tree)
    from bot.core.query import positive_atoms

    return matched, {a.render() for a in positive_atoms(tree)} & present if matched else set()


def test_many_watches_match_exactly_what_each_query_says():
    """Thousands of generated watches (keywords, phrases, AND/NOT, RE2) in one matcher, over generated
    entries with possessives and typographic apostrophes: the matcher (which plans triggers, learns
    frequencies and re-plans as it goes) must return exactly the watches, and the terms, that the naive
    oracle finds, entry after entry."""
    import random

    from bot.app.bench_inputs import ItemPool, make_watches, rare_names

    names = rare_names(300, seed=3)
    specs = make_watches(1500, names, places=False, seed=9)
    watches = [Watch(n + 1, s.query, "console") for n, s in enumerate(specs)]
    watches += [Watch(2000, "attack OR \"attack on\"", "console"), Watch(2001, "NOT-ish AND o'neill", "console")]
    # two-clause queries (matched without evaluation, through the pair tables), of every combination
    rng0 = random.Random(8)
    common = ["the", "said", "on", "of", "regional", "council", "situation", "a"]
    for n in range(300):
        a, b, c = rng0.sample(names, 3)
        w1, w2 = rng0.sample(common, 2)
        query = rng0.choice([f"{a} AND {w1}", f"({a} OR {b}) AND ({w1} OR {w2})", f'"{a} {w1}" AND {b}',
                             f'{w1} AND ("{a} {w2}" OR {c})', f"({w1} OR {a}) AND {w2}", f"{a} AND {a}",
                             f"({a} OR {w1}) AND ({a} OR {c})"])
        watches.append(Watch(3000 + n, query, "console"))
    matcher = Matcher.build(watches)
    assert matcher.errors == {}
    pool = ItemPool(size=120, seed=4, names=names)
    rng = random.Random(1)
    checked = matched_any = 0
    for n in range(400):  # enough entries to pass several re-planning checkpoints
        frag = pool.fragments[n % len(pool.fragments)]
        title = frag.title if n % 7 else frag.title.upper()
        text = frag.html.replace("<p>", " ").replace("</p>", " ")
        if rng.random() < 0.3:
            text += f" {rng.choice(names)}'s statement."
        got = {m.watch_id: {h.term for h in m.hits} for m in matcher.match(Entry(1, str(n), title, summary=text))}
        for w in watches:
            ok, terms = _oracle(w.query, title, text)
            assert (w.id in got) == ok, (w.query, title, text)
            if ok:
                assert got[w.id] == terms, w.query
        checked += 1
        matched_any += bool(got)
    assert checked == 400 and matched_any > 100  # the generated entries do hit watches


def test_match_groups_are_match_with_one_result_per_query():
    """``match_groups`` (what the service reads) and ``match`` give the same answer: the groups, fanned
    out to their watches in build order, are ``match``'s list, and a group holds exactly the watches that
    share its query."""
    from bot.app.bench_inputs import ItemPool, make_watches, rare_names

    names = rare_names(200, seed=5)
    specs = make_watches(600, names, places=False, seed=2)
    watches = [Watch(n + 1, s.query, "console") for n, s in enumerate(specs)]
    # the same queries again, by other channels, interleaved with new ones
    watches += [Watch(1000 + n, specs[n].query, "slack:C2") for n in range(0, 600, 4)]
    watches.insert(10, Watch(5000, specs[300].query, "slack:C3"))
    matcher = Matcher.build(watches)
    position = {w.id: n for n, w in enumerate(watches)}
    query_of = {w.id: w.query for w in watches}
    pool = ItemPool(size=80, seed=6, names=names)
    shared = 0
    for n, frag in enumerate(pool.fragments):
        entry = Entry(1, str(n), frag.title, summary=frag.html)
        groups = matcher.match_groups(entry)
        fanned = sorted(((wid, g.hits) for g in groups for wid in g.watch_ids), key=lambda m: position[m[0]])
        assert fanned == [(m.watch_id, m.hits) for m in matcher.match(entry)]
        for g in groups:
            assert list(g.watch_ids) == sorted(g.watch_ids, key=position.get)
            assert {query_of[w] for w in g.watch_ids} == {query_of[g.watch_ids[0]]}
            assert len(g.watch_ids) == sum(1 for w in watches if w.query == query_of[g.watch_ids[0]])
            shared += len(g.watch_ids) > 1
        firsts = [position[g.watch_ids[0]] for g in groups]
        assert firsts == sorted(firsts)
    assert shared > 20  # groups of several watches were exercised
