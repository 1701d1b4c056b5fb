"""`create_app`: the Starlette application behind `digest serve`. Everything it uses is passed in.

The routes answer under the path of `[sender] base_url` (the links in the emails are
`https://news.example.com/digest/u/…`: the app answers `/digest/u/…`; with no path, at the root); `/healthz`
also answers at the root. Slashes are never redirected: a redirect would be built from the Host header.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timezone
from urllib.parse import urlsplit

from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.routing import Mount, Route, Router

from digest.config import Settings
from digest.errors import ConfigError
from digest.i18n import N_
from digest.operations.signup import send_confirmations
from digest.send import Mailer
from digest.web import admin, api, api_v1, archive_public, manage, providers, reader, signup
from digest.web.context import WebContext, context
from digest.web.guard import SignupLimits
from digest.web.pages import BodyLimit, Pages, SecurityHeaders

log = logging.getLogger("digest.web")
SWEEP_SECONDS = 60  # how often queued confirmation emails are looked for (left by a failure or a restart)

ERRORS = {  # marked for translation: Pages.message translates them
    400: (N_("Bad request"), N_("The request could not be understood.")),
    403: (N_("This form has expired"), N_("Open the link from your email again and repeat the change.")),
    404: (N_("Not found"), N_("This link is not valid. Use the newest email you received from us.")),
    405: (N_("Not allowed"), N_("This page cannot be used that way.")),
    410: (N_("This link has expired"), N_("Confirmation links work for a few days only. Sign up again to get a new one.")),
}


def base_path(base_url: str) -> str:
    """The path part of `[sender] base_url` without its trailing slash: "" or e.g. "/digest"."""
    return urlsplit(base_url).path.rstrip("/")


def create_app(settings: Settings, engine: Engine, *, mailer: Mailer | None = None,
               clock: Callable[[], datetime] | None = None) -> Starlette:
    """The reader-facing pages. `mailer` sends confirmation emails (default: SMTP from [smtp], opened on first use)."""
    if not settings.secret_key:
        raise ConfigError("DIGEST_SECRET_KEY is not set: it checks the tokens in every link")
    ctx = WebContext(settings, engine, Pages(settings), clock or _utc_now, mailer, limits=SignupLimits(settings))

    @contextlib.asynccontextmanager
    async def lifespan(app):
        # the pages' templates compiled before the first request, not by it (0.1-0.3 s: a cold console page's
        # biggest part); off the event loop, which is not serving yet
        await asyncio.to_thread(preload_templates, ctx.pages, app.state.admin)
        sweeper = asyncio.create_task(_sweep(ctx))
        try:
            yield
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            if ctx.owns_mailer and ctx.mailer is not None:
                await ctx.mailer.close()

    app = Starlette(routes=_routes(base_path(settings.sender.base_url)),
                    middleware=[Middleware(archive_public.PublicCaching, prefix=base_path(settings.sender.base_url)),
                                Middleware(SecurityHeaders, pages=ctx.pages), Middleware(BodyLimit)],
                    exception_handlers={HTTPException: error_page}, lifespan=lifespan)
    app.router.redirect_slashes = False
    app.state.ctx = ctx
    app.state.manage_limits = manage.ManageLimits(settings)
    app.state.admin = admin.Console(settings)  # the operator's console (/admin): its login limits, its pages
    app.state.api_limits = api_v1.ApiLimits(settings)  # the REST API's rate limit per key
    return app


def preload_templates(pages: Pages, console: admin.Console) -> list[str]:
    """Compiles the reader pages' and the console's templates; returns those that did not compile."""
    return pages.preload() + [f"admin/{name}" for name in console.preload()]


def _routes(prefix: str) -> list:
    routes = [*reader.ROUTES, *signup.ROUTES, *manage.ROUTES, *api.ROUTES, *archive_public.ROUTES, *admin.ROUTES,
              api_v1.mount(), *providers.ROUTES]
    if not prefix:
        return routes
    return [Mount(prefix, app=Router(routes=routes, redirect_slashes=False)),
            Route("/healthz", api.healthz, methods=["GET"])]


async def _sweep(ctx: WebContext) -> None:
    """Send the confirmations left queued (a failed send, a restart), now and every SWEEP_SECONDS."""
    while True:
        try:
            await send_confirmations(ctx.engine, ctx.settings, ctx.get_mailer(), clock=ctx.clock)
        except Exception:  # noqa: BLE001 - the next sweep tries again
            log.exception("confirmation sweep failed")
        await asyncio.sleep(SWEEP_SECONDS)


async def error_page(request: Request, exc: HTTPException):
    title, text = ERRORS.get(exc.status_code, (N_("Error"), exc.detail))
    response = context(request).pages.message(title, text, status_code=exc.status_code)
    response.headers.update(exc.headers or {})
    return response


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)
