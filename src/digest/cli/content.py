"""Commands about content: ingest, events import, articles list (`operations.content`), preview
(`operations.preview`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from digest.cli.base import (
    Newsletter, app, articles_app, emit_json, events_app, lazy, now_utc, parse_day, parse_since, write_output,
)
content = lazy("digest.operations.content")


@app.command()
def ingest(ctx: typer.Context,
           sources: Annotated[list[str], typer.Argument(
               help="Files or http(s) URLs: RSS/Atom feeds, HTML or text article pages, CSV/JSON/JSONL exports.")],
           map: Annotated[Optional[str], typer.Option("--map", help="field=column,... e.g. url=article_source_link")] = None,
           format: Annotated[str, typer.Option("--format", help="auto (by content), rss, atom, csv, jsonl, json, html or text")] = "auto",
           url: Annotated[Optional[str], typer.Option("--url", help="The address of a page given as a file (one source only).")] = None):
    """Load articles; new ones are added, changed ones updated, identical ones left alone.

    Feeds and pages are taken item by item (each rejected item is reported); an export with a bad row is
    refused whole, and so is a source that is not text. A page needs an http(s) address (--url, or its own).
    Export columns: url, title, guid, summary, body, source, author, location, country, topics, image_url,
    published, updated (or the ones --map names). Exits 1 when anything was rejected or a source failed.
    """
    if format not in content.FORMATS:
        raise typer.BadParameter(f"expected one of {', '.join(content.FORMATS)}", param_hint="--format")
    if url is not None and len(sources) != 1:
        raise typer.BadParameter("give one source with --url", param_hint="--url")
    _print_ingest(content.import_articles(ctx.obj.settings, sources, now=now_utc(), fmt=format, mapping=map, url=url))


def _print_ingest(report: content.IngestReport) -> None:
    """Each rejected item and failed source on stderr, the counts on stdout; exit 1 if anything went wrong."""
    for rejected in report.rejected:
        typer.echo(f"rejected: {rejected}", err=True)
    for failure in report.failures:
        for line in failure.splitlines():
            typer.echo(f"error: {line}", err=True)
    typer.echo(report.summary())
    if not report.ok:
        raise typer.Exit(1)


@events_app.command("import")
def events_import(ctx: typer.Context, file: Annotated[Path, typer.Argument(help="CSV or JSON Lines: url, kind, count, at")]):
    """Add engagement events into hourly buckets."""
    typer.echo(content.import_events(ctx.obj.settings, file).summary())


ARTICLE_KEYS = ("id", "url", "guid", "title", "summary", "body", "source", "author", "location", "country", "topics",
                "image_url", "published_at", "updated_at")


@articles_app.command("list")
def articles_list(ctx: typer.Context,
                  since: Annotated[Optional[str], typer.Option("--since", help="YYYY-MM-DD (UTC)")] = None,
                  json_out: Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")] = False):
    """List stored articles, newest first."""
    articles = content.list_articles(ctx.obj.settings, since=parse_since(since))
    if json_out:
        emit_json([{k: getattr(a, k) for k in ARTICLE_KEYS} for a in articles])
        return
    _print_articles(articles)


def _print_articles(articles) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("id", "published (UTC)", "source", "country", "topics", "title", box=None)
    for a in articles:
        table.add_row(str(a.id), f"{a.published_at:%Y-%m-%d %H:%M}", a.source, a.country or "",
                      ", ".join(a.topics), a.title)
    Console().print(table)
    typer.echo(f"{len(articles)} articles")


@app.command()
def preview(ctx: typer.Context,
            subscriber: Annotated[Optional[str], typer.Option("--subscriber", help="Preview for this subscriber.")] = None,
            date: Annotated[Optional[str], typer.Option("--date", help="Edition date YYYY-MM-DD (default today).")] = None,
            format: Annotated[str, typer.Option("--format", help="html, text, eml or json")] = "html",
            out: Annotated[Optional[Path], typer.Option("--out", help="Write here instead of stdout.")] = None,
            open_: Annotated[bool, typer.Option("--open", help="Open the HTML in a browser.")] = False,
            newsletter: Newsletter = None):
    """Render one email locally. Touches no table, sends nothing (the store is opened read-only)."""
    from digest.operations.preview import preview as render

    if format not in ("html", "text", "eml", "json"):
        raise typer.BadParameter("expected html, text, eml or json", param_hint="--format")
    settings = ctx.obj.settings
    result = render(settings, parse_day(date, settings), email=subscriber, now=now_utc(), newsletter=newsletter)
    _emit_preview(result, format, out, open_)


def _emit_preview(result, format: str, out: Path | None, open_: bool) -> None:
    """To stdout or --out; with --open, the HTML goes to a file (a temporary one without --out) and a browser."""
    output = result.as_format(format)
    if open_:
        out = out or Path(__import__("tempfile").mkstemp(suffix=".html", prefix="digest-preview-")[1])
        if format != "html":
            output = result.as_format("html")
    if out:
        write_output(out, output if isinstance(output, bytes) else output.encode())
        typer.echo(f"wrote {out}", err=True)
    else:
        typer.echo(output.decode() if isinstance(output, bytes) else output, nl=False)
    if open_:
        import webbrowser

        webbrowser.open(out.resolve().as_uri())
