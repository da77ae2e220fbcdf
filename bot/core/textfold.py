"""Text folding: one function, applied identically to watch terms and to article text.

Why fold: a team that watches ``Kyiv`` must not miss ``KYIV`` or ``Kýiv``; a watch on ``Куп’янськ`` must
not miss ``Куп'янськ`` typed with a keyboard apostrophe. Folding makes both sides of a comparison equal
exactly when a reader would call them the same word.

The rules, and which one wins:

* Case is folded (``str.lower``; ``İ`` becomes ``i``).
* Latin diacritics are stripped (NFKD, combining marks dropped, plus ``ł ø đ ħ ı`` which have no
  decomposition). Cyrillic letters are **kept**: ``й``, ``ї``, ``ё``, ``ў`` are letters of their own in
  Russian and Ukrainian, not an ``и`` with an accent, so stripping them would merge different words. Only
  the stress mark (U+0301) and the soft hyphen are removed from Cyrillic text.
* Apostrophes of every kind (' ’ ‘ ʼ ʹ ʺ ˮ ” ` ´ ′ ″) are one character; dashes of every kind are one.
* Every character that is not a letter or a digit separates words, and runs of separators collapse to one
  space. That makes whole-word matching a plain substring test on `` folded `` padded with spaces
  (``war`` never matches ``warsaw``), and lets a phrase match across line breaks and double spaces.
  An apostrophe separates words too, so ``Kharkiv's`` contains the word ``kharkiv``.

Speed: ``bot.core._scan`` (C, built by setup.py when a compiler is there) folds one-to-one text with
``_FOLD_MAP`` and splits it into a word set; without it the code below does the same, more slowly
(tests/test_scan.py holds both to the same results).

Offsets: ``FoldedText`` keeps what is needed to map an offset in the folded text back to the original,
computed lazily because most articles have no hit at all. Most text maps one character to one character
(``str.translate`` + ``str.lower``, both in C); only text with combining marks or invisible characters
takes the slow per-character path that records an explicit index.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right

try:
    from bot.core import _scan
except ImportError:  # built without a C compiler: the Python code below does the same
    _scan = None

__all__ = ["APOSTROPHES", "DASHES", "FoldedText", "add_words", "fold", "prefold"]

APOSTROPHES = "'\u2019\u2018\u201b\u02bc\u02b9\u02ba\u02ee\u201d\u0060\u00b4\u2032\u2033\uff07"
DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"
_EXTRA_LATIN = {"ł": "l", "Ł": "l", "ø": "o", "Ø": "o", "đ": "d", "Đ": "d", "ħ": "h", "Ħ": "h", "ı": "i",
                "İ": "i", "ŀ": "l", "Ŀ": "l"}
# Cyrillic letters that NFC composes from a base and a mark, and which are letters in their own right.
_KEEP_COMPOSED = frozenset("йЙїЇёЁўЎ")
# Invisible characters dropped outright (soft hyphen, zero-width space/joiners, word joiner, BOM).
_INVISIBLE = "\u00ad\u200b\u200c\u200d\u200e\u200f\u2060\ufeff"


def _build_table() -> dict[int, str]:
    table: dict[int, str] = {}
    ranges = [range(0, 0x3040), range(0xFE00, 0xFFF0), range(0x1D400, 0x1D800)]
    for rng in ranges:
        for cp in rng:
            ch = chr(cp)
            if ch in APOSTROPHES:
                table[cp] = "'"
            elif ch in _EXTRA_LATIN:
                table[cp] = _EXTRA_LATIN[ch]
            elif unicodedata.combining(ch) or ch in _INVISIBLE:
                table[cp] = ch  # the slow path removes them (they change the length)
            elif not ch.isalnum():
                table[cp] = " "
            elif cp >= 0x80 and "LATIN" in unicodedata.name(ch, ""):
                base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
                table[cp] = base.lower() if len(base) == 1 and base != ch else ch
            else:
                # Identity entries matter for speed: a missing key costs str.translate an exception.
                table[cp] = ch
    table[ord("_")] = " "
    return table


_TABLE = _build_table()
# Characters that change the length of the text when folded: take the slow, index-recording path.
_SLOW = re.compile(
    "[\u0300-\u036f\u0483-\u0489\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f" + _INVISIBLE + "\u0130]"
)


def _byte_table(codec: str) -> bytes | None:
    """A 256-byte table doing what ``_TABLE`` + ``str.lower`` do, for text that encodes in ``codec``.

    Why: ``str.translate`` looks every character up in a dict unless the text is pure ASCII (~40 ns a
    character), while ``bytes.translate`` is a table index. News in English (with typographic quotes),
    Russian and Ukrainian (cp1251) and Western European languages (cp1252) encode in one byte per
    character, so they take this path; a byte whose folding would change the length maps to NUL, which
    sends the text to the general path."""
    out = bytearray(256)
    for b in range(256):
        try:
            ch = bytes([b]).decode(codec)
        except UnicodeDecodeError:
            out[b] = 0
            continue
        if b == 0 or _SLOW.match(ch):
            out[b] = 0
            continue
        mapped = _TABLE.get(ord(ch), ch).lower()
        try:
            enc = mapped.encode(codec)
        except UnicodeEncodeError:
            enc = b""
        out[b] = enc[0] if len(enc) == 1 and len(mapped) == 1 else 0
    return bytes(out)


_BYTE_CODECS = tuple((codec, _byte_table(codec)) for codec in ("cp1251", "cp1252"))
_ASCII_TABLE = bytes(_BYTE_CODECS[1][1][:128]) + bytes(128)


def _fold_map() -> str:
    """``_FOLD_MAP[c]``: what ``text.translate(_TABLE).lower()`` makes of character ``c`` (below U+3040),
    or NUL when that is not one character for one, or depends on the neighbours (capital sigma lowers
    to a final or a medial sigma)."""
    out = []
    for cp in range(0x3040):
        ch = chr(cp)
        mapped = _TABLE.get(cp, ch).lower()
        out.append(mapped if len(mapped) == 1 and cp and ch != "\u03a3" and not _SLOW.match(ch) else "\0")
    return "".join(out)


_FOLD_MAP = _fold_map()


def _fast_fold(text: str) -> str | None:
    """``text.translate(_TABLE).lower()`` through a one-byte code page, or None when it does not apply."""
    if text.isascii():
        folded = text.encode("ascii").translate(_ASCII_TABLE)
        return None if b"\0" in folded else folded.decode("ascii")
    for codec, table in _BYTE_CODECS:
        try:
            folded = text.encode(codec).translate(table)
        except UnicodeEncodeError:
            continue
        return None if b"\0" in folded else folded.decode(codec)
    return None


def prefold(text: str) -> tuple[str, list[int] | None, list[int] | None]:
    """Fold case, Latin diacritics, apostrophes (to ``'``) and separators (to spaces), keeping tokens.

    Returns ``(prefolded, starts, ends)``; ``starts``/``ends`` are None when the prefolded text maps one
    character to one character (the common case), else ``starts[i]``/``ends[i]`` is the span of the original
    text that produced prefolded character ``i``. Apostrophes stay as ``'`` here because place names
    need them deleted (``Kup'yansk``) while plain words treat them as separators.
    """
    fast = _scan.fold(text, _FOLD_MAP) if _scan is not None else _fast_fold(text)
    if fast is not None:
        return fast, None, None
    if not _SLOW.search(text):
        folded = text.translate(_TABLE).lower()
        if len(folded) == len(text):
            return folded, None, None
    return _prefold_slow(text)


def _prefold_slow(text: str) -> tuple[str, list[int], list[int]]:
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for i, ch in enumerate(text):
        if ch in _INVISIBLE:
            continue
        if unicodedata.combining(ch):
            if out:
                prev = out[-1]
                composed = unicodedata.normalize("NFC", prev + ch)
                if len(composed) == 1 and composed in _KEEP_COMPOSED:
                    out[-1] = composed.lower()
                ends[-1] = i + 1  # the mark belongs to the letter before it; otherwise it is dropped
            continue
        mapped = ch.translate(_TABLE).lower()
        for m in mapped:
            out.append(m)
            starts.append(i)
            ends.append(i + 1)
    return "".join(out), starts, ends


def _add_words(pre: str, words: set[str]) -> None:
    """Add to ``words`` the tokens of a prefolded text and the non-empty parts of tokens split at
    apostrophes (``Kharkiv's`` is also the word ``kharkiv``; the whole token stays, for the place
    scanner)."""
    words.update(pre.split())
    at = pre.find("'")
    while at >= 0:
        start = pre.rfind(" ", 0, at) + 1
        end = pre.find(" ", at)
        end = len(pre) if end < 0 else end
        words.update(part for part in pre[start:end].split("'") if part)
        at = pre.find("'", end)


add_words = _scan.add_words if _scan is not None else _add_words


_GAPS = re.compile(r"^[ ']+|[ ']{2,}")


class FoldedText:
    """The folded form of one text, able to map folded offsets back to the original.

    ``text`` holds words separated by single spaces, no leading or trailing space.
    """

    __slots__ = ("original", "pre", "_starts", "_ends", "_mpos", "_shift", "_text", "_tokens")

    def __init__(self, original: str):
        self.original = original
        self.pre, self._starts, self._ends = prefold(original)
        self._text: str | None = None
        self._tokens: list[str] | None = None
        self._mpos: list[int] | None = None
        self._shift: list[int] = []

    @property
    def text(self) -> str:
        """Words separated by single spaces (apostrophes separate words here). Computed on first use:
        the matcher works on ``tokens`` and needs this only for phrases and hit offsets."""
        if self._text is None:
            self._text = " ".join(self.pre.replace("'", " ").split())
        return self._text

    @property
    def tokens(self) -> list[str]:
        """The whitespace-separated tokens of ``pre`` (apostrophes kept inside them)."""
        if self._tokens is None:
            self._tokens = self.pre.split()
        return self._tokens

    def _pre_index(self, m: int) -> int:
        """``text`` offset -> ``pre`` offset. Only separator runs move offsets, so only they are recorded."""
        if self._mpos is None:
            mpos, shifts, shift = [0], [0], 0
            for gap in _GAPS.finditer(self.pre):
                a, b = gap.span()
                if a == 0:
                    shift = shifts[0] = b  # leading separators vanish entirely
                    continue
                shift += b - a - 1  # a run collapses to one space
                mpos.append(b - shift)
                shifts.append(shift)
            self._mpos, self._shift = mpos, shifts
        return m + self._shift[bisect_right(self._mpos, m) - 1]

    def pre_span(self, start: int, end: int) -> tuple[int, int]:
        """Map ``text[start:end]`` (``end > start``) to a span of ``pre``."""
        return self._pre_index(start), self._pre_index(end - 1) + 1

    def original_span_of_pre(self, start: int, end: int) -> tuple[int, int]:
        if self._starts is None or self._ends is None:
            return start, end
        return self._starts[start], self._ends[end - 1]

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """Map ``text[start:end]`` to the span of the original text it came from."""
        return self.original_span_of_pre(*self.pre_span(start, end))


def fold(text: str) -> str:
    """The folded form of ``text``: lower case, Latin accents stripped, one space between words."""
    return FoldedText(text).text


