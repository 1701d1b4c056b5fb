"""The console's edition page, `/admin/editions/SLUG` (SLUG = the edition key with "-" for ":", as the archive's
links have it) and its JSON: `operations.editions.edition_detail`, whose counts are `digest status`'s. Its
actions, for editors, each redirect back with a one-line result: requeue the failed and bounced deliveries
(`digest deliveries requeue`'s use case); pause, resume, the deferred due now, the unknown requeued
(`operations.edition_actions`, what `digest editions pause | resume | retry-deferred | retry-unknown` call; the
last one only with its box ticked: some of those readers may get the message twice). Nothing is sent in the
request: the daemon's (or the workers') next tick sends.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from digest.errors import InputError
from digest.operations import edition_actions as actions
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
    did = request.query_params.get("did")
    everything = request.query_params.get("all") == "1"
    variants, stories = shown(found, everything=everything)
    return console(request).render("edition.html", title=found.summary.edition, user=user, edition=found,
                                   variants=variants, stories=stories, everything=everything,
                                   requeued=_count(request, "requeued"), reactivated=_count(request, "reactivated"),
                                   did=did if did in ACTIONS else None, moved=_count(request, "n"))


VARIANTS_SHOWN, STORIES_SHOWN = 25, 100  # the page's lists unless ?all=1 (the JSON has everything)


def shown(found: ops.EditionDetail, *, everything: bool = False) -> tuple[list, list]:
    """(variants, stories) the page lists: the VARIANTS_SHOWN biggest variants and the STORIES_SHOWN stories
    carried by the most deliveries (in the page's order: section, position, article), or all of them. Two
    hundred variants carry some 1,600 story rows, most of the page's rendering time."""
    if everything:
        return found.variants, found.stories
    top = sorted(range(len(found.stories)), key=lambda i: -found.stories[i].figures.carried)[:STORIES_SHOWN]
    return found.variants[:VARIANTS_SHOWN], [found.stories[i] for i in sorted(top)]


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


ACTIONS = {"pause": actions.pause, "resume": actions.resume, "retry-deferred": actions.retry_deferred,
           "retry-unknown": actions.retry_unknown}
DUPLICATES = "duplicates"  # the value of retry-unknown's box: "some of these readers may get it twice"


def _action(name: str):
    """The endpoint of one action: POST, editors, CSRF (`requires`); back to the edition page with its result."""
    @requires("editor")
    async def act(request: Request, user: Session) -> Response:
        ctx, slug = context(request), request.path_params["slug"]
        async with request.form(max_files=0, max_fields=20) as form:
            confirmed = form.get("confirm") == DUPLICATES
        if name == "retry-unknown" and not confirmed:
            return console(request).render("message.html", status_code=400, user=user, title="Not requeued",
                                           text="Tick the box saying some of these readers may get the message "
                                                "twice, then submit again.")
        try:
            result = await run_in_threadpool(ACTIONS[name], ctx.settings, slug, now=ctx.clock(), engine=ctx.engine)
        except actions.NoEdition as error:
            return _missing(request, user, error)
        except InputError as error:
            return console(request).render("message.html", status_code=409, user=user, title="Not done",
                                           text=str(error))
        target = f"{console(request).path}/editions/{quote(slug)}?did={name}&n={result.count}"
        return RedirectResponse(target, status_code=303)

    act.__name__ = act.__qualname__ = name.replace("-", "_")
    return act


pause, resume, retry_deferred, retry_unknown = (_action(name) for name in ACTIONS)


def _missing(request: Request, user: Session, error: InputError) -> Response:
    """404: JSON when JSON was asked for, else the console's message page."""
    if wants_json(request):
        return JSONResponse({"error": str(error)}, status_code=404)
    return console(request).render("message.html", status_code=404, user=user, title="No such edition",
                                   text=str(error))
