"""The console's edition page, `/admin/editions/SLUG` (SLUG = the edition key with "-" for ":", as the archive's
links have it) and its JSON: `operations.editions.edition_detail`, whose counts are `digest status`'s. Its one
action, for editors, requeues the edition's failed and bounced deliveries (`digest deliveries requeue`'s use
case) and redirects back with a one-line result. Sending the deferred ones now is left to
`digest send --retry-deferred`: it sends the whole date's editions, too heavy for a web request.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from digest.errors import InputError
from digest.operations import editions as ops
from digest.web.admin.session import Session, console, requires, wants_json
from digest.web.admin.views import json_response
from digest.web.context import context


def _detail(request: Request) -> ops.EditionDetail:
    ctx = context(request)
    return ops.edition_detail(ctx.settings, request.path_params["slug"], engine=ctx.engine)


def _count(request: Request, name: str) -> int | None:
    value = request.query_params.get(name, "")
    return int(value) if value.isdigit() and len(value) < 10 else None


@requires("viewer")
async def edition_page(request: Request, user: Session) -> Response:
    try:
        found = await run_in_threadpool(_detail, request)
    except InputError as error:
        return _missing(request, user, error)
    return console(request).render("edition.html", title=found.summary.edition, user=user, edition=found,
                                   requeued=_count(request, "requeued"), reactivated=_count(request, "reactivated"))


@requires("viewer")
async def edition_json(request: Request, user: Session) -> Response:
    try:
        found = await run_in_threadpool(_detail, request)
    except InputError as error:
        return _missing(request, user, error)
    return json_response(found.doc())


@requires("editor")
async def requeue(request: Request, user: Session) -> Response:
    ctx, slug = context(request), request.path_params["slug"]
    try:
        report = await run_in_threadpool(ops.requeue_failed, ctx.settings, slug, now=ctx.clock(), engine=ctx.engine)
    except InputError as error:
        return _missing(request, user, error)
    target = f"{console(request).path}/editions/{quote(slug)}?requeued={report.total}&reactivated={len(report.reactivated)}"
    return RedirectResponse(target, status_code=303)


def _missing(request: Request, user: Session, error: InputError) -> Response:
    """404: JSON when JSON was asked for, else the console's message page."""
    if wants_json(request):
        return JSONResponse({"error": str(error)}, status_code=404)
    return console(request).render("message.html", status_code=404, user=user, title="No such edition",
                                   text=str(error))
