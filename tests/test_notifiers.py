"""The console and JSON Lines notifiers, asserted on what they wrote."""

from __future__ import annotations

import io
import json
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from bot.adapters.console import ConsoleNotifier, format_time
from bot.adapters.jsonl import JsonlNotifier
from bot.core.messages import build_alert
from bot.core.models import Delivery, Entry, Feed, Hit, SendStatus, Watch


def _delivery(destination: str, *, outcome_unknown: bool = False, title="Shelling reported near Kupiansk") -> Delivery:
    feed = Feed(id=1, url="https://example.org/feed", title="Northern Wire")
    entry = Entry(feed_id=1, identity="abc", title=title, url="https://example.org/a",
                  summary="Officials said...", published=datetime(2026, 11, 26, 6, 30, tzinfo=timezone.utc),
                  story_key="url:https://example.org/a")
    watch = Watch(id=7, query="Kupiansk", destination=destination)
    alert = build_alert(destination, entry, feed, [(watch, [Hit("kupiansk", "title", 22, 30, "Kupiansk")])])
    return Delivery(id=1, destination=destination, dedupe_key=alert.alert_key, kind="alert",
                    payload=alert.to_payload(), outcome_unknown=outcome_unknown)


def test_an_alert_payload_is_what_asdict_gives_and_reads_back_as_the_alert():
    """``Alert.to_payload`` is built by hand for speed; it must stay the plain-data image of the alert."""
    from dataclasses import asdict, replace

    from bot.core.messages import Alert

    alert = Alert.from_payload(_delivery("console").payload)
    alert = replace(alert, disputed_by=("Other Wire",), score=3, grade="B")
    assert alert.watches and alert.hits
    assert alert.to_payload() == asdict(alert)
    assert Alert.from_payload(json.loads(json.dumps(alert.to_payload()))) == alert


async def test_console_prints_a_readable_alert_in_the_given_zone():
    out = io.StringIO()
    result = await ConsoleNotifier(stream=out, tz=ZoneInfo("Europe/Kyiv")).send(_delivery("console"))
    assert result.status is SendStatus.SENT
    text = out.getvalue()
    assert "Shelling reported near Kupiansk" in text
    assert "Northern Wire · 2026-11-26 08:30 EET (06:30 UTC)" in text
    assert "https://example.org/a" in text and "watch #7: Kupiansk" in text and "'Kupiansk' in title" in text


def test_format_time_in_utc_has_no_duplicate():
    when = datetime(2026, 11, 26, 6, 30, tzinfo=timezone.utc)
    assert format_time(when, timezone.utc) == "2026-11-26 06:30 UTC"
    assert format_time(None, timezone.utc) == "undated"


async def test_jsonl_appends_one_object_per_alert_with_its_key(tmp_path):
    path = tmp_path / "out" / "alerts.jsonl"
    d = _delivery(f"jsonl:{path}")
    result = await JsonlNotifier().send(d)
    assert result.status is SendStatus.SENT
    [line] = path.read_text().splitlines()
    record = json.loads(line)
    assert record["alert_key"] == d.dedupe_key
    assert record["title"] == "Shelling reported near Kupiansk" and record["kind"] == "alert"


async def test_jsonl_does_not_write_twice_when_the_outcome_was_unknown(tmp_path):
    path = tmp_path / "alerts.jsonl"
    d = _delivery(f"jsonl:{path}")
    await JsonlNotifier().send(d)
    again = _delivery(f"jsonl:{path}", outcome_unknown=True)
    result = await JsonlNotifier().send(again)
    assert result.status is SendStatus.SENT
    assert len(path.read_text().splitlines()) == 1


async def test_jsonl_writes_when_the_unknown_outcome_had_not_happened(tmp_path):
    path = tmp_path / "alerts.jsonl"
    await JsonlNotifier().send(_delivery(f"jsonl:{path}", outcome_unknown=True))
    assert len(path.read_text().splitlines()) == 1


async def test_jsonl_unwritable_path_is_a_retry_with_the_reason(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = await JsonlNotifier().send(_delivery(f"jsonl:{blocker}/alerts.jsonl"))
    assert result.status is SendStatus.RETRY
    assert "cannot write" in result.error


async def test_console_prints_a_follow_up_with_the_report_that_changed_the_story():
    out = io.StringIO()
    delivery = Delivery(id=2, destination="console", dedupe_key="k:update:2:", kind="followup", payload={
        "parent_key": "k", "text": "Update: corroborated by 2 independent outlets (A, B)",
        "title": "Seven wounded in Kupiansk", "outlet": "B", "url": "https://b.example/1"})
    await ConsoleNotifier(stream=out).send(delivery)
    assert out.getvalue() == ("  ↳ Update: corroborated by 2 independent outlets (A, B)\n"
                              "    Seven wounded in Kupiansk (B)\n    https://b.example/1\n\n")
