"""The lexicon files load, every line is well-formed, and the loader says where a bad line is."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.adapters.lexicons import (
    LEXICON_FILES,
    OUTLETS_FILE,
    default_path,
    load_lexicons,
    parse_lexicon,
    parse_outlets,
)
from bot.core.errors import ConfigError

EXPECTED_CATEGORIES = {
    "attribution": {"verb", "according", "told", "outlet_verb"},
    "sources": {"document", "outlet_noun", "social", "title", "institution", "anon_head", "anon_modifier",
                "anon_rank", "anon_qualifier", "anon_reason", "vague", "pronoun", "not_name"},
    "hedges": {"evidential", "speculative", "modal", "disclaimer", "exception"},
    "evidence": {"cue", "own_reporting", "correction", "wire_credit", "domain_primary", "domain_social",
                 "path_primary"},
    "genre": {"opinion", "analysis", "live", "sponsored"},
    "headline": {"sensational"},
    "disputes": {"refute"},
}


def test_default_path_is_the_repository_seeds():
    assert default_path() == Path(__file__).resolve().parents[1] / "seeds" / "sourcing"
    for name in (*LEXICON_FILES, OUTLETS_FILE):
        assert (default_path() / name).is_file()


def test_every_file_loads_with_known_categories():
    lex = load_lexicons()
    found: dict[str, set[str]] = {}
    for e in lex.entries:
        found.setdefault(e.family, set()).add(e.category)
        assert e.origin.startswith(f"{e.family}.txt:")
    assert found == EXPECTED_CATEGORIES


def test_english_ukrainian_and_russian_are_covered():
    lex = load_lexicons()
    verbs = lex.patterns("attribution", "verb")
    hedges = lex.patterns("hedges", "evidential")
    assert {"said", "заявив", "заявил"} <= set(verbs)
    assert {"reportedly", "нібито", "якобы"} <= set(hedges)


def test_outlets_have_valid_typology():
    lex = load_lexicons()
    names = [o.name for o in lex.outlets]
    assert len(names) == len(set(names))
    assert lex.outlet("reuters.com").name == "Reuters"
    assert lex.outlet("AP").name == "Associated Press"
    assert lex.outlet("ТАСС").control == "state"
    assert lex.outlet("news.bbc.co.uk").name == "BBC"  # a subdomain of a listed domain
    assert lex.outlet("UNIAN").owner == lex.outlet("TSN").owner


BAD_LINES = [
    ("no_pattern", "verb\n", "hedges.txt:1"),
    ("empty_label_pattern", "cue  => a label\n", "hedges.txt:1"),
]


@pytest.mark.parametrize("text,where", [r[1:] for r in BAD_LINES], ids=[r[0] for r in BAD_LINES])
def test_bad_lexicon_line_names_file_and_line(text, where):
    with pytest.raises(ConfigError, match=where):
        parse_lexicon(text, "hedges", "hedges.txt")


def test_comments_labels_and_wildcards_parse():
    entries = parse_lexicon("# a comment\n\ncue  court filing => a court filing  # why\nverb  заяв*\n", "x")
    assert [(e.category, e.pattern, e.label) for e in entries] == [
        ("cue", "court filing", "a court filing"), ("verb", "заяв*", "")]


def test_bad_outlet_rows():
    header = "name\taliases\tdomains\towner\tcountry\tcontrol\twire\tnotes\n"
    with pytest.raises(ConfigError, match="outlets.tsv:2"):
        parse_outlets(header + "X\t\tx.com\tOwner\tUA\tgovernment\tno\tnote\n")
    with pytest.raises(ConfigError, match="outlets.tsv:1"):
        parse_outlets("name\tdomains\n")


def test_missing_directory_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not a directory"):
        load_lexicons(tmp_path / "nowhere")


def test_a_copied_directory_loads(tmp_path):
    for name in (*LEXICON_FILES, OUTLETS_FILE):
        (tmp_path / name).write_text((default_path() / name).read_text(encoding="utf-8"), encoding="utf-8")
    assert load_lexicons(tmp_path) == load_lexicons()


def test_core_imports_no_adapter_or_vendor():
    import ast

    allowed = {"__future__", "re", "dataclasses", "datetime", "typing", "urllib", "enum", "zlib", "random", "bot"}
    for name in ("sourcing.py", "stories.py"):
        tree = ast.parse((Path(__file__).resolve().parents[1] / "bot" / "core" / name).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                mods = [node.module or ""]
            else:
                continue
            for mod in mods:
                assert mod.split(".")[0] in allowed, (name, mod)
                assert not mod.startswith("bot.") or mod.startswith("bot.core."), (name, mod)
