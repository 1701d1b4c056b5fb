"""`digest editions pause | resume | retry-deferred | retry-unknown`: an operator's actions on one edition, the
same functions the console's buttons call (`operations.edition_actions`)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from digest.cli.base import configure_logging, emit_json, lazy, now_utc, parse_day
from digest.cli.editions import Json, Weekly, editions_app
ops = lazy("digest.operations.edition_actions")

Date = Annotated[Optional[str], typer.Option("--date", help="The edition's date YYYY-MM-DD (default today).")]
Letter = Annotated[Optional[str], typer.Option("--newsletter", help="The newsletter's key (default: the date's "
                                               "one edition, else name it).")]


def _act(ctx: typer.Context, action, date: str | None, newsletter: str | None, weekly: bool, json_out: bool) -> None:
    settings = ctx.obj.settings
    configure_logging(settings)
    day = parse_day(date, settings).isoformat()
    result = action(settings, day, now=now_utc(), newsletter=newsletter, weekly=weekly)
    if json_out:
        emit_json(result.doc())
    else:
        typer.echo(result.line)


@editions_app.command("pause")
def pause(ctx: typer.Context, date: Date = None, newsletter: Letter = None, weekly: Weekly = False,
          json_out: Json = False):
    """Pause an edition: a sender stops after the batch in flight; what is left stays queued until resumed."""
    _act(ctx, ops.pause, date, newsletter, weekly, json_out)


@editions_app.command("resume")
def resume(ctx: typer.Context, date: Date = None, newsletter: Letter = None, weekly: Weekly = False,
           json_out: Json = False):
    """Resume a paused edition: the daemon's next tick sends what is left, while before its deadline."""
    _act(ctx, ops.resume, date, newsletter, weekly, json_out)


@editions_app.command("retry-deferred")
def retry_deferred(ctx: typer.Context, date: Date = None, newsletter: Letter = None, weekly: Weekly = False,
                   json_out: Json = False):
    """Make the edition's deferred deliveries due now: the daemon's retry job sends them at its next tick."""
    _act(ctx, ops.retry_deferred, date, newsletter, weekly, json_out)


@editions_app.command("retry-unknown")
def retry_unknown(ctx: typer.Context, date: Date = None, newsletter: Letter = None, weekly: Weekly = False,
                  json_out: Json = False):
    """Requeue the edition's deliveries whose outcome is unknown (some of those readers may get it twice)."""
    _act(ctx, ops.retry_unknown, date, newsletter, weekly, json_out)
