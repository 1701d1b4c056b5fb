"""`digest webhooks`: outbound webhooks (`operations.webhooks`): add an endpoint (its secret printed once, alone
on the last line), list, remove, enable, test, the attempts' log, and one delivery pass."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from digest.cli.base import DigestGroup, app, emit_json, lazy, now_utc

ops = lazy("digest.operations.webhooks")
EVENTS = ("delivery.sent, delivery.bounced, delivery.failed, subscriber.unsubscribed, subscriber.complained, "
          "edition.done")  # models.WEBHOOK_EVENTS, written out: --help imports no model (a test keeps them equal)

webhooks_app = typer.Typer(cls=DigestGroup, no_args_is_help=True,
                           help="Outbound webhooks: signed events (Standard Webhooks) posted to your endpoints.")
app.add_typer(webhooks_app, name="webhooks")

Ref = Annotated[str, typer.Argument(help="The endpoint's URL or id (see `digest webhooks list`).")]


@webhooks_app.command("add")
def add(ctx: typer.Context, url: Annotated[str, typer.Argument(help="Where to POST the events (http or https).")],
        events: Annotated[str, typer.Option("--events", help="Comma-separated: " + EVENTS)],
        name: Annotated[str, typer.Option("--name", help="A name for the endpoint.")] = ""):
    """Add an endpoint; its signing secret is printed once, alone on the last line."""
    added = ops.add_endpoint(ctx.obj.settings, url, events=events, name=name, now=now_utc())
    typer.echo(f"added webhook endpoint {added.endpoint.id} ({added.endpoint.url}): "
               f"{', '.join(added.endpoint.events)}")
    typer.echo("its secret (verify the webhook-signature header with it; it is not shown again):")
    typer.echo(added.secret)


@webhooks_app.command("list")
def list_(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json", help="JSON lines.")] = False):
    """The endpoints, their events and attempts (never the secret)."""
    found = ops.list_endpoints(ctx.obj.settings)
    if as_json:
        emit_json([e.doc() for e in found])
        return
    if not found:
        typer.echo("no webhook endpoints (add one: digest webhooks add URL --events ...)")
    for e in found:
        counts = ", ".join(f"{n} {s}" for s, n in sorted(e.counts.items())) or "no attempts"
        state = "enabled" if e.enabled else f"DISABLED: {e.disabled_reason}"
        typer.echo(f"{e.id}  {e.url}  {e.name or '-'}  {','.join(e.events)}  {state}  ({counts})")


@webhooks_app.command("remove")
def remove(ctx: typer.Context, ref: Ref):
    """Remove an endpoint and its pending attempts."""
    typer.echo(ops.remove_endpoint(ctx.obj.settings, ref))


@webhooks_app.command("enable")
def enable(ctx: typer.Context, ref: Ref):
    """Enable a disabled endpoint again; the attempts its disabling failed are due at once."""
    typer.echo(ops.enable_endpoint(ctx.obj.settings, ref, now=now_utc()))


@webhooks_app.command("test")
def test(ctx: typer.Context, ref: Ref):
    """Send one `webhook.test` event to the endpoint now and print its answer."""
    tested = ops.send_test(ctx.obj.settings, ref, now=now_utc())
    answer = f"HTTP {tested.status_code}" if tested.status_code is not None else "no answer"
    typer.echo(f"webhook.test to {tested.url}: {answer}" + (f" ({tested.error})" if tested.error else ""))
    if tested.status_code is None or not 200 <= tested.status_code < 300:
        raise typer.Exit(1)


@webhooks_app.command("log")
def log(ctx: typer.Context, ref: Annotated[Optional[str], typer.Argument(help="Only this endpoint (URL or id).")] = None,
        limit: Annotated[int, typer.Option("--limit", help="How many attempts, newest first.")] = 50):
    """The latest delivery attempts: when, which event, the endpoint's answer or the error."""
    for line in ops.attempt_log(ctx.obj.settings, ref, limit=limit):
        answer = str(line.status_code) if line.status_code is not None else "-"
        typer.echo(f"{line.at:%Y-%m-%d %H:%M:%S}  endpoint {line.endpoint_id}  {line.event}  {answer}  "
                   f"{line.state}  {line.duration_ms} ms" + (f"  {line.error}" if line.error else ""))


@webhooks_app.command("deliver")
def deliver(ctx: typer.Context):
    """One delivery pass: post the events whose time has come (`digest run` does this continually)."""
    report = ops.deliver_pending(ctx.obj.settings, now=now_utc())
    typer.echo(f"webhooks: {report.delivered} delivered, {report.retrying} failed (retried later)")
    for line in report.disabled:
        typer.echo(f"disabled {line}")
