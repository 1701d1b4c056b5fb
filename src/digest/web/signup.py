"""Double opt-in: `POST /subscribe` stores a pending subscriber and emails a confirmation link; the subscription
starts when the button behind that link is pressed (`POST /confirm/TOKEN`), which records the consent time.

The answer to a sign-up is the same whether the address is new, pending, active or suppressed: the form never
tells a stranger who is subscribed.
"""

from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from digest import store
from digest.ingest.subscribers import normalize_email, subscriber_from
from digest.models import SubscriberRecord, SubscriberStatus, subscriber_record
from digest.pipeline.confirm import send_confirmation
from digest.web.context import WebContext, context

log = logging.getLogger("digest.web")


def subscribe_page(request: Request) -> HTMLResponse:
    return context(request).pages.render("subscribe.html", title="Subscribe", error=None, email="", name="",
                                         source="")


async def subscribe(request: Request) -> HTMLResponse:
    ctx = context(request)
    async with request.form(max_files=0, max_fields=20) as form:
        email, name = str(form.get("email") or ""), str(form.get("name") or "")[:200]
        source, trap = str(form.get("source") or "")[:100], form.get("website")
    try:
        address = normalize_email(email)
    except ValueError:
        return ctx.pages.render("subscribe.html", title="Subscribe", error="Please enter a valid email address.",
                                email=email, name=name, source=source, status_code=400)
    pending = None if trap else await run_in_threadpool(_add_pending, ctx, address, name, source)
    if pending is not None:
        result = await send_confirmation(ctx.settings, ctx.get_mailer(), pending, now=ctx.clock())
        if not (result.code and 200 <= result.code < 300):
            log.warning("confirmation email to subscriber %s not sent: %s %s", pending.id, result.code, result.reply)
    return ctx.pages.message("Check your inbox", "If this address can subscribe, we have sent it a link. "
                             "Your subscription starts when you open it and press the button.")


def _add_pending(ctx: WebContext, email: str, name: str, source: str) -> SubscriberRecord | None:
    settings = ctx.settings
    new = subscriber_from({"email": email, "name": name}, defaults={
        "send_at": settings.schedule.send_at, "timezone": settings.schedule.timezone,
        "max_items": settings.selection.max_items})
    with store.session_scope(ctx.engine) as session:
        sub = store.add_pending_subscriber(session, subscriber=new, source=f"web:/subscribe {source}".strip(),
                                           now=ctx.clock())
        return subscriber_record(sub) if sub is not None else None


def confirm_page(request: Request) -> HTMLResponse:
    """GET /confirm/TOKEN changes nothing (mail scanners follow links): its button POSTs."""
    ctx = context(request)
    subscriber_id = ctx.read("confirm", request.path_params["token"])[0]
    with store.read_session(ctx.engine) as session:
        sub = store.subscriber_by_id(session, subscriber_id=subscriber_id)
    if sub is None or sub.status not in (SubscriberStatus.pending, SubscriberStatus.active):
        raise HTTPException(404)
    if sub.status == SubscriberStatus.active:
        return _confirmed(ctx, subscriber_id)
    return ctx.pages.render("confirm.html", title="Confirm your subscription")


def confirm(request: Request) -> HTMLResponse:
    ctx = context(request)
    subscriber_id = ctx.read("confirm", request.path_params["token"])[0]
    with store.session_scope(ctx.engine) as session:
        changed = store.confirm_subscriber(session, subscriber_id=subscriber_id, now=ctx.clock())
        sub = store.subscriber_by_id(session, subscriber_id=subscriber_id)
        if not changed and (sub is None or sub.status != SubscriberStatus.active):
            raise HTTPException(404)
    return _confirmed(ctx, subscriber_id)


def _confirmed(ctx: WebContext, subscriber_id: int) -> HTMLResponse:
    return ctx.pages.render("confirmed.html", title="You are subscribed",
                            preferences_token=ctx.token("preferences", subscriber_id))


ROUTES = [
    Route("/subscribe", subscribe_page, methods=["GET"]),
    Route("/subscribe", subscribe, methods=["POST"]),
    Route("/confirm/{token}", confirm_page, methods=["GET"]),
    Route("/confirm/{token}", confirm, methods=["POST"]),
]
