"""`create_app`: the Starlette application behind `digest serve`. Everything it uses is passed in."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime, timezone

from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request

from digest.config import Settings
from digest.errors import ConfigError
from digest.send import Mailer
from digest.web import api, reader, signup
from digest.web.context import WebContext, context
from digest.web.pages import Pages, SecurityHeaders

ERRORS = {
    400: ("Bad request", "The request could not be understood."),
    403: ("This form has expired", "Open the link from your email again and repeat the change."),
    404: ("Not found", "This link is not valid. Use the newest email you received from us."),
    405: ("Not allowed", "This page cannot be used that way."),
}


def create_app(settings: Settings, engine: Engine, *, mailer: Mailer | None = None,
               clock: Callable[[], datetime] | None = None) -> Starlette:
    """The reader-facing pages. `mailer` sends confirmation emails (default: SMTP from [smtp], opened on first use)."""
    if not settings.secret_key:
        raise ConfigError("DIGEST_SECRET_KEY is not set: it checks the tokens in every link")
    ctx = WebContext(settings, engine, Pages(settings), clock or _utc_now, mailer)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        if ctx.owns_mailer and ctx.mailer is not None:
            await ctx.mailer.close()

    app = Starlette(routes=[*reader.ROUTES, *signup.ROUTES, *api.ROUTES], middleware=[Middleware(SecurityHeaders)],
                    exception_handlers={HTTPException: error_page}, lifespan=lifespan)
    app.state.ctx = ctx
    return app


async def error_page(request: Request, exc: HTTPException):
    title, text = ERRORS.get(exc.status_code, ("Error", exc.detail))
    response = context(request).pages.message(title, text, status_code=exc.status_code)
    response.headers.update(exc.headers or {})
    return response


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)
