"""Any reader's email of an edition exactly as built for them, for admins (it shows a reader's email):
`/admin/editions/SLUG/preview?email=…` is a console page framing `/admin/editions/SLUG/preview.html?email=…`
in an `<iframe sandbox>`; the frame's document is served with its own CSP (`sandbox`, no script, images and
inline styles only, framed by the console alone) and `X-Frame-Options: SAMEORIGIN`. Its links are disabled
(`operations.edition_preview`): looking at it counts no click and follows no unsubscribe link.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from digest.errors import InputError
from digest.operations.edition_preview import reader_preview
from digest.web.admin.session import Session, console, requires
from digest.web.context import context

FRAME_CSP = ("sandbox; default-src 'none'; img-src https: data:; style-src 'unsafe-inline'; form-action 'none'; "
             "frame-ancestors 'self'; base-uri 'none'")


async def _preview(request: Request):
    ctx = context(request)
    return await run_in_threadpool(reader_preview, ctx.settings, request.path_params["slug"],
                                   request.query_params.get("email", ""), engine=ctx.engine)


@requires("admin")
async def preview_page(request: Request, user: Session) -> Response:
    try:
        found = await _preview(request)
    except InputError as error:
        return console(request).render("message.html", status_code=404, user=user, title="No such email",
                                       text=str(error))
    frame = (f"{console(request).path}/editions/{quote(request.path_params['slug'])}/preview.html?"
             + urlencode({"email": found.email}))
    return console(request).render("preview.html", title=f"{found.edition} for {found.email}", user=user,
                                   preview=found, frame=frame, slug=request.path_params["slug"])


@requires("admin")
async def preview_frame(request: Request, user: Session) -> Response:
    try:
        found = await _preview(request)
    except InputError as error:
        return HTMLResponse(str(error), status_code=404, headers=_frame_headers())
    return HTMLResponse(found.html, headers=_frame_headers())


def _frame_headers() -> dict[str, str]:
    return {"content-security-policy": FRAME_CSP, "x-frame-options": "SAMEORIGIN"}
