"""The watch query language: what parses to what, and what a user is told when it does not."""

from __future__ import annotations

import pytest

from bot.core.errors import QueryError
from bot.core.query import And, Near, Not, Or, Phrase, Place, Regex, Term, parse

T = Term

PARSES = [
    ("word", "drone", T("drone"), "drone"),
    ("phrase", '"Oskil river"', Phrase("Oskil river"), '"Oskil river"'),
    ("phrase whitespace collapsed", '"Oskil \t  river"', Phrase("Oskil river"), '"Oskil river"'),
    ("one-word phrase is a term", '"drone"', T("drone"), "drone"),
    ("typographic quotes", "“Oskil river”", Phrase("Oskil river"), '"Oskil river"'),
    ("juxtaposition is AND", "drone strike", And((T("drone"), T("strike"))), "drone AND strike"),
    ("explicit AND", "drone AND strike", And((T("drone"), T("strike"))), "drone AND strike"),
    ("OR", "drone OR uav", Or((T("drone"), T("uav"))), "drone OR uav"),
    ("AND binds tighter than OR", "a b OR c", Or((And((T("a"), T("b"))), T("c"))), "a AND b OR c"),
    ("AND binds tighter than OR, right", "a OR b AND c", Or((T("a"), And((T("b"), T("c"))))), "a OR b AND c"),
    ("NOT binds tightest", "drone AND NOT exercise", And((T("drone"), Not(T("exercise")))),
     "drone AND NOT exercise"),
    ("NOT juxtaposed", "drone NOT exercise", And((T("drone"), Not(T("exercise")))), "drone AND NOT exercise"),
    ("parentheses", "(a OR b) c", And((Or((T("a"), T("b"))), T("c"))), "(a OR b) AND c"),
    ("NOT of a group", "a NOT (b OR c)", And((T("a"), Not(Or((T("b"), T("c")))))), "a AND NOT (b OR c)"),
    ("nested flattening", "a AND (b AND c)", And((T("a"), T("b"), T("c"))), "a AND b AND c"),
    ("lower-case and is a word", "rock and roll", And((T("rock"), T("and"), T("roll"))),
     "rock AND and AND roll"),
    ("cyrillic word", "Куп'янськ", T("Куп'янськ"), "Куп'янськ"),
    ("keyword quoted stays a word", '"OR"', T("OR"), '"OR"'),
    ("place", "place:Kupiansk", Place("Kupiansk"), "place:Kupiansk"),
    ("place with country", 'place:"Pokrovsk,UA"', Place("Pokrovsk", "UA"), 'place:"Pokrovsk,UA"'),
    ("place country lower case", 'place:"Pokrovsk, ua"', Place("Pokrovsk", "UA"), 'place:"Pokrovsk,UA"'),
    ("place with region", 'place:"Petropavlivka, Kharkiv  Oblast"', Place("Petropavlivka", "Kharkiv Oblast"),
     'place:"Petropavlivka,Kharkiv Oblast"'),
    ("place with space", 'place:"Chasiv Yar"', Place("Chasiv Yar"), 'place:"Chasiv Yar"'),
    ("near", "near:Kupiansk~30km", Near("Kupiansk", 30.0), "near:Kupiansk~30km"),
    ("near decimal radius", "near:Kupiansk~7.5km", Near("Kupiansk", 7.5), "near:Kupiansk~7.5km"),
    ("near quoted with country", 'near:"Lyman,UA"~10km', Near("Lyman", 10.0, "UA"), 'near:"Lyman,UA"~10km'),
    ("near in a query", "near:Kupiansk~30km AND (drone OR shelling)",
     And((Near("Kupiansk", 30.0), Or((T("drone"), T("shelling"))))), "near:Kupiansk~30km AND (drone OR shelling)"),
    ("regex", "re:/drone(s)? strike/i", Regex("drone(s)? strike", "i"), "re:/drone(s)? strike/i"),
    ("regex escaped slash", r"re:/a\/b/", Regex("a/b"), r"re:/a\/b/"),
    ("regex keeps other escapes", r"re:/\d+ km/", Regex(r"\d+ km"), r"re:/\d+ km/"),
]


@pytest.mark.parametrize("text,expected,canonical", [p[1:] for p in PARSES], ids=[p[0] for p in PARSES])
def test_parse(text, expected, canonical):
    query = parse(text)
    assert query == expected
    assert str(query) == canonical
    assert parse(str(query)) == query  # the canonical text parses back to the same query


ERRORS = [
    ("empty", "", "empty query", 1),
    ("blank", "   ", "empty query", 1),
    ("unclosed paren", "(drone OR uav", "expected a closing parenthesis", 14),
    ("unclosed paren before word", "(a OR b", "expected a closing parenthesis", 8),
    ("stray close paren", "drone)", "unexpected closing parenthesis", 6),
    ("empty parens", "drone ()", "expected a term inside the parentheses", 8),
    ("unclosed quote", 'drone "Oskil river', "unclosed quote", 7),
    ("NOT at end", "drone NOT", "NOT needs a term after it", 7),
    ("AND at end", "drone AND", "AND needs a term on both sides", 7),
    ("OR at start", "OR drone", "OR needs a term on both sides", 1),
    ("AND OR", "a AND OR b", "AND needs a term on both sides", 3),
    ("only NOT", "NOT exercise", "none of its terms", 1),
    ("only NOTs", "NOT a NOT b", "none of its terms", 1),
    ("OR with a NOT branch", "drone OR NOT exercise", "none of its terms", 10),
    ("punctuation only", "drone &&", "no letter or digit", 7),
    ("too long", "a " * 251, "longer than 500 characters", 501),
    ("near without radius", "near:Kupiansk", "near: needs a radius", 14),
    ("near radius too large", "near:Kupiansk~5000km", "radius must be between", 15),
    ("place without name", "place: drone", "place: needs a place name", 1),
    ("place qualifier without letters", 'place:"Pokrovsk,12"', "two-letter country code or a region", 1),
    ("regex unclosed", "re:/drone", "unclosed regular expression", 4),
    ("regex bad flag", "re:/drone/x", "unknown regular expression flag", 11),
    ("regex without slashes", "re:drone", "re: needs a pattern between slashes", 4),
]


@pytest.mark.parametrize("text,message,column", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_parse_errors(text, message, column):
    with pytest.raises(QueryError) as info:
        parse(text)
    assert message in str(info.value)
    assert info.value.column == column
    # The message shows the query and a caret under the offending column.
    if text:
        assert str(info.value).splitlines()[-1].index("^") - 2 == column - 1
