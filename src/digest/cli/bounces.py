"""`digest bounces import`: delivery status reports from a Maildir or mbox into the store (`operations.bounces`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from digest.cli.base import DigestGroup, app, now_utc

bounces_app = typer.Typer(cls=DigestGroup, no_args_is_help=True, help="Bounce reports sent back to the VERP address.")
app.add_typer(bounces_app, name="bounces")


@bounces_app.command("import")
def bounces_import(ctx: typer.Context,
                   path: Annotated[Path, typer.Argument(help="A Maildir (directory), an mbox file of bounces, or one saved message (.eml).")]):
    """Mark bounced deliveries and suppress subscribers: hard bounces at once, soft ones after a threshold."""
    from digest.operations.bounces import import_bounce_file

    summary = import_bounce_file(ctx.obj.settings, path, now=now_utc())
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(summary.kinds.items())) or "none"
    typer.echo(f"read {summary.messages} messages: {summary.recorded} deliveries marked bounced ({kinds}), "
               f"{summary.repeated} already recorded, {summary.unmatched} not ours, {summary.ignored} not a failure"
               + (f", {summary.mismatched} naming another recipient (ignored)" if summary.mismatched else ""))
    for email in summary.suppressed:
        typer.echo(f"suppressed {email}")
