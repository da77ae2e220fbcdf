"""Load the sourcing lexicons from ``seeds/sourcing/`` into a ``Lexicons`` value for the core.

The files are data a reviewer can read (format in ``seeds/sourcing/README.md``): one pattern a line with
its category. A malformed line is an error naming the file and line, never silently skipped: a lexicon
that quietly lost a line would change grades without anyone seeing why.
"""

from __future__ import annotations

import csv
from pathlib import Path

import bot
from bot.core.errors import ConfigError
from bot.core.sourcing import LexiconEntry, Lexicons, Outlet

LEXICON_FILES = (
    "attribution.txt",
    "sources.txt",
    "hedges.txt",
    "evidence.txt",
    "genre.txt",
    "headline.txt",
    "disputes.txt",
)
OUTLETS_FILE = "outlets.tsv"
OUTLET_COLUMNS = ("name", "aliases", "domains", "owner", "country", "control", "wire", "notes")
CONTROL_VALUES = ("state", "public", "private", "")


def default_path() -> Path:
    """``seeds/sourcing`` beside the package (the repository layout, and an installed checkout)."""
    return Path(bot.__file__).resolve().parents[1] / "seeds" / "sourcing"


def parse_lexicon(text: str, family: str, filename: str = "") -> list[LexiconEntry]:
    """Entries of one lexicon file. ``category  pattern [=> label]``, ``#`` comments."""
    entries: list[LexiconEntry] = []
    name = filename or f"{family}.txt"
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("  #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        parts = line.split(None, 1)
        if len(parts) != 2 or not parts[1].strip():
            raise ConfigError(f"{name}:{n}: expected 'category  pattern', got {raw.strip()!r}")
        category, pattern = parts[0], parts[1].strip()
        label = ""
        if "=>" in pattern:
            pattern, _, label = (p.strip() for p in pattern.partition("=>"))
            if not pattern:
                raise ConfigError(f"{name}:{n}: empty pattern before '=>'")
        entries.append(LexiconEntry(family, category, pattern, label, f"{name}:{n}"))
    return entries


def parse_outlets(text: str, filename: str = OUTLETS_FILE) -> list[Outlet]:
    rows = list(csv.reader(text.splitlines(), delimiter="\t"))
    if not rows or tuple(c.strip().lower() for c in rows[0]) != OUTLET_COLUMNS:
        raise ConfigError(f"{filename}:1: header must be {' / '.join(OUTLET_COLUMNS)} (tab-separated)")
    outlets = []
    for n, row in enumerate(rows[1:], start=2):
        if not row or not any(cell.strip() for cell in row) or row[0].startswith("#"):
            continue
        if len(row) != len(OUTLET_COLUMNS):
            raise ConfigError(f"{filename}:{n}: expected {len(OUTLET_COLUMNS)} tab-separated columns, got {len(row)}")
        name, aliases, domains, owner, country, control, wire, notes = (c.strip() for c in row)
        if control not in CONTROL_VALUES:
            raise ConfigError(f"{filename}:{n}: control must be state, public or private, got {control!r}")
        if wire not in ("yes", "no", ""):
            raise ConfigError(f"{filename}:{n}: wire must be yes or no, got {wire!r}")
        outlets.append(Outlet(
            name=name,
            aliases=tuple(a.strip() for a in aliases.split(";") if a.strip()),
            domains=tuple(d.strip().lower() for d in domains.split(";") if d.strip()),
            owner=owner, country=country.upper(), control=control, wire=wire == "yes", notes=notes,
        ))
    return outlets


def load_lexicons(path: str | Path | None = None) -> Lexicons:
    """Read every lexicon file and the outlet list under ``path`` (default: ``default_path()``)."""
    root = Path(path) if path is not None else default_path()
    if not root.is_dir():
        raise ConfigError(f"sourcing lexicons not found: {root} is not a directory")
    entries: list[LexiconEntry] = []
    for filename in LEXICON_FILES:
        file = root / filename
        if not file.exists():
            raise ConfigError(f"sourcing lexicon missing: {file}")
        entries.extend(parse_lexicon(file.read_text(encoding="utf-8"), file.stem, filename))
    outlets: list[Outlet] = []
    file = root / OUTLETS_FILE
    if file.exists():
        outlets = parse_outlets(file.read_text(encoding="utf-8"), OUTLETS_FILE)
    return Lexicons(entries=tuple(entries), outlets=tuple(outlets))
