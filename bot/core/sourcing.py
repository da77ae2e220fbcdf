"""How the claims in one article are sourced, as presented in its text.

``assess(article, lexicons) -> Assessment`` is pure, offline and fast (regular expressions over the text;
no network, no model). It describes sourcing *as presented*; it is not a truth verdict. Every phrase that
counts comes from the lexicons in ``seeds/sourcing/`` (passed in as a ``Lexicons`` value), and every
rule that fires adds points *and* a reason fragment, so a reader can see why an article got its grade.

Points table (WHY next to each rule; sources: AP and Reuters sourcing rules, SPJ code, W3C Credible Web
signals, Trust Project; see shared/reference/sourcing.md §4):

====================================================  ======  ===========================================
Rule                                                  Points  Why
====================================================  ======  ===========================================
primary evidence: DOCUMENT source, textual cue         +2     a reader can check a filing, statement, data
  ("in a statement", "court filing") or primary link
NAMED on-record sources, not via another outlet        +1 ea  AP/Reuters: a named source is always
                                                       cap +3 preferable; more independent voices help
NAMED only via another outlet                          +0.5ea someone else's sourcing, not this outlet's
                                                       cap +1
>= 2 direct quotes attributed to speakers              +1     original quotes (W3C 18.84)
own reporting (dateline with byline or wire credit,    +1     Reuters: "a Reuters journalist is always the
  "told <this outlet>", "our correspondent")                  best source on a witnessed event"
correction or update note                              +0.5   corrects errors openly (NewsGuard 3)
wire copy (AP, Reuters, AFP ... credit)                +1     wire services work under strict sourcing rules
ANONYMOUS attributions                                 -1 ea  "anonymous sources are the weakest" (Reuters);
                                                       cap -3 halved when specific (a senior defence
                                                              official) or a reason is given: anonymity
                                                              itself is not falsehood (AP, SPJ)
VAGUE attributions ("it is believed", "reports")       -0.5ea weasel words hide who is speaking
                                                       cap -2
relays ONE secondary outlet (>= 50 % of attributed     -3     the article is someone else's story: its
  sentences) and no own reporting                             sourcing is at best that outlet's
relays several other outlets, no own reporting         -1     an aggregation, not reporting
hedges outside quotes >= 1 / >= 2 per 100 words        -1/-2  reporter relays the unconfirmed; moderate
                                                              weight because hedging can be good practice
no NAMED on-record source at all (full text only)      -1     nobody accountable for the claim
no primary evidence (full text only)                   -1     nothing a reader could check
sensational headline                                   -1     hyperbole (W3C 18.122)
headline states as fact what the body hedges           -1     title overstates the body (CCIV, NewsGuard 5)
most claim sentences unattributed (no own reporting)   -1     AP: attribute any disputable fact
====================================================  ======  ===========================================

Grade: points >= 3 strong, 0 .. 2.5 moderate, < 0 weak; score = clamp(50 + 10 * points, 0, 100), so the
grade can be read off the score (strong >= 80, weak < 50). Caps, because some patterns must never look
strong whatever else the text does: an article that relays one secondary outlet, or rests on anonymous
sources with no named on-record source and no primary evidence, is at most moderate (score <= 79).
Opinion, analysis, live blogs and sponsored content follow other norms: grade "n/a", counts still shown.
A short text (a feed summary, < 150 words, or flagged) is graded but marked "(summary only)", and the
rules that punish an *absence* (no named source, no primary evidence) do not fire: a summary cannot show.

The reasons line lists the fragments by |points| (negatives first when weak, positives first otherwise),
at most five, under 200 characters.

Speed (issue #4: under 5 ms per 1,000-word article, ``wirewatch bench`` figure ``assess``). The text is
normalised, its quotes masked and its sentences split once, and the work that reads the whole text is
shared: one regex pass of all first words (``_FirstWords``) gives each lexicon family that reads the masked
text the few word starts where it can match, and the attribution cues and weasel phrases are found once
and sliced per sentence (``_by_sentence``). Python's ``re`` tries a pattern at every character unless it
starts with a literal or a character class, so the rest keeps it off that path: literals are found with
``str.find``, grouped by their longest word (``_by_longest_word``); a look-behind follows a name's first
character (``_AFTER_NON_WORD``); a search that needs a word the text lacks is skipped; words are counted
from whitespace tokens (``_count_words``). Every shortcut finds exactly what the plain regex would.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Iterator, Mapping
from urllib.parse import urlsplit

DOCUMENT = "DOCUMENT"
OUTLET = "OUTLET"
NAMED = "NAMED"
ANONYMOUS = "ANONYMOUS"
VAGUE = "VAGUE"
SOCIAL = "SOCIAL"
SOURCE_CLASSES = (DOCUMENT, OUTLET, NAMED, ANONYMOUS, VAGUE, SOCIAL)

GRADES = ("strong", "moderate", "weak", "n/a")
PARTIAL_WORDS = 150  # below this a body is a summary or a snippet, not the article
MAX_REASONS = 5
MAX_LINE = 200
CORROBORATION_SEPARATOR = " · "


# --------------------------------------------------------------------------------------------------
# Lexicons (values built by bot.adapters.lexicons from seeds/sourcing/)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LexiconEntry:
    """One line of a lexicon file: ``family`` is the file stem ("hedges"), ``origin`` "hedges.txt:12"."""

    family: str
    category: str
    pattern: str
    label: str = ""
    origin: str = ""


@dataclass(frozen=True, slots=True)
class Outlet:
    """A publication. Two outlets are the SAME VOICE when they share ``owner``, or are both ``state``
    controlled by the same ``country`` (public broadcasters with editorial independence are not)."""

    name: str
    aliases: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    owner: str = ""
    country: str = ""
    control: str = ""  # "state", "public", "private", "" unknown
    wire: bool = False
    notes: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


@dataclass(frozen=True)
class Lexicons:
    """The sourcing lexicons as one value. Regular expressions are compiled once, on construction."""

    entries: tuple[LexiconEntry, ...] = ()
    outlets: tuple[Outlet, ...] = ()
    compiled: "_Compiled" = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "compiled", _Compiled(self))

    def patterns(self, family: str, category: str) -> tuple[str, ...]:
        return tuple(e.pattern for e in self.entries if e.family == family and e.category == category)

    def outlet(self, name_or_domain: str) -> Outlet | None:
        """The outlet called ``name_or_domain`` (a name, an alias or a domain; case-insensitive)."""
        return self.compiled.outlet_lookup(name_or_domain)


def _pattern_regex(pattern: str) -> str:
    """A lexicon pattern as a regex on lower-cased text: words joined by any whitespace, ``*`` = any
    ending, whole words only."""
    words = pattern.lower().split()
    parts = []
    for w in words:
        if w.endswith("*") and len(w) > 1:
            parts.append(re.escape(w[:-1]) + r"\w*")
        else:
            parts.append(re.escape(w))
    body = r"\s+".join(parts)
    start = r"\b" if re.match(r"\w", pattern) else ""
    end = r"\b" if re.search(r"\w$", pattern) else ""
    return start + body + end


def _atoms(pattern: str, keep_case: bool = False) -> list[str]:
    atoms: list[str] = []
    words = (pattern if keep_case else pattern.lower()).split()
    for wi, w in enumerate(words):
        if wi:
            atoms.append(r"\s+")
        star = w.endswith("*") and len(w) > 1
        for ch in (w[:-1] if star else w):
            atoms.append(re.escape(ch))
        if star:
            atoms.append(r"\w*")
    return atoms


# "The character before the one just matched is not a word character". WHY it follows a name's first
# character rather than preceding the name as ``(?<!\w)``: a pattern that starts with a look-behind gets
# no fast scan for its first characters in Python's ``re`` and is tried at every position (0.15 ms per
# search of 1,000 words); after the first character it is the same test, and capitals are rare.
_AFTER_NON_WORD = r"(?<!\w[\s\S])"


def _guarded(name: str) -> str:
    """``name`` as a regex that matches only where no word character precedes it."""
    if not name:
        return r"(?<!\w)"
    return re.escape(name[:1]) + _AFTER_NON_WORD + re.escape(name[1:])


def _trie_regex(patterns: Iterable[str], keep_case: bool = False, open_ends: frozenset[str] = frozenset(),
                guarded: bool = False) -> str:
    """One regex for many phrases, factored into a trie (``(?:sa(?:id|ys)|...)``). WHY: Python's ``re``
    tries every alternative of a flat alternation at every position; a trie shares the prefixes, which
    made lexicon matching several times faster on a 1,000-word article. A phrase in ``open_ends`` may
    end inside a word (a word's beginning); ``guarded``: phrases match only where no word character
    precedes them (``_AFTER_NON_WORD``)."""
    trie: dict = {}
    for p in patterns:
        node = trie
        atoms = _atoms(p, keep_case)
        if guarded:
            atoms.insert(1, _AFTER_NON_WORD)
        for atom in atoms:
            node = node.setdefault(atom, {})
        node[""] = r"\b" if p not in open_ends and re.search(r"[\w*]$", p) else ""

    def emit(node: dict) -> str:
        alts = [atom + emit(child) for atom, child in node.items() if atom != ""]
        if "" in node:
            alts.append(node[""])
        if len(alts) == 1:
            return alts[0]
        return "(?:" + "|".join(alts) + ")"

    return emit(trie) if trie else ""


_RUN = re.compile(r"\w+")
_ANCHOR_MIN_TEXT = 400  # texts this long are scanned from their literals; shorter ones directly


class _Matcher:
    """One trie regex for one (family, category): ``finditer`` yields (start, end, entry).

    WHY no named groups and lower-cased input: Python's ``re`` with a capture group and a look-behind
    per alternative was 80 times slower on a 1,000-word article; the entry is found afterwards from
    the matched text (exact phrase first, then the few ``*`` patterns)."""

    __slots__ = ("regex", "regex_ci", "exact", "wild", "anchors", "spaced", "keys")

    def __init__(self, entries: list[LexiconEntry]):
        entries = sorted(entries, key=lambda e: -len(e.pattern))
        self.exact: dict[str, LexiconEntry] = {}
        self.wild: list[tuple[re.Pattern[str], LexiconEntry]] = []
        for e in entries:
            if "*" in e.pattern:
                self.wild.append((re.compile(_pattern_regex(e.pattern)), e))
            else:
                self.exact.setdefault(" ".join(e.pattern.lower().split()), e)
        if entries:
            word_start = [e.pattern for e in entries if re.match(r"\w", e.pattern)]
            other = [e.pattern for e in entries if not re.match(r"\w", e.pattern)]
            parts = []
            if word_start:
                parts.append(r"\b" + _trie_regex(word_start))
            if other:
                parts.append(_trie_regex(other))
            alternation = "|".join(parts)
            self.regex: re.Pattern[str] | None = re.compile(alternation)
            self.regex_ci: re.Pattern[str] | None = re.compile(alternation, re.IGNORECASE)
        else:
            self.regex = self.regex_ci = None
        # The literal every match starts with: each pattern's first word (a ``*`` word's stem), lower-case,
        # and a short first word with the space after it ("a ", "in "), without those that another one
        # is a prefix of; with whether the match must start a word there.
        firsts: set[str] = set()
        self.spaced = False
        for pat in (e.pattern.lower().split() for e in entries):
            if not pat:
                continue
            w = pat[0][:-1] if pat[0].endswith("*") and len(pat[0]) > 1 else pat[0]
            if len(pat) > 1 and len(w) <= 3 and w == pat[0]:
                w += " "
                self.spaced = True
            firsts.add(w)
        anchors: list[str] = []
        for w in sorted(firsts, key=len):
            if not any(w.startswith(f) for f in anchors):
                anchors.append(w)
        self.anchors = tuple((w, bool(_RUN.match(w))) for w in anchors)
        # The first word of every phrase, for ``_FirstWords``: its word characters, and whether the word
        # in the text may go on after them (a ``*`` word: "повідомив*"). None: some phrase does not
        # start with a word, so the matcher cannot be found from word starts alone.
        keys: set[tuple[str, bool]] | None = set()
        for pat in (e.pattern.lower().split() for e in entries):
            first = pat[0] if pat else ""
            star = first.endswith("*") and len(first) > 1
            stem = first[:-1] if star else first
            run = _RUN.match(stem)
            if run is None or keys is None:
                keys = None
                continue
            keys.add((run.group(0), star and run.end() == len(stem)))
        self.keys = frozenset(keys) if keys is not None else None

    def _entry(self, matched: str) -> LexiconEntry:
        key = " ".join(matched.split())
        found = self.exact.get(key)
        if found is not None:
            return found
        for rx, e in self.wild:
            if rx.fullmatch(key):
                return e
        return next(iter(self.exact.values())) if self.exact else self.wild[0][1]

    def _matches_at(self, low: str, positions: Iterable[int]) -> Iterator[tuple[int, int, LexiconEntry]]:
        """The regex tried at each candidate position (ascending), leftmost matches that do not overlap."""
        last = -1
        for pos in positions:
            if pos < last:
                continue
            m = self.regex.match(low, pos)
            if m is not None:
                last = max(m.end(), pos + 1)
                yield m.start(), m.end(), self._entry(m.group(0))
    def finditer(self, text: str, scan: _TextScan | None = None) -> Iterable[tuple[int, int, LexiconEntry]]:
        """Every match, leftmost first, as (start, end, entry). ``scan``: ``text`` scanned for first words
        already (``_FirstWords``), so the regex is tried at those places only."""
        if self.regex is None:
            return
        starts = scan.starts.get(self) if scan is not None else None
        if starts is not None:
            yield from self._matches_at(scan.low, starts)  # type: ignore[union-attr]
            return
        low = text.lower()
        if len(low) == len(text) and len(low) >= _ANCHOR_MIN_TEXT and not (
                self.spaced and ("  " in low or "\t" in low)):
            # WHY: at every word the trie regex tries dozens of branches (about 0.3 ms per family over
            # 1,000 words); ``str.find`` jumps to the few places a first word occurs, and the same regex
            # is tried there only: the same matches, leftmost first. (A phrase written across a double
            # space or a tab is why a text with one is scanned in full.)
            yield from self._matches_at(low, self._candidates(low))
        elif len(low) == len(text):
            for m in self.regex.finditer(low):
                yield m.start(), m.end(), self._entry(m.group(0))
        else:  # a character whose lower case is longer (rare): match case-insensitively instead
            for m in self.regex_ci.finditer(text):  # type: ignore[union-attr]
                yield m.start(), m.end(), self._entry(m.group(0).lower())

    def search(self, text: str) -> tuple[int, int, LexiconEntry] | None:
        """The first match of ``finditer``. A short text (a source phrase, a sentence) is searched
        directly: its first match is the regex's leftmost one, without the generator around it."""
        if self.regex is not None and len(text) < _ANCHOR_MIN_TEXT:
            low = text.lower()
            if len(low) == len(text):
                m = self.regex.search(low)
                return None if m is None else (m.start(), m.end(), self._entry(m.group(0)))
        return next(iter(self.finditer(text)), None)

    def _candidates(self, low: str) -> list[int]:
        found: set[int] = set()
        for lit, word_start in self.anchors:
            i = low.find(lit)
            while i >= 0:
                if not (word_start and i and (low[i - 1].isalnum() or low[i - 1] == "_")):
                    found.add(i)
                i = low.find(lit, i + 1)
        return sorted(found)


_EMPTY = _Matcher([])


@dataclass(frozen=True, slots=True)
class _TextScan:
    """One text, lower-cased once, with where each matcher's first words start in it."""

    low: str
    starts: dict[_Matcher, list[int]]


class _FirstWords:
    """Where the first words of several matchers occur in one text, found in one regex pass.

    WHY: a matcher alone jumps through a long text with ``str.find``, one pass over the whole text per
    first word (about a hundred passes for the attribution cues, 5 µs each on 1,000 words). The analysis
    runs six matchers over the same masked text. One regex of all their first words, factored into a trie
    and tried only after a non-word character (a fast character-class scan in ``re``), finds every word
    start where any of them can match; each matcher then tries its own regex at its own places only.
    The places are a superset of where a match can start, and they are tried in order, so the matches are
    the ones ``finditer`` over the whole text would find."""

    def __init__(self, matchers: Iterable[_Matcher]):
        self.matchers = [m for m in matchers if m.regex is not None and m.keys is not None]
        keys = {k for m in self.matchers for k in m.keys}  # type: ignore[union-attr]
        # A whole word is looked for as a whole word ("a", not every word starting with "a"); a word's
        # beginning ("повідомив*") as a beginning, and it stands for every word that starts with it.
        # WHY no beginning that another one starts, and no whole word that a beginning starts: then at
        # most one of them matches at a place, and its own entry in ``wanted`` says who wants the place.
        opens: list[str] = []
        for w in sorted((w for w, is_open in keys if is_open), key=len):
            if not any(w.startswith(o) for o in opens):
                opens.append(w)
        wholes = {w for w, is_open in keys if not is_open and not any(w.startswith(o) for o in opens)}
        found = sorted(wholes) + opens
        self.regex = (re.compile(r"\W(" + _trie_regex(found, open_ends=frozenset(opens)) + ")")
                      if found else None)
        self.wanted: dict[str, tuple[_Matcher, ...]] = {
            f: tuple(m for m in self.matchers if any(  # type: ignore[union-attr]
                w == f or (f in opens and w.startswith(f)) for w, _ in m.keys))
            for f in found
        }

    def scan(self, text: str) -> _TextScan | None:
        """``text`` scanned (None when lower-casing changes its length: the matchers scan it alone)."""
        low = text.lower()
        if self.regex is None or len(low) != len(text):
            return None
        starts: dict[_Matcher, list[int]] = {m: [] for m in self.matchers}
        # a space in front, so a word at the very start is found like any other (at its own offset)
        for m in self.regex.finditer(" " + low):
            for matcher in self.wanted[m.group(1)]:
                starts[matcher].append(m.start())
        return _TextScan(low, starts)


class _Compiled:
    def __init__(self, lex: Lexicons):
        groups: dict[tuple[str, str], list[LexiconEntry]] = {}
        for e in lex.entries:
            groups.setdefault((e.family, e.category), []).append(e)
        self.matchers = {key: _Matcher(v) for key, v in groups.items()}
        self.words: dict[tuple[str, str], frozenset[str]] = {
            key: frozenset(e.pattern.lower() for e in v if " " not in e.pattern and "*" not in e.pattern)
            for key, v in groups.items()
        }
        # Any source indicator, for finding the head of a source phrase.
        indicator_cats = ("anon_head", "title", "institution", "document", "social", "outlet_noun", "pronoun")
        ind_entries = [e for e in lex.entries if e.family == "sources" and e.category in indicator_cats]
        self.indicators = _Matcher(ind_entries)
        self.run_breakers = frozenset().union(*(self.words.get(("sources", k), frozenset())
                                               for k in ("anon_head", "title", "pronoun")))
        # all attribution cues in one pass; the entry's category says which kind of cue matched
        self.cues = _Matcher([e for e in lex.entries if e.family == "attribution"])
        # disclaimers first: "could not be verified" is both a disclaimer and an exception line
        self.hedges = _Matcher(sorted((e for e in lex.entries if e.family == "hedges"),
                                      key=lambda e: e.category != "disclaimer"))
        self.segment = _Matcher(ind_entries + [e for e in lex.entries if e.family == "sources"
                                               and e.category in ("vague", "anon_qualifier")])
        self.sentence = _Matcher([e for e in lex.entries if (e.family, e.category) in (
            ("sources", "vague"), ("sources", "social"), ("disputes", "refute"))])
        # the matchers that read the whole masked text of an article: one scan finds their first words
        self.first_words = _FirstWords([self.cues, self.sentence, self.hedges, self.m("evidence", "cue"),
                                        self.m("sources", "title"), self.m("evidence", "own_reporting")])
        self.outlets = lex.outlets
        self._by_name: dict[str, Outlet] = {}
        for o in lex.outlets:
            for n in o.names:
                self._by_name.setdefault(n.lower(), o)
            for d in o.domains:
                self._by_name.setdefault(d.lower(), o)
        names = sorted({n for o in lex.outlets for n in o.names if len(n) >= 2}, key=len, reverse=True)
        self.outlet_regex = (
            re.compile(r"(?:" + _trie_regex(names, keep_case=True, guarded=True) + r")(?![\w])") if names else None
        )
        self.canonical = {n.lower(): o.name for o in lex.outlets for n in o.names}
        wire_names = sorted({n for o in lex.outlets if o.wire for n in o.names}, key=len, reverse=True)
        self.wire_contributed = (
            re.compile(r"(?<![\w])(" + "|".join(re.escape(n) for n in wire_names) + r")(?![\w])\s+(?:contributed|writers?\b)")
            if wire_names
            else None
        )
        self.domain_primary = tuple(e.pattern.lower() for e in groups.get(("evidence", "domain_primary"), []))
        self.domain_social = tuple(e.pattern.lower() for e in groups.get(("evidence", "domain_social"), []))
        self.path_primary = tuple(e.pattern.lower() for e in groups.get(("evidence", "path_primary"), []))
        genre: dict[str, list[tuple[str, str]]] = {}
        for e in lex.entries:
            if e.family == "genre" and ":" in e.pattern:
                kind, _, value = e.pattern.partition(":")
                genre.setdefault(kind, []).append((e.category, value.strip().lower()))
        self.genre = genre

    def m(self, family: str, category: str) -> _Matcher:
        return self.matchers.get((family, category), _EMPTY)

    def is_word(self, family: str, category: str, word: str) -> bool:
        return word.lower() in self.words.get((family, category), frozenset())

    def outlet_lookup(self, name: str) -> Outlet | None:
        key = name.strip().lower()
        if key.startswith("www."):
            key = key[4:]
        found = self._by_name.get(key)
        if found is None and "." in key:  # a subdomain of a known domain
            parts = key.split(".")
            for i in range(1, len(parts) - 1):
                found = self._by_name.get(".".join(parts[i:]))
                if found:
                    break
        return found


# --------------------------------------------------------------------------------------------------
# Input and output values
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Article:
    """What the analyser reads. ``is_summary``: True/False when the caller knows (the feed carried only
    a summary), None to infer from length. ``kind``: "news", "opinion", "analysis", "live", "sponsored",
    or "" to infer from the URL and labels. ``links``: outbound links of the page, when known."""

    title: str
    text: str
    url: str = ""
    outlet: str = ""
    published: datetime | None = None
    author: str = ""
    links: tuple[str, ...] = ()
    is_summary: bool | None = None
    kind: str = ""


@dataclass(frozen=True, slots=True)
class ArticleText:
    """The text an alert's assessment read when the feed carried only a summary, kept (``Store``) so the
    assessment can be reproduced and the page is fetched at most once. ``source`` is "page" (the main
    text of the article page, with its outbound ``links``) or "failed: <why>" (the page was tried once;
    the assessment read the feed's summary)."""

    url: str
    text: str
    source: str
    fetched_at: datetime
    links: tuple[str, ...] = ()

    @property
    def usable(self) -> bool:
        return self.source == "page" and bool(self.text.strip())


@dataclass(frozen=True, slots=True)
class Attribution:
    """One attribution in the text: which sentence, the cue ("said", "according to"), the source phrase
    as written, its class, and for NAMED/OUTLET the name. ``via`` names the outlet a source reached this
    article through ("X told Look", "Look reported, citing officials"): that is Look's sourcing."""

    sentence: int
    cue: str
    source: str
    cls: str
    name: str = ""
    via: str = ""
    specificity: int | None = None  # ANONYMOUS only: 0 bare .. 3 reason given
    reason_given: bool = False
    continuation: bool = False  # "he said": the previous source again
    own: bool = False  # OUTLET that is the article's own outlet

    def to_dict(self) -> dict[str, Any]:
        d = {"sentence": self.sentence, "cue": self.cue, "source": self.source, "class": self.cls}
        if self.name:
            d["name"] = self.name
        if self.via:
            d["via"] = self.via
        if self.specificity is not None:
            d["specificity"] = self.specificity
            d["reason_given"] = self.reason_given
        if self.continuation:
            d["continuation"] = True
        if self.own:
            d["own"] = True
        return d


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule of the points table that fired."""

    rule: str
    points: float
    reason: str


@dataclass(frozen=True, slots=True)
class Assessment:
    grade: str  # "strong" | "moderate" | "weak" | "n/a"
    score: int  # 0..100
    signals: Mapping[str, Any]
    reasons: str  # one line, under 200 characters, most important first
    reason_parts: tuple[str, ...] = ()  # the fragments of ``reasons`` after its head, in order
    head: str = ""  # "Weak sourcing", "Opinion: sourcing grade not applicable"
    suffix: str = ""  # " (summary only)" or ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "grade": self.grade,
            "score": self.score,
            "reasons": self.reasons,
            "signals": _jsonable(self.signals),
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class Analysis:
    """Everything the analyser found, before grading. ``bot.core.stories`` reads it too."""

    words: int
    sentences: int
    partial: bool
    kind: str
    attributions: tuple[Attribution, ...]
    named_on_record: tuple[str, ...]
    named_via: tuple[tuple[str, str], ...]  # (name, outlet)
    outlets_cited: Mapping[str, int]  # secondary outlets -> attributed sentences resting on them
    single_outlet: str
    outlet_share: float
    anonymous: tuple[Attribution, ...]
    vague: int
    documents: tuple[str, ...]
    social: int
    hedges_evidential: tuple[str, ...]
    hedges_speculative: tuple[str, ...]
    hedges_modal: tuple[str, ...]
    hedge_density: float
    disclaimer: tuple[str, ...]
    quotes_direct: tuple[str, ...]
    quotes_attributed: int
    quote_speakers: tuple[str, ...]
    scare_quotes: tuple[str, ...]
    primary_cues: tuple[str, ...]
    primary_links: tuple[str, ...]
    social_links: tuple[str, ...]
    news_links: tuple[str, ...]
    byline: bool
    dateline: str
    wire_credit: str
    correction: bool
    own_reporting: tuple[str, ...]
    headline_overstates: bool
    headline_sensational: tuple[str, ...]
    unattributed_share: float
    refutations: tuple[tuple[str, str, str], ...]  # (cue, source class, source name) in attributed sentences
    dateline_credit: str = ""  # "KHARKIV (Northern Wire) -": the credited agency, known to the outlet list or not

    def signals(self) -> dict[str, Any]:
        counts = {c: 0 for c in SOURCE_CLASSES}
        for a in self.attributions:
            if not a.continuation and not a.own:
                counts[a.cls] += 1
        return {
            "words": self.words,
            "sentences": self.sentences,
            "partial_text": self.partial,
            "article_type": self.kind,
            "sources": counts,
            "attributions": [a.to_dict() for a in self.attributions],
            "named_on_record": list(self.named_on_record),
            "named_via": [{"name": n, "via": v} for n, v in self.named_via],
            "outlets_cited": dict(self.outlets_cited),
            "single_outlet": self.single_outlet or None,
            "outlet_share": round(self.outlet_share, 2),
            "anonymous": {
                "count": len(self.anonymous),
                "phrases": [a.source for a in self.anonymous],
                "specificity": [a.specificity for a in self.anonymous],
                "mean_specificity": (
                    round(sum(a.specificity or 0 for a in self.anonymous) / len(self.anonymous), 2)
                    if self.anonymous
                    else None
                ),
                "reasons_given": sum(1 for a in self.anonymous if a.reason_given),
            },
            "vague": self.vague,
            "hedges": {
                "evidential": len(self.hedges_evidential),
                "speculative": len(self.hedges_speculative),
                "modal": len(self.hedges_modal),
                "per_100_words": round(self.hedge_density, 2),
                "phrases": list(self.hedges_evidential + self.hedges_speculative + self.hedges_modal),
            },
            "verification_disclaimer": list(self.disclaimer),
            "quotes": {
                "direct": len(self.quotes_direct),
                "attributed": self.quotes_attributed,
                "speakers": list(self.quote_speakers),
                "scare": len(self.scare_quotes),
                "scare_phrases": list(self.scare_quotes),
            },
            "primary": {
                "documents": list(self.documents),
                "cues": list(self.primary_cues),
                "links": list(self.primary_links),
            },
            "links": {"primary": len(self.primary_links), "social": len(self.social_links),
                      "news": len(self.news_links)},
            "byline": self.byline,
            "dateline": self.dateline or None,
            "wire_credit": self.wire_credit or None,
            "correction": self.correction,
            "own_reporting": list(self.own_reporting),
            "headline": {"overstates_body": self.headline_overstates,
                         "sensational": list(self.headline_sensational)},
            "unattributed_share": round(self.unattributed_share, 2),
            "refutations": [{"cue": c, "class": k, "source": n} for c, k, n in self.refutations],
        }


# --------------------------------------------------------------------------------------------------
# Text plumbing
# --------------------------------------------------------------------------------------------------

_TRANSLATE = str.maketrans({
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2033": '"', "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u00a0": " ", "\u2009": " ", "\u202f": " ", "\u200b": "",
})
_REPLACEMENTS = tuple((chr(k), v) for k, v in _TRANSLATE.items()) + (("\r\n", "\n"), ("\r", "\n"))
_WORD = re.compile(r"[^\W_]+(?:['\-][^\W_]+)*")
_CAP = re.compile(r"[A-ZА-ЯЁІЇЄҐ]")
_URL = re.compile(r"https?://[^\s<>\"')\]]+")
_DQUOTE = re.compile('"')
_PLACEHOLDER = re.compile(r'"Q(\d+)([.,!?]?)"')
_ABBREV = re.compile(
    r"(?:\b(?:Mr|Mrs|Ms|Dr|Gen|Lt|Col|Maj|Sgt|Capt|Gov|Sen|Rep|St|Jr|Sr|Prof|No|Jan|Feb|Aug|Sept|Sep|Oct|Nov|"
    r"Dec|Rev|Adm|Brig|Cpl|Pvt|vs|etc|approx|Ave|Inc|Ltd|Co|Corp|[A-ZА-Я])\.|\b(?:U\.S|U\.K|U\.N|E\.U|a\.m|p\.m)\.)$"
)
_SENT_SPLIT = re.compile(r"[.!?]\"?(\s+)(?=[\"'(A-ZА-ЯЁІЇЄҐ0-9])")
_HARD_BOUNDARY = re.compile(r'[;:()\[\]]|"Q\d+[.,!?]?"|\s[\u2014\u2013]\s|\s-\s|\u2014')
_RIGHT_STOP = re.compile(r'[,.;:()\[\]!?]|"Q\d+|\s[\u2014\u2013-]\s|\b(?:that|who|which|on|in|at|as|after|'
                         r"when|while|because|що|что|on)\b", re.IGNORECASE)
_RIGHT_STOP_LOOSE = re.compile(r'[,.;:()\[\]!?]|"Q\d+|\s[\u2014\u2013-]\s|\b(?:that|що|что|said|says)\b',
                               re.IGNORECASE)
_RELATIVE_START = re.compile(r"^\s*(?:who|which|speaking|citing|according|familiar|briefed|with knowledge|"
                             r"not authori[sz]ed|on condition|who[\u2019']s|also|however)\b", re.IGNORECASE)
_NOT_ATTRIBUTION = re.compile(
    r"\b(?:is|are|was|were|be|been|being|not|never|n't|to|would|will|could|may|might)\s+$", re.IGNORECASE
)
_NAME_TOKEN = re.compile(r"[A-ZА-ЯЁІЇЄҐ][\w.'\-&]*|(?:of|for|the|de|von|van|al|bin|and)\b")
_CONNECTORS = frozenset({"of", "for", "the", "de", "von", "van", "al", "bin", "and"})


_SPECIAL = re.compile("[\u201c\u201d\u201e\u201f\u00ab\u00bb\u2033\u2018\u2019\u201a\u201b\u2032\u00a0\u2009\u202f\u200b\r]")


_EDGE_PUNCT = ".,;:!?\"'()[]{}\u2014\u2013-"
# ASCII bytes that are no part of a word as spaces (only "'" and "-" can join two words)
_ASCII_GAPS = bytes(b if chr(b).isalnum() or chr(b) in "'-" else 32 for b in range(256))


def _count_words(text: str) -> int:
    """``len(_WORD.findall(text))``, three times faster or more. WHY: the regex costs ~0.25 ms per 1,000
    words, and nearly every whitespace-separated token is one plain word, perhaps with punctuation at
    its ends. ``str.isalnum`` is exactly the regex's ``[^\\W_]``, punctuation at a token's ends joins
    nothing, and no word spans whitespace, so only the other tokens need the regex. An ASCII text with
    no "'" or "-" is letters and digits between gaps: its words are the tokens once the gaps are spaces."""
    if text.isascii() and "'" not in text and "-" not in text:
        return len(text.encode("ascii").translate(_ASCII_GAPS).split())
    tokens = text.split()
    odd = [tok for tok in tokens if not tok.isalnum()]
    n = len(tokens) - len(odd)
    hard = []
    for tok in odd:
        core = tok.strip(_EDGE_PUNCT)
        if core.isalnum():
            n += 1
        elif core:
            hard.append(core)
    return n + len(_WORD.findall(" ".join(hard))) if hard else n


def _normalise(text: str) -> str:
    if _SPECIAL.search(text) is None:
        return text
    for a, b in _REPLACEMENTS:
        if a in text:
            text = text.replace(a, b)
    return text


@dataclass(slots=True)
class _Quote:
    start: int
    end: int
    content: str
    direct: bool


# WHY the opening condition is not a look-behind: a pattern that starts with one gets no fast scan for
# its first character in Python's re. Skipping a match that opened on an apostrophe hides no real
# quote: the span it consumed holds no other quote mark that could open one.
_SINGLE_QUOTED = re.compile(r"'(?=\S)([^'\n]{1,300}?)(?<=\S)'(?![\w])")


def _find_quotes(text: str) -> list[_Quote]:
    """Paired double quotes within a paragraph (an unclosed one runs to the paragraph's end, the way
    multi-paragraph quotes are written), plus single-quoted spans opened after a space."""
    quotes: list[_Quote] = []
    pos = 0
    for line in text.split("\n"):
        marks = [pos + m.start() for m in _DQUOTE.finditer(line)] if '"' in line else []
        for j in range(0, len(marks), 2):
            a = marks[j]
            b = marks[j + 1] if j + 1 < len(marks) else pos + len(line)
            quotes.append(_Quote(a, b + 1 if j + 1 < len(marks) else b, text[a + 1:b], True))
        pos += len(line) + 1
    taken = [(q.start, q.end) for q in quotes]
    for m in _SINGLE_QUOTED.finditer(text):
        a = m.start()
        if a and not (text[a - 1].isspace() or text[a - 1] in "(["):
            continue  # an apostrophe ("Russia's"), not an opening quote
        if any(x <= a < y for x, y in taken):
            continue
        quotes.append(_Quote(m.start(), m.end(), m.group(1), True))
    for q in quotes:
        content = q.content.strip()
        n = len(_WORD.findall(content))
        q.direct = not (n <= 4 and not content.endswith((".", ",", "!", "?", "\u2026")))
    quotes.sort(key=lambda q: q.start)
    return quotes


def _mask(text: str, quotes: list[_Quote]) -> str:
    """Direct quotes become ``"Q<n><punct>"`` placeholders: the speaker's words are not the reporter's."""
    out = []
    pos = 0
    for i, q in enumerate(quotes):
        if not q.direct:
            continue
        out.append(text[pos:q.start])
        content = q.content.rstrip()
        punct = content[-1] if content and content[-1] in ".,!?" else ""
        out.append(f'"Q{i}{punct}"')
        pos = q.end
    out.append(text[pos:])
    return "".join(out)


@dataclass(slots=True)
class _Sentence:
    text: str
    paragraph: int
    start: int = -1  # offset in the masked text when ``text`` is exactly that slice of it, else -1


def _split_sentences(masked: str) -> list[_Sentence]:
    sentences: list[_Sentence] = []
    line_start = 0
    p = 0
    for line in masked.split("\n"):
        offset = line_start + len(line) - len(line.lstrip())
        line_start += len(line) + 1
        para = line.strip()
        if not para:
            continue
        pieces = []  # (text, start in the masked text)
        pos = 0
        for m in _SENT_SPLIT.finditer(para):
            pieces.append((para[pos:m.start(1)], offset + pos))
            pos = m.end(1)
        pieces.append((para[pos:], offset + pos))
        buf = ""
        start = -1
        for piece, at in pieces:
            if buf:
                buf = f"{buf} {piece}"
            else:
                buf, start = piece, at
            # an abbreviation is one word: test the last one, not the whole sentence so far
            if _ABBREV.search(" " + buf[buf.rfind(" ") + 1:]):
                continue
            sentences.append(_Sentence(buf, p, start if masked.startswith(buf, start) else -1))
            buf = ""
        if buf:
            sentences.append(_Sentence(buf, p, start if masked.startswith(buf, start) else -1))
        p += 1
    return sentences


def _by_sentence(hits: list[tuple[int, int, LexiconEntry]], sentences: list[_Sentence]
                 ) -> list[list[tuple[int, int, LexiconEntry]] | None]:
    """The hits of one scan of the whole masked text, per sentence, as offsets in the sentence (None for a
    sentence that is not an exact slice: scan it alone). WHY: one scan instead of one per sentence."""
    out: list[list[tuple[int, int, LexiconEntry]] | None] = []
    i = 0
    for sent in sentences:  # in text order, like the hits: one pointer walks both
        if sent.start < 0:
            out.append(None)
            continue
        end = sent.start + len(sent.text)
        while i < len(hits) and hits[i][0] < sent.start:
            i += 1
        mine = []
        while i < len(hits) and hits[i][0] < end:
            a, b, e = hits[i]
            if b <= end:
                mine.append((a - sent.start, b - sent.start, e))
            i += 1
        out.append(mine)
    return out


# --------------------------------------------------------------------------------------------------
# Source phrases
# --------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Ctx:
    c: _Compiled
    extra_rx: re.Pattern[str] | None  # outlet names inferred from this article, and its own outlet
    own: frozenset[str]  # lower-case names of the article's own outlet
    canonical: dict[str, str]  # lower-case alias -> display name (inferred names)


def _outlet_in(ctx: _Ctx, s: str) -> tuple[str, bool, int] | None:
    """(display name, is own outlet, position) of the first outlet name in ``s``."""
    best: re.Match[str] | None = None
    for rx in (ctx.c.outlet_regex, ctx.extra_rx):
        if rx is None:
            continue
        m = rx.search(s)
        if m is not None and (best is None or m.start() < best.start()):
            best = m
    if best is None:
        return None
    key = best.group(0).lower()
    name = ctx.c.canonical.get(key) or ctx.canonical.get(key, best.group(0))
    return name, (key in ctx.own or name.lower() in ctx.own), best.start()


def _name_runs(c: _Compiled, s: str) -> list[tuple[int, int, str]]:
    """Runs of capitalised tokens ("Volodymyr Zelenskyy", "Institute for the Study of War"), with
    lexicon words (anon heads, titles) and sentence-start function words left out."""
    runs: list[tuple[int, int, str]] = []
    cur: list[re.Match[str]] = []
    breakers = c.run_breakers
    not_name = c.words.get(("sources", "not_name"), frozenset())

    def flush() -> None:
        while cur and cur[-1].group(0).lower() in _CONNECTORS:
            cur.pop()
        while cur and (cur[0].group(0).lower() in _CONNECTORS or cur[0].group(0).lower() in not_name):
            cur.pop(0)
        if cur:
            runs.append((cur[0].start(), cur[-1].end(), s[cur[0].start():cur[-1].end()]))
        cur.clear()

    last_end = -1
    for m in _NAME_TOKEN.finditer(s):
        tok = m.group(0)
        gap = s[last_end:m.start()] if last_end >= 0 else ""
        if cur and (gap.strip() not in ("",) ):
            flush()
        lower = tok.lower().rstrip(".")
        lexical = lower in breakers or lower.removesuffix("'s") in breakers
        if lexical or (not _CAP.match(tok) and lower not in _CONNECTORS):
            flush()
        elif not _CAP.match(tok) and not cur:
            pass
        else:
            cur.append(m)
        last_end = m.end()
    flush()
    return runs


def _clean_name(c: _Compiled, name: str) -> str:
    toks = name.split()
    while toks and (c.is_word("sources", "title", toks[0].lower()) or c.is_word("sources", "anon_modifier", toks[0].lower())
                    or c.is_word("sources", "not_name", toks[0])):
        toks.pop(0)
    return " ".join(toks) or name


def _name_key(name: str) -> str:
    words = name.split()
    last = words[-1] if words else name
    return last.removesuffix("'s").lower().rstrip(".,")


@dataclass(slots=True)
class _Src:
    cls: str
    source: str
    name: str = ""
    specificity: int | None = None
    reason: bool = False
    own: bool = False
    continuation: bool = False


# Module-level patterns for the per-source steps. WHY compiled here: ``re.match(pattern_string, ...)``
# looks its pattern up in ``re``'s cache at every call, and these run a few hundred times per article.
_THE_AFTER_PREPOSITION = re.compile(r"\b(?:in|at|from|of|with)\s+the\b")
_A_NUMBER = re.compile(r"\b(?:two|three|four|several|\d+)\b")
_PREPOSITIONAL_TAIL = re.compile(r"^(?:at|in|of|from|for|with|close|familiar|briefed|who|on|speaking|"
                                 r"knowledgeable|near|inside|within)\b", re.IGNORECASE)
_LOWER_START = re.compile(r"^[a-zа-яёіїєґ]")
_NAME_AFTER_TITLE = re.compile(r"\s+((?:[A-ZА-ЯЁІЇЄҐ][\w'\-]+\s+){0,2}[A-ZА-ЯЁІЇЄҐ][\w'\-]+)")


def _anon_specificity(c: _Compiled, phrase: str, sentence: str, head: str) -> tuple[int, bool]:
    """Specificity 0..3 of an anonymous source (reference §3.2). 0: "a source", "sources";
    1: an affiliation, a number or a nationality ("sources close to the ministry", "two officials");
    2: a rank or service ("a senior defence official"); 3: a reason for anonymity is given."""
    reason = c.m("sources", "anon_reason").search(sentence) is not None
    if reason:
        return 3, True
    low = phrase.lower()
    spec = 0
    if c.m("sources", "anon_modifier").search(low) or c.m("sources", "anon_qualifier").search(low) or (
        _THE_AFTER_PREPOSITION.search(low)
    ):
        spec = 1
    rank = c.m("sources", "anon_rank").search(low)
    if rank and head.lower().rstrip("s") in ("official", "officer", "diplomat", "aide", "source", "посадовц", "посадовець"):
        spec = 2
    if head.lower() in ("sources", "джерела", "источники") and not _A_NUMBER.search(low):
        spec = min(spec, 1)  # plural "sources" with no number is vague (Reuters)
    return spec, False


def _classify(ctx: _Ctx, seg: str, sentence: str, direction: str) -> _Src | None:
    """Class of the source phrase ``seg`` (left of a reporting verb, or right of "according to").
    First rule wins: VAGUE, outlet name, then the head nearest to the cue decides among DOCUMENT,
    SOCIAL, OUTLET noun, ANONYMOUS, NAMED (title, institution, name), pronoun continuation."""
    c = ctx.c
    seg = seg.strip(" ,\"'")
    if not seg or not _WORD.search(seg):
        return None
    hits = [(a, b, e.category) for a, b, e in c.segment.finditer(seg)]
    vague = any(cat == "vague" for _, _, cat in hits)
    if vague or seg.lower() in ("reports", "media reports", "some", "many", "others", "media"):
        return _Src(VAGUE, seg)
    outlet = _outlet_in(ctx, seg)
    if outlet is not None:
        name, own, _ = outlet
        return _Src(OUTLET, seg, name=name, own=own)
    # anonymous source with a qualifier anywhere in the phrase ("a person familiar with the Kremlin's plans")
    qual = next((h for h in hits if h[2] == "anon_qualifier"), None)
    heads = [h for h in hits if h[2] == "anon_head"]
    runs = _name_runs(c, seg)
    if qual and heads and heads[0][0] < qual[0]:
        head = heads[0]
        if not any(r[0] > head[1] and r[0] < qual[0] for r in runs):
            spec, reason = _anon_specificity(c, seg, sentence, seg[head[0]:head[1]])
            return _Src(ANONYMOUS, seg, specificity=spec, reason=reason)
    found: list[tuple[int, int, str, str]] = []
    for a, b, cat in hits:
        if cat not in ("vague", "anon_qualifier"):
            found.append((a, b, cat, seg[a:b]))
    # a capitalised lexicon word inside a longer name is part of the name ("the Institute for the Study
    # of War" is not a "study"); institutions are merged with their names below
    long_runs = [(a, b) for a, b, t in runs if len(t.split()) >= 2]
    found = [f for f in found if f[2] == "institution" or not _CAP.match(f[3])
             or not any(x <= f[0] and f[1] <= y for x, y in long_runs)]
    institutions = [(a, b) for a, b, cat, _ in found if cat == "institution"]
    modifiers = [a for a, b, cat, _ in found if cat in ("title", "anon_head")]
    for a, b, text in runs:
        if any(0 <= x - b <= 2 for x in modifiers) and not any(x <= b + 1 and y >= a - 1 for x, y in institutions):
            continue  # "Interior Minister", "Senior Ukrainian officials": an adjective, not a name
        # "the country's General Staff", "Defence Ministry": a capitalised run joined to an institution
        # noun is that institution, named by the run
        joined = [(x, y) for x, y in institutions if x <= b + 1 and y >= a - 1]
        if joined:
            lo = min([a] + [x for x, _ in joined])
            hi = max([b] + [y for _, y in joined])
            found = [f for f in found if not (f[2] in ("institution", "title") and lo <= f[0] < hi)]
            found.append((lo, hi, "institution", seg[lo:hi]))
        else:
            found.append((a, b, "name", text))
    if not found:
        return None
    # a person's name right after a title or an anonymous head names that person
    found.sort(key=lambda f: (f[0], -f[1]))
    pick = found[-1] if direction == "left" else found[0]
    if direction == "right" and len(seg[:pick[0]].split()) > 4:
        return None  # the source follows its cue closely: "per cent in March" names no one
    if pick[2] == "name" and len(pick[3].split()) >= 2:
        return _Src(NAMED, seg, name=_clean_name(c, pick[3]))
    if direction == "left":
        # prefer the head a prepositional tail hangs from: "an official at the Defence Ministry said"
        for f in reversed(found):
            if f[2] in ("anon_head", "title", "document", "outlet_noun"):
                tail = seg[f[1]:].strip()
                if f is pick or _PREPOSITIONAL_TAIL.match(tail):
                    if f[2] == "title" and pick[2] == "name" and pick[0] >= f[1] and pick[0] - f[1] <= 2:
                        break  # "spokesman Dmitry Peskov": the name wins
                    if f[2] == "anon_head" and pick[2] == "name" and pick[0] >= f[1] and pick[0] - f[1] <= 2:
                        break  # "official Ivan Petrenko"
                    pick = f
                    break
    a, b, cat, text = pick
    if cat == "pronoun":
        return _Src("", seg, continuation=True)
    if cat == "document":
        return _Src(DOCUMENT, seg, name=text.lower())
    if cat == "social":
        run = _near_name(runs, a, b)
        return _Src(SOCIAL, seg, name=_clean_name(c, run) if run else "")
    if cat == "outlet_noun":
        return _Src(OUTLET, seg, name="")
    if cat == "anon_head":
        run = _near_name(runs, a, b, after_only=True)
        if run:
            return _Src(NAMED, seg, name=_clean_name(c, run))
        spec, reason = _anon_specificity(c, seg, sentence, text)
        return _Src(ANONYMOUS, seg, specificity=spec, reason=reason)
    if cat == "title":
        run = _near_name(runs, a, b, seg=seg)
        return _Src(NAMED, seg, name=_clean_name(c, run) if run else seg[max(0, a - 30):b].split(",")[-1].strip())
    if cat == "institution":
        toks = text.split()
        while len(toks) > 1 and c.is_word("sources", "not_name", toks[0]):
            toks.pop(0)
        return _Src(NAMED, seg, name=" ".join(toks) if _CAP.search(text) else text.lower())
    # a capitalised run
    if cat == "name":
        after = seg[b:].strip()
        # "Russian forces said": a single capitalised adjective before a common noun is not a name
        if len(text.split()) == 1 and after and _LOWER_START.match(after) and not c.indicators.search(after):
            return None
        return _Src(NAMED, seg, name=_clean_name(c, text))
    return None


_LOWER_GAP = re.compile(r"^[\s,]*(?:[a-zа-яёіїєґ'\-]+\s+){0,6}$")


def _near_name(runs: list[tuple[int, int, str]], a: int, b: int, after_only: bool = False,
               seg: str = "") -> str:
    """The name that goes with a title or head at [a, b): right after it ("spokesman Dmitry Peskov",
    "head of the military administration Andriy Besedin"), or right before it."""
    for ra, rb, text in runs:
        if 0 <= ra - b <= 2:
            return text
    if seg:
        for ra, rb, text in runs:
            if ra > b and ra - b <= 40 and _LOWER_GAP.match(seg[b:ra]):
                return text
    if after_only:
        return ""
    for ra, rb, text in runs:
        if 0 <= a - rb <= 2:
            return text
    return ""


def _left_segment(s: str, end: int, back: int = 0) -> str:
    """The phrase before a cue: back to the last hard boundary, and back over commas while the piece is
    empty or starts a relative clause ("a senior official, who was not authorised to speak, said")."""
    left = s[:end]
    hard = None
    for hard in _HARD_BOUNDARY.finditer(left):
        pass
    start = hard.end() if hard else 0
    pieces = left[start:].split(",")
    seg = pieces[-1]
    i = len(pieces) - 1
    while i > 0 and (not _WORD.search(seg) or _RELATIVE_START.match(seg)) and len(pieces) - i < 3:
        i -= 1
        seg = pieces[i] + "," + seg
    for _ in range(back):  # an appositive in between: "The Institute ..., a think tank, said"
        if i > 0:
            i -= 1
            seg = pieces[i] + "," + seg
    words = seg.split()
    return " ".join(words[-12:])


def _right_segment(s: str, start: int, loose: bool = False) -> str:
    right = s[start:]
    stop = (_RIGHT_STOP_LOOSE if loose else _RIGHT_STOP).search(right)
    seg = right[: stop.start()] if stop else right
    return " ".join(seg.split()[:10])


# --------------------------------------------------------------------------------------------------
# The analysis
# --------------------------------------------------------------------------------------------------

_DATELINE = re.compile(
    r"^\s*(?P<city>[A-ZА-ЯЁІЇЄҐ][A-ZА-ЯЁІЇЄҐ'.\- ]{1,30}[A-ZА-ЯЁІЇЄҐ.])"
    r"(?:,\s*(?P<region>[A-Z][\w.\- ]{1,30}?))?(?:,?\s+[A-Z][a-z]{2,4}\.?\s+\d{1,2})?"
    r"\s*(?:\((?P<wire>[^)]{2,40})\))?\s*[\u2014\u2013-]{1,2}\s*"
)
_DATELINE_MIXED = re.compile(
    r"^\s*(?P<city>[A-ZА-ЯЁІЇЄҐ][\w'\-]+(?: [A-ZА-ЯЁІЇЄҐ][\w'\-]+)?)(?:,\s*[A-Z][\w ]{1,25})?"
    r"\s*\((?P<wire>[^)]{2,30})\)\s*[\u2014\u2013-]{1,2}\s*"
)
_BYLINE = re.compile(r"^\s*(?:By|Автор:?|Author:)\s+[A-ZА-ЯЁІЇЄҐ]", re.MULTILINE)
_WIRE_PAREN = re.compile(r"\(([A-Za-zА-Яа-я .\-]{2,30})\)")
_NAME_RUN = r"[A-ZА-ЯЁІЇЄҐ][\w&+\-]*(?:\.\w+)*(?:\s+[A-ZА-ЯЁІЇЄҐ][\w&+\-]*(?:\.\w+)*){0,3}"
_OUTLET_INFER_STRONG = re.compile(
    r"(?:(?:reported|published|cited|quoted) by|(?:report|article|interview|investigation) (?:by|in|from|with)|"
    r"(?:the|a|an) (?:newspaper|outlet|news outlet|website|publication|news agency|agency|channel|magazine|"
    r"broadcaster|news site|tabloid|daily|TV channel)|видання|издание|газета|агентство|агенція|телеканал|"
    r"як пише|как пишет|пише|пишет|передає|передает|повідомляє|сообщает)\s+\"?"
    r"(?P<a>[A-ZА-ЯЁІЇЄҐ][\w'&+\-]*(?:\.\w+)*(?:\s+[A-ZА-ЯЁІЇЄҐ][\w'&+\-]*(?:\.\w+)*){0,3})"
)
# "<Name> reported", "<Name>'s website": WHY two steps: a regex that starts at any capitalised word
# tries every name in the text; the frame's words are rare, so find them, then read the name before.
_OUTLET_FRAME_AFTER = re.compile(
    r"(?:'s)?\s+(?:reported|reports|newspaper|news agency|outlet|TV channel|website|magazine|wrote, citing|"
    r"reported, citing)"
)
_NAME_BEFORE = re.compile(r"(?P<b>" + _NAME_RUN + r")$")
_STRONG_LITERALS = tuple(
    [f"{v} by" for v in ("reported", "published", "cited", "quoted")]
    + [f"{n} {p}" for n in ("report", "article", "interview", "investigation") for p in ("by", "in", "from", "with")]
    + [f"{a} {n}" for a in ("the", "a", "an") for n in (
        "newspaper", "outlet", "news outlet", "website", "publication", "news agency", "agency", "channel",
        "magazine", "broadcaster", "news site", "tabloid", "daily", "TV channel")]
    + ["видання", "издание", "газета", "агентство", "агенція", "телеканал", "як пише", "как пишет", "пише",
       "пишет", "передає", "передает", "повідомляє", "сообщает"]
)
_FRAME_LITERALS = ("reported", "reports", "newspaper", "news agency", "outlet", "TV channel", "website", "magazine",
                   "wrote, citing")
_WEAK_LITERALS = ("told", "according to", "citing", "cited by", "quoted by", "in an interview with")


def _by_longest_word(literals: Iterable[str]) -> dict[str, tuple[tuple[str, int], ...]]:
    """The literals grouped by their longest word: {word: ((literal, offset of the word in it), ...)}.
    WHY: "the newspaper", "a newspaper" and "an newspaper" are found from one ``str.find`` pass for
    "newspaper" (each pass reads the whole text: 5 µs on 1,000 words; 23 Latin words instead of 77 Latin
    literals, and a Cyrillic word costs nothing on a Latin text)."""
    groups: dict[str, list[tuple[str, int]]] = {}
    for lit in literals:
        word = max(reversed(_RUN.findall(lit) or [lit]), key=len)
        groups.setdefault(word, []).append((lit, lit.index(word)))
    return {word: tuple(lits) for word, lits in groups.items()}


def _occurrences(text: str, literals: Mapping[str, tuple[tuple[str, int], ...]],
                 seen: dict[str, list[int]] | None = None) -> list[int]:
    """Sorted start positions of every literal in ``text`` (``str.find`` runs at C speed), from
    ``_by_longest_word``. ``seen``: where each word was found already (shared between calls)."""
    found: set[int] = set()
    seen = {} if seen is None else seen
    for word, lits in literals.items():
        places = seen.get(word)
        if places is None:
            places = seen[word] = []
            i = text.find(word)
            while i >= 0:
                places.append(i)
                i = text.find(word, i + 1)
        for i in places:
            for lit, offset in lits:
                if i >= offset and text.startswith(lit, i - offset):
                    found.add(i - offset)
    return sorted(found)


def _anchored_finditer(rx: re.Pattern[str], text: str, literals: Mapping[str, tuple[tuple[str, int], ...]],
                       seen: dict[str, list[int]] | None = None) -> Iterable[re.Match[str]]:
    """``rx.finditer(text)`` for a pattern every match of which starts with one of ``literals``.
    WHY: an alternation whose branches start with common letters ("the", "a", "an") makes ``re`` try
    it at almost every character; the literals are rare and ``str.find`` skips to them."""
    last = -1
    for pos in _occurrences(text, literals, seen):
        if pos < last:
            continue
        m = rx.match(text, pos)
        if m is not None:
            last = max(m.end(), pos + 1)
            yield m


_STRONG_WORDS, _FRAME_WORDS, _WEAK_WORDS = (_by_longest_word(x) for x in (_STRONG_LITERALS, _FRAME_LITERALS,
                                                                             _WEAK_LITERALS))
_NAME_TAIL = re.compile(r"[\w&+\-]")
_OUTLET_INFER_WEAK = re.compile(
    r"(?:told|according to|citing|cited by|quoted by|in an interview with)\s+\"?"
    r"(?P<a>[A-ZА-ЯЁІЇЄҐ][\w'&+\-]*(?:\.\w+)*(?:\s+[A-ZА-ЯЁІЇЄҐ][\w'&+\-]*(?:\.\w+)*){0,3})"
)


def strip_dateline(text: str) -> str:
    """The text without its dateline ("KHARKIV, Ukraine, March 10 (Northern Wire) - "). WHY (stories): a
    dateline says where and when the outlet filed, not what happened; its city, date and agency would
    make every story an agency files from one city look alike."""
    m = _DATELINE.match(text) or _DATELINE_MIXED.match(text)
    return text[m.end():] if m else text


def _infer_outlets(c: _Compiled, text: str, persons: set[str]) -> set[str]:
    """Names used the way publications are ("Look reported", "the outlet Look", "told Look ... according
    to Look"). A name framed once strongly, or twice weakly, is taken as an outlet, unless the text
    also gives it a title (then it is a person: "Governor Syniehubov reported")."""
    strong: set[str] = set()
    weak: dict[str, int] = {}
    framed: list[tuple[str, int, int]] = []  # (name, start, end of the whole frame)
    seen: dict[str, list[int]] = {}  # the three frames share words ("reported", "cited", "citing")
    for m in _anchored_finditer(_OUTLET_INFER_STRONG, text, _STRONG_WORDS, seen):
        framed.append((m.group("a"), -1, m.end()))
    for q in _occurrences(text, _FRAME_WORDS, seen):
        w = q
        while w > 0 and text[w - 1].isspace():
            w -= 1
        if w == q:
            continue  # "<Name> reported" needs the space
        if text[max(0, w - 2):w] == "'s":
            w -= 2
        if w == 0 or not _NAME_TAIL.match(text[w - 1]):
            continue
        m = _OUTLET_FRAME_AFTER.match(text, w)
        b = _NAME_BEFORE.search(text, max(0, w - 160), w) if m is not None else None
        if b is not None and m is not None:
            framed.append((b.group("b"), b.start(), m.end()))
    for raw, start, end in framed:
        name = raw.strip().rstrip(".")
        if start >= 0 and re.search(r"(?:\b(?:of|for|in|from|at|by|the)\s+|\w's\s+)$", text[max(0, start - 12):start]):
            continue  # "the General Staff of the Armed Forces of Ukraine reported": the tail of a longer name
        tail = text[end:end + 14].lower()
        if name and not tail.startswith((" on telegram", " on x", " on facebook", " on twitter")):
            strong.add(name)
    for m in _anchored_finditer(_OUTLET_INFER_WEAK, text, _WEAK_WORDS, seen):
        name = m.group("a").strip().rstrip(".")
        weak[name] = weak.get(name, 0) + 1
    out = set()
    for name in strong | {n for n, k in weak.items() if k >= 2}:
        if re.match(r"(?:The|the)\s+\S", name):
            name = name.split(None, 1)[1]  # "The Kharkiv Courier reported": the outlet is "Kharkiv Courier"
        first = name.split()[0]
        if len(name.split()) == 1 and re.search(r"(?:ian|ish|ese|ic|an|ий|ский|ський)$", name):
            continue  # "the Ukrainian outlet", "Russian news agency": an adjective, not the outlet's name
        if c.is_word("sources", "not_name", first) or c.is_word("sources", "title", first.lower()):
            continue
        if c.indicators.search(name) or c.m("sources", "vague").search(name):
            continue
        if _name_key(name) in persons:
            continue
        out.add(name)
    return out


def _titled_persons(c: _Compiled, text: str, scan: _TextScan | None = None) -> set[str]:
    """Surnames that appear with a title ("Governor Oleh Syniehubov", "spokesman Peskov")."""
    out: set[str] = set()
    for a, b, e in c.m("sources", "title").finditer(text, scan):
        after = text[b:b + 60]
        m = _NAME_AFTER_TITLE.match(after)
        if m:
            out.add(_name_key(m.group(1)))
    return out


def _article_type(c: _Compiled, article: Article, title: str, text: str) -> str:
    if article.kind:
        return article.kind
    path = urlsplit(article.url).path.lower() if article.url else ""
    for kind, value in c.genre.get("url", []):
        if value and value in path:
            return kind
    head = title.strip().lower()
    first = text.strip().split("\n", 1)[0].strip().lower()[:80]
    for kind, value in c.genre.get("label", []):
        for place in (head, first):
            if place.startswith(value) and re.match(r"^\s*[:|\-\u2014\u2013]", place[len(value):]):
                return kind
    low = text.lower()
    for kind, value in c.genre.get("text", []):
        if value in low:
            return kind
    return "news"


def _domain_class(c: _Compiled, url: str, own_domains: tuple[str, ...]) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    host = (parts.hostname or "").lower().removeprefix("www.")
    path = parts.path.lower()
    if not host:
        return ""
    if any(host == d or host.endswith("." + d) for d in own_domains):
        return "own"
    if any(host == d.lstrip(".") or host.endswith(d if d.startswith(".") else "." + d) or host == d for d in c.domain_social):
        return "social"
    if any(host.endswith(d) if d.startswith(".") else (host == d or host.endswith("." + d)) for d in c.domain_primary):
        return "primary"
    if any(path.endswith(p) for p in c.path_primary):
        return "primary"
    if c.outlet_lookup(host) is not None:
        return "news"
    return "other"


def _content_words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text) if len(w) > 3}


def analyse(article: Article, lexicons: Lexicons) -> Analysis:
    """Find every signal in one article (no grading). Pure; a few milliseconds for 1,000 words."""
    c = lexicons.compiled
    title = _normalise(article.title or "")
    text = _normalise(article.text or "")
    n_words = _count_words(text)
    partial = article.is_summary if article.is_summary is not None else n_words < PARTIAL_WORDS
    kind = _article_type(c, article, title, text)

    # own outlet
    own_outlet = lexicons.outlet(article.outlet) if article.outlet else None
    if own_outlet is None and article.url:
        own_outlet = lexicons.outlet(urlsplit(article.url).hostname or "")
    own_names = {article.outlet.lower()} if article.outlet else set()
    own_domains: tuple[str, ...] = ()
    if own_outlet:
        own_names |= {n.lower() for n in own_outlet.names}
        own_domains = own_outlet.domains
    own_names.discard("")

    # dateline, byline, wire credit
    dateline = ""
    wire = ""
    m = _DATELINE.match(text) or _DATELINE_MIXED.match(text)
    dateline_credit = ""
    if m:
        dateline = m.group("city").strip().title()
        if m.group("wire"):
            o = lexicons.outlet(m.group("wire").strip())
            wire = o.name if o else ""
            credit = m.group("wire").strip()
            if o is not None or re.fullmatch(r"[A-ZА-ЯЁІЇЄҐ][\w&.'\-]*(?: [A-ZА-ЯЁІЇЄҐ][\w&.'\-]*){0,3}", credit):
                dateline_credit = o.name if o else credit
    if not wire:
        for wm in _WIRE_PAREN.finditer(text[:400]):
            o = lexicons.outlet(wm.group(1).strip())
            if o and o.wire:
                wire = o.name
                break
    # WHY the words first: the regex starts with a look-behind, so ``re`` tries it at every character
    # (0.2 ms on 1,000 words); no match is possible without one of the words it ends with
    if not wire and c.wire_contributed is not None and ("contributed" in text or "writer" in text):
        wm = c.wire_contributed.search(text)
        if wm:
            wire = c.canonical.get(wm.group(1).lower(), wm.group(1))
    credit_line = c.m("evidence", "wire_credit").search(text) is not None
    byline = bool(article.author.strip()) or bool(_BYLINE.search(text[:300])) or credit_line
    correction = c.m("evidence", "correction").search(text) is not None

    quotes = _find_quotes(text)
    masked = _mask(text, quotes)
    sentences = _split_sentences(masked)
    scare = tuple(q.content.strip() for q in quotes if not q.direct)
    direct = [q for q in quotes if q.direct]

    scan = c.first_words.scan(masked)
    persons = _titled_persons(c, masked, scan)
    inferred = _infer_outlets(c, masked, persons)
    canonical: dict[str, str] = {}
    names_for_rx: set[str] = set()
    for n in inferred:
        o = lexicons.outlet(n)
        canonical[n.lower()] = o.name if o else n
        names_for_rx.add(n)
    if article.outlet:
        names_for_rx.add(article.outlet)
        canonical.setdefault(article.outlet.lower(), own_outlet.name if own_outlet else article.outlet)
    rx = None
    if names_for_rx:
        rx = re.compile(r"(?:" + "|".join(_guarded(n) for n in sorted(names_for_rx, key=len, reverse=True))
                        + r")(?![\w])")
    ctx = _Ctx(c, rx, frozenset(own_names), canonical)

    attributions: list[Attribution] = []
    own_reporting: list[str] = []
    refutations: list[tuple[str, str, str]] = []
    attributed_sentences: set[int] = set()
    quote_sentence_attr: dict[int, list[Attribution]] = {}
    last: Attribution | None = None
    last_outlet = ""

    if dateline and (byline or wire or (own_outlet is not None and own_outlet.wire)):
        own_reporting.append(f"{dateline} dateline")
    for a, b, e in c.m("evidence", "own_reporting").finditer(masked, scan):
        own_reporting.append(masked[a:b].lower())
    # WHY the name test first: this search is tried at every character (0.15 ms on 1,000 words) and
    # needs the outlet's name. Only for ASCII: with IGNORECASE ``re`` also matches "ı" and "ſ" to "i"
    # and "s", which lower-casing does not.
    low = scan.low if scan is not None else masked.lower()
    if own_names and not (masked.isascii() and all(n.isascii() and n not in low for n in own_names)):
        own_rx = re.compile(r"(?<![\w])(?:" + "|".join(re.escape(n) for n in sorted(own_names, key=len, reverse=True))
                            + r")(?:'s)?\s+(?:reporter|journalist|correspondent|witness|photographer|team|"
                            r"reporters|journalists|correspondents)s?\b", re.IGNORECASE)
        m_own = own_rx.search(masked)
        if m_own:
            own_reporting.append(m_own.group(0).lower())


    by_sentence: dict[int, list[Attribution]] = {}
    cue_hits = _by_sentence(list(c.cues.finditer(masked, scan)), sentences)
    sentence_level = _by_sentence(list(c.sentence.finditer(masked, scan)), sentences)
    for si, sent in enumerate(sentences):
        s = sent.text
        first_of_sentence = len(attributions)
        found: list[tuple[_Src, str, int]] = []  # (source, cue, position)
        told_targets: list[tuple[str, bool]] = []
        cue_list = cue_hits[si]
        cues = [(a, b, e.category, s[a:b]) for a, b, e in (c.cues.finditer(s) if cue_list is None else cue_list)]
        used_spans: list[tuple[int, int]] = []
        for a, b, kind_, cue in cues:
            if any(x <= a < y for x, y in used_spans):
                continue
            if kind_ in ("verb", "outlet_verb", "told") and _NOT_ATTRIBUTION.search(s[max(0, a - 24):a]):
                continue  # "is said to", "did not say", "declined to say": no one is speaking
            src: _Src | None = None
            if kind_ == "according":
                seg = _right_segment(s, b, loose=True)
                src = _classify(ctx, seg, s, "right")
            else:
                seg = _left_segment(s, a)
                src = _classify(ctx, seg, s, "left") if seg else None
                if src is None and "," in s[:a]:
                    wider = _left_segment(s, a, back=1)
                    if wider != seg:
                        src = _classify(ctx, wider.split(",")[0], s, "left")
                if src is None and kind_ in ("verb", "outlet_verb"):
                    seg_r = _right_segment(s, b)
                    src = _classify(ctx, seg_r, s, "right")
                if kind_ == "told":
                    target = _right_segment(s, b, loose=True)
                    tgt = _outlet_in(ctx, target)
                    if tgt is None and last_outlet and c.m("sources", "outlet_noun").search(target):
                        tgt = (last_outlet, False, 0)  # "told the newspaper": the outlet named before
                    if tgt is not None:
                        told_targets.append((tgt[0], tgt[1]))
                        if tgt[1]:
                            own_reporting.append(f"told {tgt[0]}")
                    elif re.match(r"\s*(?:reporters|journalists|a news conference|a press conference|a briefing)",
                                  s[b:], re.IGNORECASE):
                        pass
                if kind_ == "outlet_verb" and src is not None and src.cls == NAMED and src.name and not c.is_word(
                    "sources", "institution", src.name.lower()
                ):
                    # "Look reported" where Look was not recognised: a capitalised subject of "reported"
                    # that carries no title is a publication only if inferred; otherwise keep NAMED.
                    pass
            if src is None:
                continue
            used_spans.append((a, b))
            found.append((src, cue, a))
        # sentence-level weasel attributions not already caught
        level = sentence_level[si]
        sentence_hits = [(a, b, e.category) for a, b, e in (c.sentence.finditer(s) if level is None else level)]
        for a, b, cat in sentence_hits:
            if cat == "vague" and not any(src.cls == VAGUE for src, _, _ in found):
                found.append((_Src(VAGUE, s[a:b]), s[a:b], a))
        if not found:
            # "the outlet said" style continuation without a cue caught above is rare; nothing to add
            pass
        sentence_outlets = [src.name for src, _, _ in found if src.cls == OUTLET and not src.own and src.name]
        sentence_outlets += [n for n, own in told_targets if not own]
        via = sentence_outlets[0] if sentence_outlets else ""
        social_in_sentence = any(cat == "social" for _, _, cat in sentence_hits)
        seen_here: set[tuple[str, str]] = set()
        for src, cue, pos in sorted(found, key=lambda f: f[2]):
            dedupe = (src.cls, _name_key(src.name) if src.name else "")
            if not src.continuation and dedupe in seen_here:
                continue  # one source caught by two cues ("X said ... X warned") counts once per sentence
            seen_here.add(dedupe)
            cls = src.cls
            name = src.name
            cont = src.continuation
            if cont:
                if last is None:
                    continue
                cls, name = last.cls, last.name
                if not via:
                    via_here = last.via
                else:
                    via_here = via
            else:
                via_here = via if cls in (NAMED, ANONYMOUS, VAGUE, SOCIAL, DOCUMENT) else ""
            if cls == OUTLET and not name:
                name = last_outlet or src.source
            if cls == NAMED and social_in_sentence and not via_here:
                cls = SOCIAL
            if cls == DOCUMENT and via_here:
                via_here = via_here  # a document seen by another outlet is still that outlet's
            att = Attribution(
                sentence=si, cue=cue.lower(), source=src.source[:80], cls=cls, name=name, via=via_here,
                specificity=src.specificity if cls == ANONYMOUS else None,
                reason_given=src.reason if cls == ANONYMOUS else False, continuation=cont, own=src.own,
            )
            attributions.append(att)
            attributed_sentences.add(si)
            if cls == OUTLET and not src.own:
                last_outlet = name
            last = att
        for name, own in told_targets:
            if not own and not any(a.cls == OUTLET and a.name == name for a in attributions[first_of_sentence:]):
                attributions.append(Attribution(si, "told", name, OUTLET, name=name))
                last_outlet = name
        here = attributions[first_of_sentence:]
        by_sentence[si] = here
        if _PLACEHOLDER.search(s):
            quote_sentence_attr[si] = here
        # refutations in an attributed sentence (used by stories to find disputes)
        if here:
            for a, b, _ in (h for h in sentence_hits if h[2] == "refute"):
                best = next((x for x in here if x.cls in (NAMED, DOCUMENT, SOCIAL)), here[0])
                refutations.append((s[a:b].lower(), best.cls, best.name or best.source))

    # direct quotes: attributed when their sentence (or the one before / after in the paragraph) has a source
    quote_speakers: list[str] = []
    attributed_quotes = 0
    for si, sent in enumerate(sentences):
        for pm in _PLACEHOLDER.finditer(sent.text):
            q = quotes[int(pm.group(1))]
            if not q.direct:
                continue
            cands = quote_sentence_attr.get(si) or []
            if not cands:
                for sj in (si - 1, si + 1):
                    if 0 <= sj < len(sentences) and sentences[sj].paragraph == sent.paragraph:
                        cands = by_sentence.get(sj, [])
                        if cands:
                            break
            speaker = next((a for a in cands if a.cls in (NAMED, ANONYMOUS, SOCIAL, OUTLET, DOCUMENT)), None)
            if speaker:
                attributed_quotes += 1
                key = _name_key(speaker.name) if speaker.name else speaker.source.lower()
                if key not in quote_speakers:
                    quote_speakers.append(key)

    # tallies
    named_on_record: list[str] = []
    generic_named: list[str] = []
    named_keys: set[str] = set()
    named_via: list[tuple[str, str]] = []
    anonymous: list[Attribution] = []
    documents: list[str] = []
    vague = 0
    social = 0
    outlet_sentences: dict[str, set[int]] = {}
    for a in attributions:
        if a.own:
            continue
        if a.cls == OUTLET:
            outlet_sentences.setdefault(a.name, set()).add(a.sentence)
            continue
        if a.via:
            outlet_sentences.setdefault(a.via, set()).add(a.sentence)
        if a.continuation:
            continue
        if a.cls in (NAMED, SOCIAL) and a.name:
            key = _name_key(a.name)
            if a.via:
                if key not in {_name_key(n) for n, _ in named_via}:
                    named_via.append((a.name, a.via))
            elif key not in named_keys and (_CAP.search(a.name) or not generic_named):
                # generic on-record names ("the governor", "the ministry") count once at most: the same
                # office is usually named in full elsewhere in the text
                named_keys.add(key)
                named_on_record.append(a.name)
                if not _CAP.search(a.name):
                    generic_named.append(a.name)
            if a.cls == SOCIAL:
                social += 1
        elif a.cls == SOCIAL:
            social += 1
        elif a.cls == ANONYMOUS:
            anonymous.append(a)
        elif a.cls == VAGUE:
            vague += 1
        elif a.cls == DOCUMENT:
            documents.append(a.name or a.source)
    # a person named on record somewhere is not "via" because another sentence relays them too
    named_via = [(n, v) for n, v in named_via if _name_key(n) not in named_keys]
    attributed_total = len(attributed_sentences)
    outlets_cited = {k: len(v) for k, v in sorted(outlet_sentences.items(), key=lambda kv: -len(kv[1]))}
    single = ""
    share = 0.0
    if outlets_cited and attributed_total:
        top, n = next(iter(outlets_cited.items()))
        share = n / attributed_total
        # a dateline alone does not make a relay own reporting ("LONDON (Reuters) - ..., the FT reported"):
        # it blocks the rule only when the outlet carries less than three quarters of the attributions
        firsthand = [m for m in own_reporting if not m.endswith(" dateline")]
        blocked = bool(firsthand) or (bool(own_reporting) and share < 0.75)
        dominant = len(outlets_cited) == 1 or n >= 2 * sum(list(outlets_cited.values())[1:])
        if share >= 0.5 and not blocked and dominant:
            single = top

    # hedges outside quotes (exceptions masked first)
    # one pass; the longest phrase wins at a position, so an exception ("could not be reached") or a
    # disclaimer ("could not independently verify") swallows the modal inside it
    by_cat: dict[str, list[str]] = {"evidential": [], "speculative": [], "modal": [], "disclaimer": []}
    for a, b, e in c.hedges.finditer(masked, scan):
        if e.category in by_cat:
            by_cat[e.category].append(masked[a:b].lower())
    evid, spec, modal = tuple(by_cat["evidential"]), tuple(by_cat["speculative"]), tuple(by_cat["modal"])
    disclaimer = tuple(by_cat["disclaimer"])
    sentence_words = [_count_words(_PLACEHOLDER.sub(" ", s.text) if '"Q' in s.text else s.text) for s in sentences]
    outside_words = max(1, sum(sentence_words))
    density = (len(evid) + len(spec) + 0.5 * len(modal)) * 100.0 / outside_words

    # primary evidence
    primary_cues: list[str] = []
    for a, b, e in c.m("evidence", "cue").finditer(masked, scan):
        label = e.label or masked[a:b].lower()
        if label not in primary_cues:
            primary_cues.append(label)
    links = list(article.links) + _URL.findall(article.text or "")
    primary_links, social_links, news_links = [], [], []
    for url in dict.fromkeys(links):
        cls = _domain_class(c, url, own_domains)
        if cls == "primary":
            primary_links.append(url)
        elif cls == "social":
            social_links.append(url)
        elif cls == "news":
            news_links.append(url)

    # headline
    sensational = [title[a:b].lower() for a, b, e in c.m("headline", "sensational").finditer(title)]
    letters = re.findall(r"\b[A-ZА-ЯЁІЇЄҐ]{4,}\b", title)
    if len(letters) >= 3:
        sensational.append("all caps")
    if title.count("!"):
        sensational.append("!")
    overstates = _headline_overstates(c, title, sentences, attributions, evid + spec)

    # unattributed claim sentences
    claim_sentences = [i for i, n in enumerate(sentence_words) if n >= 6]
    unattributed = [i for i in claim_sentences if i not in attributed_sentences]
    unattributed_share = len(unattributed) / len(claim_sentences) if claim_sentences else 0.0

    return Analysis(
        words=n_words, sentences=len(sentences), partial=bool(partial), kind=kind,
        attributions=tuple(attributions), named_on_record=tuple(named_on_record), named_via=tuple(named_via),
        outlets_cited=outlets_cited, single_outlet=single, outlet_share=share, anonymous=tuple(anonymous),
        vague=vague, documents=tuple(documents), social=social, hedges_evidential=evid,
        hedges_speculative=spec, hedges_modal=modal, hedge_density=density, disclaimer=disclaimer,
        quotes_direct=tuple(q.content.strip() for q in direct), quotes_attributed=attributed_quotes,
        quote_speakers=tuple(quote_speakers), scare_quotes=scare, primary_cues=tuple(primary_cues),
        primary_links=tuple(primary_links), social_links=tuple(social_links), news_links=tuple(news_links),
        byline=byline, dateline=dateline, wire_credit=wire, correction=correction,
        own_reporting=tuple(dict.fromkeys(own_reporting)), headline_overstates=overstates,
        headline_sensational=tuple(sensational), unattributed_share=unattributed_share,
        refutations=tuple(refutations), dateline_credit=dateline_credit,
    )


def _headline_overstates(c: _Compiled, title: str, sentences: list[_Sentence], attributions: list[Attribution],
                         hedges: tuple[str, ...]) -> bool:
    """F2: the headline carries no hedge or attribution, but the body sentences about the same thing
    (content-word Jaccard >= 0.3) are hedged or rest on anonymous, vague or secondary sources."""
    if not title.strip():
        return False
    t = title
    if any(m.search(t) for m in (c.m("attribution", "verb"), c.m("attribution", "according"),
                                 c.m("hedges", "evidential"), c.m("hedges", "speculative"), c.m("hedges", "modal"))):
        return False
    if re.search(r"[\"?]|^[^:]{2,40}:\s", t):  # quoted, a question, or "Zelensky: ..." attribution
        return False
    tw = _content_words(t)
    if len(tw) < 2:
        return False
    hedge_rx = [c.m("hedges", "evidential"), c.m("hedges", "speculative")]
    weak_sentences = {a.sentence for a in attributions if a.cls in (ANONYMOUS, VAGUE, OUTLET) or a.via}
    related = 0
    weak = 0
    # the fewest title words a related sentence shares (its Jaccard is at most shared / title words)
    need = next(k for k in range(1, len(tw) + 1) if k / len(tw) >= 0.3 or k >= max(3, len(tw) // 2))
    for i, s in enumerate(sentences):
        low = s.text.lower()
        if not any(w in low for w in tw):
            continue  # shares no title word (a cheap test first: most sentences do not)
        if need > 1 and s.text.isascii() and sum(w in low for w in tw) < need:
            continue  # too few title words to be related (ASCII: each word is a substring of ``low``)
        sw = _content_words(s.text)
        if not sw:
            continue
        j = len(tw & sw) / len(tw | sw)
        if j >= 0.3 or len(tw & sw) >= max(3, len(tw) // 2):
            related += 1
            if i in weak_sentences or any(m.search(s.text) for m in hedge_rx):
                weak += 1
    return related > 0 and weak * 2 >= related


# --------------------------------------------------------------------------------------------------
# Grading
# --------------------------------------------------------------------------------------------------


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _fmt(x: float) -> str:
    return f"{x:+g}"


def grade(an: Analysis) -> Assessment:
    """Turn an ``Analysis`` into points, a grade, a score and the reasons line (table in the module
    docstring)."""
    rules: list[Rule] = []
    full = not an.partial

    primary = list(an.primary_cues) + [d for d in an.documents if d not in an.primary_cues]
    if an.primary_links or primary:
        what = primary[0] if primary else "primary links"
        if what in ("data", "figures", "records") or not what.startswith(("a ", "an ")) and what in (
            "statement", "report", "filing", "decree", "document", "ruling", "indictment", "letter", "memo",
            "order", "transcript", "study", "survey", "assessment", "resolution", "verdict", "court filing",
        ):
            what = ("an " if what[0] in "aeiou" else "a ") + what if what not in ("data", "figures", "records") else what
        rules.append(Rule("primary_evidence", 2, f"cites {what}"))
    n_named = len(an.named_on_record)
    if n_named:
        rules.append(Rule("named_on_record", min(3, n_named), _plural(n_named, "named on-record source")))
    if an.named_via:
        n = len(an.named_via)
        via = an.named_via[0][1]
        who = "named official" if n == 1 else "named officials"
        rules.append(Rule("named_via", min(1.0, 0.5 * n), f"{n} {who} (via {via})"))
    if an.quotes_attributed >= 2:
        people = len(an.quote_speakers)
        rules.append(Rule("direct_quotes", 1, f"quotes {_plural(max(1, people), 'person', 'people')}"))
    if an.own_reporting:
        rules.append(Rule("own_reporting", 1, f"own reporting ({an.own_reporting[0]})"))
    if an.correction:
        rules.append(Rule("correction", 0.5, "shows corrections"))
    if an.wire_credit:
        rules.append(Rule("wire", 1, f"wire copy ({an.wire_credit})"))
    if an.anonymous:
        pts = sum(0.5 if (a.specificity or 0) >= 2 or a.reason_given else 1.0 for a in an.anonymous)
        n = len(an.anonymous)
        reasons = sum(1 for a in an.anonymous if a.reason_given)
        extra = " (reason given)" if reasons else ""
        rules.append(Rule("anonymous", -min(3.0, pts), _plural(n, "anonymous source") + extra))
    if an.vague:
        rules.append(Rule("vague", -min(2.0, 0.5 * an.vague), _plural(an.vague, "vague attribution")))
    if an.single_outlet:
        rules.append(Rule("single_outlet", -3, f"relays one outlet ({an.single_outlet})"))
    elif len(an.outlets_cited) >= 2 and not an.own_reporting and an.outlet_share >= 0.5:
        rules.append(Rule("several_outlets", -1, f"relays {len(an.outlets_cited)} other outlets"))
    n_hedges = len(an.hedges_evidential) + len(an.hedges_speculative) + len(an.hedges_modal)
    if an.hedge_density >= 2.0:
        rules.append(Rule("hedges", -2, _plural(n_hedges, "hedge")))
    elif an.hedge_density >= 1.0 and n_hedges >= 2:
        rules.append(Rule("hedges", -1, _plural(n_hedges, "hedge")))
    if an.disclaimer:
        rules.append(Rule("unverified", 0, "says it could not verify the claim"))
    if full and not an.named_on_record:
        rules.append(Rule("no_named", -1, "no named on-record source"))
    if full and not (an.primary_links or primary):
        rules.append(Rule("no_primary", -1, "no primary evidence"))
    if an.headline_sensational:
        rules.append(Rule("sensational_headline", -1, "sensational headline"))
    if an.headline_overstates:
        rules.append(Rule("headline_overstates", -1, "headline states as fact what the body hedges"))
    if full and not an.own_reporting and an.sentences >= 4 and an.unattributed_share > 0.5:
        rules.append(Rule("unattributed", -1, "most claims unattributed"))

    points = sum(r.points for r in rules)
    score = max(0, min(100, round(50 + 10 * points)))
    if points >= 3:
        g = "strong"
    elif points >= 0:
        g = "moderate"
    else:
        g = "weak"
    capped = ""
    if g == "strong" and an.single_outlet:
        capped = "relays one outlet"
    elif g == "strong" and an.anonymous and not an.named_on_record and not (an.primary_links or primary):
        capped = "rests on anonymous sources"
    if capped:
        g = "moderate"
        score = min(score, 79)

    suffix = " (summary only)" if an.partial else ""
    if an.kind in ("opinion", "analysis", "live", "sponsored"):
        label = {"opinion": "Opinion", "analysis": "Analysis", "live": "Live blog", "sponsored": "Sponsored"}[an.kind]
        head = f"{label}: sourcing grade not applicable"
        parts = _counts_parts(an)
        g = "n/a"
    else:
        head = f"{g.capitalize()} sourcing"
        order = WEAK_ORDER if g == "weak" else STRONG_ORDER
        if g == "moderate":
            key = lambda r: (-abs(r.points), order.index(r.rule))  # noqa: E731
        else:
            key = lambda r: order.index(r.rule)  # noqa: E731
        parts = [r.reason for r in sorted((r for r in rules if r.reason), key=key)]
    parts = _fit(head, parts, suffix, MAX_LINE)
    reasons = head + (": " + "; ".join(parts) if parts else "") + suffix
    signals = an.signals()
    signals["points"] = [{"rule": r.rule, "points": r.points, "reason": r.reason} for r in rules]
    signals["total_points"] = points
    if capped:
        signals["capped"] = capped
    return Assessment(grade=g, score=score, signals=signals, reasons=reasons, reason_parts=tuple(parts),
                      head=head, suffix=suffix)


# The order reasons are shown in. WHY: a weak line leads with what makes it weak, most telling first
# (whose story it is, who is speaking, how hedged, what survives); a strong line leads with who is on
# the record. Moderate lines sort by |points| and break ties with the strong order.
WEAK_ORDER = (
    "single_outlet", "anonymous", "hedges", "named_via", "no_primary", "no_named", "several_outlets", "vague",
    "headline_overstates", "unattributed", "sensational_headline", "unverified", "named_on_record",
    "primary_evidence", "direct_quotes", "own_reporting", "wire", "correction",
)
STRONG_ORDER = (
    "named_on_record", "direct_quotes", "primary_evidence", "own_reporting", "wire", "correction", "named_via",
    "single_outlet", "anonymous", "hedges", "several_outlets", "vague", "no_primary", "no_named",
    "headline_overstates", "unattributed", "sensational_headline", "unverified",
)


def _counts_parts(an: Analysis) -> list[str]:
    parts = []
    if an.named_on_record:
        parts.append(_plural(len(an.named_on_record), "named source"))
    if an.anonymous:
        parts.append(_plural(len(an.anonymous), "anonymous source"))
    if an.outlets_cited:
        parts.append(_plural(len(an.outlets_cited), "outlet") + " cited")
    n_hedges = len(an.hedges_evidential) + len(an.hedges_speculative) + len(an.hedges_modal)
    if n_hedges:
        parts.append(_plural(n_hedges, "hedge"))
    if an.primary_cues or an.documents or an.primary_links:
        parts.append("cites primary evidence")
    return parts


def _fit(head: str, parts: list[str], suffix: str, limit: int) -> list[str]:
    parts = parts[:MAX_REASONS]
    while parts and len(head) + 2 + len("; ".join(parts)) + len(suffix) >= limit:
        parts = parts[:-1]
    return parts


def assess(article: Article, lexicons: Lexicons) -> Assessment:
    """The sourcing assessment of one article: grade, score 0-100, signals and the reasons line."""
    return grade(analyse(article, lexicons))


def render_reasons(assessment: Assessment, corroboration_line: str = "", limit: int = MAX_LINE) -> str:
    """The one line an alert carries: ``"<reasons> · <corroboration>"``, kept under ``limit``
    characters by dropping the least important reason fragments first."""
    tail = (CORROBORATION_SEPARATOR + corroboration_line) if corroboration_line else ""
    parts = list(assessment.reason_parts)
    head = assessment.head or assessment.reasons
    if not assessment.head:
        line = assessment.reasons + tail
        return line if len(line) < limit else line[: limit - 1] + "\u2026"
    while True:
        line = head + (": " + "; ".join(parts) if parts else "") + assessment.suffix + tail
        if len(line) < limit or not parts:
            return line if len(line) < limit else line[: limit - 1] + "\u2026"
        parts.pop()
