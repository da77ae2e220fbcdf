"""``bot.core._scan`` (C) and the Python code it replaces give the same results.

The C module is optional (built when a compiler is there); the Python code is what runs without it.
Both are held to the same answers on generated text that mixes every kind of character the fold treats
differently (Latin with accents, Cyrillic, Greek capital sigma, combining marks, invisible characters,
apostrophes and dashes of every kind, odd whitespace, CJK, emoji, NUL), on the bench's items, and
through the whole matcher. In CI (``CI=true``) the module must have been built.
"""

from __future__ import annotations

import os
import random

import pytest

from bot.core import matching, textfold
from bot.core.models import Entry, Watch
from bot.core.textfold import _add_words, prefold

if textfold._scan is None:
    if os.environ.get("CI") == "true":
        pytest.fail("bot.core._scan was not built: setup.py needs a C compiler in CI", pytrace=False)
    pytest.skip("bot.core._scan not built (no C compiler at install): the Python code runs instead",
                allow_module_level=True)
_scan = textfold._scan

ALPHABETS = [
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    "àáâäãåæçèéêëìíîïñòóôöõøùúûüýÿßŁłŃńŚśŹźŻżĄąĘęİıŀĿđĐħĦ",
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯіїєґІЇЄҐўЎ",
    "ΑΒΓΔΣσςαβγ",
    "\u0301\u0300\u0308\u0306\u00ad\u200b\u200d\ufeff",
    textfold.APOSTROPHES + textfold.DASHES,
    " \t\n\r\x0b\x0c\x1c\x1f\x85\xa0\u2009\u3000.,;:!?\"()[]«»„“”…/\\_",
    "中文字日本語ひらがな한국어",
    "😀🇺🇦𝐀𝐁ℌ№€™µﬁ",
    "\x00",
]


def _random_text(rng: random.Random, size: int) -> str:
    weights = [40, 10, 30, 3, 2, 6, 20, 2, 2, 0.2]
    out = []
    for _ in range(size):
        alphabet = rng.choices(ALPHABETS, weights)[0]
        out.append(rng.choice(alphabet))
    return "".join(out)


def _texts() -> list[str]:
    from bot.app.bench_inputs import ItemPool

    rng = random.Random(17)
    texts = [_random_text(rng, rng.randint(0, 120)) for _ in range(3000)]
    # one script at a time, as most real text is
    for alphabet in ALPHABETS[:3]:
        texts += ["".join(rng.choice(alphabet + " ' ’") for _ in range(80)) for _ in range(100)]
    pool = ItemPool(size=60, seed=3)
    texts += [f.title for f in pool.fragments] + [f.html for f in pool.fragments]
    texts += ["", " ", "'", "''", "a'", "'a", "Kharkiv's", "O’Neill", "ΣΟΦΟΣ", "İstanbul", "Харкiв"]
    return texts


TEXTS = _texts()


def _python_prefold(text: str, monkeypatch: pytest.MonkeyPatch) -> tuple:
    with monkeypatch.context() as m:
        m.setattr(textfold, "_scan", None)
        return prefold(text)


def test_fold_is_the_python_fold(monkeypatch):
    folded_by_c = 0
    for text in TEXTS:
        assert prefold(text) == _python_prefold(text, monkeypatch), repr(text)
        folded_by_c += _scan.fold(text, textfold._FOLD_MAP) is not None
    assert folded_by_c > 500  # the C path is the common one, not a rarity


def test_fold_map_is_translate_then_lower_character_by_character():
    fold_map = textfold._FOLD_MAP
    for cp, mapped in enumerate(fold_map):
        if mapped != "\0":
            assert chr(cp).translate(textfold._TABLE).lower() == mapped
    assert fold_map[ord("Σ")] == "\0"  # lowers to σ or ς by what follows: the general path decides
    assert _scan.fold("Σ", fold_map) is None and _scan.fold("\u3041", fold_map) is None


def test_add_words_is_the_python_add_words():
    for text in TEXTS:
        pre = prefold(text)[0]
        by_c: set[str] = set()
        by_python: set[str] = set()
        _scan.add_words(pre, by_c)
        _add_words(pre, by_python)
        assert by_c == by_python, repr(text)
    words: set[str] = set()
    _scan.add_words("kharkiv's o'neill ' 'a b' x", words)
    assert words == {"kharkiv's", "kharkiv", "s", "o'neill", "o", "neill", "'", "'a", "a", "b'", "b", "x"}


def test_the_token_table_is_bounded_and_starts_over_correctly():
    _scan.clear()
    assert _scan.known() == 0
    rng = random.Random(5)
    for n in range(1500):  # 150,000 distinct tokens: more than the table keeps
        pre = " ".join(f"t{n}x{k}" for k in range(100))
        words: set[str] = set()
        _scan.add_words(pre, words)
        assert words == set(pre.split())
        if rng.random() < 0.1:  # known tokens still come back right after a restart of the table
            again: set[str] = set()
            _scan.add_words(pre, again)
            assert again == words
        assert 0 < _scan.known() <= 65536
    _scan.clear()
    assert _scan.known() == 0


def test_the_matcher_finds_the_same_with_and_without_c(monkeypatch):
    from bot.app.bench_inputs import ItemPool, make_watches, rare_names

    names = rare_names(300, seed=3)
    watches = [Watch(n + 1, s.query, "console") for n, s in enumerate(make_watches(800, names, places=False))]
    pool = ItemPool(size=150, names=names)
    entries = [Entry(1, str(n), f.title, summary=f.html) for n, f in enumerate(pool.fragments)]
    entries += [Entry(1, f"r{n}", _random_text(random.Random(n), 40), summary=text)
                for n, text in enumerate(TEXTS[:500])]

    def run() -> list:
        matcher = matching.Matcher.build(watches)
        return [matcher.match(e) for e in entries]

    with_c = run()
    with monkeypatch.context() as m:
        m.setattr(textfold, "_scan", None)
        m.setattr(matching, "add_words", _add_words)
        without_c = run()
    assert with_c == without_c
    assert sum(map(len, with_c)) > 100
