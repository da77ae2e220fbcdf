"""Stories across feeds and outlets, and how many independent origins confirm each one.

Two parts, both pure and in memory:

* ``StoryIndex`` assigns each new article to an existing story or starts a new one, within a time window.
  Candidates come from MinHash-LSH over word 3-shingles of the normalised title + lead (near-duplicates:
  syndicated and wire copies) and from an inverted index of story keys (capitalised names and numbers:
  rewrites of the same event). A candidate joins only when the MinHash estimate says near-duplicate, or
  title similarity and shared keys agree. WHY both: shingles catch copies, not independent rewrites, whose
  wording differs but whose names and numbers do not.
* ``corroboration(story)`` classifies each later article against the story's origins and counts the
  independent ones. WHY this order of rules (first match wins):

  1. COPY        lead-shingle Jaccard >= 0.5, the same wire credit, or >= 2 identical direct quotes:
                 one AP story on 200 sites is one origin (syndication is not confirmation).
  2. DISPUTE     a NAMED or DOCUMENT source refutes (deny, false, fake ...) and the origin had no such
                 refutation: a new denial matters more than who else the article cites.
  3. ECHO        it cites the origin's outlet, or the outlet the origin relays ("according to Look"):
                 ten outlets saying "according to Look" are one voice.
  4. SAME_VOICE  same owner group, or state-controlled media of the same state (seeds/sourcing/outlets.tsv).
  5. INDEPENDENT none of the above and it has its own sourcing (a named on-record source, a document, own
                 reporting): a new origin.
     UNSOURCED   none of the above and no sourcing of its own: repeats the story, confirms nothing.

Independent origins = the first article's origin plus each later INDEPENDENT one; later articles are
compared with every origin so far, so a copy of an independent report joins that report.
"""

from __future__ import annotations

import enum
import re
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Mapping

from bot.core.sourcing import (
    DOCUMENT,
    strip_dateline,
    NAMED,
    SOCIAL,
    Article,
    Lexicons,
    Outlet,
    analyse,
)

DEFAULT_WINDOW = timedelta(hours=72)
LEAD_WORDS = 60  # title + this many words of text make the "lead" that is shingled and keyed
COPY_JACCARD = 0.5
COPY_MIN_TITLE_OVERLAP = 0.2
MAX_NAMES_SHOWN = 3


class Relation(str, enum.Enum):
    FIRST = "first"
    COPY = "copy"
    ECHO = "echo"
    SAME_VOICE = "same_voice"
    DISPUTE = "dispute"
    INDEPENDENT = "independent"
    UNSOURCED = "unsourced"


@dataclass(frozen=True, slots=True)
class StoryArticle:
    """One article as the story index sees it. ``entry_id`` is the stable identity the caller uses
    (the lead maps ``Entry`` to this); ``published`` is required (use the fetch time when a feed
    gives none)."""

    entry_id: str
    outlet: str
    title: str
    published: datetime
    text: str = ""
    url: str = ""
    author: str = ""


@dataclass(frozen=True, slots=True)
class Profile:
    """What corroboration needs to know about one article, computed once from its text."""

    entry_id: str
    outlet: str
    owner: str = ""
    country: str = ""
    control: str = ""
    wire: str = ""
    cited: frozenset[str] = frozenset()  # secondary outlets the article cites
    relays: str = ""  # the one outlet it rests on, if any
    own_sourcing: bool = False
    quotes: frozenset[str] = frozenset()
    refuters: frozenset[str] = frozenset()  # names of NAMED/DOCUMENT sources that refute
    shingles: frozenset[int] = frozenset()

    @property
    def origin_label(self) -> str:
        return self.relays or self.outlet


@dataclass(frozen=True, slots=True)
class Story:
    id: str
    articles: tuple[StoryArticle, ...]
    profiles: tuple[Profile, ...] = ()


@dataclass(frozen=True, slots=True)
class Assignment:
    story_id: str
    is_new_story: bool
    entry_id: str
    score: float = 0.0  # how strongly it matched the story (0 for a new story)


@dataclass(frozen=True, slots=True)
class Corroboration:
    story_id: str
    independent_origins: int
    origins: tuple[str, ...] = ()
    echo_of: str = ""
    echoes: int = 0  # outlets that carry the story only by citing ``echo_of``
    copies: int = 0
    disputed_by: tuple[str, ...] = ()
    relations: tuple[tuple[str, str], ...] = ()  # (entry_id, Relation value)
    line: str = "not yet corroborated"

    def to_dict(self) -> dict[str, Any]:
        return {
            "story_id": self.story_id,
            "independent_origins": self.independent_origins,
            "origins": list(self.origins),
            "echo_of": self.echo_of,
            "echoes": self.echoes,
            "copies": self.copies,
            "disputed_by": list(self.disputed_by),
            "relations": [list(r) for r in self.relations],
            "line": self.line,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Corroboration":
        return cls(
            story_id=str(d.get("story_id", "")),
            independent_origins=int(d.get("independent_origins", 0)),
            origins=tuple(d.get("origins", ())),
            echo_of=str(d.get("echo_of", "")),
            echoes=int(d.get("echoes", 0)),
            copies=int(d.get("copies", 0)),
            disputed_by=tuple(d.get("disputed_by", ())),
            relations=tuple((str(a), str(b)) for a, b in d.get("relations", ())),
            line=str(d.get("line", "")),
        )


# --------------------------------------------------------------------------------------------------
# Text features
# --------------------------------------------------------------------------------------------------

_TRANSLATE = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u00ab": '"',
                            "\u00bb": '"', "\u201e": '"', "\u00a0": " "})
_TOKEN = re.compile(r"[^\W_]+(?:['\-][^\W_]+)*")
_NUMBER = re.compile(r"\d[\d,.\s]*\d|\d")
_CAPWORD = re.compile(r"(?<![\w'])[A-ZА-ЯЁІЇЄҐ][\w'\-]{2,}")
_STOP = frozenset(
    "the a an and or but of in on at to for from by with as is are was were be been has have had it its "
    "this that these those after before over under into about than then their his her they he she we you "
    "says said say will would could may might can new more most also not no yes up out off who what when "
    "where which while why how all some any one two three four five".split()
)
_KEY_STOP = frozenset(
    "the a an and but in on at for of to by as after before when while this that these those there here "
    "his her their its he she they we it monday tuesday wednesday thursday friday saturday sunday january "
    "february march april may june july august september october november december according "
    "however meanwhile earlier later last update breaking live".split()
)


def _norm(text: str) -> str:
    return text.translate(_TRANSLATE)


def lead_of(title: str, text: str, words: int = LEAD_WORDS) -> str:
    toks = _norm(text).split()
    return _norm(title) + "\n" + " ".join(toks[:words])


def _tokens(text: str) -> list[str]:
    return [t.lower() for t in _TOKEN.findall(text)]


_CYRILLIC = str.maketrans({
    "а": "a", "б": "b", "в": "v", "г": "h", "ґ": "g", "д": "d", "е": "e", "є": "ie", "ё": "e", "ж": "zh",
    "з": "z", "и": "y", "і": "i", "ї": "i", "й": "i", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o",
    "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh",
    "щ": "shch", "ь": "", "ъ": "", "ы": "y", "э": "e", "ю": "iu", "я": "ia", "'": "", "\u2019": "", "`": "",
})
_VOWELS = frozenset("aeiouy")


def spelling_key(word: str) -> str:
    """One key for the spellings of a name: Kupiansk, Kupyansk, Kup'yansk, Куп'янськ, Купянск -> "kpnsk";
    Oskil, Oskol, Оскіл -> "oskl"; Kharkiv, Kharkov, Харків -> "khrkv".

    WHY a consonant skeleton: outlets transliterate differently (y/i/j, ia/ya, g/h, apostrophes) and
    Ukrainian and Russian vowels alternate (Оскіл/Оскол), while the consonants of a name stay put. Used
    only for capitalised words (names) and only together with other evidence, so that two rewrites of one
    event in different spellings share keys; an inflected ending (Купянске, Куп'янська) is cut by taking
    the skeleton of the first seven letters of the transliteration."""
    w = word.lower().removesuffix("'s").removesuffix("\u2019s").translate(_CYRILLIC)
    w = "".join(ch for ch in w if ch.isalpha())[:7].replace("g", "h").replace("j", "i")
    if not w:
        return ""
    out = ["i" if w[0] == "y" else w[0]]  # Изюм -> "yzium", Izium
    for ch in w[1:]:
        if ch not in _VOWELS and ch != out[-1]:
            out.append(ch)
    return "".join(out)


def title_words(title: str) -> frozenset[str]:
    """The content words of a title, lower-case; names (capitalised words) by their spelling key
    (``spelling_key``), marked with "~"."""
    words = set()
    for t in _TOKEN.findall(_norm(title)):
        low = t.lower()
        if len(low) <= 2 or low in _STOP:
            continue
        if t[0].isupper():
            key = spelling_key(t)
            words.add("~" + key if len(key) >= 3 else low)
        else:
            words.add(low)
    return frozenset(words)


def story_keys(title: str, text: str) -> frozenset[str]:
    """Language-neutral-ish keys of the event: capitalised names and numbers in the title and lead.
    WHY: independent rewrites share who, where and how many, even when no sentence is shared."""
    lead = lead_of(title, strip_dateline(text))
    keys = set()
    for m in _CAPWORD.finditer(lead):
        w = m.group(0).lower().removesuffix("'s")
        if w not in _KEY_STOP and not w.isupper():
            keys.add(w)
    for m in _NUMBER.finditer(lead):
        n = re.sub(r"[,.\s]", "", m.group(0))
        if len(n) >= 2 and not (len(n) == 4 and n.startswith(("19", "20"))):  # years say little
            keys.add("#" + n)
    return frozenset(keys)


def shingles(title: str, text: str, k: int = 3) -> frozenset[int]:
    toks = _tokens(lead_of(title, text))
    if len(toks) < k:
        return frozenset({zlib.crc32(" ".join(toks).encode())}) if toks else frozenset()
    return frozenset(zlib.crc32(" ".join(toks[i:i + k]).encode()) for i in range(len(toks) - k + 1))


class MinHasher:
    """MinHash with a seeded universal hash family h_i(x) = (a_i x + b_i) mod (2^61 - 1).
    Deterministic for a seed, so signatures computed on different days or workers agree."""

    PRIME = (1 << 61) - 1

    def __init__(self, num_perm: int = 64, seed: int = 1):
        import random  # a seeded generator: deterministic, no global state touched

        rng = random.Random(seed)
        self.num_perm = num_perm
        self.params = [(rng.randrange(1, self.PRIME), rng.randrange(0, self.PRIME)) for _ in range(num_perm)]

    def signature(self, hashes: Iterable[int]) -> tuple[int, ...]:
        hs = list(hashes)
        if not hs:
            return tuple([0xFFFFFFFF] * self.num_perm)
        p = self.PRIME
        return tuple(min([(a * x + b) % p for x in hs]) & 0xFFFFFFFF for a, b in self.params)

    @staticmethod
    def jaccard(s1: tuple[int, ...], s2: tuple[int, ...]) -> float:
        if not s1 or len(s1) != len(s2):
            return 0.0
        return sum(1 for x, y in zip(s1, s2) if x == y) / len(s1)


def _overlap(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


# --------------------------------------------------------------------------------------------------
# The index
# --------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Row:
    article: StoryArticle
    ts: float
    story: str
    words: frozenset[str]
    keys: frozenset[str]
    sig: tuple[int, ...]


class StoryIndex:
    """In-memory story clustering over a rolling window. ``add`` is the only writer; rebuild it at start
    by adding the stored entries of the window in publication order (story ids are the entry id of each
    story's first article, so they come out the same)."""

    def __init__(
        self,
        lexicons: Lexicons | None = None,
        *,
        window: timedelta = DEFAULT_WINDOW,
        num_perm: int = 64,
        bands: int = 16,
        seed: int = 1,
        max_candidates: int = 200,
    ):
        if num_perm % bands:
            raise ValueError("num_perm must be a multiple of bands")
        self.lexicons = lexicons
        self.window = window
        self.hasher = MinHasher(num_perm, seed)
        self.bands = bands
        self.rows_per_band = num_perm // bands
        self.max_candidates = max_candidates
        self._rows: list[_Row | None] = []
        self._by_entry: dict[str, int] = {}
        self._buckets: list[dict[tuple[int, ...], list[int]]] = [{} for _ in range(bands)]
        self._postings: dict[str, list[int]] = {}
        self._stories: dict[str, list[int]] = {}
        self._profiles: dict[str, Profile] = {}
        self._newest: float | None = None

    def __len__(self) -> int:
        return len(self._by_entry)

    @property
    def newest(self) -> datetime | None:
        """The latest publication time added (None when empty): what the window is measured back from
        when the feeds' clock is behind the caller's (archives, the demo's fixed dates)."""
        return datetime.fromtimestamp(self._newest, tz=timezone.utc) if self._newest is not None else None

    # -- lookup ------------------------------------------------------------------------------------

    def _features(self, article: StoryArticle) -> tuple[frozenset[str], frozenset[str], tuple[int, ...]]:
        return (
            title_words(article.title),
            story_keys(article.title, article.text),
            self.hasher.signature(shingles(article.title, article.text)),
        )

    def _band_keys(self, sig: tuple[int, ...]) -> list[tuple[int, ...]]:
        r = self.rows_per_band
        return [sig[i * r:(i + 1) * r] for i in range(self.bands)]

    def _candidates(self, ts: float, keys: frozenset[str], sig: tuple[int, ...]) -> dict[int, bool]:
        """Row index -> True when MinHash-LSH proposed it (a likely near-duplicate)."""
        lo, hi = ts - self.window.total_seconds(), ts + self.window.total_seconds()
        found: dict[int, bool] = {}
        for band, key in zip(self._buckets, self._band_keys(sig)):
            for i in band.get(key, ()):
                found[i] = True
        # rarest keys first; newest postings first; stop at the window's edge or the candidate cap
        for key in sorted(keys, key=lambda k: len(self._postings.get(k, ()))):
            posting = self._postings.get(key)
            if not posting:
                continue
            scanned = 0
            for i in reversed(posting):
                row = self._rows[i]
                if row is None:
                    continue
                if row.ts < lo:
                    break
                scanned += 1
                if row.ts <= hi:
                    found.setdefault(i, False)
                if scanned >= 50 or len(found) >= self.max_candidates:
                    break
            if len(found) >= self.max_candidates:
                break
        return {i: lsh for i, lsh in found.items() if (r := self._rows[i]) is not None and lo <= r.ts <= hi}

    def _best(self, article: StoryArticle) -> tuple[str | None, float, tuple]:
        words, keys, sig = self._features(article)
        ts = article.published.timestamp()
        best: tuple[float, str] | None = None
        for i, lsh in self._candidates(ts, keys, sig).items():
            row = self._rows[i]
            assert row is not None
            if row.article.entry_id == article.entry_id:
                continue
            # the MinHash estimate only for LSH candidates: the others are below the copy threshold
            # with high probability, and comparing 64 hashes for each of hundreds of rows is the cost
            score = self.match_score(words, keys, sig if lsh else (), row.words, row.keys, row.sig)
            if score > 0 and (best is None or score > best[0]):
                best = (score, row.story)
        if best is None:
            return None, 0.0, (words, keys, sig)
        return best[1], best[0], (words, keys, sig)

    def match_score(self, w1, k1, s1, w2, k2, s2) -> float:
        """> 0 when two articles are about the same story. WHY these thresholds: a MinHash Jaccard of
        0.5 on lead shingles is a copy, provided the titles share something (a feed that gives every
        item the same boilerplate description must not fold its different stories into one alert:
        a lost alert is worse than a duplicate); otherwise the titles must share 40 % of their content
        words and the leads two names or numbers, or the leads must share four keys with some title
        overlap, or the titles share half their words and three of them names compared by their spelling
        key (Oskol/Oskil, Kupyansk/Kupiansk: one event in two transliterations) and the leads one name."""
        j = MinHasher.jaccard(s1, s2)
        t = _overlap(w1, w2)
        k = len(k1 & k2)
        if (j >= COPY_JACCARD and t >= COPY_MIN_TITLE_OVERLAP) or (t >= 0.4 and k >= 2) or (k >= 4 and t >= 0.25) or (
                t >= 0.8 and len(w1) >= 4) or (t >= 0.5 and k >= 1 and sum(w[:1] == "~" for w in w1 & w2) >= 3):
            # Which matching story is the best home: the one whose headline says the same thing first
            # (a denial of a river crossing belongs with the crossing, not with another report quoting
            # the same spokesman), then shared names.
            return 2 * j + 3 * t + 0.1 * k
        return 0.0

    def find(self, article: StoryArticle) -> str | None:
        """The story this article belongs to, without adding it (None: it would start a new story)."""
        if article.entry_id in self._by_entry:
            row = self._rows[self._by_entry[article.entry_id]]
            return row.story if row else None
        return self._best(article)[0]

    # -- writing -----------------------------------------------------------------------------------

    def add(self, article: StoryArticle) -> Assignment:
        """Assign ``article`` to a story (the same entry added twice keeps its first assignment)."""
        if article.entry_id in self._by_entry:
            row = self._rows[self._by_entry[article.entry_id]]
            if row is not None:
                return Assignment(row.story, False, article.entry_id)
        story, score, (words, keys, sig) = self._best(article)
        is_new = story is None
        story_id = article.entry_id if story is None else story
        idx = len(self._rows)
        ts = article.published.timestamp()
        self._newest = ts if self._newest is None else max(self._newest, ts)
        self._rows.append(_Row(article, ts, story_id, words, keys, sig))
        self._by_entry[article.entry_id] = idx
        for band, key in zip(self._buckets, self._band_keys(sig)):
            band.setdefault(key, []).append(idx)
        for key in keys:
            self._postings.setdefault(key, []).append(idx)
        self._stories.setdefault(story_id, []).append(idx)
        return Assignment(story_id, is_new, article.entry_id, score)

    def prune(self, before: datetime) -> int:
        """Forget articles published before ``before`` (their stories keep their later members)."""
        cut = before.timestamp()
        dropped = 0
        for i, row in enumerate(self._rows):
            if row is not None and row.ts < cut:
                self._rows[i] = None
                del self._by_entry[row.article.entry_id]
                self._profiles.pop(row.article.entry_id, None)
                dropped += 1
        if dropped:
            for band in self._buckets:
                for key in [k for k, v in band.items() if all(self._rows[i] is None for i in v)]:
                    del band[key]
            for key in [k for k, v in self._postings.items() if all(self._rows[i] is None for i in v)]:
                del self._postings[key]
            for sid in list(self._stories):
                alive = [i for i in self._stories[sid] if self._rows[i] is not None]
                if alive:
                    self._stories[sid] = alive
                else:
                    del self._stories[sid]
        return dropped

    def story(self, story_id: str) -> Story:
        """The story's articles in publication order, with their corroboration profiles."""
        rows = [self._rows[i] for i in self._stories.get(story_id, ())]
        articles = sorted((r.article for r in rows if r is not None), key=lambda a: (a.published, a.entry_id))
        profiles: tuple[Profile, ...] = ()
        if self.lexicons is not None:
            out = []
            for a in articles:
                p = self._profiles.get(a.entry_id)
                if p is None:
                    p = profile(a, self.lexicons)
                    self._profiles[a.entry_id] = p
                out.append(p)
            profiles = tuple(out)
        return Story(story_id, tuple(articles), profiles)


# --------------------------------------------------------------------------------------------------
# Corroboration
# --------------------------------------------------------------------------------------------------

_QUOTE = re.compile(r'"([^"\n]{20,400})"')


def profile(article: StoryArticle, lexicons: Lexicons) -> Profile:
    """The corroboration-relevant facts of one article, from the sourcing analysis of its text."""
    an = analyse(
        Article(title=article.title, text=article.text, url=article.url, outlet=article.outlet,
                published=article.published, author=article.author),
        lexicons,
    )
    known: Outlet | None = lexicons.outlet(article.outlet) if article.outlet else None
    short = outlet_label(article.outlet)
    if known is None and short != article.outlet:
        known = lexicons.outlet(short)
    outlet_name = known.name if known else short
    quotes = frozenset(
        " ".join(_tokens(q)) for q in an.quotes_direct if len(_tokens(q)) >= 6
    )
    refuters = frozenset(name.lower() for _, cls, name in an.refutations if cls in (NAMED, DOCUMENT, SOCIAL))
    return Profile(
        entry_id=article.entry_id,
        outlet=outlet_name,
        owner=known.owner if known else "",
        country=known.country if known else "",
        control=known.control if known else "",
        # the credited agency: a known wire, or the one a dateline credits ("KHARKIV (Northern Wire) -"),
        # unless that is the article's own outlet (its own reporting)
        wire=an.wire_credit or (an.dateline_credit if an.dateline_credit.lower() not in (
            article.outlet.lower(), outlet_name.lower()) else ""),
        cited=frozenset(an.outlets_cited),
        relays=an.single_outlet,
        own_sourcing=bool(an.named_on_record or an.documents or an.primary_cues or an.primary_links
                          or an.own_reporting),
        quotes=quotes,
        refuters=refuters,
        shingles=shingles(article.title, article.text),
    )


_TITLE_TAIL = re.compile(r"\s+(?:\||:|\u2014|\u2013|-|\u00b7)\s+.*$|:\s+.*$")


def outlet_label(name: str) -> str:
    """The outlet's name from a feed title: "Look | Breaking news, fast" -> "Look", "Northern Wire: Ukraine"
    -> "Northern Wire". WHY: a feed title names the outlet and then the section; texts cite the outlet
    ("according to Look"), and the corroboration line should say who, not which feed."""
    short = _TITLE_TAIL.sub("", name.strip())
    return short if len(short) >= 2 else name.strip()


def _jaccard(a: frozenset[int], b: frozenset[int]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def classify(origin: Profile, later: Profile) -> Relation:
    """How ``later`` relates to ``origin`` (rules and their order in the module docstring)."""
    if _jaccard(origin.shingles, later.shingles) >= COPY_JACCARD:
        return Relation.COPY
    if later.wire and (later.wire == origin.wire or later.wire == origin.outlet):
        return Relation.COPY
    if origin.wire and later.outlet == origin.wire:
        return Relation.COPY
    if len(origin.quotes & later.quotes) >= 2:
        return Relation.COPY
    if later.refuters - origin.refuters:
        return Relation.DISPUTE
    origin_voices = {origin.outlet, origin.relays} - {""}
    if later.relays in origin_voices or (later.cited & origin_voices and not later.own_sourcing):
        return Relation.ECHO
    if origin.owner and origin.owner == later.owner and origin.outlet != later.outlet:
        return Relation.SAME_VOICE
    if origin.control == later.control == "state" and origin.country and origin.country == later.country:
        return Relation.SAME_VOICE
    if later.outlet and later.outlet == origin.outlet:
        return Relation.COPY  # the same outlet again (an update, another feed of one site): one origin
    return Relation.INDEPENDENT if later.own_sourcing else Relation.UNSOURCED


def _names(names: list[str]) -> str:
    shown = names[:MAX_NAMES_SHOWN]
    more = len(names) - len(shown)
    return ", ".join(shown) + (f" +{more}" if more > 0 else "")


def corroboration(story: Story) -> Corroboration:
    """Count the independent origins of ``story`` and say it in one line (the profiles must be filled:
    take the story from ``StoryIndex.story`` with lexicons, or build profiles with ``profile``)."""
    profiles = list(story.profiles)
    if not profiles:
        return Corroboration(story.id, 0, line="not yet corroborated")
    first = profiles[0]
    origins: list[Profile] = [first]
    relations: list[tuple[str, str]] = [(first.entry_id, Relation.FIRST.value)]
    disputers: list[str] = []
    copies = 0
    echo_outlets: set[str] = set()
    if first.relays:
        echo_outlets.add(first.outlet)
    for p in profiles[1:]:
        rel = Relation.UNSOURCED
        for o in origins:
            r = classify(o, p)
            if r in (Relation.COPY, Relation.ECHO, Relation.SAME_VOICE):
                rel = r
                break
            if r == Relation.DISPUTE:
                rel = r
                break
            if r == Relation.INDEPENDENT:
                rel = r
        if rel == Relation.INDEPENDENT and any(p.outlet == o.outlet for o in origins):
            rel = Relation.COPY
        relations.append((p.entry_id, rel.value))
        if rel == Relation.INDEPENDENT:
            origins.append(p)
        elif rel == Relation.DISPUTE:
            who = p.wire or p.outlet  # a site running a wire's denial relays the wire's denial
            if who not in disputers:
                disputers.append(who)
        elif rel == Relation.COPY:
            copies += 1
        elif rel == Relation.ECHO:
            echo_outlets.add(p.outlet)
    labels: list[str] = []
    for o in origins:
        if o.origin_label not in labels:
            labels.append(o.origin_label)
    n = len(labels)
    echo_of = first.relays or first.outlet
    # every outlet that carries the story only on the strength of the origin's outlet is its echo,
    # whether it rewrote the relay (ECHO) or copied another relay (COPY)
    for p in profiles:
        if p.relays == echo_of or (echo_of in p.cited and not p.own_sourcing):
            echo_outlets.add(p.outlet)
    echoes = len(echo_outlets - {echo_of})
    if n >= 2:
        line = f"corroborated by {n} independent outlets ({_names(labels)})"
    elif echoes >= 2:
        line = f"echoed by {echoes} outlets, all citing {echo_of}"
    else:
        line = "not yet corroborated"
    if disputers:
        dispute = f"disputed by {_names(disputers)}"
        line = dispute if n < 2 and echoes < 2 else f"{line}; {dispute}"
    return Corroboration(
        story_id=story.id, independent_origins=n, origins=tuple(labels), echo_of=echo_of if echoes else "",
        echoes=echoes, copies=copies, disputed_by=tuple(disputers), relations=tuple(relations), line=line,
    )


def deserves_follow_up(alerted: Corroboration | None, current: Corroboration) -> bool:
    """True when a destination already alerted about this story should get one follow-up: the story
    gained an independent origin or a new dispute since the alert. Echoes and copies never qualify:
    they add volume, not confirmation."""
    if alerted is None:
        return False
    if current.independent_origins > alerted.independent_origins and current.independent_origins >= 2:
        return True
    return bool(set(current.disputed_by) - set(alerted.disputed_by))
