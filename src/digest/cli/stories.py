"""`digest stories`: a date's stories (same-event groups) with their articles and scores. Read-only."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from digest.cli.base import app, emit_json, engine_for, parse_day


@app.command()
def stories(ctx: typer.Context,
            date: Annotated[Optional[str], typer.Option("--date", help="Edition date YYYY-MM-DD (default today).")] = None,
            min_articles: Annotated[int, typer.Option("--min-articles", min=1, help="Only stories with this many articles.")] = 1,
            json_out: Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")] = False):
    """List the stories of a date's daily edition, best first: articles, outlets, scores. Writes nothing."""
    from digest import store
    from digest.pipeline.plan import edition_plans, edition_ranking

    settings = ctx.obj.settings
    plan = next(p for p in edition_plans(settings, parse_day(date, settings)) if p.period == "daily")
    with store.read_session(engine_for(settings, readonly=True)) as session:
        ranking = edition_ranking(session, settings, plan)
    trending = {e.story.key for e in ranking.trending}
    docs = [_story_doc(rank, entry, entry.story.key in trending) for rank, entry in enumerate(ranking.top, 1)
            if len(entry.story.articles) >= min_articles]
    if json_out:
        emit_json({"edition": plan.key, "window": {"start": plan.window_start, "end": plan.cutoff},
                   "threshold": settings.selection.story_threshold, "stories": docs})
        return
    for doc in docs:
        _print_story(doc)
    typer.echo(f"{len(docs)} stories from {sum(len(d['articles']) for d in docs)} articles "
               f"({plan.key}, window {plan.window_start:%Y-%m-%d %H:%M} to {plan.cutoff:%Y-%m-%d %H:%M %Z})")


def _story_doc(rank: int, entry, trending: bool) -> dict:
    story = entry.story
    return {"rank": rank, "key": story.key, **entry.why(), "trending": trending, "sources": sorted(story.sources),
            "also": [a.id for a in story.also],
            "articles": [{"id": a.id, "title": a.title, "source": a.source, "url": a.url,
                          "published_at": a.published_at, "representative": a is story.lead}
                         for a in story.articles]}


def _print_story(doc: dict) -> None:
    z = f", trending z {doc['trending_z']}" if doc["trending"] else ""
    typer.echo(f"#{doc['rank']} {doc['key']}  score {doc['score']} ({doc['basis']}, coverage {doc['coverage']}{z})")
    for article in doc["articles"]:
        mark = "*" if article["representative"] else " "
        typer.echo(f"  {mark} {article['id']:>6}  {article['source'][:22]:<22}  {article['title']}")
