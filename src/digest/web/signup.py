"""Double opt-in: `POST /subscribe` answers at once and leaves the work to a background task, which stores a
pending subscriber and queues a confirmation row (`operations.signup.sign_up`); `send_confirmations` then
sends it. The subscription starts
when the button behind the emailed link is pressed (`POST /confirm/TOKEN`), which records the consent time.

The answer to a sign-up is the same, byte for byte and in the same time, whether the address is new, pending,
active, unsubscribed or suppressed: nothing about the address is looked up before the response is sent.
A plain sign-up never reactivates or mails an address that unsubscribed or is suppressed.
"""

from __future__ import annotations

import logging

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from digest.i18n import N_
from digest.ingest.subscribers import normalize_email
from digest.models import SubscriberStatus
from digest.operations import signup as ops
from digest.web import guard
from digest.web.context import WebContext, context

log = logging.getLogger("digest.web")

ANSWER = (N_("Check your inbox"), N_("If this address can subscribe, we have sent it a link. "
                                     "Your subscription starts when you open it and press the button."))


def subscribe_page(request: Request) -> HTMLResponse:
    return _form(context(request), request)


def _form(ctx: WebContext, request: Request, *, error: str | None = None, email: str = "", name: str = "",
          source: str = "", chosen: tuple[str, ...] | None = None, status_code: int = 200) -> HTMLResponse:
    csrf, nonce = guard.new_form(ctx)
    letters = ctx.settings.newsletters
    page = ctx.pages.render("subscribe.html", title=N_("Subscribe"), error=error, email=email, name=name,
                            language=ctx.settings.newsletter().language,
                            source=source, csrf=csrf, newsletters=letters if len(letters) > 1 else (),
                            chosen=(letters[0].key,) if chosen is None else chosen, status_code=status_code)
    guard.set_form_cookie(request, page, nonce)  # the form's own path: the cookie goes nowhere else
    return page


async def subscribe(request: Request) -> HTMLResponse:
    ctx = context(request)
    async with request.form(max_files=0, max_fields=120) as form:
        email, name = str(form.get("email") or "")[:320], str(form.get("name") or "")[:200]
        source, trap, csrf = str(form.get("source") or "")[:100], form.get("website"), form.get("csrf")
        chosen = chosen_newsletters(ctx, form)
    if not guard.form_ok(ctx, request, csrf):
        return _form(ctx, request, error=N_("This form has expired. Please submit it again."), email=email,
                     name=name, source=source, chosen=chosen, status_code=403)
    if not chosen:
        return _form(ctx, request, error=N_("Please choose at least one newsletter."), email=email, name=name,
                     source=source, chosen=chosen, status_code=400)
    if not ctx.limits.allow_client(guard.client_address(request)):
        return ctx.pages.message(N_("Too many sign-ups"), N_("Too many sign-ups came from your network. "
                                                        "Please try again in an hour."), status_code=429,
                                 language=ctx.settings.newsletter().language)
    try:
        address = normalize_email(email)
    except ValueError:
        return _form(ctx, request, error=N_("Please enter a valid email address."), email=email, name=name,
                     source=source, chosen=chosen, status_code=400)
    response = ctx.pages.message(*ANSWER, language=ctx.settings.newsletter().language)
    if not trap:
        response.background = BackgroundTask(sign_up, ctx, address, name, source, chosen)
    return response


def chosen_newsletters(ctx: WebContext, form) -> tuple[str, ...]:
    """The configured newsletters the form ticks, in the file's order; with one newsletter (the form offers no
    choice) that one."""
    letters = ctx.settings.newsletters
    if len(letters) == 1:
        return (letters[0].key,)
    ticked = set(form.getlist("newsletters"))
    return tuple(n.key for n in letters if n.key in ticked)


async def sign_up(ctx: WebContext, address: str, name: str, source: str,
                  newsletters: tuple[str, ...] = ()) -> None:
    """After the answer: store the sign-up, queue at most one confirmation per window, send what is queued."""
    try:
        if not ctx.limits.allow_address(address):
            return
        if await run_in_threadpool(ops.sign_up, ctx.engine, ctx.settings, email=address, name=name, source=source,
                                   now=ctx.clock(), newsletters=newsletters):
            await ops.send_confirmations(ctx.engine, ctx.settings, ctx.get_mailer(), clock=ctx.clock)
    except Exception:  # noqa: BLE001 - the reader has had their answer; the row (if any) stays queued
        log.exception("sign-up: confirmation not sent now (the sweep retries what is queued)")


def _confirm_token(ctx: WebContext, request: Request) -> int:
    """The subscriber id of a genuine, unexpired confirmation token; 404 or 410 otherwise."""
    subscriber_id, issued = ctx.read("confirm", request.path_params["token"])
    if ops.link_expired(issued, now=ctx.clock(), days=ctx.settings.web.confirm_link_days):
        raise HTTPException(410)
    return subscriber_id


def confirm_page(request: Request) -> HTMLResponse:
    """GET /confirm/TOKEN changes nothing (mail scanners follow links): its button POSTs."""
    ctx = context(request)
    subscriber_id = _confirm_token(ctx, request)
    status = ops.confirmation_status(ctx.engine, subscriber_id=subscriber_id)
    if status not in (SubscriberStatus.pending, SubscriberStatus.active):
        raise HTTPException(404)
    if status == SubscriberStatus.active:
        return _confirmed(ctx, subscriber_id)
    return ctx.pages.render("confirm.html", title=N_("Confirm your subscription"))


def confirm(request: Request) -> HTMLResponse:
    ctx = context(request)
    subscriber_id = _confirm_token(ctx, request)
    if not ops.confirm(ctx.engine, subscriber_id=subscriber_id, now=ctx.clock()):
        raise HTTPException(404)
    return _confirmed(ctx, subscriber_id)


def _confirmed(ctx: WebContext, subscriber_id: int) -> HTMLResponse:
    return ctx.pages.render("confirmed.html", title=N_("You are subscribed"),
                            preferences_token=ctx.token("preferences", subscriber_id))


ROUTES = [
    Route("/subscribe", subscribe_page, methods=["GET"]),
    Route("/subscribe", subscribe, methods=["POST"]),
    Route("/confirm/{token}", confirm_page, methods=["GET"]),
    Route("/confirm/{token}", confirm, methods=["POST"]),
]
