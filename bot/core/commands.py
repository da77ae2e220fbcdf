"""The command grammar shared by the CLI, Slack and Discord: small parsers for what users type."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Sequence

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


# --------------------------------------------------------------------------------------------------
# Chat commands: one grammar for Slack and Discord (``/watch add QUERY``, ``/feed list`` ...)
# --------------------------------------------------------------------------------------------------

#: group -> action -> usage. The single list of what users may type; help and errors are built from it.
GRAMMAR: dict[str, dict[str, str]] = {
    "watch": {
        "add": "/watch add QUERY",
        "list": "/watch list",
        "remove": "/watch remove ID",
        "test": "/watch test QUERY",
        "mute": "/watch mute ID 2h",
    },
    "feed": {
        "add": "/feed add URL",
        "list": "/feed list",
        "remove": "/feed remove ID",
    },
    "digest": {
        "now": "/digest now",
        "at": "/digest at 08:00 Europe/Kyiv",
        "off": "/digest off",
    },
    "wirewatch": {
        "help": "/wirewatch help",
        "status": "/wirewatch status",
    },
}
_HELP_LINES = {
    "watch add": "alert this channel about new items matching QUERY",
    "watch list": "the watches that alert this channel",
    "watch remove": "stop a watch",
    "watch test": "which recent items QUERY would have matched (nothing is saved)",
    "watch mute": "pause a watch for a while",
    "feed add": "poll a new feed (a page that links to its feed is fine: you are told which)",
    "feed list": "the feeds and their health",
    "feed remove": "stop polling a feed",
    "digest now": "post today's digest here now",
    "digest at": "post a daily digest here at a local time",
    "digest off": "no more daily digests here",
    "wirewatch help": "this list",
    "wirewatch status": "failing feeds, dead-lettered deliveries, last poll",
}
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_ZONE = re.compile(r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*$")


@dataclass(frozen=True, slots=True)
class Command:
    """One parsed chat command. Only the fields its action uses are set."""

    group: str  # "watch", "feed", "digest", "wirewatch"
    action: str  # "add", "list", ...
    argument: str = ""  # the QUERY or URL, as typed
    target_id: int | None = None  # the watch or feed ID
    duration_s: int | None = None  # for mute
    at: str | None = None  # "HH:MM" for digest at
    zone: str | None = None  # IANA zone name for digest at (checked against the zone database later)

    @property
    def name(self) -> str:
        return f"{self.group} {self.action}"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who typed a command, and where. ``destination`` is where a watch added here alerts
    (``slack:C0123``): a watch belongs to the channel it was added in."""

    platform: str
    destination: str
    user_id: str
    groups: frozenset[str] = frozenset()  # the caller's user groups / roles that matter for permissions


@dataclass(frozen=True, slots=True)
class Reply:
    """A platform-neutral answer. The text uses only `backticks` and "•" bullets, which Slack and
    Discord both render; each platform escapes it and adds its own mention when ``mention_caller``."""

    text: str
    public: bool = False  # True: the whole channel sees it; False: only the caller (ephemeral)
    mention_caller: bool = False  # the platform puts a mention of the caller in front of the text


def parse_command(line: str) -> Command:
    """``"watch add place:Kupiansk"`` (a leading ``/`` is fine) -> ``Command``. Raises ``UsageError``
    with the usage of the group when the line does not fit; an empty action means help."""
    words = (line or "").strip().split(None, 2)
    if not words:
        raise UsageError(help_text())
    group = words[0].lstrip("/").lower()
    if group not in GRAMMAR:
        raise UsageError(f"unknown command /{group}. " + help_text())
    action = words[1].lower() if len(words) > 1 else ("help" if group == "wirewatch" else "")
    rest = words[2].strip() if len(words) > 2 else ""
    if action not in GRAMMAR[group]:
        said = f"/{group} {action}".strip()
        raise UsageError(f"`{said}` is not a command; try:\n" + _usage(group))
    usage = GRAMMAR[group][action]
    if action in ("list", "help", "status", "now", "off"):
        if rest:
            raise UsageError(f"`{usage}` takes nothing after it")
        return Command(group, action)
    if action in ("add", "test"):
        if not rest:
            raise UsageError(f"say what to {'watch for' if group == 'watch' else 'add'}: `{usage}`")
        return Command(group, action, argument=rest)
    if action in ("remove", "mute"):
        parts = rest.split()
        want = 2 if action == "mute" else 1
        if len(parts) != want:
            raise UsageError(f"write it like `{usage}`")
        target = parts[0].lstrip("#")
        if not target.isdigit():
            raise UsageError(f"{parts[0]!r} is not an ID; `/{group} list` shows the IDs")
        duration = parse_duration(parts[1], what="mute for") if action == "mute" else None
        return Command(group, action, target_id=int(target), duration_s=duration)
    # digest at HH:MM [Zone]
    parts = rest.split()
    if not parts or len(parts) > 2 or not _CLOCK.match(parts[0]):
        raise UsageError(f"write the time as HH:MM, optionally with a time zone: `{usage}`")
    hour, minute = parts[0].split(":")
    zone = parts[1] if len(parts) == 2 else None
    if zone is not None and not _ZONE.match(zone):
        raise UsageError(f"{zone!r} is not a time zone name; use one like Europe/Kyiv or UTC")
    return Command(group, action, at=f"{int(hour):02d}:{minute}", zone=zone)


def describe(name: str) -> str:
    """The one-line help of a command (``"watch add"``): Discord shows it beside each subcommand."""
    return _HELP_LINES[name]


def help_text() -> str:
    return "wirewatch commands:\n" + "\n".join(_usage(g) for g in GRAMMAR)


def _usage(group: str) -> str:
    return "\n".join(
        f"• `{usage}`: {_HELP_LINES[f'{group} {action}']}" for action, usage in GRAMMAR[group].items()
    )


def may_manage_feeds(allowed: Sequence[str], caller: Caller) -> bool:
    """Feeds are shared by every channel (one poll serves them all), so who may add or remove them is a
    setting: empty means everyone; otherwise the caller's user ID or one of their groups must be listed.
    Watches belong to a channel and anyone in it may add them."""
    if not allowed:
        return True
    wanted = set(allowed)
    return caller.user_id in wanted or bool(wanted & set(caller.groups))


def when_text(when: datetime | None) -> str:
    """Times in replies are UTC: a reply is read by people in several zones (alerts show both)."""
    return when.strftime("%Y-%m-%d %H:%M UTC") if when else "never"


@dataclass(frozen=True, slots=True)
class StatusReport:
    feeds: int
    failing: tuple = ()  # Feed values whose status is failing or dead
    dead_deliveries: tuple = ()  # Delivery values dead-lettered, newest first
    pending: int = 0
    last_poll: datetime | None = None


# ---- replies: values in, text out; the same words on every platform ------------------------------


def render_watch_added(watch) -> Reply:
    return Reply(f"is now watching `{watch.query}` here (watch {watch.id})", public=True, mention_caller=True)


def render_watch_list(watches: Sequence, now: datetime) -> Reply:
    if not watches:
        return Reply("no watches alert this channel yet: add one with `/watch add QUERY`")
    lines = ["watches alerting this channel:"]
    for w in watches:
        muted = f" (muted until {when_text(w.muted_until)})" if w.muted_until and w.muted_until > now else ""
        lines.append(f"• {w.id}: `{w.query}`{muted}")
    return Reply("\n".join(lines))


def render_removed(kind: str, ident: int) -> Reply:
    return Reply(f"removed {kind} {ident}", public=True, mention_caller=True)


def render_watch_test(query: str, entries: Sequence, scanned: int, days: int, limit: int = 5) -> Reply:
    if not entries:
        return Reply(f"`{query}` matches none of the {scanned} items stored in the last {days} days")
    lines = [f"`{query}` matches {len(entries)} of the {scanned} items stored in the last {days} days:"]
    for e in list(entries)[:limit]:
        lines.append(f"• {e.title} ({when_text(e.published or e.fetched_at)})" + (f" {e.url}" if e.url else ""))
    if len(entries) > limit:
        lines.append(f"… and {len(entries) - limit} more")
    return Reply("\n".join(lines))


def render_muted(watch_id: int, until: datetime) -> Reply:
    return Reply(f"muted watch {watch_id} until {when_text(until)}", public=True, mention_caller=True)


def render_feed_added(feed, created: bool) -> Reply:
    if not created:
        return Reply(f"feed {feed.id} already polls {feed.url}; it is reused, nothing changed")
    name = f"{feed.title} " if feed.title else ""
    return Reply(f"added feed {feed.id}: {name}{feed.url} every {format_duration(feed.interval_s)}; its first "
                 "poll stores what is there without alerting", public=True, mention_caller=True)


def render_feed_list(feeds: Sequence) -> Reply:
    if not feeds:
        return Reply("no feeds yet: add one with `/feed add URL`")
    lines = ["feeds:"]
    for f in feeds:
        status = getattr(f.status, "value", f.status)
        line = f"• {f.id} [{status}] {f.title or f.url} {f.url if f.title else ''}".rstrip()
        line += f" · last success {when_text(f.last_success_at)}"
        if f.last_error:
            line += f" · last error: {f.last_error}"
        lines.append(line)
    return Reply("\n".join(lines))


def render_status(report: StatusReport, limit: int = 5) -> Reply:
    lines = [f"{report.feeds} feeds, {len(report.failing)} failing; last poll {when_text(report.last_poll)}; "
             f"{report.pending} deliveries waiting, {len(report.dead_deliveries)} dead-lettered"]
    for f in list(report.failing)[:limit]:
        lines.append(f"• feed {f.id} {f.url}: {f.last_error or getattr(f.status, 'value', f.status)}")
    for d in list(report.dead_deliveries)[:limit]:
        lines.append(f"• delivery {d.id} to {d.destination} dead: {d.last_error}")
    return Reply("\n".join(lines))


def render_not_a_feed(url: str, problem: str | None, alternates: Sequence[str]) -> str:
    """The text of the refusal when a URL is not a feed: why, and which feeds the page links to."""
    text = f"{url} is not a feed" + (f": {problem}" if problem else "")
    if alternates:
        text += ". The page links to these feeds; add one of them:\n" + "\n".join(
            f"• `/feed add {a}`" for a in alternates)
    return text
