"""Commands about registered feeds: add, list, pause, resume, remove, poll (`operations.feeds`)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from digest.cli.base import app, DigestGroup, emit_json, lazy, now_utc
ops = lazy("digest.operations.feeds")

feeds_app = typer.Typer(cls=DigestGroup, no_args_is_help=True, help="RSS and Atom feeds the daemon polls.")
app.add_typer(feeds_app, name="feeds")
FEED_KEYS = ("url", "topics", "country", "status", "http_status", "last_fetch_at", "last_ok_at", "last_result",
             "last_error", "etag", "last_modified", "paused_at")


@feeds_app.command("add")
def feeds_add(ctx: typer.Context,
              url: Annotated[str, typer.Argument(help="The feed's http(s) URL.")],
              topics: Annotated[Optional[str], typer.Option(
                  "--topics", help="Topics for every item, ;-separated.")] = None,
              country: Annotated[Optional[str], typer.Option(
                  "--country", help="Country for items that name none.")] = None):
    """Register a feed (or change its topics and country)."""
    added = ops.add_feed(ctx.obj.settings, url, now=now_utc(), topics=topics, country=country)
    typer.echo(f"{'added' if added.created else 'updated'} {added.url}")


@feeds_app.command("list")
def feeds_list(ctx: typer.Context,
               json_out: Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")] = False):
    """Show each feed with its last fetch, status and error."""
    feeds = ops.list_feeds(ctx.obj.settings)
    if json_out:
        emit_json([{k: getattr(f, k) for k in FEED_KEYS} for f in feeds])
        return
    for f in feeds:
        when = f"{f.last_fetch_at:%Y-%m-%d %H:%M}Z" if f.last_fetch_at else "never"
        detail = f.last_error if f.status == "error" else (f.last_result or "")
        paused = f"  paused since {f.paused_at:%Y-%m-%d %H:%M}Z" if f.paused_at else ""
        typer.echo(f"{f.url}  {f.status}{paused}  last fetch {when}  {detail}".rstrip())
    typer.echo(f"{len(feeds)} feeds")


@feeds_app.command("pause")
def feeds_pause(ctx: typer.Context, url: Annotated[str, typer.Argument(help="The feed's URL, as listed.")]):
    """Stop polling a feed until `digest feeds resume` (it stays registered; its articles stay)."""
    typer.echo(ops.pause_feed(ctx.obj.settings, url, now=now_utc()))


@feeds_app.command("resume")
def feeds_resume(ctx: typer.Context, url: Annotated[str, typer.Argument(help="The feed's URL, as listed.")]):
    """Poll a paused feed again from the next poll on."""
    typer.echo(ops.resume_feed(ctx.obj.settings, url))


@feeds_app.command("remove")
def feeds_remove(ctx: typer.Context, url: Annotated[str, typer.Argument(help="The feed's URL, as listed.")]):
    """Stop polling a feed (its articles stay)."""
    ops.remove_feed(ctx.obj.settings, url)
    typer.echo(f"removed {url}")


@feeds_app.command("poll")
def feeds_poll(ctx: typer.Context):
    """Fetch every feed now, as the daemon does every [feeds] poll_minutes. Exits 1 if a feed failed."""
    polls = ops.poll_feeds(ctx.obj.settings, now=now_utc())
    for poll in polls:
        typer.echo(f"{poll.url}: {poll.status} {poll.error or poll.result}".rstrip())
    if any(p.error for p in polls):
        raise typer.Exit(1)
