"""`digest editions`: steer an edition and act on it, thin clients of the functions the console calls
(`operations.editorial`, `operations.candidates`, `operations.edition_actions`). An editor's change is accepted
until the edition is planned; each is logged with who made it (here `cli:` and the login name)."""

from __future__ import annotations

import getpass
from typing import Annotated, Optional

import typer

from digest.cli.base import app, DigestGroup, emit_json, lazy, now_utc, parse_day
candidates_ops = lazy("digest.operations.candidates")
ops = lazy("digest.operations.editorial")

editions_app = typer.Typer(cls=DigestGroup, no_args_is_help=True,
                           help="An edition: pins, exclusions, the editor's note, approval; pause, resume, retries.")
app.add_typer(editions_app, name="editions")

Date = Annotated[Optional[str], typer.Option("--date", help="The edition's date YYYY-MM-DD (default today).")]
Letter = Annotated[Optional[str], typer.Option("--newsletter", help="The newsletter's key (default: the first).")]
Weekly = Annotated[bool, typer.Option("--weekly", help="The weekly edition of a daily newsletter.")]
Article = Annotated[Optional[str], typer.Option("--article", help="The article's URL (or id).")]
Story = Annotated[Optional[str], typer.Option("--story", help="A story's key (see `digest editions candidates`).")]
Json = Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")]


def _plan(ctx: typer.Context, date: str | None, newsletter: str | None, weekly: bool):
    settings = ctx.obj.settings
    return settings, ops.edition_of(settings, parse_day(date, settings), newsletter=newsletter, weekly=weekly)


def _change(ctx: typer.Context, action: str, date, newsletter, weekly, **fields) -> None:
    settings, plan = _plan(ctx, date, newsletter, weekly)
    done = ops.change(settings, plan, action, actor=f"cli:{getpass.getuser()}", now=now_utc(), **fields)
    typer.echo(f"{done.key}: {action} recorded; {summary(done)}")


def summary(found: ops.EditionControls) -> str:
    pins = ", ".join(f"{a.title or a.url} ({section})" for a, section in found.pins) or "none"
    excluded = len(found.excluded_articles) + len(found.excluded_stories)
    return (f"state {found.state}; pins: {pins}; {excluded} excluded; note: "
            f"{'yes' if found.note else 'none'}")


@editions_app.command()
def show(ctx: typer.Context, date: Date = None, newsletter: Letter = None, weekly: Weekly = False,
         json_out: Json = False):
    """The edition's pins, exclusions, note and approval state, and the editors' log."""
    settings, plan = _plan(ctx, date, newsletter, weekly)
    found = ops.show(settings, plan)
    if json_out:
        return emit_json(found.doc())
    typer.echo(f"{found.key}: {summary(found)}")
    for line in found.log:
        what = line.article.title if line.article else (line.story_key or line.text or "")
        typer.echo(f"  {line.at:%Y-%m-%d %H:%M}Z  {line.actor}  {line.action}  {what}"
                   f"{'  (' + line.section + ')' if line.section else ''}")


@editions_app.command()
def candidates(ctx: typer.Context, date: Date = None, newsletter: Letter = None, weekly: Weekly = False,
               limit: Annotated[int, typer.Option("--limit", min=1, max=500, help="At most N stories.")] = 20,
               json_out: Json = False):
    """The ranked stories the edition would choose from, pins first, with scores and reasons."""
    settings, plan = _plan(ctx, date, newsletter, weekly)
    found = candidates_ops.candidates(settings, plan, limit=limit)
    if json_out:
        return emit_json([c.doc() for c in found])
    for c in found:
        mark = f"pinned {c.pinned}" if c.pinned else ("trending" if c.trending else c.why["basis"])
        typer.echo(f"{c.rank:>3}  {c.score:>9.3f}  {mark:<14} {c.articles[0].title}  [{c.story_key}]")


@editions_app.command()
def pin(ctx: typer.Context, article: Article = None, date: Date = None, newsletter: Letter = None,
        weekly: Weekly = False,
        section: Annotated[str, typer.Option("--section", help="top or trending.")] = "top"):
    """Put an article's story first in a section of every reader's digest, led by that article."""
    _change(ctx, "pin", date, newsletter, weekly, article=article, section=section)


@editions_app.command()
def unpin(ctx: typer.Context, article: Article = None, date: Date = None, newsletter: Letter = None,
          weekly: Weekly = False):
    """Undo a pin."""
    _change(ctx, "unpin", date, newsletter, weekly, article=article)


@editions_app.command()
def exclude(ctx: typer.Context, article: Article = None, story: Story = None, date: Date = None,
            newsletter: Letter = None, weekly: Weekly = False):
    """Leave an article (or a whole story) out of the edition."""
    _change(ctx, "exclude", date, newsletter, weekly, article=article, story=story)


@editions_app.command()
def include(ctx: typer.Context, article: Article = None, story: Story = None, date: Date = None,
            newsletter: Letter = None, weekly: Weekly = False):
    """Undo an exclusion."""
    _change(ctx, "include", date, newsletter, weekly, article=article, story=story)


@editions_app.command()
def note(ctx: typer.Context, text: Annotated[str, typer.Option("--text", help="Markdown; '' removes the note; "
                                                               "'-' reads standard input.")],
         date: Date = None, newsletter: Letter = None, weekly: Weekly = False):
    """The editor's note at the top of the edition (Markdown, sanitised), in the HTML and text parts."""
    _change(ctx, "note", date, newsletter, weekly, text=typer.get_text_stream("stdin").read() if text == "-" else text)


@editions_app.command()
def approve(ctx: typer.Context, date: Date = None, newsletter: Letter = None, weekly: Weekly = False):
    """Approve the edition: with `[send] approval = "required"` nothing of it is planned or sent before."""
    _change(ctx, "approve", date, newsletter, weekly)


@editions_app.command()
def unapprove(ctx: typer.Context, date: Date = None, newsletter: Letter = None, weekly: Weekly = False):
    """Withdraw an approval (before the edition is planned)."""
    _change(ctx, "unapprove", date, newsletter, weekly)
