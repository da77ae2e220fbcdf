"""The watch query language: ``parse(text) -> Query``, with errors a user can read.

Grammar (one line, the same in Slack, Discord and the CLI)::

    query    := or_expr
    or_expr  := and_expr ("OR" and_expr)*
    and_expr := unary (["AND"] unary)*          juxtaposition means AND
    unary    := "NOT" unary | primary
    primary  := WORD | "\"" PHRASE "\"" | place | near | regex | "(" or_expr ")"
    place    := "place:" (NAME | "\"" NAME[,CC|,REGION] "\"")
    near     := "near:" (NAME | "\"" NAME[,CC|,REGION] "\"") "~" NUMBER "km"
    regex    := "re:/" PATTERN "/" FLAGS           (a "/" inside PATTERN is written "\\/")

Precedence is NOT > AND > OR, so ``a b OR c`` is ``(a AND b) OR c``. Keywords are upper case: a lower
case ``and`` is an ordinary word, so people can still watch for "rock and roll" as a phrase.

Why a NOT-only query is refused: ``NOT exercise`` matches nearly every article in every feed, which
floods the channel it alerts. Every query must contain at least one term that has to appear
(``drone AND NOT exercise``). The same rule lets the matcher consider a watch only when one of its
required terms occurred in an entry, which is what keeps matching fast with thousands of watches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Union

from bot.core.errors import QueryError

__all__ = [
    "MAX_QUERY_LENGTH",
    "MAX_RADIUS_KM",
    "And",
    "Near",
    "Not",
    "Or",
    "Phrase",
    "Place",
    "Query",
    "Regex",
    "Term",
    "atoms",
    "parse",
    "positive_atoms",
]

MAX_QUERY_LENGTH = 500
MAX_RADIUS_KM = 300
KEYWORDS = ("AND", "OR", "NOT")
REGEX_FLAGS = "ims"  # i: ignore case, m: ^ $ at line ends, s: . matches a newline


def _quote(text: str) -> str:
    return '"' + text.replace('"', "") + '"'


def _needs_quotes(word: str) -> bool:
    return (
        not word
        or word in KEYWORDS
        or any(c.isspace() or c in '()"' for c in word)
        or word.startswith(("place:", "near:", "re:"))
    )


@dataclass(frozen=True, slots=True)
class Term:
    """One word, matched whole (``war`` does not match ``warsaw``)."""

    word: str
    col: int = field(default=0, compare=False, repr=False)

    def render(self) -> str:
        return _quote(self.word) if _needs_quotes(self.word) else self.word

    def __str__(self) -> str:
        return self.render()


@dataclass(frozen=True, slots=True)
class Phrase:
    """Words in this order, with any whitespace or punctuation between them."""

    text: str
    col: int = field(default=0, compare=False, repr=False)

    def render(self) -> str:
        return _quote(self.text)

    def __str__(self) -> str:
        return self.render()


@dataclass(frozen=True, slots=True)
class Place:
    """A gazetteer place with all its spellings.

    ``cc`` narrows an ambiguous name: an ISO 3166 alpha-2 code (``Pokrovsk,UA``), or, where one country
    has several places of the name, the region (``Petropavlivka,Kharkiv``: the first words of the
    gazetteer's region name, "Kharkiv Oblast")."""

    name: str
    cc: str = ""
    col: int = field(default=0, compare=False, repr=False)

    def render(self) -> str:
        return "place:" + _place_arg(self.name, self.cc)

    def __str__(self) -> str:
        return self.render()


@dataclass(frozen=True, slots=True)
class Near:
    """A place and every gazetteer place within ``km`` of it."""

    name: str
    km: float
    cc: str = ""
    col: int = field(default=0, compare=False, repr=False)

    def render(self) -> str:
        km = int(self.km) if float(self.km).is_integer() else self.km
        return f"near:{_place_arg(self.name, self.cc)}~{km}km"

    def __str__(self) -> str:
        return self.render()


@dataclass(frozen=True, slots=True)
class Regex:
    """A regular expression run by RE2 over the original text (linear time, no backtracking)."""

    pattern: str
    flags: str = ""
    col: int = field(default=0, compare=False, repr=False)

    def render(self) -> str:
        return "re:/" + self.pattern.replace("/", "\\/") + "/" + self.flags

    def __str__(self) -> str:
        return self.render()


@dataclass(frozen=True, slots=True)
class Not:
    item: "Query"
    col: int = field(default=0, compare=False, repr=False)

    def render(self) -> str:
        inner = self.item.render()
        return "NOT " + (f"({inner})" if isinstance(self.item, (And, Or)) else inner)

    def __str__(self) -> str:
        return self.render()


@dataclass(frozen=True, slots=True)
class And:
    items: tuple["Query", ...]
    col: int = field(default=0, compare=False, repr=False)

    def render(self) -> str:
        return " AND ".join(f"({i.render()})" if isinstance(i, Or) else i.render() for i in self.items)

    def __str__(self) -> str:
        return self.render()


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple["Query", ...]
    col: int = field(default=0, compare=False, repr=False)

    def render(self) -> str:
        return " OR ".join(i.render() for i in self.items)

    def __str__(self) -> str:
        return self.render()


Atom = Union[Term, Phrase, Place, Near, Regex]
Query = Union[Term, Phrase, Place, Near, Regex, Not, And, Or]


def _place_arg(name: str, cc: str) -> str:
    if cc or _needs_quotes(name) or "," in name or "~" in name:
        return _quote(f"{name},{cc}" if cc else name)
    return name


def atoms(query: Query) -> list[Atom]:
    """Every leaf of ``query``, in order of appearance."""
    if isinstance(query, (And, Or)):
        return [a for item in query.items for a in atoms(item)]
    if isinstance(query, Not):
        return atoms(query.item)
    return [query]


def positive_atoms(query: Query) -> list[Atom]:
    """The leaves not under a NOT: the ones whose occurrence can make the query true, and become hits."""
    if isinstance(query, (And, Or)):
        return [a for item in query.items for a in positive_atoms(item)]
    if isinstance(query, Not):
        return []
    return [query]


def needs_positive(query: Query) -> bool:
    """True when the query can only be true if at least one of its positive leaves occurs.

    AND needs it of one item, OR of every item, NOT never provides it. This is what makes a query
    safe to evaluate only for entries in which one of its terms occurred.
    """
    if isinstance(query, And):
        return any(needs_positive(i) for i in query.items)
    if isinstance(query, Or):
        return all(needs_positive(i) for i in query.items)
    if isinstance(query, Not):
        return False
    return True


# --------------------------------------------------------------------------------------------------
# Lexer
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # WORD PHRASE AND OR NOT LPAREN RPAREN PLACE NEAR REGEX END
    value: object
    col: int  # 1-based


_RADIUS = re.compile(r"~\s*(\d+(?:\.\d+)?)\s*(km)?", re.IGNORECASE)


class _Lexer:
    def __init__(self, text: str):
        self.text = text
        self.i = 0

    def error(self, message: str, index: int) -> QueryError:
        return QueryError(message, self.text, index + 1)

    def tokens(self) -> list[_Tok]:
        out: list[_Tok] = []
        text = self.text
        while True:
            while self.i < len(text) and text[self.i].isspace():
                self.i += 1
            if self.i >= len(text):
                out.append(_Tok("END", None, len(text) + 1))
                return out
            start = self.i
            ch = text[start]
            if ch == "(":
                out.append(_Tok("LPAREN", None, start + 1))
                self.i += 1
            elif ch == ")":
                out.append(_Tok("RPAREN", None, start + 1))
                self.i += 1
            elif ch in '"“”«»':
                out.append(_Tok("PHRASE", self._quoted(), start + 1))
            elif text.startswith("place:", start):
                self.i += len("place:")
                name, cc = self._place_arg(start, "place:")
                out.append(_Tok("PLACE", (name, cc), start + 1))
            elif text.startswith("near:", start):
                self.i += len("near:")
                name, cc = self._place_arg(start, "near:", stop="~")
                m = _RADIUS.match(text, self.i)
                if not m:
                    raise self.error("near: needs a radius after the place, like near:Kupiansk~30km", self.i)
                km = float(m.group(1))
                if not 0 < km <= MAX_RADIUS_KM:
                    raise self.error(f"the radius must be between 1 and {MAX_RADIUS_KM} km", m.start(1))
                self.i = m.end()
                self._expect_boundary()
                out.append(_Tok("NEAR", (name, cc, km), start + 1))
            elif text.startswith("re:", start):
                self.i += len("re:")
                out.append(_Tok("REGEX", self._regex(start), start + 1))
            else:
                while self.i < len(text) and not text[self.i].isspace() and text[self.i] not in '()"':
                    self.i += 1
                word = text[start : self.i]
                kind = word if word in KEYWORDS else "WORD"
                out.append(_Tok(kind, word, start + 1))

    def _quoted(self) -> str:
        text = self.text
        start = self.i
        close = {"“": "”", "«": "»", '"': '"', "”": "”"}[text[start]]
        end = text.find(close, start + 1)
        if end < 0 and close != '"':
            end = text.find('"', start + 1)
        if end < 0:
            raise self.error("unclosed quote: add the closing \"", start)
        self.i = end + 1
        inner = " ".join(text[start + 1 : end].split())
        if not inner:
            raise self.error("empty quotes: put a word or phrase between them", start)
        return inner

    def _place_arg(self, start: int, prefix: str, stop: str = "") -> tuple[str, str]:
        text = self.text
        if self.i < len(text) and text[self.i] in '"“«':
            raw = self._quoted()
        else:
            b = self.i
            while self.i < len(text) and not text[self.i].isspace() and text[self.i] not in '()"' + stop:
                self.i += 1
            raw = text[b : self.i]
        if not stop:
            self._expect_boundary()
        name, _, cc = raw.partition(",")
        name, cc = name.strip(), cc.strip()
        if not name:
            raise self.error(f"{prefix} needs a place name, like {prefix}Kupiansk or {prefix}\"Pokrovsk,UA\"",
                             start)
        if cc and not any(c.isalpha() for c in cc):
            raise self.error(f"after the comma comes a two-letter country code or a region, like \"{name},UA\"",
                             start)
        return name, cc.upper() if re.fullmatch(r"[A-Za-z]{2}", cc) else " ".join(cc.split())

    def _regex(self, start: int) -> tuple[str, str]:
        text = self.text
        if self.i >= len(text) or text[self.i] != "/":
            raise self.error("re: needs a pattern between slashes, like re:/drone(s)? strike/i", self.i)
        j = self.i + 1
        buf: list[str] = []
        while j < len(text):
            c = text[j]
            if c == "\\" and j + 1 < len(text):
                if text[j + 1] == "/":
                    buf.append("/")
                else:
                    buf.append(text[j : j + 2])
                j += 2
                continue
            if c == "/":
                break
            buf.append(c)
            j += 1
        else:
            raise self.error("unclosed regular expression: end it with /", self.i)
        pattern = "".join(buf)
        if not pattern:
            raise self.error("empty regular expression", self.i)
        j += 1
        f = j
        while j < len(text) and text[j].isalpha():
            j += 1
        flags = text[f:j]
        for k, fl in enumerate(flags):
            if fl not in REGEX_FLAGS:
                raise self.error(f"unknown regular expression flag {fl!r}: use i, m or s", f + k)
        self.i = j
        self._expect_boundary()
        return pattern, "".join(sorted(set(flags)))

    def _expect_boundary(self) -> None:
        if self.i < len(self.text) and not self.text[self.i].isspace() and self.text[self.i] not in "()":
            raise self.error("expected a space or a parenthesis here", self.i)


# --------------------------------------------------------------------------------------------------
# Parser
# --------------------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str, tokens: list[_Tok]):
        self.text = text
        self.toks = tokens
        self.k = 0

    @property
    def tok(self) -> _Tok:
        return self.toks[self.k]

    def error(self, message: str, col: int) -> QueryError:
        return QueryError(message, self.text, col)

    def parse(self) -> Query:
        node = self.or_expr()
        if self.tok.kind == "RPAREN":
            raise self.error("unexpected closing parenthesis: there is no ( to close", self.tok.col)
        if self.tok.kind != "END":  # pragma: no cover - or_expr consumes everything else
            raise self.error("unexpected text", self.tok.col)
        return node

    def or_expr(self) -> Query:
        col = self.tok.col
        items = [self.and_expr()]
        while self.tok.kind == "OR":
            op = self.tok
            self.k += 1
            if not self._starts_term():
                raise self.error("OR needs a term on both sides", op.col)
            items.append(self.and_expr())
        return _flat(Or, items, col)

    def and_expr(self) -> Query:
        col = self.tok.col
        items = [self.unary()]
        while True:
            if self.tok.kind == "AND":
                op = self.tok
                self.k += 1
                if not self._starts_term():
                    raise self.error("AND needs a term on both sides", op.col)
                items.append(self.unary())
            elif self._starts_term():
                items.append(self.unary())
            else:
                break
        return _flat(And, items, col)

    def _starts_term(self) -> bool:
        return self.tok.kind in ("WORD", "PHRASE", "PLACE", "NEAR", "REGEX", "LPAREN", "NOT")

    def unary(self) -> Query:
        tok = self.tok
        if tok.kind == "NOT":
            self.k += 1
            if not self._starts_term():
                raise self.error("NOT needs a term after it", tok.col)
            return Not(self.unary(), col=tok.col)
        return self.primary()

    def primary(self) -> Query:
        tok = self.tok
        kind = tok.kind
        if kind == "LPAREN":
            self.k += 1
            if self.tok.kind == "RPAREN":
                raise self.error("expected a term inside the parentheses", self.tok.col)
            node = self.or_expr()
            if self.tok.kind != "RPAREN":
                raise self.error("expected a closing parenthesis", self.tok.col)
            self.k += 1
            return node
        self.k += 1
        if kind == "WORD":
            word = str(tok.value)
            if not any(c.isalnum() for c in word):
                raise self.error(f"{word!r} has no letter or digit to match", tok.col)
            return Term(word, col=tok.col)
        if kind == "PHRASE":
            phrase = str(tok.value)
            if not any(c.isalnum() for c in phrase):
                raise self.error("the quoted phrase has no letter or digit to match", tok.col)
            return Phrase(phrase, col=tok.col) if " " in phrase else Term(phrase, col=tok.col)
        if kind == "PLACE":
            name, cc = tok.value  # type: ignore[misc]
            return Place(name, cc, col=tok.col)
        if kind == "NEAR":
            name, cc, km = tok.value  # type: ignore[misc]
            return Near(name, km, cc, col=tok.col)
        if kind == "REGEX":
            pattern, flags = tok.value  # type: ignore[misc]
            return Regex(pattern, flags, col=tok.col)
        if kind == "RPAREN":
            raise self.error("unexpected closing parenthesis: expected a term", tok.col)
        if kind in ("AND", "OR"):
            raise self.error(f"{kind} needs a term on both sides", tok.col)
        raise self.error("expected a term", tok.col)  # pragma: no cover


def _flat(cls: type, items: list[Query], col: int) -> Query:
    if len(items) == 1:
        return items[0]
    flat: list[Query] = []
    for item in items:
        flat.extend(item.items if isinstance(item, cls) else (item,))  # type: ignore[attr-defined]
    return cls(tuple(flat), col=col)


def _first_negative_only(query: Query) -> Query | None:
    """The outermost sub-query that can be true without any positive term (for the error's column)."""
    if needs_positive(query):
        return None
    if isinstance(query, Or):
        for item in query.items:
            if not needs_positive(item):
                return _first_negative_only(item) or item
    return query


def parse(text: str) -> Query:
    """Parse one watch query. Raises ``QueryError`` (column and what was expected) when it is malformed."""
    if len(text) > MAX_QUERY_LENGTH:
        raise QueryError(f"the query is longer than {MAX_QUERY_LENGTH} characters; split it into several watches",
                         text[: MAX_QUERY_LENGTH + 1], MAX_QUERY_LENGTH + 1)
    if not text.strip():
        raise QueryError("empty query: give at least one word, \"phrase\" or place:NAME", text, 1)
    tokens = _Lexer(text).tokens()
    node = _Parser(text, tokens).parse()
    culprit = _first_negative_only(node)
    if culprit is not None:
        raise QueryError(
            "this query can match an article that contains none of its terms (NOT alone matches nearly "
            "every article); add a term that must appear, like 'drone AND NOT exercise'",
            text,
            max(1, culprit.col),
        )
    return node
