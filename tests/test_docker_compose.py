"""compose.yaml runs exactly the commands docs/workers.md describes, and each parses against the real CLI."""

from __future__ import annotations

import re

import click
import pytest
import typer.main
import yaml

from digest.cli import app
from digest.config import load_settings
from tests.conftest import ROOT

COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
DIGEST_SERVICES = {name: s for name, s in COMPOSE["services"].items() if s.get("image") == "digest"}


OPERATOR_VALUES = {  # what an operator sets (README, "Docker"): values the settings accept
    "DIGEST_SECRET_KEY": "a-secret-key-of-at-least-32-bytes-0123456789",
    "DIGEST_SENDER_FROM_ADDRESS": "digest@news.example.org",
    "DIGEST_SENDER_BASE_URL": "https://news.example.org/digest",
    "DIGEST_SENDER_LIST_ID": "digest.news.example.org",
}


def _environment(service: dict) -> dict[str, str]:
    """The service's environment as compose would pass it: ${VAR:-default} → default, other ${VAR...} → a value."""
    def value(text: str) -> str:
        text = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", text)
        return re.sub(r"\$\{([A-Z_]+)[^}]*\}", lambda m: OPERATOR_VALUES.get(m[1], "placeholder"), text)

    return {k: value(str(v)) for k, v in service["environment"].items()}


def test_compose_has_postgres_the_daemon_the_pages_and_two_workers():
    commands = {name: s["command"][0] for name, s in DIGEST_SERVICES.items()}
    assert "postgres" in COMPOSE["services"]
    assert sorted(commands.values()) == ["db", "run", "serve", "subscribers", "worker", "worker"]


@pytest.mark.parametrize("name", sorted(DIGEST_SERVICES))
def test_each_service_command_parses_and_its_settings_load(name):
    service = DIGEST_SERVICES[name]
    group = typer.main.get_command(app)
    ctx = group.make_context("digest", [], resilient_parsing=True)
    _, command, args = group.resolve_command(ctx, list(service["command"]))
    if isinstance(command, click.Group):  # `db upgrade`
        _, command, args = command.resolve_command(ctx, args)
    command.make_context(command.name, args, parent=ctx)  # raises on an unknown option or a bad value
    environ = _environment(service)
    settings = load_settings(ROOT / "config.toml", environ=environ)
    assert settings.workers.engine == "procrastinate" and settings.store.url.startswith("postgresql+psycopg://")


@pytest.mark.parametrize("name", sorted(DIGEST_SERVICES))
def test_the_docs_describe_each_command(name):
    line = " ".join(["digest", *DIGEST_SERVICES[name]["command"]])
    assert line in (ROOT / "docs" / "workers.md").read_text()


def test_no_secret_is_written_in_compose():
    for service in COMPOSE["services"].values():
        for key, value in service.get("environment", {}).items():
            if "PASSWORD" in key or "SECRET" in key:
                assert re.fullmatch(r"\$\{[A-Z_]+(:[?-][^}]*)?\}", str(value)), key
