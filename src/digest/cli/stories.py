"""`digest stories`: a date's stories (same-event groups) with their articles and scores (`operations.stories`).
Read-only."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from digest.cli.base import Newsletter, app, emit_json, parse_day


@app.command()
def stories(ctx: typer.Context,
            date: Annotated[Optional[str], typer.Option("--date", help="Edition date YYYY-MM-DD (default today).")] = None,
            min_articles: Annotated[int, typer.Option("--min-articles", min=1, help="Only stories with this many articles.")] = 1,
            json_out: Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")] = False,
            newsletter: Newsletter = None):
    """List the stories of a date's daily edition, best first: articles, outlets, scores. Writes nothing."""
    from digest.operations.stories import list_stories

    settings = ctx.obj.settings
    found = list_stories(settings, parse_day(date, settings), min_articles=min_articles, newsletter=newsletter)
    if json_out:
        emit_json(found.doc())
        return
    docs, plan = found.stories, found.plan
    for doc in docs:
        _print_story(doc)
    typer.echo(f"{len(docs)} stories from {sum(len(d['articles']) for d in docs)} articles "
               f"({plan.key}, window {plan.window_start:%Y-%m-%d %H:%M} to {plan.cutoff:%Y-%m-%d %H:%M %Z})")


def _print_story(doc: dict) -> None:
    z = f", trending z {doc['trending_z']}" if doc["trending"] else ""
    follows = f", follows {doc['follows']}" if doc["follows"] else ""
    typer.echo(f"#{doc['rank']} {doc['key']}  score {doc['score']} ({doc['basis']}, coverage {doc['coverage']}{z}{follows})")
    for article in doc["articles"]:
        mark = "*" if article["representative"] else " "
        typer.echo(f"  {mark} {article['id']:>6}  {article['source'][:22]:<22}  {article['title']}")
