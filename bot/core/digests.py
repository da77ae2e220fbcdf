"""Daily digests: which are due (given ``now``), what goes in them, and a rendering-neutral ``Digest``.

Pure: the schedule, the stored state and ``now`` come in as values; a ``Digest`` comes out, which is
stored as the outbox row's payload (kind ``"digest"``) and rendered per platform (Slack blocks and a
chart, Discord embeds and an attachment, a text sparkline for the console, jsonl and webhooks).

Schedule rules, and why:

- *Once per local day.* A digest is identified by (destination, local date in the destination's zone);
  the store records that pair with a unique key in the same transaction as the outbox row, so restarts,
  several workers, a late start and ``/digest now`` can never make a second one for the same day.
  ``/digest now`` is **not** exempt: it *is* that day's digest (a second ``/digest now``, or the 08:00
  digest after a ``/digest now`` at 07:00, sends nothing and says when it was sent). One rule, one
  number of digests per day, whoever asks.
- *Only the latest scheduled occurrence counts.* A bot that was down at 08:00 sends that digest when it
  comes back, once, marked late; a bot down for three days sends one digest, not three.
- *A schedule set after today's time* does not fire a "late" digest at once: the first occurrence is the
  first one after the schedule was set.
- *Daylight saving.* The time is wall-clock time in the zone. On spring-forward day a time inside the gap
  (03:30 in Europe/Kyiv on the last Sunday of March) is sent when the gap ends (04:00 local), like cron;
  on fall-back day a time that happens twice (03:30 on the last Sunday of October) is sent at its first
  occurrence only (PEP 495 ``fold=0``), and the local date keeps it from firing again an hour later.

Content rules, and why:

- The window is "since the last digest" (its cut-off), else the last 24 h; never more than
  ``MAX_WINDOW`` back, so a destination silent for a month does not drag a month of stories in.
- Each story once: articles are grouped by story key, and each story goes to exactly one group, the
  biggest of the groups it could go to (place groups for place hits, else the watch that matched). A
  digest is read top to bottom; a story repeated under three headings wastes the reader's attention, and
  the group counts then add up to the total.
- Ranking inside a group: independent origins (how widely confirmed), then best sourcing grade among the
  story's articles, then recency. Groups: places first, then watches, each by size.
- "Previous day" is the 24 h before the window: the change a reader wants is "more or less than usual".
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Iterable, Mapping, Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.core.errors import UsageError

DEFAULT_ZONE = "UTC"
FIRST_WINDOW = timedelta(hours=24)  # no digest yet: the last day
MAX_WINDOW = timedelta(days=7)
LATE_GRACE = timedelta(minutes=15)  # sent later than this after its time: the digest says it is late
CHART_HOURS = 24
DEFAULT_TOP = 5  # stories shown per group
GRADE_ORDER = ("strong", "moderate", "weak", "n/a", "")  # best first; "" is "not assessed"
SPARK = "▁▂▃▄▅▆▇█"
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


# --------------------------------------------------------------------------------------------------
# Schedule
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DigestSchedule:
    """A destination's digest settings and the newest digest recorded for it, as the store has them."""

    destination: str
    at: str | None = None  # "HH:MM" local; None: no scheduled digest (``/digest now`` still works)
    timezone: str | None = None  # IANA name; None: the default zone setting
    enabled: bool = True  # ``/digest off`` clears it
    set_at: datetime | None = None  # when ``/digest at`` was last given (UTC)
    last_date: str | None = None  # "YYYY-MM-DD": local date of the newest digest recorded
    last_at: datetime | None = None  # when that digest was composed: the cut-off of its window


@dataclass(frozen=True, slots=True)
class DueDigest:
    destination: str
    local_date: str  # "YYYY-MM-DD" in ``zone``
    zone: str
    scheduled_for: datetime | None  # UTC instant of the scheduled time; None for ``/digest now``
    late: bool = False


def zone_of(name: str | None, default: str = DEFAULT_ZONE) -> ZoneInfo:
    """An IANA zone, or ``UsageError`` a user can act on (zone data is the tz database, not I/O we own)."""
    wanted = name or default or DEFAULT_ZONE
    try:
        return ZoneInfo(wanted)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"{wanted!r} is not a time zone name; use one like Europe/Kyiv or UTC") from None


def check_clock(at: str) -> str:
    if not _CLOCK.match(at or ""):
        raise UsageError(f"{at!r} is not a time of day; write it as HH:MM, e.g. 08:00")
    return at


def scheduled_instant(day: date, at: str, zone: ZoneInfo) -> datetime:
    """The UTC instant of wall time ``at`` on ``day`` in ``zone`` (DST rules in the module docstring)."""
    hour, minute = (int(p) for p in check_clock(at).split(":"))
    wall = datetime.combine(day, time(hour, minute), tzinfo=zone)  # fold=0: first of a repeated time
    if _exists(wall):
        return wall.astimezone(timezone.utc)
    # In a spring-forward gap: the first wall minute after it that exists (the gap ends on the hour or
    # half hour in every zone, so a few dozen steps at most).
    probe = wall
    for _ in range(24 * 60):
        probe = (probe.replace(tzinfo=None) + timedelta(minutes=1)).replace(tzinfo=zone)
        if _exists(probe):
            return probe.astimezone(timezone.utc)
    raise AssertionError("no valid local time within a day")  # pragma: no cover


def _exists(wall: datetime) -> bool:
    back = wall.astimezone(timezone.utc).astimezone(wall.tzinfo)
    return back.replace(tzinfo=None) == wall.replace(tzinfo=None)


def local_date(when: datetime, zone: ZoneInfo) -> str:
    return when.astimezone(zone).date().isoformat()


def due_digest(schedule: DigestSchedule, now: datetime, *, default_zone: str = DEFAULT_ZONE) -> DueDigest | None:
    """The digest this destination owes at ``now``, or None.

    The candidate is the latest scheduled occurrence at or before ``now`` (today's if its time has come,
    else yesterday's); it is owed unless a digest for its local date or a later one is recorded, or the
    schedule was set after it."""
    if not schedule.enabled or not schedule.at:
        return None
    zone = zone_of(schedule.timezone, default_zone)
    today = now.astimezone(zone).date()
    instant = scheduled_instant(today, schedule.at, zone)
    day = today
    if instant > now:
        day = today - timedelta(days=1)
        instant = scheduled_instant(day, schedule.at, zone)
    if schedule.set_at is not None and schedule.set_at > instant:
        return None
    if schedule.last_date is not None and schedule.last_date >= day.isoformat():
        return None
    return DueDigest(schedule.destination, day.isoformat(), zone.key, instant, late=now - instant > LATE_GRACE)


def digest_now(schedule: DigestSchedule | None, destination: str, now: datetime, *,
               default_zone: str = DEFAULT_ZONE) -> DueDigest | None:
    """``/digest now``: today's digest (local date in the destination's zone), or None if one is
    already recorded for today (see the module docstring for why it is not exempt)."""
    zone = zone_of(schedule.timezone if schedule else None, default_zone)
    today = local_date(now, zone)
    if schedule is not None and schedule.last_date is not None and schedule.last_date >= today:
        return None
    return DueDigest(destination, today, zone.key, None, late=False)


def window_start(schedule: DigestSchedule | None, now: datetime) -> datetime:
    """Since the last digest's cut-off, else the last 24 h; never more than ``MAX_WINDOW`` back."""
    if schedule is not None and schedule.last_at is not None and schedule.last_at < now:
        return max(schedule.last_at, now - MAX_WINDOW)
    return now - FIRST_WINDOW


def digest_key(local_day: str) -> str:
    """The outbox dedupe key of a destination's digest for one local day."""
    return f"digest:{local_day}"


# --------------------------------------------------------------------------------------------------
# Content
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MatchedArticle:
    """One stored article matched by one of the destination's watches (the composition's input)."""

    story: str  # story key (one story however many feeds carried it)
    title: str
    url: str
    outlet: str
    seen_at: datetime  # when wirewatch first stored it (UTC)
    watch_id: int
    watch_query: str
    places: tuple[str, ...] = ()  # places the watch's place terms resolved to in this article
    grade: str = ""  # sourcing grade of this article, "" when not assessed
    origins: int = 0  # independent origins known for the story, 0 when unknown
    published: datetime | None = None


@dataclass(frozen=True, slots=True)
class DigestStory:
    title: str
    url: str
    outlets: int  # distinct outlets that carried it
    origins: int  # independent origins (0: not known)
    grade: str  # best grade among its articles ("" when none assessed)
    first_seen: str  # ISO 8601 UTC

    @property
    def first_seen_at(self) -> datetime:
        return datetime.fromisoformat(self.first_seen)


@dataclass(frozen=True, slots=True)
class DigestGroup:
    kind: str  # "place" or "watch"
    label: str  # the place ("Kupiansk") or the watch's query
    count: int  # stories in the window
    previous: int  # stories in the 24 h before the window
    stories: tuple[DigestStory, ...]  # the top ones, ranked
    more: int  # stories not shown
    more_command: str  # the command that lists them
    hourly: tuple[int, ...]  # stories first seen per hour, oldest first, ``CHART_HOURS`` values

    @property
    def change(self) -> str:
        """"up from 6", "down from 20", "same as the day before" (the words every renderer uses)."""
        if self.count > self.previous:
            return f"up from {self.previous}"
        if self.count < self.previous:
            return f"down from {self.previous}"
        return "same as the day before"

    @property
    def heading(self) -> str:
        noun = "story" if self.count == 1 else "stories"
        return f"{self.label}: {self.count} {noun}, {self.change}"


@dataclass(frozen=True, slots=True)
class Digest:
    """Rendering-neutral digest, stored as the outbox payload (``to_payload``; JSON-safe).

    Payload (documented for renderers on every platform): ``destination``, ``local_date``
    ("YYYY-MM-DD"), ``zone`` (IANA), ``window_start``/``window_end`` (ISO UTC), ``late`` (bool),
    ``scheduled_for`` (ISO UTC or null for ``/digest now``), ``total`` (stories), ``watches`` (how many
    watches the destination has), ``chart_start`` (ISO UTC of the first hourly bucket) and ``groups``: a
    list of {``kind``, ``label``, ``count``, ``previous``, ``more``, ``more_command``, ``hourly`` (24 ints),
    ``stories``: [{``title``, ``url``, ``outlets``, ``origins``, ``grade``, ``first_seen``}]}. Titles and
    URLs come from feeds: renderers escape them for their platform."""

    destination: str
    local_date: str
    zone: str
    window_start: str
    window_end: str
    groups: tuple[DigestGroup, ...] = ()
    total: int = 0
    watches: int = 0
    late: bool = False
    scheduled_for: str | None = None
    chart_start: str = ""

    @property
    def quiet(self) -> bool:
        return self.total == 0

    def to_payload(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> "Digest":
        data = {k: v for k, v in dict(payload).items() if k in cls.__dataclass_fields__}
        groups = []
        for g in data.get("groups", ()):
            g = dict(g)
            g["stories"] = tuple(DigestStory(**s) for s in g.get("stories", ()))
            g["hourly"] = tuple(g.get("hourly", ()))
            groups.append(DigestGroup(**g))
        data["groups"] = tuple(groups)
        return cls(**data)

    @property
    def zoneinfo(self) -> ZoneInfo:
        return zone_of(self.zone)

    def local(self, iso: str | None) -> datetime | None:
        return datetime.fromisoformat(iso).astimezone(self.zoneinfo) if iso else None


def grade_rank(grade: str) -> int:
    return GRADE_ORDER.index(grade) if grade in GRADE_ORDER else len(GRADE_ORDER) - 1


def place_label(place: str) -> str:
    """A ``near:`` hit says how far the place is ("Kurylivka (12 km from Kupiansk)"); a digest groups
    by the place itself."""
    return place.split(" (", 1)[0].strip()


@dataclass
class _Story:
    key: str
    rows: list[MatchedArticle] = field(default_factory=list)

    @property
    def first(self) -> MatchedArticle:
        return min(self.rows, key=lambda r: r.seen_at)

    def candidates(self) -> list[tuple[str, str]]:
        places = [("place", place_label(p)) for r in self.rows for p in r.places if place_label(p)]
        if places:
            return list(dict.fromkeys(places))
        return list(dict.fromkeys(("watch", r.watch_query) for r in sorted(self.rows, key=lambda r: r.watch_id)))


def _stories(rows: Iterable[MatchedArticle]) -> dict[str, _Story]:
    stories: dict[str, _Story] = {}
    for row in rows:
        stories.setdefault(row.story, _Story(row.story)).rows.append(row)
    return stories


def _assign(stories: Mapping[str, _Story]) -> dict[str, tuple[str, str]]:
    """Each story to one group: the candidate group with most stories (then places before watches,
    then by label), so the big headings collect what they can and every story is counted once."""
    size: Counter[tuple[str, str]] = Counter()
    for s in stories.values():
        size.update(s.candidates())
    return {
        k: min(s.candidates(), key=lambda g: (-size[g], g[0] != "place", g[1].casefold()))
        for k, s in stories.items()
    }


def _story_value(story: _Story, first_seen: datetime) -> DigestStory:
    first = story.first
    graded = [r.grade for r in story.rows if r.grade]
    return DigestStory(
        title=first.title or "(untitled)",
        url=next((r.url for r in sorted(story.rows, key=lambda r: r.seen_at) if r.url), ""),
        outlets=len({r.outlet.casefold() for r in story.rows if r.outlet}) or 1,
        origins=max((r.origins for r in story.rows), default=0),
        grade=min(graded, key=grade_rank) if graded else "",
        first_seen=first_seen.astimezone(timezone.utc).isoformat(),
    )


def more_command(kind: str, label: str) -> str:
    if kind == "place":
        quoted = f'"{label}"' if " " in label else label
        return f"/watch test place:{quoted}"
    return f"/watch test {label}"


def compose(
    rows: Sequence[MatchedArticle], *, due: DueDigest, start: datetime, end: datetime, top: int = DEFAULT_TOP,
    watches: int = 0,
) -> Digest:
    """The digest for ``due``: stories with an article first stored in [start, end), grouped, ranked and
    counted against the 24 h before ``start``. ``rows`` may include older rows (the previous day's, and
    earlier articles of today's stories): they set first-seen times and the previous-day counts."""
    # Time is when wirewatch first stored an article, not the feed's claimed publication date: feeds
    # misdate, backdate and omit dates, and "new to this channel since the last digest" is what counts.
    stale = start - timedelta(hours=24)
    window_keys = {r.story for r in rows if start <= r.seen_at < end}
    in_window = [r for r in rows if r.story in window_keys and r.seen_at < end]
    before = [r for r in rows if stale <= r.seen_at < start]
    first_seen: dict[str, datetime] = {}
    for r in rows:
        if r.seen_at < end and (r.story not in first_seen or r.seen_at < first_seen[r.story]):
            first_seen[r.story] = r.seen_at

    stories = _stories(in_window)
    assigned = _assign(stories)
    # a story already in the window is not "yesterday's" too
    previous_stories = {k: s for k, s in _stories(before).items() if k not in stories}
    previous = Counter(_assign(previous_stories).values())

    # hourly buckets on whole hours, the last one holding ``end``: [chart_start, chart_start + 24 h)
    top_of_hour = end.replace(minute=0, second=0, microsecond=0)
    chart_start = (top_of_hour if top_of_hour == end else top_of_hour + timedelta(hours=1)) - timedelta(hours=CHART_HOURS)
    by_group: dict[tuple[str, str], list[_Story]] = defaultdict(list)
    for key, group in assigned.items():
        by_group[group].append(stories[key])

    groups = []
    for (kind, label), members in by_group.items():
        values = [_story_value(s, first_seen[s.key]) for s in members]
        values.sort(key=lambda v: (-v.origins, grade_rank(v.grade), -v.first_seen_at.timestamp(), v.title))
        hourly = [0] * CHART_HOURS
        for v in values:
            slot = int((v.first_seen_at - chart_start).total_seconds() // 3600)
            if 0 <= slot < CHART_HOURS:
                hourly[slot] += 1
        shown = values[: max(top, 0)]
        groups.append(DigestGroup(
            kind=kind, label=label, count=len(values), previous=previous.get((kind, label), 0),
            stories=tuple(shown), more=len(values) - len(shown), more_command=more_command(kind, label),
            hourly=tuple(hourly),
        ))
    groups.sort(key=lambda g: (g.kind != "place", -g.count, g.label.casefold()))
    return Digest(
        destination=due.destination, local_date=due.local_date, zone=due.zone,
        window_start=start.astimezone(timezone.utc).isoformat(), window_end=end.astimezone(timezone.utc).isoformat(),
        groups=tuple(groups), total=len(stories), watches=watches, late=due.late,
        scheduled_for=due.scheduled_for.astimezone(timezone.utc).isoformat() if due.scheduled_for else None,
        chart_start=chart_start.astimezone(timezone.utc).isoformat(),
    )


def places_of(reasons_json: str) -> tuple[str, ...]:
    """The places in a match's stored reasons (``[{"term", "text", "field", "place"}, ...]``)."""
    try:
        hits = json.loads(reasons_json or "[]")
    except json.JSONDecodeError:
        return ()
    if not isinstance(hits, list):
        return ()
    return tuple(dict.fromkeys(str(h.get("place")) for h in hits if isinstance(h, dict) and h.get("place")))


_ORIGINS = re.compile(r"corroborated by (\d+) independent")


def origins_of(payload: Mapping[str, Any]) -> int:
    """Independent origins an alert or follow-up payload reports: a structured ``independent_origins``
    (top level or in a ``corroboration_detail`` object) when present, else read off the corroboration
    line the sourcing work writes ("corroborated by 3 independent outlets"); 1 when the line says "not
    yet corroborated" or similar (the story's own origin), 0 when nothing is known."""
    for source in (payload, payload.get("corroboration_detail") or {}):
        value = source.get("independent_origins") if isinstance(source, Mapping) else None
        if isinstance(value, int) and value > 0:
            return value
    line = str(payload.get("corroboration") or "")
    m = _ORIGINS.search(line)
    if m:
        return int(m.group(1))
    return 1 if line else 0


# --------------------------------------------------------------------------------------------------
# Text: the console, jsonl and webhooks (where no chart can be uploaded), and the pieces others reuse
# --------------------------------------------------------------------------------------------------


def sparkline(values: Sequence[int]) -> str:
    """One character per hour, scaled to the busiest hour; an empty hour is a low bar, never a gap, so
    the line keeps its length in any font."""
    top = max(values, default=0)
    if top <= 0:
        return SPARK[0] * len(values)
    return "".join(SPARK[0] if v <= 0 else SPARK[min(len(SPARK) - 1, 1 + (v * (len(SPARK) - 2)) // top)]
                   for v in values)


def story_facts(story: DigestStory) -> str:
    """"3 outlets · 2 independent origins · strong sourcing" (platform-neutral words)."""
    parts = [f"{story.outlets} outlet" + ("" if story.outlets == 1 else "s")]
    if story.origins:
        parts.append(f"{story.origins} independent origin" + ("" if story.origins == 1 else "s"))
    if story.grade:
        parts.append("sourcing n/a" if story.grade == "n/a" else f"{story.grade} sourcing")
    return " · ".join(parts)


def headline(digest: Digest) -> str:
    day = date.fromisoformat(digest.local_date)
    return f"Daily digest · {day.strftime('%A')} {day.day} {day.strftime('%B %Y')}"


def late_note(digest: Digest) -> str:
    if not digest.late or not digest.scheduled_for:
        return ""
    due = digest.local(digest.scheduled_for)
    assert due is not None
    return (f"This digest is late: it was due at {due.strftime('%H:%M %Z')} on {due.date().isoformat()}, "
            "when wirewatch was not running.")


def window_line(digest: Digest) -> str:
    start, end = digest.local(digest.window_start), digest.local(digest.window_end)
    assert start is not None and end is not None
    span = f"{start.strftime('%d %b %H:%M')} – {end.strftime('%d %b %H:%M %Z')} ({digest.zone})"
    if digest.quiet:
        watched = f"this channel's {digest.watches} watch" + ("" if digest.watches == 1 else "es")
        return f"Quiet day: nothing new matched {watched}, {span}."
    noun = "story" if digest.total == 1 else "stories"
    return f"{digest.total} {noun} in {len(digest.groups)} group" + ("" if len(digest.groups) == 1 else "s") + \
        f", {span}"


def render_text(digest: Digest) -> str:
    """The digest as plain text with a sparkline per group (console, jsonl, generic webhooks)."""
    lines = [f"═══ {headline(digest)} ({digest.destination}) ═══"]
    if digest.late:
        lines.append(late_note(digest))
    lines.append(window_line(digest))
    zone = digest.zoneinfo
    for g in digest.groups:
        lines.append("")
        lines.append(f"▸ {g.heading}")
        lines.append(f"  last 24 h {sparkline(g.hourly)} (stories per hour)")
        for n, s in enumerate(g.stories, 1):
            seen = s.first_seen_at.astimezone(zone).strftime("%H:%M")
            lines.append(f"  {n}. {s.title}")
            lines.append(f"     {story_facts(s)} · first seen {seen}")
            if s.url:
                lines.append(f"     {s.url}")
        if g.more:
            lines.append(f"  … and {g.more} more: {g.more_command}")
    return "\n".join(lines)


def pack(items: Sequence[str], limit: int, *, sep: str = "\n") -> list[str]:
    """Join items into chunks of at most ``limit`` characters, in order, never splitting an item (an
    item is a whole story line with its link). An item longer than ``limit`` on its own is the caller's
    to shorten first (cut the title, keep the link); here it becomes a chunk of its own."""
    chunks: list[str] = []
    current = ""
    for item in items:
        if current and len(current) + len(sep) + len(item) > limit:
            chunks.append(current)
            current = item
        else:
            current = f"{current}{sep}{item}" if current else item
    if current:
        chunks.append(current)
    return chunks


# --------------------------------------------------------------------------------------------------
# Command replies (platform-neutral words; each platform escapes them)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DigestOutcome:
    """What ``digest now`` did: ``digest`` queued, or None with the schedule saying when today's went."""

    destination: str
    digest: Digest | None
    schedule: DigestSchedule | None = None


def next_occurrence(schedule: DigestSchedule, now: datetime, *, default_zone: str = DEFAULT_ZONE) -> datetime:
    """The next scheduled instant (UTC) strictly after ``now``."""
    zone = zone_of(schedule.timezone, default_zone)
    day = now.astimezone(zone).date()
    for offset in range(3):
        instant = scheduled_instant(day + timedelta(days=offset), schedule.at or "00:00", zone)
        if instant > now:
            return instant
    raise AssertionError("no occurrence within three days")  # pragma: no cover


def render_digest_at(schedule: DigestSchedule, now: datetime, *, default_zone: str = DEFAULT_ZONE) -> str:
    zone = zone_of(schedule.timezone, default_zone)
    nxt = next_occurrence(schedule, now, default_zone=default_zone).astimezone(zone)
    return (f"will post a daily digest here at {schedule.at} {zone.key}; the next one on "
            f"{nxt.strftime('%a %d %b %H:%M %Z')}. `/digest now` posts today's now, `/digest off` stops them")


def render_digest_now(outcome: DigestOutcome, now: datetime) -> str:
    if outcome.digest is not None:
        d = outcome.digest
        if d.quiet:
            return "today's digest is on its way: a quiet day, nothing new matched here"
        return (f"today's digest is on its way: {d.total} " + ("story" if d.total == 1 else "stories")
                + f" in {len(d.groups)} group" + ("" if len(d.groups) == 1 else "s"))
    s = outcome.schedule
    when = ""
    if s is not None and s.last_at is not None:
        zone = zone_of(s.timezone)
        when = f" at {s.last_at.astimezone(zone).strftime('%H:%M %Z')}"
    return (f"today's digest was already posted here{when}; there is one digest per local day, and "
            "the next one covers everything since")
