"""Settings: read once from the environment (and an optional env file), validated, passed down as a value.

Every variable below is documented in the README's settings table (a test keeps the two in step).
A bad value raises ``ConfigError`` naming the variable and what it expects.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.core.errors import ConfigError

DEFAULT_DATABASE_URL = "sqlite:///wirewatch.db"

# name -> (default, one-line description); the README table is checked against this list.
SETTINGS: dict[str, tuple[str, str]] = {
    "WIREWATCH_DATABASE_URL": (DEFAULT_DATABASE_URL, "SQLAlchemy URL of the database: sqlite:///path or postgresql://user@host/db"),
    "WIREWATCH_ALLOW_PRIVATE_NETWORKS": ("0", "1 lets feeds live on loopback or private addresses (demo, tests, intranets)"),
    "WIREWATCH_MIN_INTERVAL": ("60", "shortest poll interval a feed may use, in seconds"),
    "WIREWATCH_MAX_INTERVAL": ("86400", "longest time between two polls of a healthy feed, in seconds"),
    "WIREWATCH_DEFAULT_INTERVAL": ("600", "poll interval of a feed added without --interval, in seconds"),
    "WIREWATCH_FETCH_TIMEOUT": ("30", "total time allowed for one feed request, in seconds"),
    "WIREWATCH_MAX_BODY_BYTES": ("10485760", "largest feed body accepted, measured after decompression"),
    "WIREWATCH_PARSE_TIMEOUT": ("10", "a feed parse running longer than this (seconds) is stopped"),
    "WIREWATCH_DEAD_AFTER_DAYS": ("3", "days of continuous failure after which a feed is marked dead"),
    "WIREWATCH_TICK_SECONDS": ("1", "how often the scheduler looks for due feeds"),
    "WIREWATCH_DELIVERY_TICK_SECONDS": ("1", "how often the scheduler drains the outbox"),
    "WIREWATCH_POLL_LEASE": ("120", "seconds a poller holds a feed before another may take it over"),
    "WIREWATCH_DELIVERY_LEASE": ("60", "seconds a sender holds a delivery before its outcome counts as unknown"),
    "WIREWATCH_DATABASE_POOL": ("10", "PostgreSQL connections each process may hold (no overflow); workers x this must fit max_connections"),
    "WIREWATCH_RETENTION_DAYS": ("90", "entries and sent alerts older than this many days are pruned"),
    "WIREWATCH_TOMBSTONE_DAYS": ("730", "days a pruned item's identity is remembered, so a feed re-serving it alerts nobody"),
    "WIREWATCH_TIMEZONE": ("", "IANA zone for times shown by the CLI (default: the machine's zone)"),
    "WIREWATCH_DIGEST_TIMEZONE": ("UTC", "zone of a daily digest set with `/digest at 08:00` and no zone, and of `digest now` without one"),
    "WIREWATCH_DIGEST_TOP": ("5", "stories shown per place or watch in a digest; the rest are counted (\"and 12 more\")"),
    "WIREWATCH_DIGEST_TICK_SECONDS": ("60", "how often the scheduler looks for digests that are due"),
    "WIREWATCH_LOG_LEVEL": ("INFO", "DEBUG, INFO, WARNING or ERROR"),
    "WIREWATCH_LOG_FORMAT": ("text", "text, or json for structured logs"),
    "WIREWATCH_HTTP_HOST": ("127.0.0.1", "address for health, metrics and Slack HTTP mode"),
    "WIREWATCH_HTTP_PORT": ("8080", "port for health, metrics and Slack HTTP mode"),
    "WIREWATCH_CONTACT": ("", "contact (URL or e-mail) added to the User-Agent so feed owners can reach you"),
    "SLACK_BOT_TOKEN": ("", "Slack bot token (xoxb-…); enables Slack"),
    "SLACK_APP_TOKEN": ("", "Slack app-level token (xapp-…) for Socket Mode"),
    "SLACK_SIGNING_SECRET": ("", "Slack signing secret, for HTTP mode instead of Socket Mode"),
    "WIREWATCH_SLACK_API_URL": ("", "override of Slack's Web API base URL (proxies, tests)"),
    "WIREWATCH_FEED_ADMINS": ("", "who may add or remove feeds from chat: comma-separated user or group IDs; empty means everyone"),
    "DISCORD_BOT_TOKEN": ("", "Discord bot token; enables Discord"),
    "WIREWATCH_DISCORD_API_URL": ("", "override of Discord's REST base URL (proxies, tests)"),
    "WIREWATCH_DISCORD_ADMIN_PERMISSION": ("manage_guild", "Discord permission needed for /feed and /digest (a permission name, or none)"),
    "WIREWATCH_WEBHOOK_<NAME>": ("", "URL behind destination slack-webhook:<name>, discord-webhook:<name> or webhook:<name>"),
    "WIREWATCH_WEBHOOK_SECRET": ("", "key for signing generic webhook bodies (HMAC-SHA256)"),
    "WIREWATCH_ENV_FILE": (".env", "file of NAME=value lines read at start; the environment wins over it"),
    "WIREWATCH_GAZETTEER_PATH": ("", "the gazetteer index file (default: in the user's cache directory, built on first use)"),
    "WIREWATCH_GAZETTEER_COUNTRIES": ("", "ISO codes of the countries the gazetteer holds, e.g. UA,RU (default: all)"),
    "WIREWATCH_NEAR_MIN_POPULATION": ("0", "places smaller than this are left out of near: radius sets"),
    "WIREWATCH_WATCH_WARN_SHARE": ("0.2", "watch add warns when a query matches more than this share of recent items"),
    "WIREWATCH_FULL_TEXT": ("0", "1: an alerted article whose feed carries only a summary is assessed on its page's main text (one fetch per article)"),
}


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    allow_private_networks: bool = False
    min_interval_s: int = 60
    max_interval_s: int = 86400
    default_interval_s: int = 600
    fetch_timeout_s: float = 30.0
    max_body_bytes: int = 10 * 1024 * 1024
    parse_timeout_s: float = 10.0
    dead_after_days: float = 3.0
    tick_s: float = 1.0  # a poll may come up to a tick after its interval (issue 9); an idle tick is ~1 ms
    delivery_tick_s: float = 1.0
    poll_lease_s: float = 120.0
    delivery_lease_s: float = 60.0
    database_pool: int = 10
    retention_days: float = 90.0
    tombstone_days: float = 730.0
    timezone: str = ""
    digest_timezone: str = "UTC"
    digest_top: int = 5
    digest_tick_s: float = 60.0
    log_level: str = "INFO"
    log_format: str = "text"
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    contact: str = ""
    slack_bot_token: str = ""
    slack_app_token: str = ""
    slack_signing_secret: str = ""
    slack_api_url: str = ""
    feed_admins: tuple[str, ...] = ()
    discord_bot_token: str = ""
    discord_api_url: str = ""
    discord_admin_permission: str = "manage_guild"
    webhooks: Mapping[str, str] = field(default_factory=dict)
    webhook_secret: str = ""
    gazetteer_path: str = ""
    gazetteer_countries: tuple[str, ...] = ()
    near_min_population: int = 0
    watch_warn_share: float = 0.2
    full_text: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        env = dict(os.environ if environ is None else environ)
        env_file = Path(env.get("WIREWATCH_ENV_FILE", ".env"))
        for name, value in _read_env_file(env_file).items():
            env.setdefault(name, value)
        get = lambda name: env.get(name, SETTINGS[name][0]).strip()  # noqa: E731
        s = cls(
            database_url=get("WIREWATCH_DATABASE_URL") or DEFAULT_DATABASE_URL,
            allow_private_networks=_bool(get, "WIREWATCH_ALLOW_PRIVATE_NETWORKS"),
            min_interval_s=_int(get, "WIREWATCH_MIN_INTERVAL", 1),
            max_interval_s=_int(get, "WIREWATCH_MAX_INTERVAL", 60),
            default_interval_s=_int(get, "WIREWATCH_DEFAULT_INTERVAL", 1),
            fetch_timeout_s=_float(get, "WIREWATCH_FETCH_TIMEOUT", 1),
            max_body_bytes=_int(get, "WIREWATCH_MAX_BODY_BYTES", 1024),
            parse_timeout_s=_float(get, "WIREWATCH_PARSE_TIMEOUT", 0.5),
            dead_after_days=_float(get, "WIREWATCH_DEAD_AFTER_DAYS", 0.01),
            tick_s=_float(get, "WIREWATCH_TICK_SECONDS", 0.1),
            delivery_tick_s=_float(get, "WIREWATCH_DELIVERY_TICK_SECONDS", 0.1),
            poll_lease_s=_float(get, "WIREWATCH_POLL_LEASE", 1),
            delivery_lease_s=_float(get, "WIREWATCH_DELIVERY_LEASE", 1),
            database_pool=_int(get, "WIREWATCH_DATABASE_POOL", 1),
            retention_days=_float(get, "WIREWATCH_RETENTION_DAYS", 1),
            tombstone_days=_float(get, "WIREWATCH_TOMBSTONE_DAYS", 1),
            timezone=_zone(get, "WIREWATCH_TIMEZONE"),
            digest_timezone=_zone(get, "WIREWATCH_DIGEST_TIMEZONE") or "UTC",
            digest_top=_int(get, "WIREWATCH_DIGEST_TOP", 1),
            digest_tick_s=_float(get, "WIREWATCH_DIGEST_TICK_SECONDS", 1),
            log_level=_choice(get, "WIREWATCH_LOG_LEVEL", ("DEBUG", "INFO", "WARNING", "ERROR"), upper=True),
            log_format=_choice(get, "WIREWATCH_LOG_FORMAT", ("text", "json")),
            http_host=get("WIREWATCH_HTTP_HOST"),
            http_port=_int(get, "WIREWATCH_HTTP_PORT", 0),
            contact=get("WIREWATCH_CONTACT"),
            slack_bot_token=get("SLACK_BOT_TOKEN"),
            slack_app_token=get("SLACK_APP_TOKEN"),
            slack_signing_secret=get("SLACK_SIGNING_SECRET"),
            slack_api_url=get("WIREWATCH_SLACK_API_URL"),
            feed_admins=tuple(i.strip() for i in get("WIREWATCH_FEED_ADMINS").split(",") if i.strip()),
            discord_bot_token=get("DISCORD_BOT_TOKEN"),
            discord_api_url=get("WIREWATCH_DISCORD_API_URL"),
            discord_admin_permission=get("WIREWATCH_DISCORD_ADMIN_PERMISSION").lower() or "none",
            webhooks={
                k[len("WIREWATCH_WEBHOOK_"):].lower(): v.strip()
                for k, v in env.items()
                if k.startswith("WIREWATCH_WEBHOOK_") and k != "WIREWATCH_WEBHOOK_SECRET" and v.strip()
            },
            webhook_secret=get("WIREWATCH_WEBHOOK_SECRET"),
            gazetteer_path=get("WIREWATCH_GAZETTEER_PATH"),
            gazetteer_countries=_countries(get, "WIREWATCH_GAZETTEER_COUNTRIES"),
            near_min_population=_int(get, "WIREWATCH_NEAR_MIN_POPULATION", 0),
            watch_warn_share=_float(get, "WIREWATCH_WATCH_WARN_SHARE", 0),
            full_text=_bool(get, "WIREWATCH_FULL_TEXT"),
        )
        if s.min_interval_s > s.max_interval_s:
            raise ConfigError(
                f"WIREWATCH_MIN_INTERVAL ({s.min_interval_s}) is larger than WIREWATCH_MAX_INTERVAL ({s.max_interval_s})"
            )
        if s.slack_bot_token and not (s.slack_app_token or s.slack_signing_secret):
            raise ConfigError(
                "SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET (HTTP mode) is required when "
                "SLACK_BOT_TOKEN is set"
            )
        if (s.slack_app_token or s.slack_signing_secret) and not s.slack_bot_token:
            raise ConfigError("SLACK_BOT_TOKEN is required when SLACK_APP_TOKEN or SLACK_SIGNING_SECRET is set")
        if s.poll_lease_s <= s.fetch_timeout_s + s.parse_timeout_s:
            raise ConfigError(
                f"WIREWATCH_POLL_LEASE ({s.poll_lease_s:g}s) must be longer than WIREWATCH_FETCH_TIMEOUT plus "
                f"WIREWATCH_PARSE_TIMEOUT ({s.fetch_timeout_s + s.parse_timeout_s:g}s), or two pollers could "
                "fetch one feed at once"
            )
        if s.tombstone_days < s.retention_days:
            raise ConfigError(
                f"WIREWATCH_TOMBSTONE_DAYS ({s.tombstone_days:g}) must be at least WIREWATCH_RETENTION_DAYS "
                f"({s.retention_days:g}): a pruned item must stay known at least as long as it was kept"
            )
        return s

    @property
    def zone(self):
        """The zone times are shown in: WIREWATCH_TIMEZONE, else the machine's local zone (None)."""
        return ZoneInfo(self.timezone) if self.timezone else None


def _read_env_file(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    values = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.removeprefix("export ").partition("=")
        if not sep:
            raise ConfigError(f"{path}:{number}: expected NAME=value, got {raw!r}")
        values[name.strip()] = value.strip().strip('"').strip("'")
    return values


def _bool(get, name: str) -> bool:
    value = get(name).lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{name} must be 1 or 0, got {value!r}")


def _int(get, name: str, minimum: int) -> int:
    value = get(name)
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {value!r}") from None
    if number < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {number}")
    return number


def _float(get, name: str, minimum: float) -> float:
    value = get(name)
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {value!r}") from None
    if number < minimum:
        raise ConfigError(f"{name} must be at least {minimum:g}, got {number:g}")
    return number


def _choice(get, name: str, choices: tuple[str, ...], upper: bool = False) -> str:
    value = get(name)
    value = value.upper() if upper else value.lower()
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _countries(get, name: str) -> tuple[str, ...]:
    codes = tuple(c.strip().upper() for c in get(name).split(",") if c.strip())
    bad = [c for c in codes if len(c) != 2 or not c.isalpha()]
    if bad:
        raise ConfigError(f"{name} must be comma-separated two-letter ISO country codes such as UA,RU, got {bad[0]!r}")
    return codes


def _zone(get, name: str) -> str:
    value = get(name)
    if value:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"{name} must be an IANA time zone such as Europe/Kyiv, got {value!r}") from None
    return value
