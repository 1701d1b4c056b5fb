"""`digest serve`: the reader-facing pages (unsubscribe, preferences, archive, sign-up, events)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from digest.cli.base import app, configure_logging


@app.command()
def serve(ctx: typer.Context,
          host: Annotated[Optional[str], typer.Option("--host", help="Address (default [web] host).")] = None,
          port: Annotated[Optional[int], typer.Option("--port", min=1, max=65535,
                                                      help="Port (default [web] port).")] = None):
    """Serve one-click unsubscribe, preferences, view-in-browser, sign-up and /events over HTTP (uvicorn)."""
    import uvicorn

    from digest.operations.common import engine_for
    from digest.web import create_app

    settings = ctx.obj.settings
    configure_logging(settings)
    web_app = create_app(settings, engine_for(settings))
    # No access log: every path carries a reader's token. Errors and start-up lines still go to stderr.
    uvicorn.run(web_app, host=host or settings.web.host, port=port or settings.web.port, log_config=None,
                access_log=False, proxy_headers=True, server_header=False)
