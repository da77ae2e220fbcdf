from __future__ import annotations

import pytest

from bot.app.settings import Settings
from bot.core.errors import ConfigError


def test_defaults_need_no_environment(tmp_path):
    s = Settings.from_env({"WIREWATCH_ENV_FILE": str(tmp_path / "none")})
    assert s.database_url == "sqlite:///wirewatch.db"
    assert s.allow_private_networks is False
    assert (s.http_host, s.http_port) == ("127.0.0.1", 8080)


@pytest.mark.parametrize(
    "name,value,fragment",
    [
        ("WIREWATCH_MIN_INTERVAL", "ten", "WIREWATCH_MIN_INTERVAL must be a whole number"),
        ("WIREWATCH_ALLOW_PRIVATE_NETWORKS", "maybe", "WIREWATCH_ALLOW_PRIVATE_NETWORKS must be 1 or 0"),
        ("WIREWATCH_TIMEZONE", "Mars/Olympus", "IANA time zone"),
        ("WIREWATCH_LOG_FORMAT", "xml", "WIREWATCH_LOG_FORMAT must be one of"),
        ("WIREWATCH_POLL_LEASE", "20", "WIREWATCH_POLL_LEASE (20s) must be longer"),
        ("WIREWATCH_HTTP_PORT", "-1", "WIREWATCH_HTTP_PORT must be at least 0"),
    ],
    ids=lambda v: v if isinstance(v, str) and v.isupper() else None,
)
def test_bad_values_name_the_variable(tmp_path, name, value, fragment):
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        Settings.from_env({"WIREWATCH_ENV_FILE": str(tmp_path / "none"), name: value})


def test_env_file_is_read_and_the_environment_wins(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("# comment\nWIREWATCH_MIN_INTERVAL=30\nexport WIREWATCH_TIMEZONE='Europe/Kyiv'\n"
                        "WIREWATCH_WEBHOOK_NEWSROOM=https://example.org/hook\n")
    s = Settings.from_env({"WIREWATCH_ENV_FILE": str(env_file), "WIREWATCH_MIN_INTERVAL": "45"})
    assert s.min_interval_s == 45
    assert s.timezone == "Europe/Kyiv"
    assert s.webhooks == {"newsroom": "https://example.org/hook"}


def test_malformed_env_file_line_is_reported_with_its_number(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("WIREWATCH_MIN_INTERVAL=30\nthis is not a setting\n")
    with pytest.raises(ConfigError, match=r"\.env:2: expected NAME=value"):
        Settings.from_env({"WIREWATCH_ENV_FILE": str(env_file)})


def test_the_poll_tick_reaches_the_schedule(tmp_path):
    """The schedule aims a tick early (``PollPolicy.tick_s``), so it must know the tick the scheduler runs."""
    from bot.app.bootstrap import service_config

    s = Settings.from_env({"WIREWATCH_ENV_FILE": str(tmp_path / "none"), "WIREWATCH_TICK_SECONDS": "3"})
    assert service_config(s).policy.tick_s == s.tick_s == 3
