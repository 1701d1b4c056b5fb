"""`digest deliveries requeue`: the operator's way back after a relay refused or lost a whole run; `digest
deliveries resend`: one edition again to one reader (`operations.deliveries`)."""

from __future__ import annotations

import getpass
from typing import Annotated, Optional

import typer

from digest.cli.base import DigestGroup, app, configure_logging, now_utc, parse_day

deliveries_app = typer.Typer(cls=DigestGroup, no_args_is_help=True, help="Repair deliveries after a relay fault.")
app.add_typer(deliveries_app, name="deliveries")


@deliveries_app.command("requeue")
def requeue(ctx: typer.Context,
            status: Annotated[str, typer.Option("--status", help="Which rows: failed, bounced and/or unknown, "
                                                "comma-separated (unknown may duplicate: check the relay first).")],
            date: Annotated[Optional[str], typer.Option("--date", help="Edition date YYYY-MM-DD (default: today).")] = None,
            edition: Annotated[Optional[str], typer.Option("--edition", help="Only this edition, e.g. daily:2026-11-27.")] = None,
            since: Annotated[Optional[str], typer.Option("--since", help="Rows whose outcome was recorded at or after this time (ISO 8601, UTC if no zone).")] = None,
            until: Annotated[Optional[str], typer.Option("--until", help="... and before this time.")] = None,
            dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would change; write nothing.")] = False,
            verbose: Annotated[bool, typer.Option("--verbose", "-v", help="One log line per requeued delivery.")] = False):
    """Requeue an edition's failed, bounced or unknown deliveries of a time window and reactivate the readers
    those bounces suppressed (an operator's decision, logged); then `digest send` sends them."""
    from digest.operations.deliveries import requeue as requeue_rows

    settings = ctx.obj.settings
    day = parse_day(date, settings)
    configure_logging(settings, verbose=verbose)
    reports = requeue_rows(settings, day, status=status, now=now_utc(), edition=edition, since=since, until=until,
                           dry_run=dry_run)
    _print_requeued(reports, day, dry_run)


def _print_requeued(reports, day, dry_run: bool) -> None:
    verb, react = ("would requeue", "would reactivate") if dry_run else ("requeued", "reactivated")
    for report in reports:
        if not report.total:
            typer.echo(f"{report.edition}: nothing to requeue")
            continue
        by = ", ".join(f"{len(ids)} {s}" for s, ids in sorted(report.moved.items()))
        typer.echo(f"{report.edition}: {verb} {report.total} deliveries ({by}); {react} "
                   f"{len(report.reactivated)} readers whose suppression came from those bounces")
    if dry_run:
        typer.echo("dry run: nothing written")
    elif any(r.total for r in reports):
        typer.echo(f"run `digest send --date {day.isoformat()}` to send them")


@deliveries_app.command("resend")
def resend(ctx: typer.Context,
           subscriber: Annotated[str, typer.Option("--subscriber", help="The reader's address.")],
           date: Annotated[Optional[str], typer.Option("--date", help="Edition date YYYY-MM-DD (default: today).")] = None,
           newsletter: Annotated[Optional[str], typer.Option("--newsletter", help="The newsletter's key, if the reader had several editions that day.")] = None):
    """Queue one reader's delivery of one edition again: they get a second copy (an operator's decision,
    logged); then `digest send --date D --subscriber EMAIL` sends it. A suppressed or unsubscribed reader is refused."""
    from digest.operations.deliveries import resend as resend_one

    settings = ctx.obj.settings
    done = resend_one(settings, parse_day(date, settings), subscriber, now=now_utc(), newsletter=newsletter,
                      actor=_operator())
    typer.echo(done.line())


def _operator() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name and no passwd entry (a bare container)
        return "cli"
