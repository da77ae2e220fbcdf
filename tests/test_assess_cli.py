"""`wirewatch assess [--json]`: one article on stdin (JSON or plain text), its sourcing assessment on stdout;
exit 2 with a message on unreadable input. The articles are written for these tests."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.app.cli import main

ROOT = Path(__file__).resolve().parents[1]

WIRE = {
    "title": "Prosecutors charge two over Kupiansk depot strike",
    "text": (
        "KUPIANSK, Ukraine (AP) — Regional prosecutors charged two men on Monday over a drone strike on the rail "
        "depot in Kupiansk, according to a court filing seen by The Associated Press. \"We have the launch "
        "logs and the phone records,\" Prosecutor Olena Marchuk told reporters at a press conference. "
        "Governor Oleh Syniehubov said in a statement that repairs to the depot would take a month. "
        "\"Trains will run again by April, as long as the power holds,\" railway chief Petro Hnatenko said. "
        "The depot was hit on March 10, wounding two workers, police said."
    ),
    "url": "https://apnews.example/article/kupiansk-depot-charges",
    "outlet": "Associated Press",
    "published": "2025-03-11T09:30:00Z",
}
RELAY = {
    "title": "Russian troops cross Oskol river near Kupyansk",
    "text": (
        "Russian troops have reportedly crossed the Oskol river near Kupyansk, the outlet Look reported, citing "
        "sources close to the frontline. According to Look, a person familiar with the matter said the crossing "
        "allegedly happened overnight. It is believed that more units could follow, Look said. The claims could "
        "not be verified, and sources said commanders may be preparing a pullback, according to Look."
    ),
    "outlet": "Daily Rewrite",
}


def run(monkeypatch, capsys, stdin: bytes, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"))
    code = main(["assess", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "stdin",
    [
        pytest.param(json.dumps(WIRE).encode(), id="json-all-fields"),
        pytest.param(json.dumps({"title": WIRE["title"], "summary": WIRE["text"]}).encode(), id="json-summary-key"),
        pytest.param((WIRE["title"] + "\n" + WIRE["text"]).encode(), id="plain-text-first-line-title"),
        pytest.param(("\ufeff" + json.dumps(WIRE)).encode(), id="json-with-utf8-bom"),
        pytest.param(json.dumps({"title": "Only a headline"}).encode(), id="title-only"),
    ],
)
def test_json_output_has_grade_score_reasons_signals(monkeypatch, capsys, stdin):
    code, out, err = run(monkeypatch, capsys, stdin, "--json")
    assert code == 0, err
    doc = json.loads(out)  # one JSON document
    assert doc["grade"] in ("strong", "moderate", "weak", "n/a")
    assert isinstance(doc["score"], int) and 0 <= doc["score"] <= 100
    assert isinstance(doc["reasons"], str) and 0 < len(doc["reasons"]) < 200
    assert isinstance(doc["signals"], dict) and "sources" in doc["signals"] and "hedges" in doc["signals"]


def test_the_fields_reach_the_analyser(monkeypatch, capsys):
    """url, outlet and published are used: the outlet is the article's own (not a cited outlet), the
    /opinion/ URL makes it opinion."""
    opinion = {**WIRE, "url": "https://apnews.example/opinion/why-depots-matter"}
    code, out, _ = run(monkeypatch, capsys, json.dumps(opinion).encode(), "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["grade"] == "n/a" and doc["signals"]["article_type"] == "opinion"
    code, out, _ = run(monkeypatch, capsys, json.dumps(WIRE).encode(), "--json")
    assert json.loads(out)["signals"]["outlets_cited"] == {}  # its own outlet's name is not a relay


def test_wire_report_grades_above_a_relay_of_anonymous_claims(monkeypatch, capsys):
    _, out, _ = run(monkeypatch, capsys, json.dumps(WIRE).encode(), "--json")
    wire = json.loads(out)
    _, out, _ = run(monkeypatch, capsys, json.dumps(RELAY).encode(), "--json")
    relay = json.loads(out)
    assert wire["grade"] == "strong" and relay["grade"] == "weak"
    assert wire["score"] > relay["score"]
    assert relay["reasons"].startswith("Weak sourcing: relays one outlet (Look)")


def test_text_output_is_the_line_then_the_points(monkeypatch, capsys):
    code, out, _ = run(monkeypatch, capsys, json.dumps(RELAY).encode())
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("Weak sourcing: relays one outlet (Look)")
    assert lines[1].startswith("grade weak, score ") and "not a verdict" in lines[1]
    assert any(line.strip().startswith("-3") and "relays one outlet (Look)" in line for line in lines[2:])


@pytest.mark.parametrize(
    "stdin, message",
    [
        pytest.param(b"", "nothing on stdin", id="empty"),
        pytest.param(b"  \n\t\n", "nothing on stdin", id="whitespace"),
        pytest.param(b'{"title": "x", "text": ', "does not parse", id="broken-json"),
        pytest.param(b'{"title": "x", "text": 42}', "'text' must be a string", id="text-not-a-string"),
        pytest.param(b'{"url": "https://x.example/a"}', "neither a title nor a text", id="no-title-no-text"),
        pytest.param(b'{"title": "x", "text": "y", "published": "last Tuesday"}', "not an ISO 8601 date",
                     id="bad-date"),
        pytest.param(b"\xff\xfe\x00bad", "not UTF-8", id="not-utf8"),
    ],
)
def test_unreadable_input_exits_2_with_a_message(monkeypatch, capsys, stdin, message):
    code, out, err = run(monkeypatch, capsys, stdin, "--json")
    assert code == 2
    assert out == ""
    assert message in err and err.startswith("wirewatch: error:")


def test_the_installed_command_reads_stdin_and_exits(tmp_path):
    """The real console entry point, as a script would call it."""
    exe = ROOT / ".venv" / "bin" / "wirewatch"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    ok = subprocess.run([str(exe), "assess", "--json"], input=json.dumps(WIRE).encode(), capture_output=True,
                        env=env, cwd=tmp_path, timeout=60)
    assert ok.returncode == 0, ok.stderr.decode()
    assert json.loads(ok.stdout)["grade"] == "strong"
    bad = subprocess.run([str(exe), "assess"], input=b"{nope", capture_output=True, env=env, cwd=tmp_path,
                         timeout=60)
    assert bad.returncode == 2 and b"does not parse" in bad.stderr
