"""Compile many watches into one matcher; ``match(entry)`` returns the watches that matched, with hits.

How it stays fast with thousands of watches:

* Every distinct word or phrase of every watch is one pattern of a single Aho-Corasick automaton
  (pyahocorasick), run once over each folded field. Patterns are padded with a space on both sides and so
  is the folded text, so the automaton itself only reports whole words: ``war`` cannot match ``warsaw``.
* Places (``place:``, ``near:``) are looked up token by token in one dict of place keys (``core.places``).
* A watch is evaluated only when one of its *trigger* terms occurred. Triggers are chosen so that the
  query cannot be true without one of them (see ``query.needs_positive``): for ``drone AND NOT exercise``
  the trigger is ``drone`` alone. Regular expressions are run only for such candidate watches, unless a
  regular expression is the only way a query can become true, in which case it is scanned for every entry.

A watch whose stored query no longer parses (or names a place the gazetteer cannot resolve) is skipped
and reported in ``Matcher.errors``; it never stops the others from matching.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import ahocorasick
import re2

from bot.core.errors import QueryError, UsageError
from bot.core.models import Entry, Hit, Match, Watch
from bot.core.query import (
    And,
    Atom,
    Near,
    Not,
    Or,
    Phrase,
    Place,
    Query,
    Regex,
    Term,
    needs_positive,
    parse,
    positive_atoms,
)
from bot.core.textfold import FoldedText, fold

__all__ = ["Matcher", "PlaceResolver", "compile_regex", "match_query"]

MAX_HITS_PER_TERM = 20  # per field: enough to show where, without flooding an alert

Occurs = Callable[[int], bool]
Evaluator = Callable[[Occurs], bool]
FIELDS = ("title", "text")


class PlaceResolver(Protocol):
    """What the matcher needs from ``core.places`` (passed in, so stage-A callers need no gazetteer)."""

    def resolve(self, atom: Place | Near) -> Any:
        """A resolved place set (``places.PlaceSet``) for the atom; raises ``UsageError`` when it cannot."""
        ...

    def scanner(self, place_sets: Sequence[Any]) -> Any:
        """One compiled scanner over every place key of the given sets (``places.PlaceScanner``)."""
        ...


def compile_regex(pattern: str, flags: str = "") -> Any:
    """Compile with RE2; a pattern RE2 refuses (backreferences, lookaround ...) is a ``QueryError``."""
    prefix = "".join(f for f in "ims" if f in flags)
    options = re2.Options()
    options.log_errors = False
    try:
        return re2.compile(f"(?{prefix}){pattern}" if prefix else pattern, options)
    except re2.error as exc:
        reason = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else exc
        raise QueryError(f"RE2 cannot run re:/{pattern}/ ({reason}); lookarounds and backreferences are "
                         "not supported") from None


@functools.lru_cache(maxsize=100_000)
def _evaluator(expr: str) -> Evaluator:
    """Compile ``expr`` (built by ``Matcher._add`` from integers, parentheses and and/or/not only)."""
    return eval(f"lambda o: {expr}", {"__builtins__": {}})  # noqa: S307 - no user text reaches it


@dataclass(slots=True)
class _Watch:
    watch_id: int
    evaluate: Evaluator
    positive: tuple[int, ...]  # atom ids whose occurrences become hits


@dataclass(slots=True)
class _AtomInfo:
    kind: str  # "text", "regex", "place"
    label: str  # what a Hit shows as its term
    key: str = ""  # folded text for "text"
    regex: Any = None
    place_set: Any = None


class Matcher:
    """All watches compiled into one structure. Build a new one when the watches change; it is immutable."""

    def __init__(self) -> None:
        self.errors: dict[int, str] = {}  # watch id -> why it was skipped
        self._atoms: list[_AtomInfo] = []
        self._atom_ids: dict[tuple[str, str], int] = {}
        self._watches: list[_Watch] = []
        self._triggers: dict[int, list[int]] = {}  # atom id -> indexes into _watches
        self._scan_regex: list[int] = []  # regex atoms that are some watch's only way in
        self._automaton: Any = None
        self._places: Any = None  # places.PlaceScanner
        self._place_atoms: dict[int, list[int]] = {}  # place id -> atom ids

    # ---------------------------------------------------------------------------------------------
    # Building
    # ---------------------------------------------------------------------------------------------

    @classmethod
    def build(cls, watches: Sequence[Watch], places: PlaceResolver | None = None) -> "Matcher":
        """Compile ``watches``. Bad queries are skipped and listed in ``errors`` (watch id -> message)."""
        return cls._build(watches, places, strict=False)

    @classmethod
    def _build(cls, watches: Sequence[Watch], places: PlaceResolver | None, strict: bool) -> "Matcher":
        m = cls()
        resolved: dict[tuple[str, str], Any] = {}
        for watch in watches:
            try:
                query = parse(watch.query)
                m._add(watch.id, query, places, resolved, watch.query)
            except UsageError as exc:
                if strict:
                    raise
                m.errors[watch.id] = str(exc)
        m._finish(places)
        return m

    def _atom(self, atom: Atom, places: PlaceResolver | None, resolved: dict[tuple[str, str], Any],
              source: str) -> int:
        if isinstance(atom, (Term, Phrase)):
            text = atom.word if isinstance(atom, Term) else atom.text
            key = fold(text)
            if not key:
                raise QueryError(f"{atom.render()} has no letter or digit to match")
            ident = ("text", key)
            info = _AtomInfo("text", atom.render(), key=key)
        elif isinstance(atom, Regex):
            ident = ("regex", atom.render())
            info = _AtomInfo("regex", atom.render(), regex=None)
            if ident not in self._atom_ids:
                try:
                    info.regex = compile_regex(atom.pattern, atom.flags)
                except QueryError as exc:
                    raise QueryError(str(exc), source, atom.col or None) from None
        elif isinstance(atom, (Place, Near)):
            ident = ("place", atom.render())
            if ident not in self._atom_ids:
                if places is None:
                    raise UsageError(f"{atom.render()} needs the gazetteer, which is not loaded here")
                if ident not in resolved:
                    try:
                        resolved[ident] = places.resolve(atom)
                    except QueryError as exc:
                        if exc.column is not None:
                            raise
                        raise QueryError(str(exc), source, atom.col or None) from None
            info = _AtomInfo("place", atom.render(), place_set=resolved.get(ident))
        else:  # pragma: no cover - the parser makes no other leaves
            raise TypeError(atom)
        aid = self._atom_ids.get(ident)
        if aid is None:
            aid = self._atom_ids[ident] = len(self._atoms)
            self._atoms.append(info)
        return aid

    def _add(self, watch_id: int, query: Query, places: PlaceResolver | None,
             resolved: dict[tuple[str, str], Any], source: str) -> None:
        ids: dict[int, int] = {}  # id(atom node) -> atom id

        def expression(node: Query) -> str:
            if isinstance(node, (And, Or)):
                joiner = " and " if isinstance(node, And) else " or "
                return "(" + joiner.join(expression(i) for i in node.items) + ")"
            if isinstance(node, Not):
                return f"(not {expression(node.item)})"
            aid = ids[id(node)] = self._atom(node, places, resolved, source)
            return f"o({aid})"

        # The boolean structure becomes one Python expression over atom ids (made only of integers and
        # and/or/not), compiled once: evaluating it is a single call per candidate watch.
        evaluate = self._compiled(expression(query))
        positive = tuple(dict.fromkeys(ids[id(a)] for a in positive_atoms(query)))
        triggers = self._triggers_of(query, ids)
        index = len(self._watches)
        self._watches.append(_Watch(watch_id, evaluate, positive))
        for aid in triggers:
            self._triggers.setdefault(aid, []).append(index)
            if self._atoms[aid].kind == "regex" and aid not in self._scan_regex:
                self._scan_regex.append(aid)

    @staticmethod
    def _compiled(expr: str) -> Evaluator:
        return _evaluator(expr)

    def _triggers_of(self, node: Query, ids: dict[int, int]) -> set[int]:
        """A small set of atoms one of which must occur for ``node`` to be true.

        AND needs only one item's triggers: pick the item whose triggers are cheapest (no regular
        expression, fewest atoms). OR needs every item's. NOT provides none (``needs_positive`` guarantees
        the query as a whole has some).
        """
        if isinstance(node, Or):
            out: set[int] = set()
            for item in node.items:
                out |= self._triggers_of(item, ids)
            return out
        if isinstance(node, And):
            options = [self._triggers_of(i, ids) for i in node.items if needs_positive(i)]
            return min(options, key=lambda t: (any(self._atoms[a].kind == "regex" for a in t), len(t)))
        if isinstance(node, Not):  # pragma: no cover - excluded by needs_positive
            return set()
        return {ids[id(node)]}

    def _finish(self, places: PlaceResolver | None) -> None:
        texts = [(i, a.key) for i, a in enumerate(self._atoms) if a.kind == "text"]
        if texts:
            automaton = ahocorasick.Automaton()
            for aid, key in texts:
                automaton.add_word(f" {key} ", (aid, len(key)))
            automaton.make_automaton()
            self._automaton = automaton
        place_atoms = [(i, a.place_set) for i, a in enumerate(self._atoms) if a.kind == "place"]
        if place_atoms and places is not None:
            self._places = places.scanner([ps for _, ps in place_atoms])
            for aid, ps in place_atoms:
                for pid in ps.place_ids:
                    self._place_atoms.setdefault(pid, []).append(aid)

    @property
    def watch_count(self) -> int:
        return len(self._watches)

    # ---------------------------------------------------------------------------------------------
    # Matching
    # ---------------------------------------------------------------------------------------------

    def match(self, entry: Entry) -> list[Match]:
        """The watches ``entry`` matches (title and summary), each with the hits that made it match."""
        result = self._run(((FIELDS[0], entry.title), (FIELDS[1], entry.summary)))
        return [Match(watch_id, entry.identity, hits) for watch_id, hits in result]

    def _run(self, fields: Sequence[tuple[str, str]]) -> list[tuple[int, tuple[Hit, ...]]]:
        found: dict[int, list[tuple[str, Any, int, int, Any]]] = {}  # atom id -> raw occurrences
        folded: dict[str, FoldedText] = {}
        for name, text in fields:
            if not text:
                continue
            ft = folded[name] = FoldedText(text)
            if self._automaton is not None and ft.text:
                for end, (aid, length) in self._automaton.iter(f" {ft.text} "):
                    occ = found.setdefault(aid, [])
                    if len(occ) < MAX_HITS_PER_TERM:
                        start = end - length - 1  # `end` is the index of the pattern's trailing space in " text "
                        occ.append((name, ft, start, start + length, ""))
            if self._places is not None:
                for pid, spans in self._places.find(ft):
                    for aid in self._place_atoms.get(pid, ()):
                        occ = found.setdefault(aid, [])
                        for pstart, pend in spans[:MAX_HITS_PER_TERM]:
                            occ.append((name, ft, pstart, pend, pid))
        for aid in self._scan_regex:
            self._regex_occurrences(aid, fields, found)

        candidates: set[int] = set()
        for aid in found:
            candidates.update(self._triggers.get(aid, ()))
        if not candidates:
            return []

        checked: set[int] = set(found)

        def occurs(aid: int) -> bool:
            if aid not in checked:
                checked.add(aid)
                if self._atoms[aid].kind == "regex":
                    self._regex_occurrences(aid, fields, found)
            return aid in found

        out = []
        hit_cache: dict[int, list[Hit]] = {}
        for index in sorted(candidates):
            watch = self._watches[index]
            if not watch.evaluate(occurs):
                continue
            hits: list[Hit] = []
            for aid in watch.positive:
                if occurs(aid):
                    if aid not in hit_cache:
                        hit_cache[aid] = self._hits(aid, found[aid])
                    hits.extend(hit_cache[aid])
            out.append((watch.watch_id, tuple(hits)))
        return out

    def _regex_occurrences(self, aid: int, fields: Sequence[tuple[str, str]],
                           found: dict[int, list[tuple[str, Any, int, int, Any]]]) -> None:
        regex = self._atoms[aid].regex
        for name, text in fields:
            if not text:
                continue
            for n, m in enumerate(regex.finditer(text)):
                if n >= MAX_HITS_PER_TERM:
                    break
                if m.end() > m.start():
                    found.setdefault(aid, []).append((name, text, m.start(), m.end(), None))

    def _hits(self, aid: int, occurrences: list[tuple[str, Any, int, int, Any]]) -> list[Hit]:
        info = self._atoms[aid]
        hits = []
        for name, source, start, end, extra in occurrences:
            place = ""
            if info.kind == "text":
                start, end = source.original_span(start, end)
                original = source.original
            elif info.kind == "place":
                start, end = source.original_span_of_pre(start, end)
                original = source.original
                place = info.place_set.describe(extra)
            else:  # regex: offsets are already in the original text
                original = source
            hits.append(Hit(info.label, name, start, end, original[start:end], place))
        return hits


def match_query(query: Query | str, title: str, text: str,
                places: PlaceResolver | None = None) -> tuple[bool, list[Hit]]:
    """Match one query against one article (``wirewatch match``). Raises ``QueryError`` on a bad query."""
    source = query if isinstance(query, str) else query.render()
    matcher = Matcher._build([Watch(id=0, query=source, destination="")], places, strict=True)
    result = matcher._run(((FIELDS[0], title), (FIELDS[1], text)))
    if not result:
        return False, []
    return True, list(result[0][1])
