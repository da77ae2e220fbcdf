"""The command line as a user meets it: exit codes, messages, and what each command prints."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.app.cli import main
from tests.feedserver import FeedServer

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Kharkiv Desk</title><link>https://desk.example/</link>
<item><title>Shelling reported near Kupiansk</title><link>https://desk.example/a?utm_source=x</link>
<guid>a1</guid><pubDate>Thu, 26 Nov 2026 06:00:00 +0200</pubDate>
<description>&lt;p&gt;Officials &lt;b&gt;said&lt;/b&gt; two people were hurt.&lt;/p&gt;</description></item>
</channel></rss>"""


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("WIREWATCH_DATABASE_URL", f"sqlite:///{tmp_path / 'ww.db'}")
    monkeypatch.setenv("WIREWATCH_ENV_FILE", str(tmp_path / "none.env"))
    monkeypatch.setenv("WIREWATCH_ALLOW_PRIVATE_NETWORKS", "1")
    monkeypatch.setenv("WIREWATCH_MIN_INTERVAL", "1")
    monkeypatch.setenv("WIREWATCH_TIMEZONE", "Europe/Kyiv")
    return tmp_path


def run(capsys, *argv: str, stdin: str | None = None, monkeypatch=None) -> tuple[int, str, str]:
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse's own exits (--help, bad arguments)
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "argv,fragment",
    [
        (["feed", "add", "ftp://example.org/feed"], "is not a feed URL"),
        (["feed", "add", "https://example.org/feed", "--interval", "soon"], "is not a duration"),
        (["feed", "add", "https://example.org/feed", "--interval", "0.5s"], "shorter than one second"),
        (["feed", "remove", "99"], "there is no feed 99"),
        (["watch", "add", "(Kupiansk OR", "--to", "console"], "column"),
        (["watch", "add", "Kupiansk", "--to", "email:me"], "unknown destination"),
        (["watch", "remove", "5"], "there is no watch 5"),
        (["parse", "/no/such/file.xml"], "neither a file nor an http(s) URL"),
        (["import-opml", "/no/such.opml"], "is not a file"),
        (["frobnicate"], "invalid choice"),
        (["watch", "add", "x"], "the following arguments are required: --to"),
    ],
)
def test_usage_errors_exit_2_and_say_what_is_wrong(env, capsys, argv, fragment):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert fragment in err


def test_bad_setting_is_a_usage_error_naming_the_variable(env, capsys, monkeypatch):
    monkeypatch.setenv("WIREWATCH_MIN_INTERVAL", "often")
    code, _, err = run(capsys, "feed", "list")
    assert code == 2 and "WIREWATCH_MIN_INTERVAL must be a whole number" in err


def test_feed_and_watch_lifecycle_with_health_in_the_list(env, capsys):
    with FeedServer() as server:
        server.serve("/a.xml", SAMPLE_RSS, etag='"e1"')
        server.status("/broken.xml", 404)
        code, out, _ = run(capsys, "feed", "add", server.url("/a.xml"), "--interval", "10m")
        assert code == 0 and "added feed 1" in out and "every 10m" in out and "without alerting" in out
        code, out, _ = run(capsys, "feed", "add", server.url("/a.xml"))
        assert "already watches" in out
        run(capsys, "feed", "add", server.url("/broken.xml"))
        code, out, _ = run(capsys, "watch", "add", "kupiansk", "--to", f"jsonl:{env / 'alerts.jsonl'}")
        assert code == 0 and "added watch 1" in out

        code, out, _ = run(capsys, "poll", "--force")
        assert code == 0 and "feed 1: modified, 1 new" in out and "HTTP 404" in out
        code, out, _ = run(capsys, "poll", "1")
        assert "feed 1: not_modified" in out

        code, out, _ = run(capsys, "feed", "list")
        assert "#1 [ok] Kharkiv Desk" in out and "#2 [failing]" in out
        assert "last error: HTTP 404" in out
        assert "EET" in out  # times in the user's zone (WIREWATCH_TIMEZONE)
        code, out, _ = run(capsys, "feed", "list", "--json")
        feeds = json.loads(out)
        assert feeds[0]["status"] == "ok" and feeds[1]["status"] == "failing"

        code, out, _ = run(capsys, "watch", "list")
        assert f"#1 kupiansk → jsonl:{env / 'alerts.jsonl'}" in out
        assert run(capsys, "watch", "remove", "1")[0] == 0
        assert run(capsys, "feed", "remove", "2")[0] == 0
        code, out, _ = run(capsys, "feed", "list", "--json")
        assert [f["id"] for f in json.loads(out)] == [1]
    assert not (env / "alerts.jsonl").exists()  # the first poll was a baseline


def test_parse_prints_normalised_entries_as_json(env, capsys, tmp_path):
    path = tmp_path / "feed.xml"
    path.write_bytes(SAMPLE_RSS)
    code, out, _ = run(capsys, "parse", str(path), "--json")
    data = json.loads(out)
    assert code == 0 and data["is_feed"] and data["title"] == "Kharkiv Desk"
    [entry] = data["entries"]
    assert entry["url"] == "https://desk.example/a"
    assert entry["summary"] == "Officials said two people were hurt."
    assert entry["published"] == "2026-11-26T04:00:00+00:00"


def test_parse_of_an_html_page_says_it_is_not_a_feed(env, capsys, tmp_path):
    page = tmp_path / "page.html"
    page.write_text("<html><head><title>Hi</title></head><body>hello</body></html>")
    code, _, err = run(capsys, "parse", str(page))
    assert code == 2 and "not a feed" in err


@pytest.mark.parametrize(
    "stdin,matched",
    [
        ('{"title": "Drone strike in Kupiansk", "text": "Two injured."}', True),
        ("Weather in Lviv\nSunny all week.", False),
    ],
)
def test_match_reads_an_article_on_stdin(env, capsys, monkeypatch, stdin, matched):
    code, out, _ = run(capsys, "match", "Kupiansk AND NOT exercise", "--json", stdin=stdin, monkeypatch=monkeypatch)
    data = json.loads(out)
    assert code == 0 and data["matched"] is matched
    if matched:
        assert data["hits"][0]["text"] == "Kupiansk" and data["hits"][0]["field"] == "title"


def test_import_and_export_opml_round_trip(env, capsys):
    code, out, err = run(capsys, "import-opml", str(ROOT / "feeds" / "ukraine-war.opml"))
    assert code == 0 and "imported" in out and "[1/" in err  # progress on stderr
    count = int(out.split("imported ")[1].split()[0])
    code, out, _ = run(capsys, "import-opml", str(ROOT / "feeds" / "ukraine-war.opml"))
    assert f"0 new, {count} already present" in out
    code, out, _ = run(capsys, "export-opml")
    assert code == 0 and out.count("xmlUrl=") == count


def test_db_upgrade(env, capsys):
    code, out, _ = run(capsys, "db", "upgrade")
    assert code == 0 and "current schema" in out


def test_help_lists_every_command(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for command in ("demo", "run", "poll", "parse", "match", "feed", "watch", "import-opml", "export-opml", "db"):
        assert command in out


def test_demo_shows_alerts_then_only_new_ones(tmp_path):
    """The README's first command, as a user runs it: a subprocess with nothing set up."""
    proc = subprocess.run(
        [sys.executable, "-m", "bot.app.cli", "demo"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "WIREWATCH_TIMEZONE": "Europe/Kyiv"},
    )
    assert proc.returncode == 0, proc.stderr
    first, _, rest = proc.stdout.partition("second poll: the publishers")
    second, _, digest = rest.partition("the daily digest")
    assert first.count("● ") >= 10
    assert "Drone strike damages rail depot in Kupiansk" in first
    assert first.count("rail depot in Kupiansk") == 1  # one wire story, carried by several feeds: one alert
    assert "2 feeds unchanged (HTTP 304" in second
    assert 1 <= second.count("● ") <= 4
    assert "rail depot" not in second  # nothing alerts twice
    assert "sourcing" in first and "corroborated" in first  # every alert carries the sourcing line
    assert "stories in" in digest and "already posted" in digest  # one digest per local day
    assert not list(tmp_path.glob("*.db"))  # the demo leaves no database behind
