"""The console's plan pages: the next editions (`/admin/plan`) and one of them (`/admin/plan/SLUG`, SLUG the
edition key with "-" for ":" as elsewhere): its ranked candidates with scores and reasons, its pins, exclusions,
editor's note and approval, the editors' log, and a reader's email as it would be built now, in a sandboxed
frame. Editors change it with one form endpoint (`POST /admin/plan/SLUG/change`) calling
`operations.editorial.change`, the function `digest editions ...` calls; viewers look.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from digest.errors import DigestError, InputError
from digest.operations import candidates as plan_ops
from digest.operations import editorial as ops
from digest.operations.archive import edition_key
from digest.operations.edition_preview import disable_links
from digest.operations.preview import render_preview
from digest.urls import edition_slug
from digest.web.admin.session import Session, console, requires, wants_json
from digest.web.admin.views import json_response
from digest.web.context import context

ACTIONS = ("pin", "unpin", "exclude", "include", "note", "approve", "unapprove")
FRAMED = ("sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src https: http: data:; "
          "frame-ancestors 'self'; base-uri 'none'; form-action 'none'")  # the preview: no script, no form


def _plan(request: Request):
    ctx = context(request)
    key = edition_key(request.path_params["slug"], ctx.settings.newsletter().key)
    return plan_ops.plan_of_key(ctx.settings, key)


@requires("viewer")
async def plan_index(request: Request, user: Session) -> Response:
    ctx = context(request)
    today = ctx.clock().astimezone(ctx.settings.tz).date()
    found = await run_in_threadpool(plan_ops.upcoming, ctx.settings, today, engine=ctx.engine)
    if wants_json(request):
        return json_response([vars(u) for u in found])
    return console(request).render("plan_index.html", title="Next editions", user=user, editions=found,
                                   slug=edition_slug)


def _page_values(request: Request):
    ctx = context(request)
    plan = _plan(request)
    return (ops.show(ctx.settings, plan, engine=ctx.engine),
            plan_ops.candidates(ctx.settings, plan, limit=40, engine=ctx.engine))


@requires("viewer")
async def plan_page(request: Request, user: Session) -> Response:
    try:
        controls, found = await run_in_threadpool(_page_values, request)
    except InputError as error:
        return _missing(request, user, error)
    reader = request.query_params.get("email", "")[:320]
    frame = f"{request.url.path}/preview.html" + (f"?{urlencode({'email': reader})}" if reader else "")
    return console(request).render("plan.html", title=controls.key, user=user, controls=controls, candidates=found,
                                   slug=edition_slug(controls.key), done=request.query_params.get("done", "")[:200],
                                   reader=reader, frame=frame)


@requires("viewer")
async def plan_json(request: Request, user: Session) -> Response:
    try:
        controls, found = await run_in_threadpool(_page_values, request)
    except InputError as error:
        return _missing(request, user, error)
    return json_response({**controls.doc(), "candidates": [c.doc() for c in found]})


@requires("viewer")
async def plan_preview(request: Request, user: Session) -> Response:
    """The email `email` (default: a reader with no preferences) would get now, framed by the plan page. A
    named reader's email is for admins (as on an edition's page); its links are disabled either way: they would
    act for that reader (count a click, unsubscribe)."""
    ctx = context(request)
    email = request.query_params.get("email") or None
    if email and not user.account.may("admin"):
        return Response("<p>Only an admin sees a named reader's email; leave the address empty.</p>",
                        status_code=403, media_type="text/html", headers={"content-security-policy": FRAMED})

    def build():
        plan = _plan(request)
        return render_preview(ctx.engine, ctx.settings, plan.day, email=email, now=ctx.clock(),
                              newsletter=plan.newsletter)

    try:
        found = await run_in_threadpool(build)
    except DigestError as error:  # an unknown reader, nothing to send them
        return Response(f"<p>{_escape(str(error))}</p>", status_code=404, media_type="text/html",
                        headers={"content-security-policy": FRAMED})
    body = disable_links(found.html)[0] if found.html is not None else f"<pre>{_escape(found.text)}</pre>"
    return Response(body, media_type="text/html", headers={"content-security-policy": FRAMED,
                                                           "x-frame-options": "SAMEORIGIN"})


@requires("editor")
async def plan_change(request: Request, user: Session) -> Response:
    ctx, slug = context(request), request.path_params["slug"]
    async with request.form(max_files=0, max_fields=20) as form:
        values = {k: str(form.get(k) or "") for k in ("action", "article", "story", "section", "text")}
    action = values["action"]
    try:
        if action not in ACTIONS:
            raise InputError(f"unknown action {action!r}")
        plan = _plan(request)
        await run_in_threadpool(ops.change, ctx.settings, plan, action, actor=user.account.email, now=ctx.clock(),
                                engine=ctx.engine, article=values["article"] or None, story=values["story"] or None,
                                section=values["section"] or None, text=values["text"])
        done = f"{action} recorded"
    except InputError as error:
        if wants_json(request):
            return JSONResponse({"error": str(error)}, status_code=400)
        done = f"not done: {error}"
    if wants_json(request):
        return JSONResponse({"done": done})
    return RedirectResponse(f"{console(request).path}/plan/{quote(slug)}?{urlencode({'done': done})}",
                            status_code=303)


def _missing(request: Request, user: Session, error: InputError) -> Response:
    if wants_json(request):
        return JSONResponse({"error": str(error)}, status_code=404)
    return console(request).render("message.html", status_code=404, user=user, title="No such edition",
                                   text=str(error))


def _escape(text: str) -> str:
    from html import escape

    return escape(text)
