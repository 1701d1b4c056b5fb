"""The pages behind the links in every email: unsubscribe (RFC 8058), preferences, view in browser, clicks.

A forged, altered or foreign token is a 404 that changes nothing. Handlers that need no request body are plain
functions, which Starlette runs in its thread pool (the store is synchronous). Each handler checks the token,
calls one function of `digest.operations.reader` (or `operations.archive`) and renders what it returns.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse
from starlette.routing import Route

from babel.dates import get_day_names

from digest.i18n import N_, translations
from digest.models import Subscriber
from digest.operations import reader as ops
from digest.operations.archive import archived_email
from digest.web.context import WebContext, context
from digest.web.forms import choices, csrf_ok, csrf_token, parse_letter_preferences, parse_preferences


def unsubscribe_page(request: Request) -> HTMLResponse:
    """GET /u/TOKEN: changes nothing (mail scanners follow links); its button POSTs to the same URL."""
    ctx = context(request)
    subscriber_id, newsletter = ctx.read("unsubscribe", request.path_params["token"])
    found = _found(ops.leaving(ctx.engine, ctx.settings, subscriber_id, newsletter=newsletter))
    return ctx.pages.render("unsubscribe.html", title=N_("Unsubscribe"), newsletter_name=found.name,
                            language=_language_of(ctx, found.key),
                            already=not found.joined or found.sub.status not in ops.UNSUBSCRIBABLE,
                            **_undo(ctx, found))


def unsubscribe(request: Request) -> HTMLResponse:
    """POST /u/TOKEN, RFC 8058 one-click: no cookie, login or CSRF check, any body or none; 200, never a redirect.
    The reader leaves the newsletter the token names, and only that one."""
    ctx = context(request)
    subscriber_id, newsletter = ctx.read("unsubscribe", request.path_params["token"])
    found = _found(ops.unsubscribe(ctx.engine, ctx.settings, subscriber_id, newsletter=newsletter, now=ctx.clock()))
    return ctx.pages.render("unsubscribed.html", title=N_("You are unsubscribed"), newsletter_name=found.name,
                            language=_language_of(ctx, found.key),
                            **_undo(ctx, found))


def _language_of(ctx: WebContext, key: str) -> str:
    """The language of the newsletter `key`; the first newsletter's when it is no longer configured."""
    return next((n.language for n in ctx.settings.newsletters if n.key == key), ctx.settings.newsletter().language)


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # Babel's day names are numbered from Monday (0)


def schedule_text(days: tuple[str, ...], language: str) -> str:
    """When a newsletter arrives, in `language`: "Every day.", "Every Friday.", "Monday to Friday.",
    "On Monday, Wednesday and Friday.", or "On the days of its own schedule." (a schedule not weekly in shape)."""
    gettext = translations(language).gettext
    names = get_day_names("wide", locale=language)
    named = [names[WEEKDAYS.index(day)] for day in days]
    if len(days) == 7:
        return gettext(N_("Every day."))
    if len(days) == 1:
        return gettext(N_("Every %(day)s.")) % {"day": named[0]}
    if tuple(days) == WEEKDAYS[:5]:
        return gettext(N_("Monday to Friday."))
    if days:
        return gettext(N_("On %(days)s and %(last)s.")) % {"days": ", ".join(named[:-1]), "last": named[-1]}
    return gettext(N_("On the days of its own schedule."))


def _undo(ctx: WebContext, found: ops.Leave) -> dict:
    """What the "Resubscribe" button (rejoin that newsletter) and the preference centre's link need: the
    button is shown to a reader who may rejoin (not to a suppressed one) and to a newsletter still configured."""
    sub = found.sub
    configured = any(n.key == found.key for n in ctx.settings.newsletters)
    return {"can_resubscribe": configured and sub.status in ops.LEAVABLE and not found.joined,
            "newsletter_key": found.key, "preferences_token": ctx.token("preferences", sub.id),
            "csrf": csrf_token(ctx, sub.id)}


def preferences_page(request: Request) -> HTMLResponse:
    ctx = context(request)
    subscriber_id = ctx.read("preferences", request.path_params["token"])[0]
    return _preferences(ctx, ops.preferences(ctx.engine, ctx.settings, subscriber_id))


async def preferences_save(request: Request) -> HTMLResponse:
    ctx = context(request)
    subscriber_id = ctx.read("preferences", request.path_params["token"])[0]
    async with request.form(max_files=0, max_fields=500) as form:
        return await run_in_threadpool(_save_preferences, ctx, subscriber_id, form)


def _save_preferences(ctx: WebContext, subscriber_id: int, form) -> HTMLResponse:
    if not csrf_ok(ctx, subscriber_id, form.get("csrf")):
        raise HTTPException(403)
    now, action, key = ctx.clock(), form.get("action"), str(form.get("newsletter") or "")[:40]
    settings, engine = ctx.settings, ctx.engine
    if action == "resubscribe" and key:
        return _preferences(ctx, ops.join(engine, settings, subscriber_id, newsletter=key, now=now))
    if action == "resubscribe":
        return _preferences(ctx, ops.resubscribe(engine, settings, subscriber_id, now=now))
    if action in ("join", "leave"):
        change = ops.join if action == "join" else ops.leave
        return _preferences(ctx, change(engine, settings, subscriber_id, newsletter=key, now=now))
    if action == "leave-all":
        return _preferences(ctx, ops.leave_everything(engine, settings, subscriber_id, now=now))
    if action == "newsletter":
        def parse_own(letter, topics: list[str], countries: list[str]) -> dict:
            return parse_letter_preferences(form, letter=letter, topics=topics, countries=countries)

        return _preferences(ctx, ops.save_letter_preferences(engine, settings, subscriber_id, newsletter=key,
                                                             parse=parse_own, now=now), form=form)

    def parse(sub: Subscriber, topics: list[str], countries: list[str]) -> dict:
        return parse_preferences(form, email=sub.email, offered=choices(sub, topics, countries), today=now.date())

    return _preferences(ctx, ops.save_preferences(engine, settings, subscriber_id, parse=parse, now=now), form=form)


def _preferences(ctx: WebContext, found: ops.Preferences | None, *, form=None) -> HTMLResponse:
    """The preference centre; the submitted `form` is shown again when it had an error."""
    view = _found(found)
    sub = view.sub
    shown_form = form if view.error and form is not None and form.get("action") != "newsletter" else None
    language = ctx.settings.newsletter().language
    return ctx.pages.render("preferences.html", title=N_("Your preferences"), sub=sub, language=language,
                            schedules={letter.key: schedule_text(letter.days, language) for letter in view.letters},
                            offered=choices(sub, view.topics, view.countries), saved=view.saved, error=view.error,
                            form=shown_form, csrf=csrf_token(ctx, sub.id), resubscribed=view.resubscribed,
                            letters=[(letter, *ops.scope_choices(letter, view.topics, view.countries))
                                     for letter in view.letters],
                            notice=view.notice, notice_name=view.notice_name,
                            unsubscribe_token=ctx.token("unsubscribe", sub.id),
                            status_code=400 if view.error else 200)


def archive(request: Request) -> HTMLResponse:
    """GET /archive/EDITION/TOKEN: that reader's email of that edition, re-rendered from what was sent."""
    ctx = context(request)
    subscriber_id, slug = ctx.read("archive", request.path_params["token"])
    if slug != request.path_params["edition"]:
        raise HTTPException(404)
    email = _found(archived_email(ctx.engine, ctx.settings, slug=slug, subscriber_id=subscriber_id))
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
    url = _found(ops.click(ctx.engine, subscriber_id=subscriber_id, delivery_id=delivery_id, article_id=article_id,
                           now=ctx.clock(), count=request.method == "GET"))
    return RedirectResponse(url, status_code=302)


def _found(value):
    """`value`, or a 404 when the operation found nothing (no such subscriber, delivery or link)."""
    if value is None:
        raise HTTPException(404)
    return value


ROUTES = [
    Route("/u/{token}", unsubscribe_page, methods=["GET"]),
    Route("/u/{token}", unsubscribe, methods=["POST"]),
    Route("/p/{token}", preferences_page, methods=["GET"]),
    Route("/p/{token}", preferences_save, methods=["POST"]),
    Route("/archive/{edition}/{token}", archive, methods=["GET"]),
    Route("/c/{token}", click, methods=["GET"]),
]
