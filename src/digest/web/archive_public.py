"""The public archive of a newsletter with `public_archive = true` (`digest.operations.public_archive`):
`/n/KEY/` its editions, `/n/KEY/YYYY-MM-DD` and `/n/KEY/weekly/YYYY-MM-DD` one edition's generic version,
`/n/KEY/feed.xml` an Atom feed. An unknown key, a private newsletter or an edition that did not go out is a 404.

These pages carry no token and nothing of any reader's, so unlike every other page they may be cached and
indexed: `PublicCaching` replaces the no-store and noindex headers of their successful answers.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from digest.i18n import N_
from digest.operations import public_archive as ops
from digest.web.context import context

ATOM_TYPE = "application/atom+xml; charset=utf-8"
PUBLIC_CACHE = b"public, max-age=300"
DROPPED = (b"cache-control", b"x-robots-tag")


def archive_list(request: Request) -> HTMLResponse:
    """GET /n/KEY/: the newsletter's name and description, its feed, and its editions, newest first."""
    ctx = context(request)
    key = request.path_params["key"]
    about = _found(ops.public_newsletter(ctx.settings, key))
    editions = _found(ops.public_editions(ctx.engine, ctx.settings, key))
    return ctx.pages.render("archive_list.html", title=N_("Past editions"), list_name=about.name,
                            newsletter=about, editions=editions, language=about.language)


def to_list(request: Request) -> RedirectResponse:
    """GET /n/KEY: to /n/KEY/ (built from base_url, never from the Host header)."""
    about = _found(ops.public_newsletter(context(request).settings, request.path_params["key"]))
    return RedirectResponse(about.url, status_code=301)


def edition_page(request: Request) -> HTMLResponse:
    """GET /n/KEY/YYYY-MM-DD: the edition as a reader with no preferences got it."""
    return _edition(request, "daily")


def weekly_page(request: Request) -> HTMLResponse:
    """GET /n/KEY/weekly/YYYY-MM-DD: a daily newsletter's weekly digest."""
    return _edition(request, "weekly")


def _edition(request: Request, period: str) -> HTMLResponse:
    ctx = context(request)
    day = _found(ops.public_day(request.path_params["day"]))
    page = _found(ops.public_edition(ctx.engine, ctx.settings, request.path_params["key"], day, period,
                                     cache=ctx.public_pages))
    return HTMLResponse(page.html)


def feed(request: Request) -> Response:
    """GET /n/KEY/feed.xml: the Atom feed."""
    ctx = context(request)
    body = _found(ops.atom_feed(ctx.engine, ctx.settings, request.path_params["key"], cache=ctx.public_pages))
    return Response(body, media_type=ATOM_TYPE)


def _found(value):
    if value is None:
        raise HTTPException(404)
    return value


class PublicCaching:
    """ASGI middleware, outside SecurityHeaders: a 200 under `PREFIX/n/` may be cached (public, 5 minutes) and
    indexed; every other answer keeps the headers SecurityHeaders gave it."""

    def __init__(self, app, prefix: str = "") -> None:
        self.app = app
        self.public = f"{prefix}/n/"

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.public):
            await self.app(scope, receive, send)
            return

        async def send_public(message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 200:
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in DROPPED]
                message = {**message, "headers": [*headers, (b"cache-control", PUBLIC_CACHE)]}
            await send(message)

        await self.app(scope, receive, send_public)


ROUTES = [
    Route("/n/{key}", to_list, methods=["GET"]),
    Route("/n/{key}/", archive_list, methods=["GET"]),
    Route("/n/{key}/feed.xml", feed, methods=["GET"]),
    Route("/n/{key}/weekly/{day}", weekly_page, methods=["GET"]),
    Route("/n/{key}/{day}", edition_page, methods=["GET"]),
]
