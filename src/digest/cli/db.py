"""Commands about the store: `digest db upgrade`, `digest db current` (`operations.database`), `digest db prune`
(`operations.retention`)."""

from __future__ import annotations

from typing import Annotated

import typer

from digest.cli.base import DigestGroup, app, now_utc

db_app = typer.Typer(cls=DigestGroup, no_args_is_help=True, help="The store's schema (Alembic migrations).")
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context):
    """Apply the migrations the store has not had yet (SQLite and PostgreSQL)."""
    from digest.operations.database import upgrade

    done = upgrade(ctx.obj.settings, report=typer.echo)
    typer.echo(done.summary())
    if done.queue_schema is not None:
        typer.echo("procrastinate's queue schema " + ("applied" if done.queue_schema else "already there"))


@db_app.command("current")
def db_current(ctx: typer.Context):
    """Print the store's migration revision."""
    from digest.operations.database import current_revision

    typer.echo(current_revision(ctx.obj.settings) or "none (run `digest db upgrade`)")


@db_app.command("prune")
def db_prune(ctx: typer.Context,
             keep_days: Annotated[int, typer.Option("--keep-days", max=36500, help="Keep editions dated in the last N days.")],
             dry_run: Annotated[bool, typer.Option("--dry-run", help="Only print what would be deleted.")] = False):
    """Delete finished editions older than --keep-days with their delivery rows (retention; see docs/workers.md)."""
    from digest.operations.retention import prune_editions

    settings = ctx.obj.settings
    verb = "would delete" if dry_run else "deleted"

    def line(key: str, deliveries: int, items: int) -> None:
        typer.echo(f"{key}: {verb} {deliveries} deliveries" + ("" if dry_run else f", {items} items"))

    editions, deliveries, items = prune_editions(settings, today=now_utc().astimezone(settings.tz).date(),
                                                 keep_days=keep_days, dry_run=dry_run, on_edition=line)
    typer.echo(f"{verb} {editions} editions, {deliveries} deliveries" + ("" if dry_run else f", {items} items"))
