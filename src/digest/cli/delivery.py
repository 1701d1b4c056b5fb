"""Commands about delivery: send, status, run, demo."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from digest.cli.base import (
    UsageError, app, configure_logging, emit_json, engine_for, now_utc, parse_day, require_subscribers,
)
from digest.cli.progress import make_progress, print_summary, report_doc


def stop_on_signals():
    """SIGTERM or Ctrl-C: finish the batch in flight, record it, then stop (a second Ctrl-C is abrupt)."""
    from digest.signals import stop_signals

    return stop_signals(lambda name: typer.echo(f"received {name}: finishing the batch in flight", err=True))


def _emails(values: list[str] | None) -> list[str]:
    if not values:
        return []
    from digest.ingest.subscribers import normalize_email

    try:
        return [normalize_email(v) for v in values]
    except ValueError as exc:
        raise UsageError(f"--subscriber: {exc}") from None


@app.command()
def send(ctx: typer.Context,
         date: Annotated[Optional[str], typer.Option("--date", help="Edition date YYYY-MM-DD (default today).")] = None,
         dry_run: Annotated[bool, typer.Option("--dry-run", help="Render everything, send nothing, write nothing.")] = False,
         subscriber: Annotated[Optional[list[str]], typer.Option("--subscriber", help="Only these subscribers.")] = None,
         limit: Annotated[Optional[int], typer.Option("--limit", min=0, help="Send at most N messages now.")] = None,
         retry_deferred: Annotated[bool, typer.Option("--retry-deferred", help="Retry deferred deliveries now, ignoring their backoff.")] = False,
         retry_unknown: Annotated[bool, typer.Option("--retry-unknown", help="Resend deliveries whose outcome is unknown (may duplicate).")] = False,
         verbose: Annotated[bool, typer.Option("--verbose", "-v", help="One log line per delivery transition on stderr.")] = False,
         json_out: Annotated[bool, typer.Option("--json", help="The summary as one JSON document on stdout.")] = False):
    """Send (or resume) the editions due on a date. Exit 3 when some delivery did not end sent or skipped.

    On a terminal a live bar shows count, rate and ETA (else plain progress lines on stderr); a summary per
    edition follows."""
    settings = ctx.obj.settings
    day = parse_day(date, settings)
    emails = _emails(subscriber)
    require_subscribers(settings, emails)
    if dry_run:
        return _dry_run(settings, day, emails, json_out=json_out)
    from digest.errors import ConfigError
    from digest.pipeline import run_day
    from digest.send import SmtpMailer

    if not settings.secret_key:
        raise ConfigError("DIGEST_SECRET_KEY is not set: it signs the unsubscribe and preference links")
    configure_logging(settings, verbose=verbose)
    if settings.workers.engine == "procrastinate":
        from digest.cli.workers import enqueue_day

        if limit is not None or retry_deferred:
            raise ConfigError("--limit and --retry-deferred send in this process: with [workers] engine = "
                              "\"procrastinate\" the workers send (drop the option)")
        return enqueue_day(settings, day, emails, retry_unknown=retry_unknown)
    engine = engine_for(settings)
    progress = make_progress()

    async def go(stop):
        mailer = SmtpMailer(settings.smtp, local_hostname=settings.sender_domain)
        try:
            return await run_day(engine, settings, mailer, day, clock=now_utc, emails=emails, limit=limit,
                                 retry_deferred=retry_deferred, retry_unknown=retry_unknown,
                                 progress=progress, stop=stop)
        finally:
            await mailer.close()

    with stop_on_signals() as stop:
        reports = asyncio.run(go(stop))
    docs = [report_doc(r, progress.timings.get(r.key)) for r in reports]
    if json_out:
        emit_json({"date": day.isoformat(), "editions": docs, "clean": all(r.clean for r in reports),
                   "stopped_by_signal": stop.is_set()})
    elif not reports:
        typer.echo(f"no edition due on {day}: no active subscriber is due")
        return
    else:
        print_summary(docs, table=sys.stdout.isatty())
    if stop.is_set():
        typer.echo("stopped by a signal after the batch in flight; run `digest send` again to resume", err=True)
    if not all(r.clean for r in reports):
        typer.echo("some deliveries did not end sent or skipped: see `digest status`", err=True)
        raise typer.Exit(3)


def _dry_run(settings, day, emails, *, json_out: bool = False) -> None:
    from dataclasses import replace
    import secrets

    from digest.pipeline import dry_run_day

    if not settings.secret_key:
        settings = replace(settings, secret_key=secrets.token_urlsafe(16))
    engine = engine_for(settings, readonly=True)

    lines: list[dict] = []

    def line(entry) -> None:
        if json_out:
            lines.append({"edition": entry.edition, "email": entry.email, "variant": entry.variant,
                          "items": entry.items, "bytes": entry.size, "skipped": entry.skipped})
        elif entry.skipped:
            typer.echo(f"{entry.edition}  {entry.email}  skipped: {entry.skipped}")
        else:
            typer.echo(f"{entry.edition}  {entry.email}  variant {entry.variant}  {entry.items} items  {entry.size} bytes")

    reports = dry_run_day(engine, settings, day, clock=now_utc, emails=emails, on_line=line)
    if json_out:
        emit_json({"date": day.isoformat(), "dry_run": True, "deliveries": lines,
                   "editions": [{"edition": r.key, "counts": r.counts, "variants": r.variants, "inlined": r.inlined}
                                for r in reports]})
        return
    for report in reports:
        counts = ", ".join(f"{n} {s}" for s, n in report.counts.items())
        typer.echo(f"dry run {report.key}: {counts}, {report.variants} variants, {report.inlined} inlined; "
                   "nothing sent, nothing written")
    if not reports:
        typer.echo(f"dry run: no edition due on {day}")


@app.command()
def status(ctx: typer.Context,
           date: Annotated[Optional[str], typer.Option("--date", help="Edition date YYYY-MM-DD.")] = None,
           json_out: Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")] = False):
    """Per-status counts and the failures of the editions of a date (default: today, else the latest)."""
    from digest import store
    from digest.errors import InputError

    settings = ctx.obj.settings
    with store.read_session(engine_for(settings, readonly=True)) as session:
        day = parse_day(date, settings).isoformat()
        editions = store.editions_for_date(session, date=day)
        if not editions and date is None and (latest := store.latest_edition_date(session)):
            day, editions = latest, store.editions_for_date(session, date=latest)
        if not editions:
            raise InputError(f"no edition for {day}")
        docs = [{"edition": e.key, "status": str(e.status),
                 "deadline": e.deadline_at,
                 "oldest_pending": store.oldest_pending(session, edition_id=e.id),
                 "reasons": [{"status": st, "smtp_code": code, "error": err, "count": n}
                             for st, code, err, n in store.failure_reasons(session, edition_id=e.id)],
                 "counts": store.edition_counts(session, edition_id=e.id),
                 "problems": [{"email": m, "status": s, "smtp_code": c, "error": err}
                              for m, s, c, err in store.edition_problems(session, edition_id=e.id)]}
                for e in editions]
    for doc in docs:
        doc["total"] = sum(doc["counts"].values())
    summary = _merge(day, docs)
    if settings.workers.engine == "procrastinate":
        from digest.workers import queue_status

        summary["queue"] = queue_status(engine_for(settings, readonly=True), settings)
    if json_out:
        emit_json(summary)
        return
    _print_status(summary)


def _merge(day: str, docs: list[dict]) -> dict:
    counts: dict[str, int] = {}
    for doc in docs:
        for key, n in doc["counts"].items():
            counts[key] = counts.get(key, 0) + n
    return {"date": day, "edition": ",".join(d["edition"] for d in docs), "counts": counts,
            "total": sum(counts.values()), "editions": docs}


def _print_status(summary: dict) -> None:
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
    from digest.errors import ConfigError
    from digest.schedule import run_daemon

    settings = ctx.obj.settings
    if not settings.secret_key:
        raise ConfigError("DIGEST_SECRET_KEY is not set: it signs the unsubscribe and preference links")
    if settings.workers.engine == "procrastinate":  # the cluster's scheduler: a worker on the periodic queue
        import asyncio

        from digest.workers import run_worker

        configure_logging(settings)
        asyncio.run(run_worker(engine_for(settings), settings, now_utc, queues=("periodic",), concurrency=1,
                               name="digest-run"))
        return
    configure_logging(settings)  # [log] format and level; the project's own lines, not APScheduler's
    run_daemon(engine_for(settings), settings, now_utc)


@app.command()
def demo(ctx: typer.Context,
         var: Annotated[Path, typer.Option("--var", help="Where the demo keeps its outbox and files.")] = Path("var")):
    """Seed sample data, send today's edition into a local capture SMTP server, print the status."""
    from digest.demo import local_base_url, run_demo
    from digest.pipeline.preview import render_preview

    settings = ctx.obj.settings
    day = parse_day(None, settings)
    result = run_demo(settings, var=var, day=day, clock=now_utc, progress=make_progress())
    seeded = ", ".join(f"{n} {k}" for k, n in result.seeded.items())
    typer.echo(f"seeded: {seeded}")
    typer.echo(f"capture SMTP server received {result.received} messages this run")
    ctx.invoke(status, ctx=ctx, date=day.isoformat(), json_out=False)
    preview_path = var / "preview.html"
    engine = engine_for(result.settings, readonly=True)
    preview_path.write_text(render_preview(engine, result.settings, day, email=None, now=now_utc()).html)
    _demo_hints(ctx, settings, var, day, result, preview_path, local_base_url(settings))


def _demo_hints(ctx, settings, var: Path, day, result, preview_path: Path, base_url: str) -> None:
    """What to look at next; every command is printed so that it runs as it is, from this directory."""
    import shlex

    digest = " ".join(shlex.quote(part) for part in own_command(ctx.obj.config))
    key = "" if settings.secret_key else f"DIGEST_SECRET_KEY=$(cat {shlex.quote(str(var / 'secret.key'))}) "
    typer.echo(f"messages: {result.outbox / 'new'}/  (one file per message)")
    typer.echo(f"preview:  {preview_path}  (open it in a browser)")
    typer.echo(f"status:   {digest} status --date {day}")
    typer.echo(f"pages:    {key}DIGEST_SENDER_BASE_URL={base_url} {digest} serve  "
               f"(the links in the demo's emails lead to {base_url})")
    typer.echo(f"send:     {key}{digest} send  (again: nothing is sent twice)")


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
