"""Shared pieces of the command line: the app and its groups, error handling, the settings, parsing a date,
writing an output file, JSON, logging.

Every DigestError becomes one line on stderr and exit 1; usage errors (a bad option value, an unknown
command, an unknown `--subscriber`, a bad `--date`) are one line too and exit 2; `send` exits 3 when some
delivery ended other than sent or skipped. A reader that closes the pipe (`digest subscribers list | head -1`)
ends the command quietly, with the status a process killed by SIGPIPE has.
"""

from __future__ import annotations

import gc
import importlib
import json
import sys
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import click
import typer
from typer.core import TyperGroup

try:  # Typer ≥ 0.25 carries its own copy of click: its parser raises these
    from typer._click.exceptions import NoArgsIsHelpError, UsageError as ClickUsageError
except ImportError:  # pragma: no cover - older Typer runs on click itself
    from click.exceptions import NoArgsIsHelpError, UsageError as ClickUsageError

from digest.clock import now_utc  # noqa: F401 - the commands' clock
from digest.errors import DigestError, InputError, UsageError


EXIT_USAGE = 2
EXIT_PIPE = 128 + 13  # SIGPIPE: what a shell reports for `yes | head -1`


class DigestGroup(TyperGroup):
    """Turns our errors (and any stray exception) into one clean line: exit 1, or 2 for usage errors."""

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except NoArgsIsHelpError:
            raise
        except ClickUsageError as exc:  # the top-level options (`digest --bogus`)
            _usage_line(exc)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            _quiet_broken_pipe()
        except UsageError as exc:
            _fail(str(exc), code=EXIT_USAGE)
        except DigestError as exc:
            _fail(str(exc))
        except NoArgsIsHelpError:
            raise
        except ClickUsageError as exc:
            _usage_line(exc)
        except (typer.Exit, typer.Abort, getattr(typer, "TyperException", click.ClickException),
                click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            _fail("interrupted")
        except Exception as exc:  # a bug: still no traceback for the user
            import os
            if os.environ.get("DIGEST_DEBUG"):
                raise
            _fail(f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())} "
                  "(set DIGEST_DEBUG=1 for the traceback)")


def _fail(message: str, *, code: int = 1) -> None:
    lines = message.splitlines() or ["error"]
    for line in lines:
        typer.echo(f"error: {line}", err=True)
    raise typer.Exit(code)


def _usage_line(exc: ClickUsageError) -> None:
    """Click's usage error as one line (it would print the usage, a hint and the error on three)."""
    hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
    _fail(" ".join(exc.format_message().split()) + hint, code=exc.exit_code)


def _quiet_broken_pipe() -> None:
    """The reader went away: nothing more can be written, and nothing is said (no traceback at exit either)."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's last flush then goes nowhere, silently
    except (OSError, ValueError):
        pass
    raise typer.Exit(EXIT_PIPE)


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


# Commands that do one bounded piece of work and end: `main` starts with the cyclic garbage collector off, and it
# stays off for these. Its passes over everything being imported and built (typer, pydantic, SQLAlchemy, the models,
# numpy, the templates) took a cold `digest preview` 0.1-0.2 s of CPU and found almost nothing to free; reference
# counting frees the rest. Every other command (the daemon, the workers, a send, an import) turns it back on first.
ONE_SHOT = frozenset({"preview"})


@app.callback()
def main_options(ctx: typer.Context,
                 config: Annotated[Optional[Path], typer.Option("--config", "-c", help="Config file (default: ./config.toml if present).")] = None):
    ctx.obj = State(config)
    if ctx.invoked_subcommand not in ONE_SHOT:
        gc.enable()


FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(9000, 12, 31)  # an edition's windows stay representable


NEWSLETTER_HELP = "The newsletter ([[newsletters]] key; default: the first)."
Newsletter = Annotated[Optional[str], typer.Option("--newsletter", help=NEWSLETTER_HELP)]


def parse_day(value: str | None, settings, *, option: str = "--date") -> date:
    """`--date YYYY-MM-DD`, or today in `[schedule] timezone`; a bad value is a usage error (exit 2)."""
    if value is None:
        return now_utc().astimezone(settings.tz).date()
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise UsageError(f"{option}: expected YYYY-MM-DD, got {value!r}") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise UsageError(f"{option}: {value!r} is out of range ({FIRST_DAY} to {LAST_DAY})")
    return day


def write_output(path: Path, data: bytes) -> None:
    """Write a command's output file; a path that cannot be written is one line naming it."""
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise InputError(f"{path}: cannot write: {exc.strerror or exc}") from None


def parse_since(value: str | None, option: str = "--since") -> datetime | None:
    """`--since YYYY-MM-DD` as midnight UTC; a bad value is one line (exit 1)."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=timezone.utc)
    except ValueError:
        raise InputError(f"{option}: expected YYYY-MM-DD, got {value!r}") from None


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
    logging.raiseExceptions = False  # a line that cannot be written (stderr closed, a broken pipe) is dropped,
    # never a "--- Logging error ---" traceback on the user's terminal (or in the next command's output)
    root.setLevel(settings.log.level.upper() if verbose else "WARNING")
    # APScheduler's own lines (jobs added, run, "executed successfully", missed runs the tick catches up anyway)
    # are its internals: the daemon logs what it did itself; APScheduler's errors still show
    logging.getLogger("apscheduler").setLevel("ERROR")



class _Lazy:
    """A module imported on first use. The command modules name their use cases through it, so that
    `digest --help` (and a command's own --help) imports no use case: not SQLAlchemy, numpy or the CSS inliner."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str):
        return getattr(importlib.import_module(self._name), attr)


def lazy(name: str):
    """`ops = lazy("digest.operations.feeds")`: `ops.add_feed(...)` imports the module when first called."""
    return _Lazy(name)
