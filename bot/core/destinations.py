"""Where an alert goes: ``console``, ``jsonl:PATH``, ``slack:CHANNEL_ID``, ``discord:CHANNEL_ID``,
``slack-webhook:NAME``, ``discord-webhook:NAME`` or ``webhook:NAME``.

The text form is the key everywhere (watches, outbox rows, digests), so it is validated once, here, and
normalised: a destination written two ways would otherwise get two alerts for one story.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.core.errors import UsageError

KINDS = ("console", "jsonl", "slack", "discord", "slack-webhook", "discord-webhook", "webhook")

_CHANNEL = {
    "slack": re.compile(r"^[CGD](?=[A-Z0-9]*[0-9])[A-Z0-9]{6,20}$"),  # IDs, not names: C024BE91L
    "discord": re.compile(r"^[0-9]{15,21}$"),
}
_NAME = re.compile(r"^[A-Za-z0-9_]{1,40}$")


@dataclass(frozen=True, slots=True)
class Destination:
    kind: str
    target: str = ""

    def __str__(self) -> str:
        return self.kind if not self.target else f"{self.kind}:{self.target}"


def parse_destination(text: str) -> Destination:
    text = (text or "").strip()
    kind, _, target = text.partition(":")
    kind = kind.lower()
    if kind not in KINDS:
        raise UsageError(
            f"unknown destination {text!r}: use one of console, jsonl:PATH, slack:CHANNEL_ID, "
            "discord:CHANNEL_ID, slack-webhook:NAME, discord-webhook:NAME, webhook:NAME"
        )
    if kind == "console":
        if target:
            raise UsageError("the console destination takes no target: write just 'console'")
        return Destination("console")
    if not target:
        raise UsageError(f"destination {kind!r} needs a target after the colon, e.g. {_example(kind)}")
    if kind == "jsonl":
        return Destination("jsonl", target)
    if kind in _CHANNEL:
        channel = target.upper() if kind == "slack" else target
        if not _CHANNEL[kind].match(channel):
            raise UsageError(f"{target!r} is not a {kind} channel ID; expected something like {_example(kind)}")
        return Destination(kind, channel)
    if not _NAME.match(target):
        raise UsageError(
            f"webhook name {target!r} may use only letters, digits and _ (it names the setting "
            f"WIREWATCH_WEBHOOK_{target.upper()} that holds the URL)"
        )
    return Destination(kind, target.lower())


def _example(kind: str) -> str:
    return {
        "jsonl": "jsonl:alerts.jsonl",
        "slack": "slack:C0123456789",
        "discord": "discord:123456789012345678",
    }.get(kind, f"{kind}:newsroom")
