"""The command grammar shared by the CLI, Slack and Discord: small parsers for what users type."""

from __future__ import annotations

import re

from bot.core.errors import UsageError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|secs|m|min|mins|h|hr|hrs|d|day|days)?\s*$", re.I)
_UNIT_S = {"s": 1, "sec": 1, "secs": 1, "m": 60, "min": 60, "mins": 60, "h": 3600, "hr": 3600, "hrs": 3600,
           "d": 86400, "day": 86400, "days": 86400}


def parse_duration(text: str, *, what: str = "duration") -> int:
    """``90``, ``90s``, ``10m``, ``2h``, ``1d`` -> seconds. A bare number means seconds."""
    m = _DURATION.match(text or "")
    if not m:
        raise UsageError(f"{what} {text!r} is not a duration: write it like 90s, 10m, 2h or 1d")
    seconds = float(m.group(1)) * _UNIT_S[(m.group(2) or "s").lower()]
    if seconds < 1:
        raise UsageError(f"{what} {text!r} is shorter than one second")
    return int(seconds)


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    if seconds >= 3600:
        return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"
