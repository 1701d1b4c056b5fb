"""`digest deliveries requeue`: the operator's way back after a relay refused or lost a whole run."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Optional

import typer

from digest.cli.base import DigestGroup, UsageError, app, configure_logging, engine_for, now_utc, parse_day

deliveries_app = typer.Typer(cls=DigestGroup, no_args_is_help=True, help="Repair deliveries after a relay fault.")
app.add_typer(deliveries_app, name="deliveries")


def parse_time(value: str | None, option: str) -> datetime | None:
    """An ISO 8601 time; without a zone it is UTC (the zone `digest status` prints)."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise UsageError(f"{option}: expected an ISO 8601 time such as 2026-11-27T07:00Z, got {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def parse_statuses(value: str) -> list:
    from digest.models import DeliveryStatus
    from digest.store import REQUEUEABLE

    names = [v.strip().lower() for v in value.split(",") if v.strip()]
    allowed = [str(s) for s in REQUEUEABLE]
    for name in names:
        if name not in allowed:
            raise UsageError(f"--status: {name!r} cannot be requeued; choose from {', '.join(allowed)}")
    if not names:
        raise UsageError(f"--status: name at least one of {', '.join(allowed)}")
    return [DeliveryStatus(n) for n in dict.fromkeys(names)]


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
    from digest.pipeline.requeue import requeue_deliveries

    settings = ctx.obj.settings
    day = parse_day(date, settings)
    statuses = parse_statuses(status)
    start, end = parse_time(since, "--since"), parse_time(until, "--until")
    if start and end and start >= end:
        raise UsageError(f"--since {since} is not before --until {until}")
    configure_logging(settings, verbose=verbose)
    engine = engine_for(settings, readonly=dry_run)
    reports = requeue_deliveries(engine, day, statuses=statuses, now=now_utc(), edition=edition, since=start,
                                 until=end, dry_run=dry_run)
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
