"""Compile many watches into one matcher; ``match(entry)`` returns the watches that matched, with hits,
and ``match_groups(entry)`` the same with one result per distinct query (what the service reads).

How it stays fast with thousands of watches (the cost per entry does not grow with their number):

* **One tokenisation, then set operations in C.** A field is folded once and split into tokens
  (``core.textfold``, in C by ``core._scan`` when it is built); the words of an entry are one set ``W``
  (tokens, plus the parts of tokens split at apostrophes: ``Kharkiv's`` contains the word ``kharkiv``).
  Whether a single-word term occurs is then ``key in W``; the words the matcher acts on (trigger words,
  phrase anchors, place tokens) are one intersection ``W & hot``, and the finer ones are taken from that
  small rest. An entry that shares no word with any trigger costs the fold, the split and two set passes.
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
* **Everything but RE2 is known before any watch is evaluated.** Places are found by the place scanner
  (their tokens are in the same intersection); a phrase is anchored on its rarest word and confirmed by a
  substring test on the folded text whenever that word occurred, into the set ``P`` of the non-word atoms
  present. A watch's boolean structure is compiled once into one Python expression of membership tests
  (``K[0] in W and not K[1] in P``), so evaluating a candidate is a single call with no call per atom.
  An ``re:`` atom is run by RE2 only when a candidate needs it (or on every entry, when it is a trigger).
* **Two-clause queries need no evaluation.** ``place:X AND (drone OR shelling)`` is a candidate only when
  an atom of each clause occurred (pair tables: trigger atom -> the other clause's atoms -> watches), and
  then it is true.
* **One result per query.** Ten channels watching ``place:Kupiansk`` are one ``_Watch``, evaluated once,
  and one ``MatchGroup``; the service encodes its hits once for the ten.

A watch whose stored query no longer parses (or names a place the gazetteer cannot resolve) is skipped
and reported in ``Matcher.errors``; it never stops the others from matching.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import re2

from bot.core.errors import QueryError, UsageError
from bot.core.models import Entry, Hit, Match, MatchGroup, Watch
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
from bot.core.textfold import FoldedText, add_words, fold

__all__ = ["Matcher", "PlaceResolver", "check_query", "compile_regex", "match_query"]

MAX_HITS_PER_TERM = 20  # per field: enough to show where, without flooding an alert
MAX_TOKEN_MEMO = 100_000  # distinct tokens remembered; the memo starts over beyond (bounds a long-running bot)
SAMPLE_EVERY = 16  # after the first WARMUP_SAMPLES entries, one entry in this many updates the statistics
WARMUP_SAMPLES = 16
REPLAN_AT = (16, 64, 256, 1024, 4096)  # sample counts at which triggers are re-planned (then every 4096)
PRIOR_WEIGHT = 20.0  # the prior likelihood counts as this many samples
PRIOR = {"text": 0.01, "place": 0.01, "regex": 1.0}  # a regex trigger is tried on every entry: cost 1
FREQUENT = 0.02  # a trigger atom found in more than this share of entries is worth re-planning around

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


Evaluator = Callable[[set[str], set[int], Callable[[int], bool]], bool]


@functools.lru_cache(maxsize=10_000)
def _evaluator_factory(expr: str) -> Callable[[tuple[Any, ...]], Evaluator]:
    """Compile the shape of a boolean expression once: ``expr`` is built by ``Matcher._add`` from
    ``K[i]``, ``in W`` / ``in P`` / ``r(...)``, parentheses and and/or/not only, so no user text reaches
    ``eval``; the watch's own words and atom ids are bound as the constants ``K``. Ten thousand watches
    have a few dozen shapes, so a rebuild compiles almost nothing."""
    return eval(f"lambda K: lambda W, P, r: {expr}", {"__builtins__": {}})  # noqa: S307 - see above


def _first(item: tuple[int, Match]) -> int:
    return item[0]


# The other clauses of the two-clause watches one trigger atom starts: their words -> watch indexes, the
# set of those words, their other atoms (phrases, places) -> watch indexes.
_Pairs = tuple[dict[str, list[int]], frozenset[str], dict[int, list[int]]]


def _add_candidates(triggers: Iterable[Any], plain: dict[Any, list[int]], pairs: dict[Any, _Pairs],
                    words: set[str], present: set[int], candidates: set[int]) -> None:
    """Add the watches the triggers that occurred (words, or atom ids) make candidates: every watch they
    trigger, and the two-clause ones whose other clause occurred too."""
    for key in triggers:
        c = plain.get(key)
        if c:
            candidates.update(c)
        pair = pairs.get(key)
        if pair:
            _pair_candidates(pair, words, present, candidates)


def _pair_candidates(pair: _Pairs, words: set[str], present: set[int], candidates: set[int]) -> None:
    """Add the two-clause watches whose trigger occurred and whose other clause occurred too."""
    by_word, word_set, by_atom = pair
    for word in word_set & words:
        candidates.update(by_word[word])
    for aid, indexes in by_atom.items():
        if aid in present:
            candidates.update(indexes)


# A MatchGroup made from a 2-tuple by tuple.__new__, in C: half the time of the NamedTuple's own __new__ (a
# Python function), paid for every group of every entry.
_group = functools.partial(tuple.__new__, MatchGroup)


@functools.lru_cache(maxsize=100_000)
def _parse(text: str) -> Query:
    """``query.parse`` remembered: a rebuild after one watch change re-reads 10,000 unchanged queries.
    Query trees are immutable, so sharing them is safe; a bad query raises again each time."""
    return parse(text)


@dataclass(slots=True)
class _Watch:
    """One distinct query, and every watch that has it (ten channels watching ``place:Kupiansk`` are
    evaluated once and are one ``MatchGroup``)."""

    members: list[tuple[int, int]]  # (position in the build's list, watch id), in that order
    evaluate: Evaluator | None  # None: a plain OR of positive atoms, true as soon as it is a candidate
    positive: tuple[int, ...]  # atom ids whose occurrences become hits
    query: Query
    ids: dict[int, int]  # id(atom node) -> atom id (for re-planning)
    triggers: frozenset[int] = frozenset()
    watch_ids: tuple[int, ...] = ()  # the members' watch ids (set when the build is finished)
    # A query of two clauses, ``A AND B`` with A and B an atom or an OR of atoms (no NOT, no regex): the
    # atoms of each. Such a watch needs no evaluation: it is a candidate only when an atom of its trigger
    # clause and one of the other clause both occurred (``Matcher._pairs_*``).
    clauses: tuple[frozenset[int], frozenset[int]] | None = None


@dataclass(slots=True)
class _AtomInfo:
    kind: str  # "text", "regex", "place"
    label: str  # what a Hit shows as its term
    ident: tuple[str, str]  # stable across matchers: the key of the statistics
    key: str = ""  # folded text for "text"; a single word when it has no space
    regex: Any = None
    place_set: Any = None
    word: bool = False  # a single folded word: present exactly when it is in the entry's word set ``W``

    def __post_init__(self) -> None:
        self.word = self.kind == "text" and " " not in self.key


class _Stats:
    """How often each atom occurs in an entry, learnt from a sample of the entries matched.

    Keyed by atom identity (``("text", "attack")``), not by a matcher's atom ids, so that it survives
    rebuilds. Only the choice of triggers uses it."""

    __slots__ = ("samples", "counts", "words")

    def __init__(self) -> None:
        self.samples = 0
        self.counts: Counter[tuple[str, str]] = Counter()  # phrases, places, regexes, by ident
        # single-word atoms and phrase words, by their folded word: in how many samples each occurred (one
        # Counter.update in C per sample; a single-word atom and a phrase word are the same count)
        self.words: Counter[str] = Counter()

    def likelihood(self, ident: tuple[str, str]) -> float:
        kind, key = ident
        if kind == "regex":
            return PRIOR["regex"]
        if kind == "word" or (kind == "text" and " " not in key):
            seen = self.words[key]
        else:
            seen = self.counts[ident]
        prior = PRIOR["place" if kind == "place" else "text"]
        return (seen + PRIOR_WEIGHT * prior) / (self.samples + PRIOR_WEIGHT)


class _Field:
    """One field of one entry while it is matched: the folded text and what was found in it."""

    __slots__ = ("name", "original", "ft", "_padded", "places")

    def __init__(self, name: str, original: str):
        self.name = name
        self.original = original
        self.ft = FoldedText(original)
        self._padded: str | None = None
        self.places: list[tuple[int, list[tuple[int, int]]]] = []


    def word_spans(self, word: str, limit: int = MAX_HITS_PER_TERM) -> list[tuple[int, int]]:
        """Where ``word`` stands as a whole word, as spans of the original text (at most ``limit``)."""
        ft = self.ft
        pre, n, out = ft.pre, len(word), []
        size = len(pre)
        at = pre.find(word)
        while at >= 0:
            end = at + n
            if (at == 0 or pre[at - 1] in " '") and (end == size or pre[end] in " '"):
                out.append(ft.original_span_of_pre(at, end))
                if len(out) >= limit:
                    break
                at = pre.find(word, end + 1)  # the next whole word starts after a separator
            else:
                at = pre.find(word, at + 1)
        return out

    @property
    def padded(self) -> str:
        """`` text `` with a space on both sides: a whole-word or phrase test is a substring test."""
        if self._padded is None:
            self._padded = f" {self.ft.text} "
        return self._padded


class Matcher:
    """All watches compiled into one structure. Build a new one when the watches change.

    Its results depend only on the watches; internally it keeps a token memo (places) and the statistics
    that pick triggers, both of which only make it faster."""

    def __init__(self) -> None:
        self.errors: dict[int, str] = {}  # watch id -> why it was skipped
        self._atoms: list[_AtomInfo] = []
        self._atom_ids: dict[tuple[str, str], int] = {}
        self._watches: list[_Watch] = []
        self._by_query: dict[str, int] = {}  # query text -> index into _watches
        self._triggers: dict[int, list[int]] = {}  # atom id -> indexes into _watches
        # the triggers split by how they are found: words by intersection, the other atoms through P
        self._trigger_words: dict[str, list[int]] = {}  # folded word -> indexes into _watches
        self._trigger_word_set: frozenset[str] = frozenset()
        self._trigger_others: dict[int, list[int]] = {}  # phrase, place or regex atom id -> indexes
        # watches of two clauses (``_Watch.clauses``), by trigger word or atom
        self._pairs_word: dict[str, _Pairs] = {}
        self._pairs_atom: dict[int, _Pairs] = {}
        self._scan_regex: list[int] = []  # regex atoms that are some watch's trigger: tried on every entry
        self._counted: frozenset[str] = frozenset()  # single-word atoms and phrase words (the statistics)
        self._anchors: dict[str, tuple[int, ...]] = {}  # folded word -> phrase atoms anchored on it
        self._anchor_set: frozenset[str] = frozenset()
        self._phrases: dict[int, str] = {}  # phrase atom id -> " folded phrase " (a substring test)
        self._places: Any = None  # places.PlaceScanner
        self._place_atoms: dict[int, list[int]] = {}  # place id -> atom ids
        self._stats = _Stats()
        self._entries = 0
        self._replan_at = 0
        # place token memo: every token seen, and those that can start a watched place name
        self._seen: set[str] = set()
        self._place_tokens: set[str] = set()
        # every word the matcher acts on (trigger words, phrase anchors, place tokens): one intersection
        # with an entry's words, and the finer ones with what is left (a few words, not a hundred)
        self._hot: set[str] = set()

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
        constants: list[Any] = []
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
            info = self._atoms[aid]
            constants.append(info.key if info.word else aid)
            k = f"K[{len(constants) - 1}]"
            if info.word:
                return f"({k} in W)"
            return f"r({k})" if info.kind == "regex" else f"({k} in P)"

        # The boolean structure becomes one Python expression of membership tests, compiled once per
        # shape: evaluating it is a single call per candidate watch. A plain OR of terms needs no
        # evaluation at all: any trigger that occurred makes it true.
        expr = expression(query)
        clauses = self._clauses(query, ids)
        evaluate = None if simple[0] or clauses else _evaluator_factory(expr)(tuple(constants))
        positive = tuple(dict.fromkeys(ids[id(a)] for a in positive_atoms(query)))
        self._by_query[source] = len(self._watches)
        self._watches.append(_Watch([(position, watch_id)], evaluate, positive, query, ids, clauses=clauses))

    def _clauses(self, query: Query, ids: dict[int, int]) -> tuple[frozenset[int], frozenset[int]] | None:
        """The two clauses of ``A AND B`` (each an atom or an OR of atoms, none a regex), else None."""
        if not isinstance(query, And) or len(query.items) != 2:
            return None
        out = []
        for item in query.items:
            leaves = item.items if isinstance(item, Or) else (item,)
            if any(isinstance(leaf, (And, Or, Not)) for leaf in leaves):
                return None
            aids = frozenset(ids[id(leaf)] for leaf in leaves)
            if any(self._atoms[aid].kind == "regex" for aid in aids):
                return None
            out.append(aids)
        return out[0], out[1]

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
        atoms, watches = self._atoms, self._watches
        # Watches of two clauses go to the pair tables: trigger atom -> (the other clause's words -> watches,
        # their set, its other atoms -> watches); the rest are candidates whenever a trigger occurred.
        trigger_words: dict[str, list[int]] = {}
        trigger_others: dict[int, list[int]] = {}
        pairs_word: dict[str, tuple[dict[str, list[int]], dict[int, list[int]]]] = {}
        pairs_atom: dict[int, tuple[dict[str, list[int]], dict[int, list[int]]]] = {}
        for aid, indexes in self._triggers.items():
            info = atoms[aid]
            for index in indexes:
                clauses = watches[index].clauses
                if clauses is None:
                    (trigger_words.setdefault(info.key, []) if info.word
                     else trigger_others.setdefault(aid, [])).append(index)
                    continue
                other = clauses[1] if watches[index].triggers == clauses[0] else clauses[0]
                table = (pairs_word.setdefault(info.key, ({}, {})) if info.word
                         else pairs_atom.setdefault(aid, ({}, {})))
                for o in other:
                    if atoms[o].word:
                        table[0].setdefault(atoms[o].key, []).append(index)
                    else:
                        table[1].setdefault(o, []).append(index)
        self._trigger_words, self._trigger_others = trigger_words, trigger_others
        self._pairs_word = {w: (t[0], frozenset(t[0]), t[1]) for w, t in pairs_word.items()}
        self._pairs_atom = {a: (t[0], frozenset(t[0]), t[1]) for a, t in pairs_atom.items()}
        self._trigger_word_set = frozenset(trigger_words) | frozenset(pairs_word)
        self._refresh_hot()
        self._scan_regex = [aid for aid in self._triggers if atoms[aid].kind == "regex"]

    def _finish(self, places: PlaceResolver | None) -> None:
        for watch in self._watches:
            watch.watch_ids = tuple(watch_id for _, watch_id in watch.members)
        self._plan(range(len(self._watches)))
        texts = [(aid, a) for aid, a in enumerate(self._atoms) if a.kind == "text"]
        self._phrases = {aid: f" {a.key} " for aid, a in texts if not a.word}
        self._counted = frozenset(a.key for _, a in texts if a.word).union(
            *(self._atoms[aid].key.split(" ") for aid in self._phrases))
        self._anchor()
        place_atoms = [(i, a.place_set) for i, a in enumerate(self._atoms) if a.kind == "place"]
        if place_atoms and places is not None:
            self._places = places.scanner([ps for _, ps in place_atoms])
            for aid, ps in place_atoms:
                for pid in ps.place_ids:
                    self._place_atoms.setdefault(pid, []).append(aid)

    def _anchor(self) -> None:
        """Choose the word each phrase is looked for through: the least frequent one (statistics), the
        longest while nothing is known. The phrase is then confirmed on the folded text."""
        anchors: dict[str, list[int]] = {}
        likelihood = self._stats.likelihood
        for aid in self._phrases:
            words = self._atoms[aid].key.split(" ")
            anchor = min(words, key=lambda w: (likelihood(("word", w)), -len(w)))
            anchors.setdefault(anchor, []).append(aid)
        self._anchors = {w: tuple(a) for w, a in anchors.items()}
        self._anchor_set = frozenset(self._anchors)
        self._refresh_hot()

    def _refresh_hot(self) -> None:
        self._hot = set(self._trigger_word_set)
        self._hot |= self._anchor_set
        self._hot |= self._place_tokens

    @property
    def watch_count(self) -> int:
        return sum(len(w.members) for w in self._watches)

    # ---------------------------------------------------------------------------------------------
    # Matching
    # ---------------------------------------------------------------------------------------------

    def match(self, entry: Entry) -> list[Match]:
        """The watches ``entry`` matches (title and summary), each with the hits that made it match, in the
        order the watches were given. ``match_groups`` is the same answer with one result per query."""
        found = self._run(((FIELDS[0], entry.title), (FIELDS[1], entry.summary)))
        if len(found) == 1 and len(found[0][0].members) == 1:
            watch, hits = found[0]
            return [Match(watch.members[0][1], entry.identity, hits)]
        identity = entry.identity
        out = [(position, Match(watch_id, identity, hits))
               for watch, hits in found for position, watch_id in watch.members]
        out.sort(key=_first)
        return [match for _, match in out]

    def match_groups(self, entry: Entry) -> list[MatchGroup]:
        """What ``match`` finds, one ``MatchGroup`` per distinct query (the watches sharing it and their
        hits), in the order of each query's first watch. The service reads this: with many channels on
        the same place, an entry is a few groups rather than dozens of per-watch results."""
        return [_group((watch.watch_ids, hits))
                for watch, hits in self._run(((FIELDS[0], entry.title), (FIELDS[1], entry.summary)))]

    def _learn_tokens(self, tokset: set[str]) -> None:
        """Remember which of an entry's new tokens can start a watched place name (once per distinct token
        for the matcher's life; the memo starts over beyond ``MAX_TOKEN_MEMO`` tokens)."""
        new = tokset - self._seen
        if new:
            if len(self._seen) > MAX_TOKEN_MEMO:
                self._seen.clear()
                self._place_tokens.clear()
                self._refresh_hot()
            positive = self._places.positive
            found = [t for t in new if positive(t)]
            self._place_tokens.update(found)
            self._hot.update(found)
            self._seen |= new

    def _run(self, texts: Sequence[tuple[str, str]]) -> list[tuple[_Watch, tuple[Hit, ...]]]:
        """The distinct queries the texts match, with their hits, in build order (a query's ``_Watch``
        is created at its first watch, so the index order of ``_watches`` is the build order)."""
        self._entries += 1
        fields = []
        for name, text in texts:
            if text:
                fields.append(_Field(name, text))
        words: set[str] = set()  # W: the words of every field (one set: a query reads title and text)
        for f in fields:
            add_words(f.ft.pre, words)  # tokens, and the parts of tokens split at apostrophes
        # P: the non-word atoms present. Phrases (anchored on a word that occurred) and places are found
        # here, completely; regex atoms only when they are some watch's trigger (else lazily, by `r`).
        present: set[int] = set()
        if self._places is not None:
            self._learn_tokens(words)
        hot = words & self._hot
        anchored = hot & self._anchor_set if hot else hot
        if anchored:
            phrases = self._phrases
            for word in anchored:
                for aid in self._anchors[word]:
                    needle = phrases[aid]
                    for f in fields:
                        if needle in f.padded:
                            present.add(aid)
                            break
        if self._places is not None:
            place_hits = hot & self._place_tokens if hot else hot
            if place_hits:
                for f in fields:  # a token of the other field costs the scanner one failed find
                    f.places = self._places.find(f.ft, place_hits)
                    for pid, _ in f.places:
                        present.update(self._place_atoms.get(pid, ()))
        atoms = self._atoms
        for aid in self._scan_regex:
            regex = atoms[aid].regex
            for f in fields:
                if regex.search(f.original):
                    present.add(aid)
                    break
        if self._entries <= WARMUP_SAMPLES or self._entries % SAMPLE_EVERY == 0:
            self._learn_frequencies(words, present)

        candidates: set[int] = set()
        if hot:
            _add_candidates(hot & self._trigger_word_set, self._trigger_words, self._pairs_word, words, present,
                            candidates)
        if present:
            _add_candidates(present, self._trigger_others, self._pairs_atom, words, present, candidates)
        if not candidates:
            return []

        checked: set[int] = set()

        def regex_occurs(aid: int) -> bool:
            if aid in present:
                return True
            if aid in checked:
                return False
            checked.add(aid)
            regex = atoms[aid].regex
            for f in fields:
                if regex.search(f.original):
                    present.add(aid)
                    return True
            return False

        out: list[tuple[_Watch, tuple[Hit, ...]]] = []
        hit_cache: dict[int, tuple[Hit, ...]] = {}
        watches = self._watches
        for index in sorted(candidates):
            watch = watches[index]
            if watch.evaluate is not None and not watch.evaluate(words, present, regex_occurs):
                continue
            shared: tuple[Hit, ...] = ()
            for aid in watch.positive:
                hits = hit_cache.get(aid)
                if hits is None:
                    info = atoms[aid]
                    if info.word:
                        ok = info.key in words
                    elif info.kind == "regex":
                        ok = regex_occurs(aid)
                    else:
                        ok = aid in present
                    hits = hit_cache[aid] = tuple(self._hits(aid, fields)) if ok else ()
                shared = hits if not shared else shared + hits
            out.append((watch, shared))
        return out

    def _learn_frequencies(self, words: set[str], present: set[int]) -> None:
        """Count the atoms of a sampled entry; re-plan the triggers at the checkpoints.

        Counted: every single-word atom and every word of a phrase (from ``W``), every phrase, place and
        trigger regex found (``P``). A regex that is not a trigger is not counted: its cost is fixed."""
        stats = self._stats
        stats.samples += 1
        stats.words.update(words & self._counted)
        if present:
            atoms = self._atoms
            stats.counts.update(atoms[aid].ident for aid in present)
        due = next((n for n in REPLAN_AT if n > self._replan_at), self._replan_at + REPLAN_AT[-1])
        if stats.samples >= due:
            self._replan_at = stats.samples
            frequent = [aid for aid in self._triggers if self._cost(aid) > FREQUENT]
            indexes = sorted({i for aid in frequent for i in self._triggers[aid]})
            if indexes:
                self._plan(indexes)
            if any(self._stats.likelihood(("word", w)) > FREQUENT for w in self._anchors):
                self._anchor()

    def _hits(self, aid: int, fields: Sequence[_Field]) -> list[Hit]:
        info = self._atoms[aid]
        hits = []
        for f in fields:
            if info.word:
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
