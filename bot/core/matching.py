"""Compile many watches into one matcher; ``match(entry)`` returns the watches that matched, with hits.

How it stays fast with thousands of watches (the cost per entry does not grow with their number):

* **One tokenisation, one hash lookup per distinct token.** A field is folded once (``core.textfold``:
  ``str.translate`` in C) and split into tokens. Every token the matcher has seen before is remembered
  with what it means: the word atoms it is (``Kharkiv's`` is the word ``kharkiv``), and whether it can
  start a watched place name (``core.places`` keys: ``Kupyansk``, ``Купянске``). So for a known token the
  whole work is a set intersection done in C, ``tokens & interesting``; an entry that shares no token
  with any trigger takes that fast path and nothing else. A multi-word phrase is anchored on one of its
  words and confirmed by a substring test on the folded text.
* **Triggers.** A watch is evaluated only when one of its *trigger* atoms occurred. Triggers are chosen
  so that the query cannot be true without one of them (``query.needs_positive``): for
  ``(Acme OR Tolbrin) AND attack AND NOT exercise`` either ``{Acme, Tolbrin}`` or ``{attack}`` will do.
  Which one is a matter of cost: the set whose atoms are least likely to occur in an entry. The matcher
  learns those likelihoods from the entries it sees (a sample: every entry at first, then one in
  ``SAMPLE_EVERY``) and re-plans the watches whose triggers turned out frequent: ``attack`` is in every
  other news item, ``Acme`` in one in a thousand, and evaluating a thousand watches per entry because of
  ``attack`` would be the whole cost. What it learnt is handed to the next matcher
  (``Matcher.build(..., previous=old)``), so a watch change does not start from ignorance. Only the
  cost depends on the plan; which watches match never does.
* Atoms that are not triggers are checked only for candidate watches (a substring test, or RE2 for
  ``re:``). Places are found eagerly: their tokens are in the same intersection.

A watch whose stored query no longer parses (or names a place the gazetteer cannot resolve) is skipped
and reported in ``Matcher.errors``; it never stops the others from matching.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

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
    atoms,
    needs_positive,
    parse,
    positive_atoms,
)
from bot.core.textfold import FoldedText, fold

__all__ = ["Matcher", "PlaceResolver", "check_query", "compile_regex", "match_query"]

MAX_HITS_PER_TERM = 20  # per field: enough to show where, without flooding an alert
MAX_TOKEN_MEMO = 100_000  # distinct tokens remembered; the memo starts over beyond (bounds a long-running bot)
SAMPLE_EVERY = 16  # after the first WARMUP_SAMPLES entries, one entry in this many updates the statistics
WARMUP_SAMPLES = 16
REPLAN_AT = (16, 64, 256, 1024, 4096)  # sample counts at which triggers are re-planned (then every 4096)
PRIOR_WEIGHT = 20.0  # the prior likelihood counts as this many samples
PRIOR = {"text": 0.01, "place": 0.01, "regex": 1.0}  # a regex trigger is tried on every entry: cost 1
FREQUENT = 0.02  # a trigger atom found in more than this share of entries is worth re-planning around

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


def _first(item: tuple[int, int, tuple[Hit, ...]]) -> int:
    return item[0]


@functools.lru_cache(maxsize=100_000)
def _evaluator(expr: str) -> Evaluator:
    """Compile ``expr`` (built by ``Matcher._add`` from integers, parentheses and and/or/not only)."""
    return eval(f"lambda o: {expr}", {"__builtins__": {}})  # noqa: S307 - no user text reaches it


@functools.lru_cache(maxsize=100_000)
def _parse(text: str) -> Query:
    """``query.parse`` remembered: a rebuild after one watch change re-reads 10,000 unchanged queries.
    Query trees are immutable, so sharing them is safe; a bad query raises again each time."""
    return parse(text)


@dataclass(slots=True)
class _Watch:
    """One distinct query, and every watch that has it (ten channels watching ``place:Kupiansk`` are
    evaluated once)."""

    members: list[tuple[int, int]]  # (position in the build's list, watch id)
    evaluate: Evaluator | None  # None: a plain OR of positive atoms, true as soon as it is a candidate
    positive: tuple[int, ...]  # atom ids whose occurrences become hits
    query: Query
    ids: dict[int, int]  # id(atom node) -> atom id (for re-planning)
    triggers: frozenset[int] = frozenset()


@dataclass(slots=True)
class _AtomInfo:
    kind: str  # "text", "regex", "place"
    label: str  # what a Hit shows as its term
    ident: tuple[str, str]  # stable across matchers: the key of the statistics
    key: str = ""  # folded text for "text"
    regex: Any = None
    place_set: Any = None


class _Stats:
    """How often each atom occurs in an entry, learnt from a sample of the entries matched.

    Keyed by atom identity (``("text", "attack")``), not by a matcher's atom ids, so that it survives
    rebuilds. Only the choice of triggers uses it."""

    __slots__ = ("samples", "counts")

    def __init__(self) -> None:
        self.samples = 0
        self.counts: dict[tuple[str, str], int] = {}

    def likelihood(self, ident: tuple[str, str]) -> float:
        prior = PRIOR[ident[0] if ident[0] != "word" else "text"]
        if ident[0] == "regex":
            return prior
        return (self.counts.get(ident, 0) + PRIOR_WEIGHT * prior) / (self.samples + PRIOR_WEIGHT)


class _Field:
    """One field of one entry while it is matched: the folded text and what was found in it."""

    __slots__ = ("name", "original", "ft", "tokset", "_padded", "places")

    def __init__(self, name: str, original: str):
        self.name = name
        self.original = original
        self.ft = FoldedText(original)
        self.tokset: set[str] = set(self.ft.tokens)
        self._padded: str | None = None
        self.places: list[tuple[int, list[tuple[int, int]]]] = []

    def has_word(self, word: str) -> bool:
        """Whole-word test for one folded word: a token, or a part of a token split at apostrophes."""
        if word in self.tokset:
            return True
        if "'" not in self.ft.pre:
            return False
        return bool(self.word_spans(word, 1))

    def word_spans(self, word: str, limit: int = MAX_HITS_PER_TERM) -> list[tuple[int, int]]:
        """Where ``word`` stands as a whole word, as spans of the original text (at most ``limit``)."""
        pre, n, pos, out = self.ft.pre, len(word), 0, []
        size = len(pre)
        while len(out) < limit:
            at = pre.find(word, pos)
            if at < 0:
                break
            pos = at + 1
            end = at + n
            if (at == 0 or pre[at - 1] in " '") and (end == size or pre[end] in " '"):
                out.append(self.ft.original_span_of_pre(at, end))
        return out

    @property
    def padded(self) -> str:
        """`` text `` with a space on both sides: a whole-word or phrase test is a substring test."""
        if self._padded is None:
            self._padded = f" {self.ft.text} "
        return self._padded


class Matcher:
    """All watches compiled into one structure. Build a new one when the watches change.

    Its results depend only on the watches; internally it keeps a token memo and the statistics that
    pick triggers, both of which only make it faster."""

    def __init__(self) -> None:
        self.errors: dict[int, str] = {}  # watch id -> why it was skipped
        self._atoms: list[_AtomInfo] = []
        self._atom_ids: dict[tuple[str, str], int] = {}
        self._watches: list[_Watch] = []
        self._by_query: dict[str, int] = {}  # query text -> index into _watches
        self._triggers: dict[int, list[int]] = {}  # atom id -> indexes into _watches
        self._scan_regex: list[int] = []  # regex atoms that are some watch's trigger: tried on every entry
        self._anchors: dict[str, tuple[int, ...]] = {}  # folded word -> text atoms it is or anchors
        self._places: Any = None  # places.PlaceScanner
        self._place_atoms: dict[int, list[int]] = {}  # place id -> atom ids
        self._stats = _Stats()
        self._entries = 0
        self._replan_at = 0
        # token memo: every token seen -> the text atoms it means; the tokens worth a look on each entry
        self._seen: set[str] = set()
        self._words_of: dict[str, tuple[int, ...]] = {}
        self._word_tokens: set[str] = set()  # the keys of _words_of, as a set for intersections
        self._interesting: set[str] = set()
        self._place_tokens: set[str] = set()
        self._phrase_words: set[str] = set()
        self._phrases: dict[int, str] = {}  # phrase atom id -> " folded phrase " (a substring test)

    # ---------------------------------------------------------------------------------------------
    # Building
    # ---------------------------------------------------------------------------------------------

    @classmethod
    def build(cls, watches: Sequence[Watch], places: PlaceResolver | None = None,
              previous: "Matcher | None" = None) -> "Matcher":
        """Compile ``watches``. Bad queries are skipped and listed in ``errors`` (watch id -> message).

        ``previous``: the matcher this one replaces; what it learnt about term frequencies is kept."""
        return cls._build(watches, places, strict=False, previous=previous)

    @classmethod
    def _build(cls, watches: Sequence[Watch], places: PlaceResolver | None, strict: bool,
               previous: "Matcher | None" = None) -> "Matcher":
        m = cls()
        if previous is not None:
            m._stats = previous._stats
            m._replan_at = previous._replan_at
        resolved: dict[tuple[str, str], Any] = {}
        for position, watch in enumerate(watches):
            if m._known(position, watch.id, watch.query):
                continue
            try:
                m._add(position, watch.id, _parse(watch.query), places, resolved, watch.query)
            except UsageError as exc:
                if strict:
                    raise
                m.errors[watch.id] = str(exc)
        m._finish(places)
        return m

    def _known(self, position: int, watch_id: int, source: str) -> bool:
        index = self._by_query.get(source)
        if index is None:
            return False
        self._watches[index].members.append((position, watch_id))
        return True

    def _atom(self, atom: Atom, places: PlaceResolver | None, resolved: dict[tuple[str, str], Any],
              source: str) -> int:
        if isinstance(atom, (Term, Phrase)):
            key = fold(atom.word if isinstance(atom, Term) else atom.text)
            ident = ("text", key)
            aid = self._atom_ids.get(ident)
            if aid is not None:
                return aid
            if not key:
                raise QueryError(f"{atom.render()} has no letter or digit to match")
            info = _AtomInfo("text", atom.render(), ident, key=key)
        elif isinstance(atom, Regex):
            ident = ("regex", atom.render())
            aid = self._atom_ids.get(ident)
            if aid is not None:
                return aid
            try:
                info = _AtomInfo("regex", atom.render(), ident, regex=compile_regex(atom.pattern, atom.flags))
            except QueryError as exc:
                raise QueryError(str(exc), source, atom.col or None) from None
        elif isinstance(atom, (Place, Near)):
            ident = ("place", atom.render())
            aid = self._atom_ids.get(ident)
            if aid is not None:
                return aid
            if places is None:
                raise UsageError(f"{atom.render()} needs the gazetteer, which is not loaded here")
            if ident not in resolved:
                try:
                    resolved[ident] = places.resolve(atom)
                except QueryError as exc:
                    if exc.column is not None:
                        raise
                    raise QueryError(str(exc), source, atom.col or None) from None
            info = _AtomInfo("place", atom.render(), ident, place_set=resolved[ident])
        else:  # pragma: no cover - the parser makes no other leaves
            raise TypeError(atom)
        aid = self._atom_ids[ident] = len(self._atoms)
        self._atoms.append(info)
        return aid

    def _add(self, position: int, watch_id: int, query: Query, places: PlaceResolver | None,
             resolved: dict[tuple[str, str], Any], source: str) -> None:
        ids: dict[int, int] = {}  # id(atom node) -> atom id
        simple = [True]

        def expression(node: Query) -> str:
            if isinstance(node, (And, Or)):
                if isinstance(node, And):
                    simple[0] = False
                joiner = " and " if isinstance(node, And) else " or "
                return "(" + joiner.join(expression(i) for i in node.items) + ")"
            if isinstance(node, Not):
                simple[0] = False
                return f"(not {expression(node.item)})"
            aid = ids[id(node)] = self._atom(node, places, resolved, source)
            return f"o({aid})"

        # The boolean structure becomes one Python expression over atom ids (made only of integers and
        # and/or/not), compiled once: evaluating it is a single call per candidate watch. A plain OR of
        # terms needs no evaluation at all: any trigger that occurred makes it true.
        expr = expression(query)
        evaluate = None if simple[0] else _evaluator(expr)
        positive = tuple(dict.fromkeys(ids[id(a)] for a in positive_atoms(query)))
        self._by_query[source] = len(self._watches)
        self._watches.append(_Watch([(position, watch_id)], evaluate, positive, query, ids))

    def _cost(self, aid: int) -> float:
        return self._stats.likelihood(self._atoms[aid].ident)

    def _triggers_of(self, node: Query, ids: dict[int, int]) -> tuple[float, frozenset[int]]:
        """``(cost, atoms)``: a set of atoms one of which must occur for ``node`` to be true, cheapest first.

        OR needs every item's triggers (the costs add up). AND needs only one item's: the cheapest, that
        is the item least likely to occur (``attack`` is in half the news, a rare name is not). NOT
        provides none (``needs_positive`` guarantees the query as a whole has some)."""
        if isinstance(node, Or):
            cost, out = 0.0, frozenset()
            for item in node.items:
                c, t = self._triggers_of(item, ids)
                cost, out = cost + c, out | t
            return cost, out
        if isinstance(node, And):
            options = [self._triggers_of(i, ids) for i in node.items if needs_positive(i)]
            return min(options, key=lambda o: (o[0], len(o[1])))
        if isinstance(node, Not):  # pragma: no cover - excluded by needs_positive
            return 0.0, frozenset()
        aid = ids[id(node)]
        return self._cost(aid), frozenset((aid,))

    def _plan(self, indexes: Sequence[int]) -> None:
        """(Re)choose the triggers of the given watches with the current statistics."""
        for index in indexes:
            watch = self._watches[index]
            _, triggers = self._triggers_of(watch.query, watch.ids)
            if triggers == watch.triggers:
                continue
            for aid in watch.triggers - triggers:
                self._triggers[aid].remove(index)
                if not self._triggers[aid]:
                    del self._triggers[aid]
            for aid in triggers - watch.triggers:
                self._triggers.setdefault(aid, []).append(index)
            watch.triggers = triggers
        self._scan_regex = [aid for aid in self._triggers if self._atoms[aid].kind == "regex"]

    def _finish(self, places: PlaceResolver | None) -> None:
        self._plan(range(len(self._watches)))
        self._phrases = {aid: f" {a.key} " for aid, a in enumerate(self._atoms) if a.kind == "text" and " " in a.key}
        self._phrase_words = {w for a in self._atoms if a.kind == "text" and " " in a.key for w in a.key.split(" ")}
        self._anchor()
        place_atoms = [(i, a.place_set) for i, a in enumerate(self._atoms) if a.kind == "place"]
        if place_atoms and places is not None:
            self._places = places.scanner([ps for _, ps in place_atoms])
            for aid, ps in place_atoms:
                for pid in ps.place_ids:
                    self._place_atoms.setdefault(pid, []).append(aid)

    def _anchor(self) -> None:
        """Choose the word each phrase is looked for through: the least frequent one (statistics), the
        longest while nothing is known. The phrase is then confirmed on the folded text. Re-anchoring
        starts the token memo over (it records what each token anchors)."""
        anchors: dict[str, list[int]] = {}
        likelihood = self._stats.likelihood
        for aid, info in enumerate(self._atoms):
            if info.kind == "text":
                words = info.key.split(" ")
                anchor = words[0] if len(words) == 1 else min(
                    words, key=lambda w: (likelihood(("word", w)), -len(w)))
                anchors.setdefault(anchor, []).append(aid)
        new = {w: tuple(a) for w, a in anchors.items()}
        if new == self._anchors:
            return
        self._anchors = new
        self._seen.clear()
        self._words_of.clear()
        self._word_tokens.clear()
        self._interesting.clear()
        self._place_tokens.clear()

    @property
    def watch_count(self) -> int:
        return sum(len(w.members) for w in self._watches)

    # ---------------------------------------------------------------------------------------------
    # The token memo
    # ---------------------------------------------------------------------------------------------

    def _learn(self, new: set[str]) -> None:
        """Remember what each new token means (once per distinct token for the matcher's life)."""
        if len(self._seen) > MAX_TOKEN_MEMO:
            self._seen.clear()
            self._words_of.clear()
            self._word_tokens.clear()
            self._interesting.clear()
            self._place_tokens.clear()
        anchors, triggers, places = self._anchors, self._triggers, self._places
        for tok in new:
            if "'" in tok:  # apostrophes separate words: Kharkiv's is the word kharkiv
                ids: tuple[int, ...] = ()
                for part in tok.split("'"):
                    ids += anchors.get(part, ())
            else:
                ids = anchors.get(tok, ())
            if ids:
                self._words_of[tok] = ids
                self._word_tokens.add(tok)
                if any(a in triggers for a in ids):
                    self._interesting.add(tok)
            if places is not None and places.positive(tok):
                self._place_tokens.add(tok)
                self._interesting.add(tok)
        self._seen |= new

    def _retrigger(self) -> None:
        triggers = self._triggers
        self._interesting = {t for t, ids in self._words_of.items() if any(a in triggers for a in ids)}
        self._interesting |= self._place_tokens

    # ---------------------------------------------------------------------------------------------
    # Matching
    # ---------------------------------------------------------------------------------------------

    def match(self, entry: Entry) -> list[Match]:
        """The watches ``entry`` matches (title and summary), each with the hits that made it match."""
        result = self._run(((FIELDS[0], entry.title), (FIELDS[1], entry.summary)))
        return [Match(watch_id, entry.identity, hits) for watch_id, hits in result]

    def _run(self, texts: Sequence[tuple[str, str]]) -> list[tuple[int, tuple[Hit, ...]]]:
        self._entries += 1
        sample = self._entries <= WARMUP_SAMPLES or self._entries % SAMPLE_EVERY == 0
        found: set[int] = set()
        words: set[str] = set()  # phrase words seen, when sampling
        fields = [_Field(name, text) for name, text in texts if text]
        for f in fields:
            tokset = f.tokset
            new = tokset - self._seen
            if new:
                self._learn(new)
            hits = tokset & self._interesting
            if sample:  # every atom counts towards the statistics, not only the triggers
                hits |= tokset & self._word_tokens
                words |= tokset & self._phrase_words
            if not hits:
                continue
            place_hits = hits & self._place_tokens if self._places is not None else None
            words_of, phrases = self._words_of, self._phrases
            for tok in hits:
                ids = words_of.get(tok)
                if ids:
                    for aid in ids:
                        if aid not in phrases:
                            found.add(aid)
                        elif aid not in found and phrases[aid] in f.padded:
                            found.add(aid)
            if place_hits:
                f.places = self._places.find(f.ft, place_hits)
                for pid, _ in f.places:
                    found.update(self._place_atoms.get(pid, ()))
        for aid in self._scan_regex:
            regex = self._atoms[aid].regex
            if any(regex.search(f.original) for f in fields):
                found.add(aid)
        if sample:
            self._learn_frequencies(found, words)

        candidates: set[int] = set()
        for aid in found:
            c = self._triggers.get(aid)
            if c:
                candidates.update(c)
        if not candidates:
            return []

        checked: set[int] = set()
        atoms, phrases = self._atoms, self._phrases

        def occurs(aid: int) -> bool:
            if aid in found:
                return True
            if aid in checked:
                return False
            checked.add(aid)
            info = atoms[aid]
            hit = False
            if info.kind == "text":
                key = info.key
                if aid in phrases:
                    padded = phrases[aid]
                    for f in fields:
                        if padded in f.padded:
                            hit = True
                            break
                else:
                    for f in fields:
                        if key in f.tokset or f.has_word(key):
                            hit = True
                            break
            elif info.kind == "regex":
                hit = any(info.regex.search(f.original) for f in fields)
            # places are found eagerly: not found means not there
            if hit:
                found.add(aid)
            return hit

        out: list[tuple[int, int, tuple[Hit, ...]]] = []
        hit_cache: dict[int, tuple[Hit, ...]] = {}
        watches = self._watches
        for index in candidates:
            watch = watches[index]
            if watch.evaluate is None:  # a plain OR: every atom is a trigger, `found` is complete for it
                present = [aid for aid in watch.positive if aid in found]
            elif watch.evaluate(occurs):
                present = [aid for aid in watch.positive if occurs(aid)]
            else:
                continue
            for aid in present:
                if aid not in hit_cache:
                    hit_cache[aid] = tuple(self._hits(aid, fields))
            if len(present) == 1:
                shared = hit_cache[present[0]]
            else:
                shared = tuple(h for aid in present for h in hit_cache[aid])
            if len(watch.members) == 1:
                out.append((watch.members[0][0], watch.members[0][1], shared))
            else:
                out.extend((position, watch_id, shared) for position, watch_id in watch.members)
        out.sort(key=_first)
        return [(watch_id, hits) for _, watch_id, hits in out]

    def _learn_frequencies(self, found: set[int], words: set[str]) -> None:
        """Count the atoms of a sampled entry; re-plan the triggers at the checkpoints."""
        stats = self._stats
        stats.samples += 1
        counts, atoms = stats.counts, self._atoms
        for aid in found:
            ident = atoms[aid].ident
            counts[ident] = counts.get(ident, 0) + 1
        for word in words:
            ident = ("word", word)
            counts[ident] = counts.get(ident, 0) + 1
        due = next((n for n in REPLAN_AT if n > self._replan_at), self._replan_at + REPLAN_AT[-1])
        if stats.samples >= due:
            self._replan_at = stats.samples
            frequent = [aid for aid in self._triggers if self._cost(aid) > FREQUENT]
            indexes = sorted({i for aid in frequent for i in self._triggers[aid]})
            if indexes:
                self._plan(indexes)
                self._retrigger()
            if any(self._stats.likelihood(("word", w)) > FREQUENT for w in self._anchors):
                self._anchor()

    def _hits(self, aid: int, fields: Sequence[_Field]) -> list[Hit]:
        info = self._atoms[aid]
        hits = []
        for f in fields:
            if info.kind == "text" and " " not in info.key:
                for start, end in f.word_spans(info.key):
                    hits.append(Hit(info.label, f.name, start, end, f.original[start:end]))
            elif info.kind == "text":
                ft, needle, pos, n = f.ft, f" {info.key} ", 0, 0
                padded = f.padded
                while n < MAX_HITS_PER_TERM:
                    at = padded.find(needle, pos)
                    if at < 0:
                        break
                    pos, n = at + len(needle) - 1, n + 1
                    start, end = ft.original_span(at, at + len(info.key))  # `at` in padded = start in text
                    hits.append(Hit(info.label, f.name, start, end, f.original[start:end]))
            elif info.kind == "place":
                for pid, spans in f.places:
                    if pid not in info.place_set.members:
                        continue
                    for pstart, pend in spans[:MAX_HITS_PER_TERM]:
                        start, end = f.ft.original_span_of_pre(pstart, pend)
                        hits.append(Hit(info.label, f.name, start, end, f.original[start:end],
                                        info.place_set.describe(pid)))
            else:  # regex: offsets are in the original text already
                for n, m in enumerate(info.regex.finditer(f.original)):
                    if n >= MAX_HITS_PER_TERM:
                        break
                    if m.end() > m.start():
                        hits.append(Hit(info.label, f.name, m.start(), m.end(), m.group(0)))
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


def check_query(query: str, places: PlaceResolver | None = None) -> Query:
    """Parse and compile one query as a watch would be, or raise the ``UsageError`` a user should see:
    a syntax error with its column, a pattern RE2 refuses, an unknown place ("did you mean ...?") or an
    ambiguous one (the candidates). Returns the parsed query.

    Without a gazetteer (``places`` None: tests, in-memory setups) place terms are only parsed; the
    matcher will report them when it runs without one."""
    parsed = _parse(query)
    if places is None:
        for atom in atoms(parsed):
            if isinstance(atom, Regex):
                try:
                    compile_regex(atom.pattern, atom.flags)
                except QueryError as exc:
                    raise QueryError(str(exc), query, atom.col or None) from None
        return parsed
    Matcher._build([Watch(id=0, query=query, destination="")], places, strict=True)
    return parsed
