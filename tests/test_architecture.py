"""Keep the architecture, the docs and the deployment files honest."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
VENDOR = {"sqlalchemy", "aiohttp", "httpx", "slack_bolt", "slack_sdk", "discord", "apscheduler", "alembic",
          "aiosqlite", "asyncpg", "trafilatura", "requests"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted((ROOT / "bot" / "core").glob("*.py")), ids=lambda p: p.name)
def test_core_is_pure(path):
    for name in _imports(path):
        top = name.split(".")[0]
        assert top not in VENDOR, f"{path.name} imports {name}: bot/core must not use vendor SDKs"
        if top == "bot":
            assert name.startswith("bot.core"), f"{path.name} imports {name}: core may import only core"
        assert name not in ("os", "socket", "urllib.request", "subprocess"), f"{path.name} imports {name}"


@pytest.mark.parametrize("path", sorted((ROOT / "bot" / "adapters").glob("*.py")), ids=lambda p: p.name)
def test_adapters_do_not_import_each_other_or_the_app(path):
    for name in _imports(path):
        assert not name.startswith("bot.app"), f"{path.name} imports {name}"
        assert not name.startswith("bot.service"), f"{path.name} imports {name}"
        if name.startswith("bot.adapters."):
            assert name.split(".")[2] == "migrations", f"{path.name} imports another adapter: {name}"


def test_service_uses_only_core_and_ports():
    for name in _imports(ROOT / "bot" / "service.py"):
        if name.startswith("bot"):
            assert name.startswith(("bot.core", "bot.ports")), f"service imports {name}"


def test_the_chat_sdks_are_imported_only_for_their_platform():
    """discord.py and slack_bolt/slack_sdk cost ~16 MB resident and ~0.3 s (bench memory): the process
    roles and the CLI import them only where a Discord or Slack token asks for them (``build_app``)."""
    code = ("import sys, bot.app.cli, bot.app.roles, bot.app.bootstrap; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'discord', 'slack_sdk', 'slack_bolt'}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _readme_settings() -> set[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return set(re.findall(r"^\| `([A-Z][A-Z0-9_<>]+)` \|", text, re.M))


def test_every_setting_is_in_the_readme_table():
    from bot.app.settings import SETTINGS

    missing = set(SETTINGS) - _readme_settings()
    assert not missing, f"settings missing from the README table: {sorted(missing)}"


def test_every_environment_variable_the_code_reads_is_documented():
    documented = _readme_settings()
    used = set()
    for path in (ROOT / "bot").rglob("*.py"):
        used.update(re.findall(r"[\"']((?:WIREWATCH|SLACK|DISCORD)_[A-Z0-9_]+)[\"']", path.read_text(encoding="utf-8")))
    prefixes = {d.split("<")[0] for d in documented if "<" in d}
    undocumented = {u for u in used if u not in documented and not any(u.startswith(p) for p in prefixes)}
    assert not undocumented, f"read by the code but not in the README table: {sorted(undocumented)}"


def test_docker_compose_parses_and_its_variables_are_documented():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    assert {"bot", "db"} <= set(compose["services"])
    db = compose["services"]["db"]
    assert "healthcheck" in db and db["volumes"], "PostgreSQL needs a health check and a volume"
    assert "pgdata" in compose["volumes"]
    bot = compose["services"]["bot"]
    assert bot["depends_on"]["db"]["condition"] == "service_healthy"
    assert bot["env_file"]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    interpolated = set(re.findall(r"\$\{([A-Z0-9_]+)", text))
    for name in interpolated | set(bot.get("environment", {})):
        assert f"`{name}`" in readme, f"{name} is used by docker-compose.yml but not documented in the README"
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    for name in re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, re.M):
        assert f"`{name}`" in readme or name.startswith("WIREWATCH_WEBHOOK_"), f".env.example: {name} undocumented"


def test_ci_runs_the_readme_test_command():
    run = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    last = [line for line in run if line.strip() and not line.startswith(("#", "set ", "cd "))][-1].strip()
    assert last in (ROOT / "README.md").read_text(encoding="utf-8")
