"""`digest editions`: steer an edition and act on it, thin clients of the functions the console calls
(`operations.editorial`, `operations.edition_actions`)."""

from __future__ import annotations

import typer

from digest.cli.base import DigestGroup, app

editions_app = typer.Typer(cls=DigestGroup, no_args_is_help=True,
                           help="An edition: pins, exclusions, the editor's note, approval; pause, resume, retries.")
app.add_typer(editions_app, name="editions")
