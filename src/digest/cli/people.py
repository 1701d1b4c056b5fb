"""Commands about subscribers: add, import, list, remove."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from digest.cli.base import emit_json, engine_for, now_utc, subscribers_app
from digest.errors import InputError

SUBSCRIBER_KEYS = ("id", "email", "name", "status", "topics", "countries", "frequency", "weekday", "send_at",
                   "timezone", "max_items", "format")


def _defaults(settings) -> dict:
    return {"send_at": settings.schedule.send_at, "timezone": settings.schedule.timezone,
            "max_items": settings.selection.max_items}


@subscribers_app.command("add")
def subscribers_add(
        ctx: typer.Context,
        email: Annotated[str, typer.Argument(help="The subscriber's address.")],
        name: Annotated[str, typer.Option(help="Display name.")] = "",
        topics: Annotated[str, typer.Option(help="Topics, separated by ';' or ',' (empty: all).")] = "",
        countries: Annotated[str, typer.Option(help="Countries, separated by ';' or ',' (empty: all).")] = "",
        frequency: Annotated[str, typer.Option(help="daily or weekly.")] = "daily",
        weekday: Annotated[Optional[str], typer.Option(help="mon..sun, for weekly.")] = None,
        send_at: Annotated[Optional[str], typer.Option("--send-at", help="Local send time HH:MM.")] = None,
        timezone: Annotated[Optional[str], typer.Option(help="IANA time zone, e.g. Europe/Berlin.")] = None,
        max_items: Annotated[Optional[int], typer.Option("--max-items", help="Stories per digest.")] = None,
        format: Annotated[str, typer.Option(help="html or text.")] = "html"):
    """Add a subscriber (or update the preferences of an existing one)."""
    from digest import store
    from digest.ingest.subscribers import subscriber_from

    settings = ctx.obj.settings
    values = {"email": email, "name": name, "topics": topics.replace(",", ";"),
              "countries": countries.replace(",", ";"), "frequency": frequency, "weekday": weekday,
              "send_at": send_at, "timezone": timezone, "max_items": max_items, "format": format}
    try:
        sub = subscriber_from(values, defaults=_defaults(settings))
    except ValueError as exc:
        raise InputError(f"subscriber {email!r}: {exc}") from None
    with store.session_scope(engine_for(settings)) as session:
        counts = store.upsert_subscribers(session, subscribers=[sub], now=now_utc())
    typer.echo(f"{'added' if counts['new'] else 'updated'} {sub.email}")


@subscribers_app.command("import")
def subscribers_import(ctx: typer.Context, file: Annotated[Path, typer.Argument(help="CSV with an email column.")]):
    """Upsert subscribers by email from a CSV; a bad row rejects the file, naming each bad line."""
    from digest import store
    from digest.ingest.subscribers import load_subscribers

    settings = ctx.obj.settings
    subscribers = load_subscribers(file, defaults=_defaults(settings))
    engine = engine_for(settings)
    totals = {"new": 0, "updated": 0}
    now = now_utc()
    with store.session_scope(engine) as session:  # one transaction: all rows or none
        for start in range(0, len(subscribers), 5000):
            for key, n in store.upsert_subscribers(session, subscribers=subscribers[start:start + 5000],
                                                   now=now).items():
                totals[key] += n
    typer.echo(f"imported {len(subscribers)} subscribers: {totals['new']} new, {totals['updated']} updated")


@subscribers_app.command("list")
def subscribers_list(ctx: typer.Context,
                     json_out: Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")] = False):
    """List subscribers and their preferences."""
    from digest import store

    with store.read_session(engine_for(ctx.obj.settings, readonly=True)) as session:
        subs = store.list_subscribers(session)
    if json_out:
        emit_json([{k: getattr(s, k) for k in SUBSCRIBER_KEYS} for s in subs])
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("email", "name", "status", "frequency", "send at", "time zone", "topics", "countries", "max",
                  "format", box=None)
    for s in subs:
        freq = f"{s.frequency} ({s.weekday})" if s.weekday else str(s.frequency)
        table.add_row(s.email, s.name, str(s.status), freq, s.send_at, s.timezone, ", ".join(s.topics) or "all",
                      ", ".join(s.countries) or "all", str(s.max_items), str(s.format))
    Console().print(table)
    typer.echo(f"{len(subs)} subscribers")


@subscribers_app.command("remove")
def subscribers_remove(ctx: typer.Context, email: Annotated[str, typer.Argument(help="The address to remove.")]):
    """Delete a subscriber and their delivery history."""
    from digest import store
    from digest.ingest.subscribers import normalize_email

    try:
        address = normalize_email(email)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    from digest.lock import exclusive

    settings = ctx.obj.settings
    engine = engine_for(settings)
    with exclusive(engine, "sender", wait=settings.send.lock_wait_seconds):  # never while a batch is in flight
        with store.session_scope(engine) as session:
            if not store.delete_subscriber(session, email=address):
                raise InputError(f"no subscriber {address}")
    typer.echo(f"removed {address}")
