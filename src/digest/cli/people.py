"""Commands about subscribers: add, import, list, remove, erase (`operations.subscribers`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from digest.cli.base import emit_json, lazy, now_utc, subscribers_app
ops = lazy("digest.operations.subscribers")

SUBSCRIBER_KEYS = ("id", "email", "name", "status", "topics", "countries", "frequency", "weekday", "send_at",
                   "timezone", "max_items", "format")


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


def _warn(line: str) -> None:
    typer.echo(line, err=True)


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
        newsletter: Annotated[Optional[list[str]], typer.Option("--newsletter", help="Subscribe to this newsletter (repeat for several; default: the first).")] = None,
        resubscribe: Resubscribe = False, consent_source: ConsentSource = None):
    """Add a subscriber (or update the preferences of an existing one); a suppressed address stays suppressed."""
    settings = ctx.obj.settings
    consent = _consent(resubscribe, consent_source)
    values = {"email": email, "name": name, "topics": topics.replace(",", ";"),
              "countries": countries.replace(",", ";"), "frequency": frequency, "weekday": weekday,
              "send_at": send_at, "timezone": timezone, "max_items": max_items, "format": format}
    added = ops.add_subscriber(settings, values, now=now_utc(), consent=consent, warn=_warn,
                               newsletters=newsletter or ())
    typer.echo(f"{added.verb} {added.email}")


@subscribers_app.command("import")
def subscribers_import(ctx: typer.Context, file: Annotated[Path, typer.Argument(help="CSV with an email column.")],
                       resubscribe: Resubscribe = False, consent_source: ConsentSource = None):
    """Upsert subscribers by email from a CSV; a bad row rejects the file, naming each bad line. A `newsletters`
    column ("morning;woche") says which newsletters (default: the first). Addresses that unsubscribed, bounced,
    complained, were removed or erased stay suppressed (counted) unless --resubscribe."""
    settings = ctx.obj.settings
    consent = _consent(resubscribe, consent_source)
    report = ops.import_subscribers(settings, file, now=now_utc(), consent=consent, warn=_warn)
    typer.echo(report.summary())


@subscribers_app.command("list")
def subscribers_list(ctx: typer.Context,
                     json_out: Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")] = False):
    """List subscribers and their preferences."""
    listed = ops.list_subscribers(ctx.obj.settings)
    if json_out:
        emit_json([entry.doc(SUBSCRIBER_KEYS) for entry in listed])
        return
    _print_subscribers(listed)


def _print_subscribers(listed) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("email", "name", "status", "newsletters", "frequency", "send at", "time zone", "topics",
                  "countries", "max", "format", box=None)
    for entry in listed:
        s = entry.subscriber
        freq = f"{s.frequency} ({s.weekday})" if s.weekday else str(s.frequency)
        letters = ", ".join(x.newsletter + ("" if str(x.status) == "active" else f" ({x.status})")
                            for x in entry.subscriptions) or "none"
        table.add_row(s.email, s.name, str(s.status), letters, freq, s.send_at, s.timezone,
                      ", ".join(s.topics) or "all", ", ".join(s.countries) or "all", str(s.max_items), str(s.format))
    Console().print(table)
    typer.echo(f"{len(listed)} subscribers")


@subscribers_app.command("remove")
def subscribers_remove(ctx: typer.Context, email: Annotated[str, typer.Argument(help="The address to remove.")]):
    """Stop mailing a subscriber for good: their history stays (nothing is ever sent twice) and the address is
    suppressed (re-adding needs --resubscribe). `erase` forgets them instead."""
    removal = ops.remove_subscriber(ctx.obj.settings, email, now=now_utc())
    typer.echo(f"{removal.email} was already removed" if removal.before == "removed" else
               f"removed {removal.email} (was {removal.before}; history kept, address suppressed)")


@subscribers_app.command("erase")
def subscribers_erase(ctx: typer.Context, email: Annotated[str, typer.Argument(help="The address to erase.")]):
    """Forget a subscriber (GDPR erasure): their row, deliveries and items are deleted; only a hash of the address
    is kept, so it is never mailed again unless re-added with --resubscribe."""
    erased = ops.erase_subscriber(ctx.obj.settings, email, now=now_utc())
    what = ("no subscriber had it" if erased.deliveries < 0 else
            f"the subscriber and {erased.deliveries} deliveries deleted")
    typer.echo(f"erased {erased.email}: {what}; only a hash of the address is kept (suppressed)")
