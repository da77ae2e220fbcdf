"""Places: gazetteer lookups, transliteration and inflection variants, radius sets, and the place scanner.

A team watching Kupiansk must see "Kupyansk", "Kupjansk", "Куп'янськ", "Купянске" and "на Купянском
направлении", and must not see "изюм" (raisins) for Izium or "Balaklava" for Balakliia. The approach
(reference: shared/reference/places.md):

* **Keys, not spellings.** Every token is reduced to a lossy key (``lat_key``/``cyr_key``) that merges the
  differences between romanisation conventions (kh/ch/x/h, zh/ž/ż/sch/s, y/j/i, w/v, ou/u, apostrophes and
  soft signs). The same function is applied to the gazetteer names and to article tokens, so one key
  covers a dozen real spellings without generating hundreds of strings per place.
* **Generated inputs.** From each Cyrillic name we generate the Latin forms of the conventions outlets use
  (KMU 2010, BGN/PCGN for Ukrainian and Russian, simplified English, ICAO, ISO 9/scholarly, German, French,
  Polish); a convention whose key differs (Balakleia vs Balakliia) adds a key. Russian and Ukrainian case
  endings and the adjectival forms used for front sectors are generated from the nominatives.
* **Proper-noun precision.** A noun form matches only when it starts with a capital letter in the text
  (which an all-caps headline satisfies): "изюм" in lower case is raisins, not Izium. Names that are also
  common words (a small list in ``seeds/gazetteer``) need context when they open a sentence. A Cyrillic
  adjective ("купянский") is lower case by orthography, so it needs a head noun instead ("направление",
  "район", "напрямок"), which also keeps "славянский язык" (Slavic) away from Sloviansk.
* **Longest name wins.** "Kupiansk-Vuzlovyi" is another town: a longer gazetteer name covering the tokens
  suppresses the shorter one inside it.

The core is pure: the gazetteer is passed in (``Gazetteer`` protocol; the SQLite index lives in
``bot.adapters.gazetteer_index``; ``MemoryGazetteer`` here serves small sets and tests).
"""

from __future__ import annotations

import difflib
import functools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from bot.core.errors import QueryError
from bot.core.query import Near, Place
from bot.core.textfold import FoldedText, prefold

__all__ = [
    "Gazetteer",
    "MemoryGazetteer",
    "PlaceLexicon",
    "PlaceRecord",
    "PlaceScanner",
    "PlaceSet",
    "PlaceVariants",
    "Places",
    "adjective_forms",
    "cyr_key",
    "lat_key",
    "name_key",
    "noun_forms",
    "place_variants",
    "token_key",
    "transliterations",
]

# --------------------------------------------------------------------------------------------------
# Keys (reference §2.2): the same function for gazetteer names and article tokens
# --------------------------------------------------------------------------------------------------

_LAT_STEPS = (
    ("schtsch", "shch"), ("szcz", "shch"), ("chtch", "shch"),
    ("tsch", "ch"), ("tch", "ch"), ("cz", "ch"),
    ("sch", "sh"), ("sz", "sh"),
    ("kh", "h"), ("ch", "h"), ("x", "h"),
    ("zh", "s"), ("sh", "s"), ("ts", "s"), ("tz", "s"), ("z", "s"), ("c", "s"),
    ("w", "v"), ("iou", "iu"), ("ou", "u"), ("j", "i"), ("y", "i"),
)
_RUNS = re.compile(r"(.)\1+")


def _runs_collapsed(key: str) -> str:
    """``ii`` -> ``i``, ``ss`` -> ``s``. Most keys have no run: a search is cheaper than a substitution."""
    return _RUNS.sub(_first_group, key) if _RUNS.search(key) else key


def _first_group(m: re.Match[str]) -> str:
    return m.group(1)
_CYR_KEY = str.maketrans({"'": None, "ь": None, "ъ": None, "ё": "е", "є": "е", "ї": "и", "і": "и", "ы": "и",
                          "й": "и", "ґ": "г", "ў": "у"})
_HAS_CYR = re.compile("[\u0400-\u04ff]")
_HAS_LAT = re.compile("[a-z]")
# UTS #39 confusables between the two scripts (lower case; the text is folded already).
_CYR_TO_LAT = str.maketrans("аеіорсухј", "aeiopcyxj")
_LAT_TO_CYR = str.maketrans("aeiopcyxj", "аеіорсухј")
_LATIN_LETTERS = re.compile("[a-z]")
_CYR_LETTERS = re.compile("[\u0400-\u04ff]")


def lat_key(token: str) -> str:
    """Key of a prefolded Latin token: apostrophes dropped, romanisation differences merged, runs collapsed.

    Lossy on purpose (ч/х, ш/щ/ж/з/ц and i/y/j merge). g/h and e/i are not merged: Lugansk/Luhansk and
    Balakleia/Balakliia are both generated from the Russian and Ukrainian names instead.
    """
    k = token.replace("'", "")
    for a, b in _LAT_STEPS:
        if a in k:
            k = k.replace(a, b)
    return _runs_collapsed(k)


def cyr_key(token: str) -> str:
    """Key of a prefolded Cyrillic token: apostrophes, ь and ъ dropped; ё є ї і ы й ґ merged; runs collapsed."""
    return _runs_collapsed(token.translate(_CYR_KEY))


def token_key(token: str) -> str:
    """Key of one prefolded token, by script. A token mixing scripts ("Харкiв" with a Latin i) is first
    mapped to its majority script through the confusables, as a reader would read it."""
    if _HAS_CYR.search(token):
        if _HAS_LAT.search(token):
            cyr = len(_CYR_LETTERS.findall(token))
            lat = len(_LATIN_LETTERS.findall(token))
            token = token.translate(_LAT_TO_CYR) if cyr >= lat else token.translate(_CYR_TO_LAT)
            if _HAS_CYR.search(token) and _HAS_LAT.search(token):
                return token  # still mixed: matches nothing, which is the honest answer
            if not _HAS_CYR.search(token):
                return lat_key(token)
        return cyr_key(token)
    return lat_key(token)


def name_tokens(text: str) -> list[str]:
    """The prefolded tokens of a name or text (apostrophes kept inside tokens; dashes separate)."""
    return prefold(text)[0].split()


def name_key(name: str) -> str:
    """Key of a whole name: token keys joined by one space (what the gazetteer index is keyed by)."""
    return " ".join(token_key(t) for t in name_tokens(name))


_ANY_LATIN = re.compile("[A-Za-z\u00c0-\u024f\u1e00-\u1eff]")
_NON_LATIN_LETTER = re.compile("[^\\W\\dA-Za-z_\u00c0-\u024f\u1e00-\u1eff]")
_NON_CYR_LETTER = re.compile("[^\\W\\d_\u0400-\u04ff]")


def is_cyrillic(text: str) -> bool:
    """True for a name written in Cyrillic letters only (apostrophes, dashes and spaces allowed)."""
    return bool(_HAS_CYR.search(text.lower())) and not _NON_CYR_LETTER.search(text)


def is_latin(text: str) -> bool:
    """True for a name written in Latin letters only (with diacritics)."""
    return bool(_ANY_LATIN.search(text)) and not _NON_LATIN_LETTER.search(text)


# --------------------------------------------------------------------------------------------------
# Transliteration (reference §1): the conventions outlets actually use
# --------------------------------------------------------------------------------------------------

_COMMON = {"а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "з": "z", "и": "i", "к": "k", "л": "l",
           "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f",
           "'": "", "ь": "", "ъ": ""}


def _table(**over: str) -> dict[str, str]:
    t = dict(_COMMON)
    t.update({k.replace("_", ""): v for k, v in over.items()})
    return t


# Ukrainian. Each scheme: (base table, initial-position table, letters after which "initial" applies).
_UK_SCHEMES: dict[str, tuple[dict[str, str], dict[str, str], str]] = {
    # KMU 2010 = BGN/PCGN 2019: ye yi y yu ya only word-initially (after an apostrophe is NOT initial).
    "kmu": (_table(г="h", ґ="g", є="ie", ж="zh", и="y", і="i", ї="i", й="i", х="kh", ц="ts", ч="ch", ш="sh",
                   щ="shch", ю="iu", я="ia"),
            {"є": "ye", "ї": "yi", "й": "y", "ю": "yu", "я": "ya"}, ""),
    # BGN/PCGN 1965: ye yi y yu ya everywhere; apostrophe and soft sign written (dropped by the key anyway).
    "bgn1965": (_table(г="h", ґ="g", є="ye", ж="zh", и="y", і="i", ї="yi", й="y", х="kh", ц="ts", ч="ch",
                       ш="sh", щ="shch", ю="yu", я="ya", ь="'"), {}, ""),
    "scholarly": (_table(г="h", ґ="g", є="je", ж="ž", и="y", і="i", ї="ji", й="j", х="x", ц="c", ч="č",
                         ш="š", щ="šč", ю="ju", я="ja"), {}, ""),
    "de": (_table(в="w", г="h", ґ="g", є="je", ж="sch", з="s", и="y", і="i", ї="ji", й="j", х="ch", ц="z",
                  ч="tsch", ш="sch", щ="schtsch", ю="ju", я="ja"), {}, ""),
    "fr": (_table(г="h", ґ="g", є="ie", ж="j", и="y", і="i", ї="ï", й="y", у="ou", х="kh", ц="ts", ч="tch",
                  ш="ch", щ="chtch", ю="iou", я="ia"), {}, ""),
    "pl": (_table(в="w", г="h", ґ="g", є="ie", ж="ż", и="y", і="i", ї="ji", й="j", л="ł", х="ch", ц="c",
                  ч="cz", ш="sz", щ="szcz", ю="iu", я="ia"),
           {"є": "je", "ю": "ju", "я": "ja"}, "аеєиіїоуюя'ь"),
}
_RU_SCHEMES: dict[str, tuple[dict[str, str], dict[str, str], str]] = {
    # BGN/PCGN: е → ye word-initially and after vowels, й, ъ, ь.
    "bgn": (_table(ё="ë", ж="zh", й="y", х="kh", ц="ts", ч="ch", ш="sh", щ="shch", ы="y", э="e", ю="yu",
                   я="ya", ь="'"),
            {"е": "ye", "ё": "yë"}, "аеёиоуыэюяйъь"),
    # Simplified English press style: ё → yo, ь ъ dropped.
    "simple": (_table(ё="yo", ж="zh", й="y", х="kh", ц="ts", ч="ch", ш="sh", щ="shch", ы="y", э="e", ю="yu",
                      я="ya"), {"е": "ye"}, "аеёиоуыэюяйъь"),
    "icao": (_table(ё="e", ж="zh", й="i", х="kh", ц="ts", ч="ch", ш="sh", щ="shch", ъ="ie", ы="y", э="e",
                    ю="iu", я="ia"), {}, ""),
    "iso9": (_table(ё="ë", ж="ž", й="j", х="h", ц="c", ч="č", ш="š", щ="ŝ", ы="y", э="è", ю="û", я="â"), {}, ""),
    "scholarly": (_table(ё="ë", ж="ž", й="j", х="x", ц="c", ч="č", ш="š", щ="šč", ы="y", э="è", ю="ju",
                         я="ja"), {}, ""),
    "de": (_table(в="w", ё="jo", ж="sch", з="s", й="i", х="ch", ц="z", ч="tsch", ш="sch", щ="schtsch", ы="y",
                  э="e", ю="ju", я="ja"), {"е": "je", "ё": "jo", "й": "j"}, "аеёиоуыэюяйъь"),
    "fr": (_table(ё="io", ж="j", й="ï", у="ou", х="kh", ц="ts", ч="tch", ш="ch", щ="chtch", ы="y", э="e",
                  ю="iou", я="ia"), {"е": "ie"}, "ьъ"),
    "pl": (_table(в="w", ё="io", е="ie", ж="ż", й="j", л="ł", х="ch", ц="c", ч="cz", ш="sz", щ="szcz", ы="y",
                  э="e", ю="iu", я="ia"),
           {"е": "je", "ё": "jo", "ю": "ju", "я": "ja"}, "аеёиоуыэюяйъь"),
}
_CYR_WORD = re.compile(r"[\u0400-\u04ff'’ʼ]+")
_VOWELS_CYR = "аеёиоуыэюяєіїй"


def _translit_word(word: str, scheme: tuple[dict[str, str], dict[str, str], str], name: str, lang: str) -> str:
    base, initial, after = scheme
    w = word.lower().replace("’", "'").replace("ʼ", "'")
    out: list[str] = []
    n = len(w)
    for i, ch in enumerate(w):
        prev = w[i - 1] if i else ""
        nxt = w[i + 1] if i + 1 < n else ""
        if ch in initial and (i == 0 or (after and prev in after)):
            out.append(initial[ch])
            continue
        r = base.get(ch, ch)
        if name == "kmu" and ch == "г" and prev == "з":
            r = "gh"  # KMU: зг → zgh, to keep it apart from ж (zh)
        elif name == "pl":
            if ch == "л" and nxt in "єяюіїьеёи":
                r = "l"
            elif ch in "яюєеё" and prev == "л":
                r = {"я": "a", "ю": "u", "є": "e", "е": "e", "ё": "o"}[ch]
            elif ch in "ьъ":
                r = ""
        elif name == "de" and ch == "с" and prev in _VOWELS_CYR and nxt in _VOWELS_CYR and prev and nxt:
            r = "ss"
        elif name == "fr" and lang == "ru" and ch == "й" and i == n - 1 and prev in "иы":
            r = ""
        out.append(r)
    text = "".join(out)
    if name == "simple" and lang == "ru":
        text = re.sub(r"(iy|yy)$", "y", text)
    return text


# WHY small: the hits are repeats within one place (``place_variants`` transliterates each Cyrillic name
# under the same schemes 2-3 times); across places names rarely repeat. After the bench's 586 places,
# 65,536 entries held 6.1 MB for 6,354 hits of 29,566 calls, 4,096 hold 1.1 MB for 5,526; the gazetteer
# index build runs as fast without any cache.
TRANSLIT_CACHE_SIZE = 4096


@functools.lru_cache(maxsize=TRANSLIT_CACHE_SIZE)
def _translit(name: str, scheme_name: str, lang: str) -> str:
    schemes = _UK_SCHEMES if lang == "uk" else _RU_SCHEMES
    scheme = schemes[scheme_name]
    return _CYR_WORD.sub(lambda m: _translit_word(m.group(0), scheme, scheme_name, lang), name)


def _pl_press(name: str) -> str:
    """Polish press forms: Kupiańsk, Słowiańsk (н before сь is ń, an apostrophe + я is ia)."""
    w = name.lower().replace("’", "'").replace("ʼ", "'")
    w = w.replace("ньськ", "ńsk").replace("нськ", "ńsk").replace("нск", "ńsk").replace("'я", "ia")
    return _translit(w, "pl", "uk")


def cyrillic_language(name: str) -> str:
    """'uk', 'ru' or '' (both possible) from the letters only Ukrainian or only Russian uses."""
    low = name.lower()
    if any(c in "іїєґ'’ʼ" for c in low):
        return "uk"
    if any(c in "ыэъё" for c in low):
        return "ru"
    return ""


def transliterations(name: str, lang: str = "") -> set[str]:
    """Latin forms of a Cyrillic name under every convention of the given language ('' = both)."""
    langs = [lang] if lang else ["uk", "ru"]
    out: set[str] = set()
    for lg in langs:
        for scheme in (_UK_SCHEMES if lg == "uk" else _RU_SCHEMES):
            out.add(_translit(name, scheme, lg))
        if lg == "uk":
            out.add(_pl_press(name))
    return out


def kmu(name: str) -> str:
    """The Ukrainian national romanisation (KMU 2010), capitalised word by word (for display)."""
    latin = _translit(name, "kmu", "uk")
    return re.sub(r"[a-z]+", lambda m: m.group(0).capitalize() if m.start() == 0 or latin[m.start() - 1] in " -"
                  else m.group(0), latin)


# --------------------------------------------------------------------------------------------------
# Inflection (reference §3): Russian and Ukrainian case endings, adjectival front-sector forms
# --------------------------------------------------------------------------------------------------

_MASC = ("", "а", "у", "ом", "е", "і", "ові", "ем")
_FEM_A = ("а", "и", "ы", "е", "у", "ой", "ою", "і")
_FEM_YA = ("я", "и", "е", "ю", "ей", "ею", "ї", "і", "єю", "є")
_NEUT = ("о", "е", "а", "у", "ом", "ого", "ому", "им", "ім", "ым")
_ADJ = ("ий", "ый", "ой", "ого", "ому", "им", "ым", "ом", "ая", "ую", "ою", "ое", "ие", "ые", "их", "ых", "ими",
        "ыми", "ім", "а", "ої", "ій", "у", "е", "і")
_ADJ_ENDINGS = ("ий", "ый", "ой", "ое", "ая", "ее", "яя")


def noun_forms(word: str) -> set[str]:
    """Case forms of one Cyrillic toponym word, Russian and Ukrainian together (lower case).

    Generated from the nominative by paradigm (reference §3.1): masculine consonant stems (Купянск,
    Ізюм), Ukrainian і/ї → о/є in the oblique cases (Харків → Харкова, Київ → Києва), -ець → -ця, feminine
    -а with Ukrainian к → ц (Авдіївка → в Авдіївці), feminine -я (Балаклея, Балаклія), neuter and
    adjectival names (Дебальцево, Дебальцеве, Рубежное), -ье (Запорожье). Russian -ово names are also
    used undeclined, which the nominative covers.
    """
    w = word.lower().replace("’", "'").replace("ʼ", "'")
    forms = {w}
    if len(w) < 3:
        return forms
    last = w[-1]
    if w.endswith(_ADJ_ENDINGS):
        stem = w[:-2]
        forms.update(stem + e for e in _ADJ)
    elif last == "я":
        stem = w[:-1]
        forms.update(stem + e for e in _FEM_YA)
        if w.endswith("ья") or w.endswith("жжя"):
            forms.update(stem + e for e in ("ям", "і", "ю"))
    elif last == "а":
        stem = w[:-1]
        forms.update(stem + e for e in _FEM_A)
        if stem.endswith("к"):
            forms.add(stem[:-1] + "ці")  # Авдіївка → в Авдіївці
    elif last in "ое":
        stem = w[:-1]
        forms.update(stem + e for e in _NEUT)
        if w.endswith("ье"):
            forms.update(w[:-1] + e for e in ("я", "ю", "ем", "и"))
    elif last in "иуюі":
        pass  # indeclinable (foreign vowel-final names) or plural; the nominative is all
    else:
        stems = [w]
        if w.endswith(("ів", "їв")) and len(w) > 3:
            stems.append(w[:-2] + ("єв" if w[-2] == "ї" else "ов"))  # Харків → Харков-, Київ → Києв-
        if w.endswith("ець"):
            stems.append(w[:-3] + "ц")
        elif w.endswith("ец"):
            stems.append(w[:-2] + "ц")
        elif w.endswith("ок"):
            stems.append(w[:-2] + "к")
        for i, stem in enumerate(stems):
            forms.update(stem + e for e in _MASC if e or i == 0)
    return forms


def adjective_lemmas(word: str) -> set[str]:
    """The toponymic adjectives of one Cyrillic name word (ru -ский, uk -ський): Купянск → купянский."""
    w = word.lower().replace("’", "'").replace("ʼ", "'")
    if len(w) < 3 or w.endswith(_ADJ_ENDINGS):
        return set()
    out: set[str] = set()
    if w.endswith(("ськ", "цьк")):
        out.add(w + "ий")
    elif w.endswith(("ск", "цк")):
        out.update({w + "ий", w[:-1] + "ьк" + "ий"})
    elif w.endswith("я"):
        out.update({w[:-1] + "йский", w[:-1] + "йський"})
    elif w.endswith("ка"):
        out.update({w[:-2] + "ский", w[:-2] + "ський"})
    elif w.endswith("ье"):
        out.update({w[:-2] + "ский", w[:-2] + "ський"})
    elif w[-1] in "аеоиу":
        out.update({w[:-1] + "ский", w[:-1] + "ський"})
    else:
        out.update({w + "ский", w + "ський"})
    return out


def adjective_forms(lemma: str) -> set[str]:
    """Every gender, number and case form of an adjective lemma ending in -ий (ru and uk endings)."""
    stem = lemma[:-2]
    return {stem + e for e in _ADJ}


# Latin endings in key space (reference §3.3): Polish and German cases, English possessive.
_LAT_NOUN_ENDINGS = ("", "s", "a", "u", "ie", "em", "iem", "e", "ovi", "i", "er")
_LAT_IA_ENDINGS = ("ia", "i", "ie", "iu")
_LAT_A_ENDINGS = ("a", "i", "e", "u", "ie")
_LAT_ADJ_ENDINGS = ("i", "a", "aia", "e", "ie", "oie", "oe", "ogo", "omu", "oi", "ih", "im", "uiu")


def _collapse(key: str) -> str:
    return _runs_collapsed(key)


def latin_noun_keys(key: str) -> set[str]:
    """Latin case forms of a single-token noun key (Kupiańska, w Charkowie, Kharkiv's)."""
    out = {key}
    if len(key) < 4:
        return out
    if key.endswith("ia"):
        out.update(_collapse(key[:-2] + e) for e in _LAT_IA_ENDINGS)
    elif key.endswith("a"):
        out.update(_collapse(key[:-1] + e) for e in _LAT_A_ENDINGS)
    else:
        out.update(_collapse(key + e) for e in _LAT_NOUN_ENDINGS)
    return out


def latin_adjective_keys(key: str) -> set[str]:
    """Latin adjectival forms of a noun key: Kupiansky, Kupianskyi, Kharkivska, Izyumskiy."""
    if len(key) < 4 or key.endswith(("a", "e", "i", "o", "u")):
        return set()
    stem = key if key.endswith("sk") else key + "sk"
    return {_collapse(stem + e) for e in _LAT_ADJ_ENDINGS}


# --------------------------------------------------------------------------------------------------
# Gazetteer records and the port the core needs
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlaceRecord:
    """One gazetteer place (GeoNames id, or a seeds extra)."""

    id: int
    name: str
    cc: str
    admin1: str = ""
    lat: float = 0.0
    lon: float = 0.0
    population: int = 0
    names: tuple[str, ...] = ()  # alternate names, untagged, as the gazetteer has them
    region: str = ""  # admin1 name, for people ("Kharkiv Oblast")

    def label(self) -> str:
        region = f", {self.region}" if self.region else (f", region {self.admin1}" if self.admin1 else "")
        return f"{self.name}{region}, {self.cc} (pop. {self.population:,})"


class Gazetteer(Protocol):
    """Read access to a gazetteer. Keys are ``name_key`` values."""

    def by_key(self, key: str) -> list[tuple[PlaceRecord, bool]]:
        """Places having a name with this key; the flag is True for a main or generated name."""
        ...

    def within(self, lat: float, lon: float, km: float, min_population: int = 0) -> list[PlaceRecord]:
        """Places within ``km`` of the point (great-circle)."""
        ...

    def similar_keys(self, key: str, limit: int = 5) -> list[tuple[str, PlaceRecord]]:
        """Names close to ``key`` (for "did you mean"), best first, each with its most populous place."""
        ...

    def longer_names(self, token_key: str) -> list[str]:
        """Keys of multi-word names that contain ``token_key`` as one of their words."""
        ...


DEFAULT_HEAD_NOUNS = (
    "направление", "направления", "направлению", "направлением", "направлении", "направлениях",
    "напрямок", "напрямку", "напрямком", "напрямі", "напрям", "напряму", "напрямках",
    "район", "района", "районе", "району", "районом", "районі",
    "область", "области", "областью", "області", "областю",
    "громада", "громади", "громаді", "громаду", "громадою",
    "участок", "участке", "участка", "ділянка", "ділянці", "ділянки",
    "фронт", "фронте", "фронті", "фронта", "сектор", "секторе", "секторі", "округ", "округе",
    "плацдарм", "плацдарме", "плацдармі", "выступ", "выступе", "виступ", "виступі",
    # Latin-script sectors and districts: English, then Polish, German and French as outlets write them
    "direction", "directions", "axis", "sector", "front", "district", "raion", "rayon", "oblast", "region",
    "hromada", "community", "bridgehead", "salient", "kierunek", "kierunku", "obwod", "obwodzie", "rejon",
    "rejonie", "richtung", "gebiet", "secteur",
)
# A village of a near: watch with a short name in Latin script counts only in a text about the war or about
# places (one of these words anywhere in the field, or a place a watch names): small villages are called Sad,
# Basy, Polihon, Kodaky and Zhuky, and English texts say sad, basic, polygon, Kodak and Youki. The words
# are compared as written (folded, not through the lossy place keys: "var" is not "war") and are the ones
# technology and sport pages do not use (no "attack", "front", "forces", "capture", "battle").
# Not needed in Cyrillic (the false friends there are lower-case words, which the capital-letter rule
# already keeps out), nor for the place a watch names (whoever watches it wants every mention).
DISTINCT_NAME_LETTERS = 8  # a Latin village name this long needs no context (see PlaceScanner._doubtful)
DEFAULT_NEAR_CONTEXT_WORDS = (
    "fighting", "clashes", "assault", "assaults", "shelling", "shelled", "artillery", "drone", "drones",
    "missile", "missiles", "troops", "brigade", "frontline", "occupied", "liberated", "recaptured",
    "counteroffensive", "evacuated", "russian", "russians", "russia", "ukrainian", "ukrainians", "ukraine",
    "kremlin", "village", "villages", "settlement", "settlements", "hamlet", "outskirts", "oblast", "raion",
    "hromada", "bridgehead", "kyiv", "kharkiv", "donetsk", "luhansk", "zaporizhzhia", "kherson", "sumy", "dnipro",
    "wieś", "wsi", "ostrzał", "dorf", "beschuss",
)
DEFAULT_CONTEXT_WORDS = (
    "город", "города", "городе", "місто", "міста", "місті", "село", "селе", "селі", "поселок", "посёлок",
    "селище", "область", "области", "області", "район", "районе", "районі", "фронт", "обстрел", "обстріл",
    "удар", "удары", "удари", "атака", "атаку", "вс", "всу", "зсу", "войска", "війська", "армия", "армія",
    "оккупанты", "окупанти", "освобождение", "звільнення", "наступление", "наступ", "штурм", "бои", "бої",
    "под", "під", "близ", "біля", "направлении", "напрямку", "харьковской", "харківської", "донецкой",
    "донецької",
)


@dataclass(frozen=True)
class PlaceLexicon:
    """Hand-written extras from ``seeds/gazetteer``: what the generator cannot know."""

    aliases: Mapping[int, tuple[str, ...]] = field(default_factory=dict)  # place id -> extra names
    rejected: Mapping[int, frozenset[str]] = field(default_factory=dict)  # place id -> names that are noise
    common_words: frozenset[str] = frozenset()  # name keys that are also ordinary words (изюм, лиман)
    head_nouns: tuple[str, ...] = ()  # words an adjectival place form needs after it (направление)
    context_words: tuple[str, ...] = ()  # words that make a common-word name at sentence start a place
    near_context_words: tuple[str, ...] = DEFAULT_NEAR_CONTEXT_WORDS  # see DEFAULT_NEAR_CONTEXT_WORDS
    # Latin words whose key is a place's (Lucky and Luck are Lutsk's keys: Łuck, Lutsky): places only in a
    # text about the war or places, like the villages of a near: watch. Compared as written, folded.
    false_friends: tuple[str, ...] = ()


class MemoryGazetteer:
    """A gazetteer held in memory: for small sets, the seeds extras and tests."""

    def __init__(self, records: Iterable[PlaceRecord]):
        self.records = {r.id: r for r in records}
        self._keys: dict[str, dict[int, bool]] = {}
        for r in self.records.values():
            for key, strong in _record_keys(r):
                slot = self._keys.setdefault(key, {})
                slot[r.id] = slot.get(r.id, False) or strong

    def by_key(self, key: str) -> list[tuple[PlaceRecord, bool]]:
        return [(self.records[i], s) for i, s in self._keys.get(key, {}).items()]

    def within(self, lat: float, lon: float, km: float, min_population: int = 0) -> list[PlaceRecord]:
        return [r for r in self.records.values()
                if r.population >= min_population and distance_km(lat, lon, r.lat, r.lon) <= km]

    def similar_keys(self, key: str, limit: int = 5) -> list[tuple[str, PlaceRecord]]:
        best = difflib.get_close_matches(key, list(self._keys), n=limit, cutoff=0.7)
        return [(k, max((self.records[i] for i in self._keys[k]), key=lambda r: r.population)) for k in best]

    def longer_names(self, token_key: str) -> list[str]:
        return [k for k in self._keys if " " in k and token_key in k.split(" ")]


CYRILLIC_COUNTRIES = frozenset({"UA", "RU", "BY", "KZ", "KG", "MD", "BG", "RS", "MK", "MN", "TJ"})


def _record_keys(record: PlaceRecord) -> set[tuple[str, bool]]:
    """Index keys of a record: its names as given, plus the transliterations of its Cyrillic names.

    Main and generated names are "strong"; other alternates are "weak" (a former name of another town,
    another language's exonym), used for lookup only when no strong name matches. Cyrillic names are
    indexed and transliterated only where Cyrillic is written: nobody watches Paris as place:Париж.
    """
    out: set[tuple[str, bool]] = set()
    main = name_key(record.name)
    if main:
        out.add((main, True))
    cyr_country = record.cc in CYRILLIC_COUNTRIES
    for alt in record.names:
        cyr = is_cyrillic(alt)
        if not (cyr and cyr_country) and not is_latin(alt):
            continue
        k = name_key(alt)
        if k and k != main:
            out.add((k, False))
        if cyr:
            for latin in (_translit(alt, "kmu", "uk"), _translit(alt, "icao", "ru"), _translit(alt, "bgn", "ru")):
                lk = name_key(latin)
                if lk and _similar(lk, main):
                    out.add((lk, True))
    return out


def _similar(a: str, b: str, cutoff: float = 0.75) -> bool:
    if a == b:
        return True
    if a[:1] != b[:1] or abs(len(a) - len(b)) > max(3, len(b) // 2):
        return False
    sm = difflib.SequenceMatcher(None, a, b)
    return sm.real_quick_ratio() >= cutoff and sm.quick_ratio() >= cutoff and sm.ratio() >= cutoff


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine, mean Earth radius)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(a)))


_COMPASS = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")


def compass(lat1: float, lon1: float, lat2: float, lon2: float) -> str:
    """Eight-point compass direction from point 1 to point 2."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    x = math.sin(dl) * math.cos(p2)
    y = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    bearing = (math.degrees(math.atan2(x, y)) + 360) % 360
    return _COMPASS[int((bearing + 22.5) // 45) % 8]


# --------------------------------------------------------------------------------------------------
# Variants of one place
# --------------------------------------------------------------------------------------------------

NOUN, ADJ, BLOCK = 0, 1, 2


@dataclass(frozen=True)
class PlaceVariants:
    """Everything the scanner needs about one place, in key space.

    ``nouns`` and ``adjectives`` hold key sequences (one key per token; most names have one token).
    Noun forms need a capital letter in the text; adjective forms need a head noun after them.
    """

    place_id: int
    display: str
    nouns: frozenset[tuple[str, ...]]
    adjectives: frozenset[tuple[str, ...]]
    names: tuple[str, ...]  # the accepted names (for people: what was generated from)


def _accepted_names(record: PlaceRecord, lexicon: PlaceLexicon) -> tuple[list[str], list[str]]:
    """(Latin names, Cyrillic names) of a record that are real current or former names of the place.

    GeoNames alternates are untagged and noisy (Kupenko and Tor are not spellings of Kupiansk or
    Sloviansk). A name is kept when it is close to the main name, or when a Latin and a Cyrillic alternate
    confirm each other through a transliteration (Krasnoarmeysk + Красноармейск for Pokrovsk), or when
    the seeds list it as an alias. Names of fewer than four letters are kept only as the main name.
    """
    rejected = {name_key(n) for n in lexicon.rejected.get(record.id, ())}
    main = name_key(record.name)
    # GeoNames writes romanisations of non-European scripts in lower case ("kupuyanshiku"): not used here.
    latin = [a for a in record.names if is_latin(a) and not a.islower()]
    cyr = [a for a in record.names if is_cyrillic(a)]
    latin_keys = {name_key(a) for a in latin}
    cyr_latin: dict[str, set[str]] = {}
    for c in cyr:
        cyr_latin[c] = {name_key(t) for t in (_translit(c, "kmu", "uk"), _translit(c, "icao", "ru"),
                                               _translit(c, "bgn", "ru"), _translit(c, "bgn1965", "uk"))}
    confirmed_latin = set().union(*cyr_latin.values()) if cyr_latin else set()

    def ok(key: str) -> bool:
        return bool(key) and key not in rejected and len(key.replace(" ", "")) >= 4

    lat_out = [record.name] if main not in rejected else []
    for a in latin:
        k = name_key(a)
        if ok(k) and (_similar(k, main) or k in confirmed_latin):
            lat_out.append(a)
    cyr_out = []
    for c, keys in cyr_latin.items():
        if ok(name_key(c)) and any(_similar(k, main) or k in latin_keys for k in keys):
            cyr_out.append(c)
    for alias in lexicon.aliases.get(record.id, ()):
        (cyr_out if is_cyrillic(alias) else lat_out).append(alias)
    return list(dict.fromkeys(lat_out)), list(dict.fromkeys(cyr_out))


def _display(record: PlaceRecord, cyr_names: Sequence[str]) -> str:
    """The name shown to people: for Ukraine the national romanisation of the Ukrainian name (Kupiansk,
    not the GeoNames main name Kupyansk), else the gazetteer's main name."""
    if record.cc == "UA":
        main = name_key(record.name)
        # Only a name with a letter Ukrainian alone writes (і ї є ґ, the apostrophe) is surely Ukrainian:
        # the alternates also hold Russian and Belarusian names without one (Киев, Палтава), whose
        # romanisations are not the national ones (Kyev, Paltava); then the main name stands. Of the
        # Ukrainian ones, the closest to the main name (Білгород-Дністровський, not Білгарад-...).
        best: tuple[tuple[float, bool], str] | None = None
        for c in cyr_names:
            if cyrillic_language(c) != "uk":
                continue
            latin = kmu(c)
            key = name_key(latin)
            if not _similar(key, main, 0.7):
                continue
            rank = (difflib.SequenceMatcher(None, key, main).ratio(), "'" in c or "’" in c)
            if best is None or rank > best[0]:
                best = (rank, latin)
        if best is not None:
            return best[1]
    return record.name


def place_variants(record: PlaceRecord, lexicon: PlaceLexicon | None = None) -> PlaceVariants:
    """All key sequences of one place: names, generated transliterations, case and adjectival forms."""
    lexicon = lexicon or PlaceLexicon()
    latin_names, cyr_names = _accepted_names(record, lexicon)
    nouns: set[tuple[str, ...]] = set()
    adjectives: set[tuple[str, ...]] = set()
    latin_forms: set[str] = set(latin_names)
    latin_adjs: set[str] = set()

    for c in cyr_names:
        lang = cyrillic_language(c)
        latin_forms.update(transliterations(c, lang))
        words = [w for w in _CYR_WORD.findall(c.lower())]
        if not words:
            continue
        per_word = [sorted({cyr_key(f.replace("'", "")) for f in noun_forms(w)}) for w in words]
        _add_sequences(nouns, per_word)
        if len(words) == 1:
            for lemma in adjective_lemmas(words[0]):
                forms = adjective_forms(lemma)
                adjectives.update((cyr_key(f),) for f in forms)
                # Latin adjectives (Kupiansky, Kharkivska oblast): the main conventions suffice, the key
                # merges the rest; the -sk stem + Latin endings cover the other cases.
                for lg, schemes in (("uk", ("kmu", "bgn1965")), ("ru", ("bgn", "icao", "de"))):
                    if (lemma.endswith("ський") or lemma.endswith("цький")) != (lg == "uk"):
                        continue
                    fem = lemma[:-2] + ("а" if lg == "uk" else "ая")
                    latin_adjs.update(_translit(f, sc, lg) for f in (lemma, fem) for sc in schemes)

    for form in latin_forms:
        keys = [lat_key(t) if not _HAS_CYR.search(t) else token_key(t) for t in name_tokens(form)]
        if not keys:
            continue
        if len(keys) == 1:
            for k in latin_noun_keys(keys[0]):
                nouns.add((k,))
            # An adjective is a place only before a head noun ("Kupiansky direction", "Kharkivska oblast"),
            # as in Cyrillic: alone, "Lutsky" is a surname and its key is the English "Lucky".
            for k in latin_adjective_keys(keys[0]):
                adjectives.add((k,))
        else:
            nouns.add(tuple(keys))
    for form in latin_adjs:
        keys = [token_key(t) for t in name_tokens(form)]
        if len(keys) == 1:
            adjectives.add((keys[0],))
    nouns = {n for n in nouns if all(n) and len("".join(n)) >= 3}
    return PlaceVariants(record.id, _display(record, cyr_names), frozenset(nouns),
                         frozenset(a for a in adjectives if a[0] and len(a[0]) >= 5),
                         tuple(latin_names + cyr_names))


def _add_sequences(out: set[tuple[str, ...]], per_word: list[list[str]]) -> None:
    """Multi-word names decline every word (в Красном Лимане); cap the product to stay small."""
    if len(per_word) == 1:
        out.update((k,) for k in per_word[0])
        return
    seqs: list[tuple[str, ...]] = [()]
    for forms in per_word:
        seqs = [s + (f,) for s in seqs for f in forms][:400]
    out.update(seqs)


# --------------------------------------------------------------------------------------------------
# Resolving place: and near: atoms
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlaceSet:
    """A resolved ``place:`` or ``near:`` atom: the places it covers and how to describe a hit on each."""

    label: str
    centre: PlaceRecord
    centre_name: str
    members: Mapping[int, tuple[PlaceRecord, str]]  # place id -> (record, description for Hit.place)

    @property
    def place_ids(self) -> list[int]:
        return list(self.members)

    def describe(self, place_id: int) -> str:
        member = self.members.get(place_id)
        return member[1] if member else ""


def _qualifies(record: "PlaceRecord", qualifier: str) -> bool:
    """``place:"NAME,QUALIFIER"``: a two-letter country code, else the first words of the region name (any
    spelling the keys merge: "Kharkiv", "Charkiw", "Kharkiv Oblast"), or the region's admin1 code."""
    if len(qualifier) == 2 and qualifier.isalpha():
        return record.cc == qualifier.upper()
    if qualifier == record.admin1:
        return True
    want, region = name_key(qualifier), name_key(record.region)
    return bool(want) and (region == want or region.startswith(want + " "))


DOMINANCE = 5.0  # a candidate this many times more populous than the next is what people mean


class Places:
    """Place resolution and scanning over one gazetteer (the ``PlaceResolver`` the matcher takes)."""

    def __init__(self, gazetteer: Gazetteer, lexicon: PlaceLexicon | None = None, near_min_population: int = 0,
                 max_near_places: int = 2000):
        self.gazetteer = gazetteer
        self.lexicon = lexicon or PlaceLexicon(head_nouns=DEFAULT_HEAD_NOUNS, context_words=DEFAULT_CONTEXT_WORDS)
        self.near_min_population = near_min_population
        self.max_near_places = max_near_places
        self._variants: dict[int, PlaceVariants] = {}
        self._resolved: dict[str, PlaceSet] = {}  # the gazetteer is static: a resolution never changes
        self._blockers: dict[int, frozenset[tuple[str, ...]]] = {}
        self._scanners: dict[tuple[frozenset[int], frozenset[int]], PlaceScanner] = {}  # the last few, newest last
        self._keyof: dict[str, str] = {}  # token -> token_key, shared by this gazetteer's scanners

    # -- lookup ---------------------------------------------------------------------------------

    def candidates(self, name: str, cc: str = "") -> list[PlaceRecord]:
        """Places called ``name`` (any spelling the index knows), strong names first, most populous first."""
        key = name_key(name)
        found = self.gazetteer.by_key(key) if key else []
        if cc:
            found = [(r, s) for r, s in found if _qualifies(r, cc)]
        strong = [r for r, s in found if s]
        pool = strong or [r for r, _ in found]
        return sorted({r.id: r for r in pool}.values(), key=lambda r: (-r.population, r.id))

    def resolve_place(self, name: str, cc: str = "") -> PlaceRecord:
        """The one place meant by ``name``; raises ``QueryError`` with suggestions or candidates."""
        cands = self.candidates(name, cc)
        spelled = f"{name},{cc}" if cc else name
        if not cands and cc and self.candidates(name):
            listing = "; ".join(r.label() for r in self.candidates(name)[:8])
            raise QueryError(f"there is no {name!r} in {cc!r}, only: {listing}")
        if not cands:
            suggestions = self.did_you_mean(name, cc)
            hint = f" Did you mean {'; '.join(suggestions)}?" if suggestions else ""
            raise QueryError(f"unknown place {spelled!r}.{hint}")
        if len(cands) == 1 or cands[0].population >= DOMINANCE * max(cands[1].population, 1):
            return cands[0]
        listing = "; ".join(r.label() for r in cands[:8])
        more = f" and {len(cands) - 8} more" if len(cands) > 8 else ""
        if len({r.cc for r in cands}) > 1:
            how = f"a country code, like place:\"{name},{cands[0].cc}\""
        else:  # one country: only the region tells them apart
            region = cands[0].region.split(" ")[0] if cands[0].region else cands[0].admin1
            how = f"the region, like place:\"{name},{region}\""
        raise QueryError(f"{spelled!r} is ambiguous: {listing}{more}. Pick one with {how}, or a longer name.")

    def did_you_mean(self, name: str, cc: str = "") -> list[str]:
        key = name_key(name)
        out: list[str] = []
        for _, record in self.gazetteer.similar_keys(key, limit=8):
            if cc and not _qualifies(record, cc):
                continue
            label = f"{self.variants(record).display}, {record.cc}"
            if label not in out:
                out.append(label)
        return out[:5]

    def variants(self, record: PlaceRecord) -> PlaceVariants:
        v = self._variants.get(record.id)
        if v is None:
            v = self._variants[record.id] = place_variants(record, self.lexicon)
        return v

    # -- PlaceResolver ----------------------------------------------------------------------------

    def resolve(self, atom: Place | Near) -> PlaceSet:
        cached = self._resolved.get(atom.render())
        if cached is None:
            cached = self._resolved[atom.render()] = self._resolve(atom)
        return cached

    def _resolve(self, atom: Place | Near) -> PlaceSet:
        centre = self.resolve_place(atom.name, atom.cc)
        centre_name = self.variants(centre).display
        members: dict[int, tuple[PlaceRecord, str]] = {centre.id: (centre, centre_name)}
        if isinstance(atom, Near):
            around = self.gazetteer.within(centre.lat, centre.lon, atom.km, self.near_min_population)
            around.sort(key=lambda r: (-r.population, r.id))
            for r in around[: self.max_near_places]:
                if r.id in members:
                    continue
                km = distance_km(centre.lat, centre.lon, r.lat, r.lon)
                where = (f"{round(km)} km {compass(centre.lat, centre.lon, r.lat, r.lon)} of {centre_name}"
                         if km >= 0.5 else f"at {centre_name}")
                members[r.id] = (r, f"{self.variants(r).display} ({where})")
        return PlaceSet(atom.render(), centre, centre_name, members)

    def scanner(self, place_sets: Sequence[PlaceSet]) -> "PlaceScanner":
        """One scanner for all the places of ``place_sets``; reused while the set of places is unchanged,
        so a watch change that adds no place rebuilds nothing here."""
        ids = (frozenset(pid for ps in place_sets for pid in ps.members),
               frozenset(ps.centre.id for ps in place_sets))
        scanner = self._scanners.pop(ids, None) or self._scanner(place_sets)
        self._scanners[ids] = scanner  # a `watch test` probe must not evict the poller's scanner
        while len(self._scanners) > 4:
            del self._scanners[next(iter(self._scanners))]
        return scanner

    def _scanner(self, place_sets: Sequence[PlaceSet]) -> "PlaceScanner":
        variants: dict[int, PlaceVariants] = {}
        for ps in place_sets:
            for pid, (record, _) in ps.members.items():
                if pid not in variants:
                    variants[pid] = self.variants(record)
        blockers: set[tuple[str, ...]] = set()
        for pid, v in variants.items():
            blockers |= self._longer(v)
        return PlaceScanner(variants, blockers, self.lexicon, self._keyof,
                            centres=frozenset(ps.centre.id for ps in place_sets))

    def _longer(self, v: PlaceVariants) -> frozenset[tuple[str, ...]]:
        """Multi-word gazetteer names containing one of the place's names (Kupiansk-Vuzlovyi for Kupiansk)."""
        got = self._blockers.get(v.place_id)
        if got is None:
            own = {name_key(n) for n in v.names}
            words = {k for k in own if " " not in k and len(k) >= 4}
            found = {tuple(k.split(" ")) for w in words for k in self.gazetteer.longer_names(w) if k not in own}
            got = self._blockers[v.place_id] = frozenset(found)
        return got


# --------------------------------------------------------------------------------------------------
# Scanning text for places
# --------------------------------------------------------------------------------------------------

_TOKEN_SPAN = re.compile(r"\S+")
_SENTENCE_END = ".!?…:;\n"
MAX_TOKEN_MEMO = 100_000  # tokens whose key is remembered (a few MB); the memo starts over beyond

Entries = tuple[tuple[int, int], ...]  # the (place id, kind) pairs one key sequence names
# first token key -> ((length, names), ...), shortest first: ``names`` is the Entries of the one-token name for
# length 1, a {key sequence -> Entries} dict for longer names
ByLength = tuple[tuple[int, "Entries | dict[tuple[str, ...], Entries]"], ...]


def _entries_by_sequence(variants: Mapping[int, PlaceVariants],
                         blockers: Iterable[tuple[str, ...]]) -> dict[tuple[str, ...], Entries]:
    """Key sequence -> the places (and kinds) it names, in place order, blockers last.

    WHY shared tuples: a ``near:`` watch brings hundreds of villages of ~100 key sequences each, and almost
    every sequence names one place (bench: 58,000 sequences for 586 places, 55,000 naming one). One tuple
    per distinct value, shared by every sequence that has it, replaces a list and a pair per sequence
    (~7 MB of the bench's scanner)."""
    shared: dict[Entries, Entries] = {}
    by_seq: dict[tuple[str, ...], Entries] = {}

    def add(seq: tuple[str, ...], pair: tuple[int, int]) -> None:
        entries = by_seq.get(seq, ()) + (pair,)
        by_seq[seq] = shared.setdefault(entries, entries)

    for pid, v in variants.items():
        noun, adj = (pid, NOUN), (pid, ADJ)
        for seq in v.nouns:
            add(seq, noun)
        for seq in v.adjectives:
            add(seq, adj)
    block = (-1, BLOCK)
    for seq in blockers:
        if len(seq) > 1:
            add(seq, block)
    return by_seq


def _by_first_key(by_seq: Mapping[tuple[str, ...], Entries]) -> dict[str, ByLength]:
    """The scanner's index: first token key -> the names starting with it, grouped by length.

    WHY tuples, not nested dicts: three names in four are one token long, and a {length: {sequence:
    entries}} pair of dicts per first key cost ~500 bytes (22 MB of the bench's 45,000 keys); a one-token
    name's value is ``((1, entries),)``, shared by every key naming the same places the same way. Its keys
    are the tokens worth scanning for (``PlaceScanner.positive``): a key that starts only blockers is left out."""
    longer: dict[str, dict[int, dict[tuple[str, ...], Entries]]] = {}
    for seq, entries in by_seq.items():
        if len(seq) > 1:
            longer.setdefault(seq[0], {}).setdefault(len(seq), {})[seq] = entries
    shared: dict[ByLength, ByLength] = {}
    first: dict[str, ByLength] = {}
    for seq, entries in by_seq.items():
        if len(seq) == 1:
            one: ByLength = ((1, entries),)
            first[seq[0]] = shared.setdefault(one, one)
    for key, by_len in longer.items():
        if key not in first and all(kind == BLOCK for names in by_len.values() for entries in names.values()
                                    for _, kind in entries):
            continue  # starts no watched name: never looked up (find sees only positive tokens; see _inner)
        first[key] = first.get(key, ()) + tuple(sorted(by_len.items()))
    return first


class PlaceScanner:
    """Finds the watched places in folded text, token by token.

    Cost per entry does not grow with the number of places: the tokens of a field are a set, and the
    set of tokens seen before (with their keys) is remembered, so a token's key is computed once per
    scanner; after that, finding candidates is two set operations done in C.
    """

    def __init__(self, variants: Mapping[int, PlaceVariants], blockers: Iterable[tuple[str, ...]],
                 lexicon: PlaceLexicon, keyof: dict[str, str] | None = None, centres: frozenset[int] | None = None):
        self.variants = dict(variants)
        # the places watches name (``centres``) and those only around one (a near: watch's villages), which
        # need a text about places or war when named in Latin script (DEFAULT_NEAR_CONTEXT_WORDS)
        self._around_only = frozenset(self.variants) - centres if centres is not None else frozenset()
        self._near_context = frozenset(prefold(w)[0] for w in lexicon.near_context_words)
        self._false_friends = frozenset(w.lower() for w in lexicon.false_friends)
        by_seq = _entries_by_sequence(self.variants, blockers)
        self._first = _by_first_key(by_seq)
        # Only a watched name makes a text worth scanning (``_first`` holds the first keys of watched names
        # only). A longer name that contains one (a blocker: "Kupiansk-Vuzlovyi" for Kupiansk) matters only
        # where the watched name is, so blockers are also indexed by the watched key inside them, and found
        # by looking around a real hit.
        self._inner: dict[str, list[tuple[tuple[str, ...], int]]] = {}
        for seq, entries in by_seq.items():
            if any(kind == BLOCK for _, kind in entries):
                for j in range(1, len(seq)):
                    if seq[j] in self._first:
                        self._inner.setdefault(seq[j], []).append((seq, j))
        self._head = frozenset(cyr_key(token_key(w)) for w in lexicon.head_nouns)
        self._context = frozenset(token_key(w) for w in lexicon.context_words) | self._head
        self._common = frozenset(lexicon.common_words)
        # token -> key memo; shared by every scanner of one ``Places`` (keys do not depend on the watches),
        # so a rebuilt matcher does not pay for the vocabulary again.
        self._keyof: dict[str, str] = keyof if keyof is not None else {}

    def _key(self, token: str) -> str:
        k = self._keyof.get(token)
        if k is None:
            if len(self._keyof) > MAX_TOKEN_MEMO:
                self._keyof.clear()
            k = self._keyof[token] = token_key(token)
        return k

    def positive(self, token: str) -> bool:
        """True when a prefolded token can start a watched place name (its key starts some name)."""
        return self._key(token) in self._first

    def find(self, ft: FoldedText, hit: Iterable[str]) -> list[tuple[int, list[tuple[int, int]]]]:
        """``[(place id, [(start, end) in ft.pre ...])]`` for the watched places named in ``ft``.

        ``hit``: the tokens of the entry for which ``positive`` is true (the matcher knows them: it
        tokenises once for words and places, and remembers ``positive`` per distinct token)."""
        pre = ft.pre
        if not hit:
            return []
        found: list[tuple[int, int, int, int]] = []  # (start, end, pid, kind), offsets in pre
        size = len(pre)
        for tok in hit:
            k = self._keyof.get(tok) or self._key(tok)
            by_len = self._first.get(k)  # ((length, names), ...): see _by_first_key
            if not by_len:
                continue
            pos = 0
            while True:
                s = pre.find(tok, pos)
                if s < 0:
                    break
                e = pos = s + len(tok)
                if (s and not pre[s - 1].isspace()) or (e < size and not pre[e].isspace()):
                    continue
                following: list[tuple[str, int]] | None = None  # (key, end offset) of the next tokens
                for length, names in by_len:
                    if length == 1:
                        seq_end, entries, after = e, names, 0
                    else:
                        if following is None:
                            following = self._following(pre, e)
                        if len(following) < length - 1:
                            continue
                        entries = names.get((k,) + tuple(f[0] for f in following[: length - 1]))
                        seq_end, after = following[length - 2][1], length - 1
                    if not entries:
                        continue
                    for pid, kind in entries:
                        if kind == NOUN and not self._capitalised(ft, s):
                            continue
                        if kind == ADJ:
                            if following is None:
                                following = self._following(pre, e)
                            if not any(f[0] in self._head for f in following[after: after + 2]):
                                continue
                        found.append((s, seq_end, pid, kind))
        if self._inner:
            self._blockers_around(pre, found)
        if not found:
            return []
        # Longest name wins: a hit inside a longer matched name (Kupiansk in Kupiansk-Vuzlovyi) is dropped.
        kept = [f for f in found
                if not any(o[0] <= f[0] and f[1] <= o[1] and (o[1] - o[0]) > (f[1] - f[0]) for o in found)]
        real = [f for f in kept if f[3] != BLOCK]
        sure: list[tuple[int, int, int]] = []
        doubtful: list[tuple[int, int, int]] = []  # hits that stand only in a text about the war or places
        for s, e, pid, kind in sorted(real):
            if kind == NOUN and self._keyof.get(pre[s:e]) in self._common:
                if self._sentence_start(ft, s) and not self._has_context(ft.tokens, real, s):
                    continue
            (doubtful if self._doubtful(ft, s, e, pid) else sure).append((s, e, pid))
        # A watched place found for sure, or a word of the war or of places, makes the doubtful ones count
        # (DEFAULT_NEAR_CONTEXT_WORDS).
        if doubtful and (any(pid not in self._around_only for _, _, pid in sure)
                         or not self._near_context.isdisjoint(ft.tokens)):
            sure += doubtful
        out: dict[int, list[tuple[int, int]]] = {}
        for s, e, pid in sure:
            got = out.setdefault(pid, [])
            if (s, e) not in got:  # a form can be both a noun and an adjective (Купянском)
                got.append((s, e))
        return list(out.items())

    def _doubtful(self, ft: FoldedText, s: int, e: int, pid: int) -> bool:
        """A hit that counts only in a text about the war or places: a false friend of the lexicon (as
        written: Polish Łuck is Lutsk, English Luck is not), or a village around a watched place named in
        Latin script with a short name (Sad, Basy: English words have those keys; a name of
        ``DISTINCT_NAME_LETTERS`` letters or more, like Petropavlivka, is nobody's word)."""
        if pid in self._around_only and e - s < DISTINCT_NAME_LETTERS and _HAS_LAT.search(ft.pre, s, e):
            return True
        if self._false_friends:
            a, b = ft.original_span_of_pre(s, e)
            return ft.original[a:b].lower() in self._false_friends
        return False

    def _blockers_around(self, pre: str, found: list[tuple[int, int, int, int]]) -> None:
        """Add the longer names that contain a found hit's first token after their own first token."""
        for s, _, _, kind in list(found):
            if kind == BLOCK:
                continue
            token_end = pre.find(" ", s)
            token_end = len(pre) if token_end < 0 else token_end
            for seq, j in self._inner.get(self._key(pre[s:token_end]), ()):
                before = self._preceding(pre, s, j)
                if len(before) < j or tuple(k for k, _ in reversed(before)) != seq[:j]:
                    continue
                rest = len(seq) - j - 1
                after = self._following(pre, token_end, rest) if rest else []
                if len(after) < rest or tuple(k for k, _ in after) != seq[j + 1:]:
                    continue
                found.append((before[-1][1], after[-1][1] if after else token_end, -1, BLOCK))

    def _preceding(self, pre: str, start: int, count: int) -> list[tuple[str, int]]:
        """(key, start offset) of up to ``count`` tokens before ``start``, nearest first."""
        out: list[tuple[str, int]] = []
        end = start - 1  # the separating space
        while len(out) < count and end > 0:
            begin = pre.rfind(" ", 0, end) + 1
            out.append((self._key(pre[begin:end]), begin))
            end = begin - 1
        return out

    def _following(self, pre: str, end: int, count: int = 4) -> list[tuple[str, int]]:
        out = []
        for m in _TOKEN_SPAN.finditer(pre, end):
            out.append((self._key(m.group(0)), m.end()))
            if len(out) >= count:
                break
        return out

    @staticmethod
    def _capitalised(ft: FoldedText, pre_start: int) -> bool:
        """Place names are proper nouns: the first letter must be a capital (all caps qualifies)."""
        start, _ = ft.original_span_of_pre(pre_start, pre_start + 1)
        return ft.original[start: start + 1].isupper()

    @staticmethod
    def _sentence_start(ft: FoldedText, pre_start: int) -> bool:
        original = ft.original
        start, _ = ft.original_span_of_pre(pre_start, pre_start + 1)
        k = start - 1
        while k >= 0 and (original[k].isspace() or original[k] in "\"'«»“”„‘’()[]—–-"):
            k -= 1
        return k < 0 or original[k] in _SENTENCE_END

    def _has_context(self, tokens: list[str], hits: list[tuple[int, int, int, int]], start: int) -> bool:
        """A common-word name opening a sentence counts only beside another place or a place-ish word."""
        if any(h[0] != start for h in hits):
            return True
        return any(self._key(t) in self._context for t in tokens)
