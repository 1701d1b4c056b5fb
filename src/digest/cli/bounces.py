"""`digest bounces import` and `poll`: bounce reports, complaint reports (ARF) and mail to the List-Unsubscribe
address, from a Maildir or mbox or from the IMAP bounce mailbox, into the store (`operations.bounces`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from digest.cli.base import DigestGroup, app, now_utc

bounces_app = typer.Typer(cls=DigestGroup, no_args_is_help=True,
                          help="Bounces, complaints and unsubscribe mail sent back to the newsletter's addresses.")
app.add_typer(bounces_app, name="bounces")


@bounces_app.command("import")
def bounces_import(ctx: typer.Context,
                   path: Annotated[Path, typer.Argument(help="A Maildir (directory), an mbox file of bounces, or one saved message (.eml).")]):
    """Mark bounced deliveries and suppress subscribers: hard bounces at once, soft ones after a threshold,
    complaints always; mail to the unsubscribe address unsubscribes."""
    from digest.operations.bounces import import_bounce_file

    _report(import_bounce_file(ctx.obj.settings, path, now=now_utc()))


@bounces_app.command("poll")
def bounces_poll(ctx: typer.Context):
    """Read the IMAP bounce mailbox ([bounces] imap_*, DIGEST_IMAP_PASSWORD) once; what was read moves to
    [bounces] processed_folder, what could not be read stays."""
    from digest.operations.mailbox import poll_bounce_mailbox

    _report(poll_bounce_mailbox(ctx.obj.settings, now=now_utc()))


def _report(summary) -> None:
    from digest.operations.mailbox import describe

    typer.echo(describe(summary))
    for label, emails in (("suppressed", summary.suppressed), ("complained", summary.complained),
                          ("unsubscribed", summary.unsubscribed)):
        for email in emails:
            typer.echo(f"{label} {email}")
