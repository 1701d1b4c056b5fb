"""Commands about the store's schema: `digest db upgrade`, `digest db current`."""

from __future__ import annotations

import typer

from digest.cli.base import DigestGroup, app, engine_for

db_app = typer.Typer(cls=DigestGroup, no_args_is_help=True, help="The store's schema (Alembic migrations).")
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context):
    """Apply the migrations the store has not had yet (SQLite and PostgreSQL)."""
    from digest.store.migrate import upgrade

    settings = ctx.obj.settings
    before, after = upgrade(engine_for(settings))
    typer.echo(f"store at revision {after}" + (f" (was {before})" if before != after else " (already there)"))
    if settings.scale.engine == "procrastinate":
        from digest.cli.cluster import apply_queue_schema

        typer.echo("procrastinate's queue schema " + ("applied" if apply_queue_schema(settings) else "already there"))


@db_app.command("current")
def db_current(ctx: typer.Context):
    """Print the store's migration revision."""
    from digest.store.migrate import current

    typer.echo(current(engine_for(ctx.obj.settings)) or "none (run `digest db upgrade`)")
