"""The console's feeds, `/admin/feeds` (and its JSON): each feed's last poll (time, result, HTTP status, error),
whether it is paused, and its articles per day over the last week (`operations.feeds.feeds_page`). Editors add a
feed (the very `add_feed` of `digest feeds add`, so the same checks), pause, resume and remove one; each action
redirects back with its one-line result, and a refused one shows the page again with the one-line error.
"""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from digest.errors import InputError
from digest.operations import feeds as ops
from digest.web.admin.session import Session, console, requires
from digest.web.admin.views import json_response
from digest.web.context import context


def _figures(request: Request) -> ops.FeedsPage:
    ctx = context(request)
    return ops.feeds_page(ctx.settings, now=ctx.clock(), engine=ctx.engine)


async def _page(request: Request, user: Session, *, error: str = "", form: dict | None = None,
                status_code: int = 200) -> Response:
    found = await run_in_threadpool(_figures, request)
    return console(request).render("feeds.html", title="Feeds", user=user, page=found, error=error,
                                   done=request.query_params.get("done", "")[:300], form=form or {},
                                   status_code=status_code)


@requires("viewer")
async def feeds_page(request: Request, user: Session) -> Response:
    return await _page(request, user)


@requires("viewer")
async def feeds_json(request: Request, user: Session) -> Response:
    return json_response((await run_in_threadpool(_figures, request)).doc())


async def _fields(request: Request, *names: str) -> dict:
    async with request.form(max_files=0, max_fields=10) as form:
        return {name: str(form.get(name) or "").strip()[:2000] for name in names}


def _back(request: Request, line: str) -> Response:
    return RedirectResponse(f"{console(request).path}/feeds?{urlencode({'done': line})}", status_code=303)


@requires("editor")
async def add(request: Request, user: Session) -> Response:
    ctx, form = context(request), await _fields(request, "url", "topics", "country")
    try:
        added = await run_in_threadpool(lambda: ops.add_feed(ctx.settings, form["url"], now=ctx.clock(),
                                                             topics=form["topics"] or None,
                                                             country=form["country"] or None, engine=ctx.engine))
    except InputError as exc:
        return await _page(request, user, error=str(exc), form=form, status_code=400)
    return _back(request, f"{'added' if added.created else 'updated'} {added.url}")


async def _act(request: Request, user: Session, action) -> Response:
    form = await _fields(request, "url")
    try:
        line = await run_in_threadpool(action, context(request), form["url"])
    except InputError as exc:
        return await _page(request, user, error=str(exc), status_code=400)
    return _back(request, line)


@requires("editor")
async def pause(request: Request, user: Session) -> Response:
    return await _act(request, user, lambda ctx, url: ops.pause_feed(ctx.settings, url, now=ctx.clock(),
                                                                     engine=ctx.engine))


@requires("editor")
async def resume(request: Request, user: Session) -> Response:
    return await _act(request, user, lambda ctx, url: ops.resume_feed(ctx.settings, url, engine=ctx.engine))


def _remove(ctx, url: str) -> str:
    ops.remove_feed(ctx.settings, url, engine=ctx.engine)
    return f"removed {url} (its articles stay)"


@requires("editor")
async def remove(request: Request, user: Session) -> Response:
    return await _act(request, user, _remove)


ROUTES = [
    Route("/admin/feeds", feeds_page, methods=["GET"]),
    Route("/admin/feeds.json", feeds_json, methods=["GET"]),
    Route("/admin/feeds/add", add, methods=["POST"]),
    Route("/admin/feeds/pause", pause, methods=["POST"]),
    Route("/admin/feeds/resume", resume, methods=["POST"]),
    Route("/admin/feeds/remove", remove, methods=["POST"]),
]
