"""The console's readers: the search (address prefix, status, newsletter; 50 a page, keyset by id), one
reader's page (fields, consent, subscriptions, history, deliveries with their items, bounces, clicks; older
deliveries by `before`), and the admin's actions on a reader (suppress, reactivate, erase after the address is
typed again, resend one edition with the duplicate acknowledged), each one `digest.operations` call. An action
redirects back to the reader's page (the readers' after an erasure) with its one-line result.
"""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from digest.errors import InputError
from digest.operations import deliveries, readers as ops
from digest.operations.reader_record import HISTORY_NOTE
from digest.web.admin.session import Session, console, refuse, requires
from digest.web.admin.views import json_response
from digest.web.context import context

FILTERS = ("q", "status", "newsletter", "topic", "country")


def _query(request: Request) -> dict:
    values = {name: request.query_params.get(name, "").strip()[:320] for name in FILTERS}
    after = request.query_params.get("after", "").strip() or "0"
    if not after.isdigit():
        raise InputError("after: must be a reader id (a whole number)")
    keys = [letter.key for letter in context(request).settings.newsletters]
    if values["newsletter"] and values["newsletter"] not in keys:
        raise InputError(f"newsletter: unknown newsletter {values['newsletter']!r}")
    return {**values, "after": int(after)}


async def _search(request: Request) -> tuple[dict, ops.ReaderPage]:
    query = _query(request)
    found = await run_in_threadpool(lambda: ops.search_readers(context(request).engine, **query))
    return query, found


@requires("viewer")
async def readers_page(request: Request, user: Session) -> Response:
    try:
        query, found = await _search(request)
    except InputError as exc:
        return refuse(request, 400, str(exc))
    more = None
    if found.next_after is not None:
        more = urlencode({**{k: query[k] for k in FILTERS if query[k]}, "after": found.next_after})
    return console(request).render(
        "readers.html", title="Readers", user=user, query=query, page=found, next_query=more,
        statuses=ops.STATUSES, newsletters=[n.key for n in context(request).settings.newsletters],
        done=request.query_params.get("done", "")[:300])


@requires("viewer")
async def readers_json(request: Request, user: Session) -> Response:
    try:
        _, found = await _search(request)
    except InputError as exc:
        return refuse(request, 400, str(exc))
    return json_response(found.doc())


async def _detail(request: Request) -> ops.ReaderDetail | None:
    """The reader's record (InputError for a `before` that is not a delivery id)."""
    reader_id, before = request.path_params["id"], request.query_params.get("before", "").strip()
    if before and not before.isdigit():
        raise InputError("before: must be a delivery id (a whole number)")
    return await run_in_threadpool(lambda: ops.reader_detail(context(request).engine, reader_id,
                                                             before=int(before) if before else None))


@requires("viewer")
async def reader_page(request: Request, user: Session) -> Response:
    try:
        found = await _detail(request)
    except InputError as exc:
        return refuse(request, 400, str(exc))
    if found is None:
        return refuse(request, 404, "no such reader")
    return console(request).render("reader.html", title=found.reader["email"], user=user, detail=found,
                                   note=HISTORY_NOTE, done=request.query_params.get("done", "")[:300])


@requires("viewer")
async def reader_json(request: Request, user: Session) -> Response:
    try:
        found = await _detail(request)
    except InputError as exc:
        return refuse(request, 400, str(exc))
    return refuse(request, 404, "no such reader") if found is None else json_response(found.doc())


def _back(request: Request, line: str, *, erased: bool = False) -> Response:
    site, reader_id = console(request), request.path_params["id"]
    target = f"{site.path}/readers" if erased else f"{site.path}/readers/{reader_id}"
    return RedirectResponse(f"{target}?{urlencode({'done': line})}", status_code=303)


async def _act(request: Request, action) -> Response:
    try:
        line = await run_in_threadpool(action, context(request).engine, request.path_params["id"],
                                       now=context(request).clock())
    except InputError as exc:
        return refuse(request, 404, str(exc))
    return _back(request, line)


@requires("admin")
async def suppress(request: Request, user: Session) -> Response:
    return await _act(request, ops.suppress_reader)


@requires("admin")
async def reactivate(request: Request, user: Session) -> Response:
    return await _act(request, ops.reactivate_reader)


@requires("admin")
async def erase(request: Request, user: Session) -> Response:
    ctx = context(request)
    async with request.form(max_files=0, max_fields=10) as form:
        typed = str(form.get("confirm") or "")[:320]
    try:
        line = await run_in_threadpool(lambda: ops.erase_reader(ctx.settings, ctx.engine, request.path_params["id"],
                                                                typed, now=ctx.clock()))
    except InputError as exc:
        return _back(request, str(exc))
    return _back(request, line, erased=True)


@requires("admin")
async def resend(request: Request, user: Session) -> Response:
    """One edition again to this reader: only with the box ticked that says they get a second copy."""
    ctx = context(request)
    async with request.form(max_files=0, max_fields=10) as form:
        edition, day = str(form.get("edition") or "")[:200], str(form.get("date") or "")[:20]
        sure = form.get("duplicate") == "yes"
    if not sure:
        return _back(request, "not resent: tick the box that says the reader will get a second copy")
    try:
        line = await run_in_threadpool(lambda: deliveries.resend_to_reader(
            ctx.settings, ctx.engine, request.path_params["id"], edition=edition, day=day, now=ctx.clock(),
            actor=user.account.email))
    except InputError as exc:
        return _back(request, f"not resent: {exc}")
    return _back(request, line)


ROUTES = [
    Route("/admin/readers", readers_page, methods=["GET"]),
    Route("/admin/readers.json", readers_json, methods=["GET"]),
    Route("/admin/readers/{id:int}", reader_page, methods=["GET"]),
    Route("/admin/readers/{id:int}.json", reader_json, methods=["GET"]),
    Route("/admin/readers/{id:int}/suppress", suppress, methods=["POST"]),
    Route("/admin/readers/{id:int}/reactivate", reactivate, methods=["POST"]),
    Route("/admin/readers/{id:int}/erase", erase, methods=["POST"]),
    Route("/admin/readers/{id:int}/resend", resend, methods=["POST"]),
]
