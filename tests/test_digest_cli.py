"""`wirewatch digest now --to console`: prints the digest with its sparklines; a second run on the same
local day sends nothing and says so; a bad destination is a usage error."""

from __future__ import annotations

from bot.app.cli import main


def run(capsys, monkeypatch, tmp_path, *argv) -> tuple[int, str, str]:
    monkeypatch.setenv("WIREWATCH_DATABASE_URL", f"sqlite:///{tmp_path / 'ww.db'}")
    monkeypatch.setenv("WIREWATCH_ENV_FILE", str(tmp_path / "none.env"))
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_digest_now_to_console_once_a_day(capsys, monkeypatch, tmp_path):
    code, out, _ = run(capsys, monkeypatch, tmp_path, "watch", "add", "Kupiansk", "--to", "console")
    assert code == 0
    code, out, _ = run(capsys, monkeypatch, tmp_path, "digest", "now", "--to", "console")
    assert code == 0
    assert "═══ Daily digest · " in out and "Quiet day: nothing new matched this channel's 1 watch," in out
    assert "queued to console: 0 stories in 0 groups; delivered 1" in out

    code, out, _ = run(capsys, monkeypatch, tmp_path, "digest", "now", "--to", "console")
    assert code == 0 and "Daily digest" not in out
    assert out.startswith("today's digest was already posted here at ")


def test_digest_now_needs_a_destination(capsys, monkeypatch, tmp_path):
    code, _, err = run(capsys, monkeypatch, tmp_path, "digest", "now", "--to", "pigeon:42")
    assert code == 2 and "unknown destination 'pigeon:42'" in err
