from __future__ import annotations

import pytest

from bot.core.commands import format_duration, parse_duration
from bot.core.destinations import parse_destination
from bot.core.errors import UsageError


@pytest.mark.parametrize(
    "text,seconds",
    [("90", 90), ("90s", 90), ("10m", 600), ("10 min", 600), ("2h", 7200), ("1d", 86400), ("1.5h", 5400)],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "ten minutes", "10x", "-5m", "0.2s"])
def test_bad_durations_say_how_to_write_one(text):
    with pytest.raises(UsageError, match=r"90s, 10m|shorter than one second"):
        parse_duration(text, what="--interval")


@pytest.mark.parametrize("seconds,text", [(45, "45s"), (600, "10m"), (7200, "2h"), (86400, "1d"), (150, "2m30s")])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    "text,canonical",
    [
        ("console", "console"),
        ("CONSOLE", "console"),
        ("jsonl:/tmp/a.jsonl", "jsonl:/tmp/a.jsonl"),
        ("slack:c0123456789", "slack:C0123456789"),
        ("discord:123456789012345678", "discord:123456789012345678"),
        ("webhook:Newsroom", "webhook:newsroom"),
        ("slack-webhook:desk_1", "slack-webhook:desk_1"),
        ("discord-webhook:osint", "discord-webhook:osint"),
    ],
)
def test_destinations_are_normalised(text, canonical):
    assert str(parse_destination(text)) == canonical


@pytest.mark.parametrize(
    "text,fragment",
    [
        ("email:a@b.c", "unknown destination"),
        ("slack:", "needs a target"),
        ("slack:general", "is not a slack channel ID"),
        ("discord:12", "is not a discord channel ID"),
        ("webhook:my hook", "may use only letters"),
        ("console:x", "takes no target"),
    ],
)
def test_bad_destinations_say_what_to_write(text, fragment):
    with pytest.raises(UsageError, match=fragment):
        parse_destination(text)
