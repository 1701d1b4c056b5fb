"""The pages behind the links in every email: unsubscribe (RFC 8058), preferences, view in browser, clicks.

A forged, altered or foreign token is a 404 that changes nothing. Handlers that need no request body are plain
functions, which Starlette runs in its thread pool (the store is synchronous).
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse
from starlette.routing import Route

from digest import store
from digest.models import Subscriber, SubscriberStatus
from digest.pipeline.archive import archived_email
from digest.web.context import WebContext, context
from digest.web.forms import FormError, choices, csrf_ok, csrf_token, parse_preferences

UNSUBSCRIBABLE = (SubscriberStatus.active, SubscriberStatus.pending)


def unsubscribe_page(request: Request) -> HTMLResponse:
    """GET /u/TOKEN: changes nothing (mail scanners follow links); its button POSTs to the same URL."""
    ctx = context(request)
    sub = _subscriber(ctx, ctx.read("unsubscribe", request.path_params["token"])[0])
    return ctx.pages.render("unsubscribe.html", title="Unsubscribe", already=sub.status not in UNSUBSCRIBABLE,
                            **_undo(ctx, sub))


def unsubscribe(request: Request) -> HTMLResponse:
    """POST /u/TOKEN, RFC 8058 one-click: no cookie, login or CSRF check, any body or none; 200, never a redirect."""
    ctx = context(request)
    subscriber_id = ctx.read("unsubscribe", request.path_params["token"])[0]
    with store.session_scope(ctx.engine) as session:
        if store.subscriber_by_id(session, subscriber_id=subscriber_id) is None:
            raise HTTPException(404)
        store.set_subscriber_status(session, subscriber_id=subscriber_id, status=SubscriberStatus.unsubscribed,
                                    now=ctx.clock(), only_from=UNSUBSCRIBABLE)
        sub = _subscriber_in(session, subscriber_id)
    return ctx.pages.render("unsubscribed.html", title="You are unsubscribed", **_undo(ctx, sub))


def _undo(ctx: WebContext, sub: Subscriber) -> dict:
    """What the "Resubscribe" button needs: shown when the reader is unsubscribed (not when suppressed)."""
    return {"can_resubscribe": sub.status == SubscriberStatus.unsubscribed,
            "preferences_token": ctx.token("preferences", sub.id), "csrf": csrf_token(ctx, sub.id)}


def preferences_page(request: Request) -> HTMLResponse:
    ctx = context(request)
    subscriber_id = ctx.read("preferences", request.path_params["token"])[0]
    return _preferences(ctx, subscriber_id)


async def preferences_save(request: Request) -> HTMLResponse:
    ctx = context(request)
    subscriber_id = ctx.read("preferences", request.path_params["token"])[0]
    async with request.form(max_files=0, max_fields=500) as form:
        return await run_in_threadpool(_save_preferences, ctx, subscriber_id, form)


def _save_preferences(ctx: WebContext, subscriber_id: int, form) -> HTMLResponse:
    if not csrf_ok(ctx, subscriber_id, form.get("csrf")):
        raise HTTPException(403)
    if form.get("action") == "resubscribe":
        return _resubscribe(ctx, subscriber_id)
    with store.session_scope(ctx.engine) as session:
        sub = _subscriber_in(session, subscriber_id)
        offered = choices(sub, *store.known_topics_and_countries(session))
        try:
            values = parse_preferences(form, email=sub.email, offered=offered, today=ctx.clock().date())
        except FormError as exc:
            return _preferences(ctx, subscriber_id, error=str(exc), form=form)
        store.update_preferences(session, subscriber_id=subscriber_id, values=values, now=ctx.clock())
    return _preferences(ctx, subscriber_id, saved=True)


def _resubscribe(ctx: WebContext, subscriber_id: int) -> HTMLResponse:
    """The reader's own way back (from the preference centre or the "you are unsubscribed" page): the token
    proves the mailbox is theirs, so no confirmation email is needed; recorded as their consent."""
    with store.session_scope(ctx.engine) as session:
        _subscriber_in(session, subscriber_id)
        changed = store.resubscribe(session, subscriber_id=subscriber_id, now=ctx.clock(), source="web:resubscribe")
    return _preferences(ctx, subscriber_id, resubscribed=changed)


def _preferences(ctx: WebContext, subscriber_id: int, *, saved: bool = False, error: str | None = None,
                 form=None, resubscribed: bool = False) -> HTMLResponse:
    with store.read_session(ctx.engine) as session:
        sub = _subscriber_in(session, subscriber_id)
        offered = choices(sub, *store.known_topics_and_countries(session))
    return ctx.pages.render("preferences.html", title="Your preferences", sub=sub, offered=offered, saved=saved,
                            error=error, form=form, csrf=csrf_token(ctx, subscriber_id), resubscribed=resubscribed,
                            unsubscribe_token=ctx.token("unsubscribe", subscriber_id),
                            status_code=400 if error else 200)


def archive(request: Request) -> HTMLResponse:
    """GET /archive/EDITION/TOKEN: that reader's email of that edition, re-rendered from what was sent."""
    ctx = context(request)
    subscriber_id, slug = ctx.read("archive", request.path_params["token"])
    if slug != request.path_params["edition"]:
        raise HTTPException(404)
    email = archived_email(ctx.engine, ctx.settings, slug=slug, subscriber_id=subscriber_id)
    if email is None:
        raise HTTPException(404)
    return HTMLResponse(email.html)


def click(request: Request) -> RedirectResponse:
    """GET /c/TOKEN (only with `[web] click_tracking`): count a click, then go to the article. The token names
    a delivery and an article, and the URL comes from the store: only a link that was in that email.
    A click counts once per delivery and article (replays and scanners' prefetches add nothing); HEAD
    redirects and counts nothing."""
    ctx = context(request)
    if not ctx.settings.web.click_tracking:
        raise HTTPException(404)
    subscriber_id, extra = ctx.read("click", request.path_params["token"])
    delivery_id, article_id = (int(n) if n.isdigit() else 0 for n in extra.partition(":")[::2])
    with store.session_scope(ctx.engine) as session:
        url = store.delivery_links(session, delivery_id=delivery_id, subscriber_id=subscriber_id).get(article_id)
        if not url or not url.startswith(("https://", "http://")):
            raise HTTPException(404)
        now = ctx.clock()
        if request.method == "GET" and store.count_click(session, delivery_id=delivery_id, article_id=article_id,
                                                         now=now):
            store.add_engagement(session, events=[(article_id, now, "click", 1)])
    return RedirectResponse(url, status_code=302)


def _subscriber(ctx: WebContext, subscriber_id: int) -> Subscriber:
    with store.read_session(ctx.engine) as session:
        return _subscriber_in(session, subscriber_id)


def _subscriber_in(session, subscriber_id: int) -> Subscriber:
    sub = store.subscriber_by_id(session, subscriber_id=subscriber_id)
    if sub is None:
        raise HTTPException(404)
    return sub


ROUTES = [
    Route("/u/{token}", unsubscribe_page, methods=["GET"]),
    Route("/u/{token}", unsubscribe, methods=["POST"]),
    Route("/p/{token}", preferences_page, methods=["GET"]),
    Route("/p/{token}", preferences_save, methods=["POST"]),
    Route("/archive/{edition}/{token}", archive, methods=["GET"]),
    Route("/c/{token}", click, methods=["GET"]),
]
