"""Commands about subscribers: add, import, list, remove, erase."""

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


RESUBSCRIBE_HELP = ("Re-add addresses that unsubscribed, bounced, complained, were removed or erased: only with "
                    "the reader's new consent, recorded with --consent-source.")
CONSENT_HELP = "Where the consent to --resubscribe came from, e.g. 'phone call 2026-11-30, ticket 1234'."
Resubscribe = Annotated[bool, typer.Option("--resubscribe", help=RESUBSCRIBE_HELP)]
ConsentSource = Annotated[Optional[str], typer.Option("--consent-source", help=CONSENT_HELP)]


def _consent(resubscribe: bool, consent_source: str | None) -> str | None:
    """The consent source to record, or None (suppressed addresses stay suppressed); usage errors exit 2."""
    source = (consent_source or "").strip()
    if resubscribe and not source:
        raise typer.BadParameter("--resubscribe needs --consent-source TEXT: where the reader's consent came from",
                                 param_hint="--consent-source")
    if source and not resubscribe:
        raise typer.BadParameter("--consent-source is recorded only with --resubscribe", param_hint="--resubscribe")
    return f"operator: {source}" if resubscribe else None


def _warn_unknown_topics(session, source: str, rows) -> int:
    from digest import store
    from digest.ingest.subscribers import unknown_topic_warnings

    if not any(row.topics for row in rows):
        return 0
    known, _ = store.known_topics_and_countries(session)
    if not known:
        return 0  # no articles yet: nothing to check the topics against
    warnings = unknown_topic_warnings(source, rows, known)
    for line in warnings:
        typer.echo(line, err=True)
    return len(warnings)


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
        format: Annotated[str, typer.Option(help="html or text.")] = "html",
        resubscribe: Resubscribe = False, consent_source: ConsentSource = None):
    """Add a subscriber (or update the preferences of an existing one); a suppressed address stays suppressed."""
    from digest import store
    from digest.ingest.subscribers import subscriber_row

    settings = ctx.obj.settings
    consent = _consent(resubscribe, consent_source)
    values = {"email": email, "name": name, "topics": topics.replace(",", ";"),
              "countries": countries.replace(",", ";"), "frequency": frequency, "weekday": weekday,
              "send_at": send_at, "timezone": timezone, "max_items": max_items, "format": format}
    try:
        sub = subscriber_row(values, defaults=_defaults(settings))
    except ValueError as exc:
        raise InputError(f"subscriber {email!r}: {exc}") from None
    with store.session_scope(engine_for(settings)) as session:
        reason = store.is_suppressed(session, email=sub.email)
        counts = store.upsert_subscribers(session, subscribers=[sub], now=now_utc(), resubscribe=consent)
        _warn_unknown_topics(session, "--topics", [sub])
    if counts["suppressed"]:
        raise InputError(f"{sub.email} is {reason}: left suppressed; re-adding needs the reader's consent "
                         "(--resubscribe --consent-source TEXT)")
    verb = "resubscribed" if counts["resubscribed"] else "added" if counts["new"] else "updated"
    typer.echo(f"{verb} {sub.email}")


@subscribers_app.command("import")
def subscribers_import(ctx: typer.Context, file: Annotated[Path, typer.Argument(help="CSV with an email column.")],
                       resubscribe: Resubscribe = False, consent_source: ConsentSource = None):
    """Upsert subscribers by email from a CSV; a bad row rejects the file, naming each bad line. Addresses that
    unsubscribed, bounced, complained, were removed or erased stay suppressed (counted) unless --resubscribe."""
    from digest import store
    from digest.ingest.subscribers import load_subscribers

    settings = ctx.obj.settings
    consent = _consent(resubscribe, consent_source)
    subscribers = load_subscribers(file, defaults=_defaults(settings))
    engine = engine_for(settings)
    totals = dict.fromkeys(store.UPSERT_COUNTS, 0)
    now = now_utc()
    with store.session_scope(engine) as session:  # one transaction: all rows or none
        for start in range(0, len(subscribers), 5000):
            for key, n in store.upsert_subscribers(session, subscribers=subscribers[start:start + 5000],
                                                   now=now, resubscribe=consent).items():
                totals[key] += n
        unknown = _warn_unknown_topics(session, str(file), subscribers)
    line = f"imported {len(subscribers)} subscribers: {totals['new']} new, {totals['updated']} updated"
    if consent is not None:
        line += f", {totals['resubscribed']} resubscribed ({consent})"
    else:
        line += (f", {totals['suppressed']} left suppressed (unsubscribed, bounced, complained, removed or erased;"
                 " --resubscribe --consent-source TEXT re-adds them)" if totals["suppressed"] else
                 ", 0 left suppressed")
    if unknown:
        line += f"; {unknown} with unknown topics (see the warnings)"
    typer.echo(line)


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


def _address(email: str) -> str:
    from digest.ingest.subscribers import normalize_email

    try:
        return normalize_email(email)
    except ValueError as exc:
        raise InputError(str(exc)) from None


@subscribers_app.command("remove")
def subscribers_remove(ctx: typer.Context, email: Annotated[str, typer.Argument(help="The address to remove.")]):
    """Stop mailing a subscriber for good: their history stays (nothing is ever sent twice) and the address is
    suppressed (re-adding needs --resubscribe). `erase` forgets them instead."""
    from digest import store
    from digest.lock import exclusive

    address = _address(email)
    settings = ctx.obj.settings
    engine = engine_for(settings)
    with exclusive(engine, "sender", wait=settings.send.lock_wait_seconds):  # never while a batch is in flight
        with store.session_scope(engine) as session:
            before = store.delete_subscriber(session, email=address, now=now_utc())
    if before is None:
        raise InputError(f"no subscriber {address}")
    typer.echo(f"{address} was already removed" if before == "removed" else
               f"removed {address} (was {before}; history kept, address suppressed)")


@subscribers_app.command("erase")
def subscribers_erase(ctx: typer.Context, email: Annotated[str, typer.Argument(help="The address to erase.")]):
    """Forget a subscriber (GDPR erasure): their row, deliveries and items are deleted; only a hash of the address
    is kept, so it is never mailed again unless re-added with --resubscribe."""
    from digest import store
    from digest.lock import exclusive

    address = _address(email)
    settings = ctx.obj.settings
    engine = engine_for(settings)
    with exclusive(engine, "sender", wait=settings.send.lock_wait_seconds):
        with store.session_scope(engine) as session:
            deleted = store.erase_subscriber(session, email=address, now=now_utc())
    what = "no subscriber had it" if deleted < 0 else f"the subscriber and {deleted} deliveries deleted"
    typer.echo(f"erased {address}: {what}; only a hash of the address is kept (suppressed)")
