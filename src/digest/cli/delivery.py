"""Commands about delivery: send, status, run, demo. Each calls one use case and prints what it returns."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from digest.cli.base import app, configure_logging, emit_json, lazy, now_utc, parse_day
from digest.cli.progress import make_progress, print_summary, report_doc
backends = lazy("digest.operations.backends")
sending = lazy("digest.operations.sending")
status_ops = lazy("digest.operations.status")


def _finishing(name: str) -> None:
    """SIGTERM or Ctrl-C: the batch in flight is finished and recorded, then the send stops."""
    typer.echo(f"received {name}: finishing the batch in flight", err=True)


@app.command()
def send(ctx: typer.Context,
         date: Annotated[Optional[str], typer.Option("--date", help="Edition date YYYY-MM-DD (default today).")] = None,
         dry_run: Annotated[bool, typer.Option("--dry-run", help="Render everything, send nothing, write nothing.")] = False,
         subscriber: Annotated[Optional[list[str]], typer.Option("--subscriber", help="Only these subscribers.")] = None,
         limit: Annotated[Optional[int], typer.Option("--limit", min=0, help="Send at most N messages now.")] = None,
         retry_deferred: Annotated[bool, typer.Option("--retry-deferred", help="Retry deferred deliveries now, ignoring their backoff.")] = False,
         retry_unknown: Annotated[bool, typer.Option("--retry-unknown", help="Resend deliveries whose outcome is unknown (may duplicate).")] = False,
         verbose: Annotated[bool, typer.Option("--verbose", "-v", help="One log line per delivery transition on stderr.")] = False,
         json_out: Annotated[bool, typer.Option("--json", help="The summary as one JSON document on stdout.")] = False,
         newsletter: Annotated[Optional[list[str]], typer.Option("--newsletter", help="Only this newsletter (repeat for several; default: every one with an edition that day).")] = None):
    """Send (or resume) the editions due on a date. Exit 3 when some delivery did not end sent or skipped.

    On a terminal a live bar shows count, rate and ETA (else plain progress lines on stderr); a summary per
    edition follows."""
    settings = ctx.obj.settings
    day = parse_day(date, settings)
    if dry_run:
        printer = DryRunPrinter(json_out)
        return printer.done(sending.dry_run(settings, day, subscribers=subscriber, on_line=printer.line, clock=now_utc,
                                        newsletters=newsletter or ()))
    configure_logging(settings, verbose=verbose)
    progress = make_progress()
    options = backends.SendOptions(limit=limit, retry_deferred=retry_deferred, retry_unknown=retry_unknown,
                          progress=progress, on_signal=_finishing, newsletters=newsletter or ())
    _print_send(sending.send_day(settings, day, subscribers=subscriber, options=options, clock=now_utc), progress, json_out)


def _print_send(sent: backends.DaySend, progress, json_out: bool) -> None:
    """The summary per edition (or, with workers, what was queued); exit 3 when some delivery was not clean."""
    if sent.queued is not None:
        return _print_queued(sent)
    unplanned = [r for r in sent.reports if r.held and not r.stopped]  # awaiting approval: nothing planned
    docs = [report_doc(r, progress.timings.get(r.key)) for r in sent.reports if r not in unplanned]
    if json_out:
        docs += [{"edition": r.key, "held": r.held} for r in unplanned]
        emit_json({"date": sent.day.isoformat(), "editions": docs, "clean": sent.clean,
                   "stopped_by_signal": sent.stopped_by_signal})
    elif not sent.reports:
        typer.echo(f"no edition due on {sent.day}: no active subscriber is due")
        return
    else:
        if docs:
            print_summary(docs, table=sys.stdout.isatty())
        for report in unplanned:
            typer.echo(awaiting_line(report.key, sent.day))
    for report in sent.reports:
        if report.held and report.stopped:  # paused under a sender: its one line says how to go on
            typer.echo(report.stopped, err=True)
    if sent.stopped_by_signal:
        typer.echo("stopped by a signal after the batch in flight; run `digest send` again to resume", err=True)
    if not sent.clean:
        typer.echo("some deliveries did not end sent or skipped: see `digest status`", err=True)
        raise typer.Exit(3)


def _print_queued(sent: backends.DaySend) -> None:
    if not sent.queued:
        typer.echo(f"no edition due on {sent.day}: no active subscriber is due")
    for queued in sent.queued:
        typer.echo(f"{queued.key}: {queued.planned} planned now, {queued.shards} shards queued for the workers "
                   "(`digest status` shows progress)")


def awaiting_line(key: str, day) -> str:
    newsletter, weekly = key.split(":", 1)[0], " --weekly" if ":weekly:" in key else ""
    return (f"{key}: awaiting an editor's approval, nothing planned or sent; approve it in the console or with "
            f"`digest editions approve --date {day} --newsletter {newsletter}{weekly}`")


class DryRunPrinter:
    """`send --dry-run`: a line per reader as it comes (or, with --json, one document at the end)."""

    def __init__(self, json_out: bool) -> None:
        self.json_out = json_out
        self.lines: list[dict] = []

    def line(self, entry) -> None:
        if self.json_out:
            self.lines.append({"edition": entry.edition, "email": entry.email, "variant": entry.variant,
                               "items": entry.items, "bytes": entry.size, "skipped": entry.skipped})
        elif entry.skipped:
            typer.echo(f"{entry.edition}  {entry.email}  skipped: {entry.skipped}")
        else:
            typer.echo(f"{entry.edition}  {entry.email}  variant {entry.variant}  {entry.items} items  "
                       f"{entry.size} bytes")

    def done(self, result: sending.DryRun) -> None:
        if self.json_out:
            emit_json({"date": result.day.isoformat(), "dry_run": True, "deliveries": self.lines,
                       "editions": [{"edition": r.key, "counts": r.counts, "variants": r.variants,
                                     "inlined": r.inlined, "held": r.held} for r in result.reports]})
            return
        for report in result.reports:
            counts = ", ".join(f"{n} {s}" for s, n in report.counts.items())
            typer.echo(f"dry run {report.key}: {counts}, {report.variants} variants, {report.inlined} inlined; "
                       "nothing sent, nothing written")
            if report.held:
                typer.echo(f"  {awaiting_line(report.key, result.day)} (the dry run shows it as approved)")
        if not result.reports:
            typer.echo(f"dry run: no edition due on {result.day}")


@app.command()
def status(ctx: typer.Context,
           date: Annotated[Optional[str], typer.Option("--date", help="Edition date YYYY-MM-DD.")] = None,
           json_out: Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")] = False,
           newsletter: Annotated[Optional[str], typer.Option("--newsletter", help="Only this newsletter's editions (default: all).")] = None):
    """Per-status counts and the failures of the editions of a date (default: today, else the latest)."""
    settings = ctx.obj.settings
    summary = status_ops.day_status(settings, parse_day(date, settings), latest=date is None, newsletter=newsletter).doc()
    if json_out:
        emit_json(summary)
        return
    print_status(summary)


def print_status(summary: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    statuses = sorted({s for d in summary["editions"] for s in d["counts"]})
    table = Table("edition", "state", *statuses, "total", title=f"Deliveries for {summary['date']}")
    for doc in summary["editions"]:
        table.add_row(doc["edition"], doc["status"], *(str(doc["counts"].get(s, 0)) for s in statuses),
                      str(doc["total"]))
    console.print(table)
    if queue := summary.get("queue"):
        shards = queue["shards"]
        console.print(f"  shards: {shards.get('todo', 0)} waiting, {shards.get('doing', 0)} being sent, "
                      f"{shards.get('failed', 0)} failed; {queue['workers_alive']} workers alive", highlight=False)
    for doc in summary["editions"]:
        if doc["oldest_pending"]:
            console.print(f"  {doc['edition']}: oldest pending delivery queued at "
                          f"{doc['oldest_pending']:%Y-%m-%d %H:%M} UTC; deadline "
                          f"{doc['deadline']:%Y-%m-%d %H:%M} UTC" if doc["deadline"] else "", highlight=False)
        for r in doc["reasons"]:
            code = f" {r['smtp_code']}" if r["smtp_code"] else ""
            console.print(f"  {doc['edition']}: {r['count']} × {r['status']}{code}: {r['error']}", highlight=False)
        for p in doc["problems"][:20]:
            code = f" {p['smtp_code']}" if p["smtp_code"] else ""
            console.print(f"  {doc['edition']}  {p['email']}: {p['status']}{code} {p['error']}", highlight=False)


@app.command()
def run(ctx: typer.Context):
    """The daemon: send each day's editions at [schedule] send_at; stop with SIGTERM or Ctrl-C.

    With [workers] engine = "procrastinate" it plans editions and queues their shards for `digest worker`s."""
    from digest.schedule import serve

    configure_logging(ctx.obj.settings)  # [log] format and level; the project's own lines, not APScheduler's
    serve(ctx.obj.settings, now_utc)


@app.command()
def demo(ctx: typer.Context,
         var: Annotated[Path, typer.Option("--var", help="Where the demo keeps its outbox and files.")] = Path("var")):
    """Seed sample data, send today's edition into a local capture SMTP server, print the status."""
    from digest.demo import demo_config, local_base_url, run_demo

    settings = ctx.obj.settings
    day = parse_day(None, settings)
    result = run_demo(settings, var=var, day=day, clock=now_utc, progress=make_progress())
    config = demo_config(ctx.obj.config or Path("config.toml"), result.settings, var)
    seeded = ", ".join(f"{n} {k}" for k, n in result.seeded.items())
    typer.echo(f"seeded: {seeded}")
    typer.echo(f"capture SMTP server received {result.received} messages this run")
    print_status(result.status.doc())
    if config is not None:
        typer.echo(f"newsletters: {', '.join(n.key for n in result.settings.newsletters)} (the demo's own; "
                   f"{config} is your config with them)")
    _demo_hints(config or ctx.obj.config, settings, var, day, result, result.preview, local_base_url(settings))


def _demo_hints(config, settings, var: Path, day, result, preview_path: Path, base_url: str) -> None:
    """What to look at next; every command is printed so that it runs as it is, from this directory."""
    import shlex

    digest = " ".join(shlex.quote(part) for part in own_command(config))
    key = "" if settings.secret_key else f"DIGEST_SECRET_KEY=$(cat {shlex.quote(str(var / 'secret.key'))}) "
    typer.echo(f"messages: {result.outbox / 'new'}/  (one file per message)")
    typer.echo(f"preview:  {preview_path}  (open it in a browser)")
    typer.echo(f"status:   {digest} status --date {day}")
    typer.echo(f"pages:    {key}DIGEST_SENDER_BASE_URL={base_url} {digest} serve  "
               f"(the links in the demo's emails lead to {base_url})")
    typer.echo(f"send:     {key}{digest} send  (again: nothing is sent twice)")
    typer.echo(f"console:  {digest} admin add-user you@example.com --role admin  (no account exists: this one reads "
               f"its password from standard input; then log in at {base_url}/admin/ while serve runs)")
    for letter in (n for n in result.settings.newsletters if n.public_archive):
        typer.echo(f"archive:  {base_url}/n/{letter.key}/  ({letter.name}'s public archive and feed, while serve runs)")


def own_command(config: Path | None) -> list[str]:
    """How this very program was started, so a printed hint runs as printed (`digest` may not be on PATH)."""
    import shutil

    exe = Path(sys.argv[0])
    if exe.name in ("__main__.py", "-m") or not exe.is_file():
        argv = [sys.executable, "-m", "digest"]
    elif (found := shutil.which("digest")) and Path(found).resolve() == exe.resolve():
        argv = ["digest"]
    else:
        argv = [str(exe) if "/" in str(exe) else str(exe.resolve())]
    return argv + (["--config", str(config)] if config else [])
