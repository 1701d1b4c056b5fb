"""Shared pieces of the command line: the app, error handling, settings, dates, JSON.

Every DigestError becomes one line on stderr and exit 1; usage errors exit 2; `send` exits 3 when some
delivery ended other than sent or skipped.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import click
import typer
from typer.core import TyperGroup

from digest.errors import DigestError, InputError


class DigestGroup(TyperGroup):
    """Turns our errors (and any stray exception) into one clean line and exit 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except DigestError as exc:
            _fail(str(exc))
        except (typer.Exit, typer.Abort, getattr(typer, "TyperException", click.ClickException),
                click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            _fail("interrupted")
        except Exception as exc:  # a bug: still no traceback for the user
            import os
            if os.environ.get("DIGEST_DEBUG"):
                raise
            _fail(f"internal error: {type(exc).__name__}: {exc} (set DIGEST_DEBUG=1 for the traceback)")


def _fail(message: str) -> None:
    lines = message.splitlines() or ["error"]
    for line in lines:
        typer.echo(f"error: {line}", err=True)
    raise typer.Exit(1)


app = typer.Typer(cls=DigestGroup, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  rich_markup_mode=None,
                  help="Daily and weekly newsletter digests: select, render, send, account for every message.")
subscribers_app = typer.Typer(cls=DigestGroup, no_args_is_help=True, help="Manage subscribers.")
articles_app = typer.Typer(cls=DigestGroup, no_args_is_help=True, help="Inspect stored articles.")
events_app = typer.Typer(cls=DigestGroup, no_args_is_help=True, help="Engagement events (views, clicks, ...).")
app.add_typer(subscribers_app, name="subscribers")
app.add_typer(articles_app, name="articles")
app.add_typer(events_app, name="events")


@dataclass
class State:
    config: Path | None

    @property
    def settings(self):
        from digest.config import load_settings

        return load_settings(self.config)


@app.callback()
def main_options(ctx: typer.Context,
                 config: Annotated[Optional[Path], typer.Option("--config", "-c", help="Config file (default: ./config.toml if present).")] = None):
    ctx.obj = State(config)


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def parse_day(value: str | None, settings) -> date:
    if value is None:
        return now_utc().astimezone(settings.tz).date()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(f"--date: expected YYYY-MM-DD, got {value!r}") from None


def engine_for(settings, *, readonly: bool = False):
    from digest import store

    return store.open_engine(settings.store.url, readonly=readonly)


def emit_json(value) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False, default=_json_default))


def _json_default(value):
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    return str(value)


class JsonFormatter:
    """One JSON object per line: time, level, logger, message and the structured fields."""

    def format(self, record) -> str:
        doc = {"ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
               "level": record.levelname.lower(), "logger": record.name, "msg": record.getMessage()}
        doc.update(getattr(record, "fields", {}))
        return json.dumps(doc, ensure_ascii=False, default=str)


def configure_logging(settings, *, verbose: bool = True) -> None:
    """Log lines go to stderr, as text or JSON (`[log] format`); quiet sends keep only warnings."""
    import logging

    handler = logging.StreamHandler(sys.stderr)
    if settings.log.format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log.level.upper() if verbose else "WARNING")
    logging.getLogger("apscheduler").setLevel("WARNING" if not verbose else settings.log.level.upper())

