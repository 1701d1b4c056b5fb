"""Server-rendered pages: a Jinja2 environment set up like the email one (autoescape, StrictUndefined), and the
security headers every response carries."""

from __future__ import annotations

import logging
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError, select_autoescape
from starlette.responses import HTMLResponse, PlainTextResponse, Response

from digest.config import Settings
from digest.errors import ConfigError

log = logging.getLogger("digest.web")
FORM_BYTES = 64_000  # the sign-up and preference forms (a preference form with every topic ticked is ~10 kB)
EVENTS_BYTES = 5_000_000  # POST /events

# Tokens live in URLs: no Referer may carry them off to an article's site, and no cache may keep the pages.
SECURITY_HEADERS = [
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-robots-tag", b"noindex, nofollow"),
    (b"content-security-policy", b"default-src 'none'; style-src 'unsafe-inline'; img-src https: http:; "
                                 b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
]


class Pages:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.env = page_environment(settings.web_templates_dir)

    def render(self, template: str, *, status_code: int = 200, **context) -> HTMLResponse:
        sender = self.settings.sender
        context = {"list_name": sender.list_name, "postal_address": sender.postal_address, **context}
        try:
            body = self.env.get_template(template).render(context)
        except TemplateError as exc:
            raise ConfigError(f"{self.settings.web_templates_dir / template}: template error: {exc}") from None
        return HTMLResponse(body, status_code=status_code)

    def message(self, title: str, text: str, *, status_code: int = 200) -> HTMLResponse:
        return self.render("message.html", title=title, text=text, status_code=status_code)


def page_environment(path: Path) -> Environment:
    if not (path / "base.html").is_file():
        raise ConfigError(f"[web] templates: no page templates in {path}")
    return Environment(loader=FileSystemLoader(str(path)), autoescape=select_autoescape(["html"]),
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


class SecurityHeaders:
    """ASGI middleware: adds SECURITY_HEADERS to every HTTP response, the 500 page of an unexpected error
    included (which it answers itself, so that no error page leaves without them)."""

    def __init__(self, app, pages: Pages | None = None) -> None:
        self.app = app
        self.pages = pages

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_with_headers(message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            log.exception("internal error answering %s", scope.get("method", ""))  # the path carries tokens
            if started:
                raise
            await self._server_error()(scope, receive, send_with_headers)

    def _server_error(self) -> Response:
        try:
            return self.pages.message("Something went wrong", "Please try again later.", status_code=500)
        except Exception:  # noqa: BLE001 - the templates themselves may be what failed
            return PlainTextResponse("Something went wrong. Please try again later.", status_code=500)


class BodyLimit:
    """ASGI middleware: a request body over its cap is a 413, read no further (forms: FORM_BYTES; the
    events endpoint: EVENTS_BYTES). The body is read here and handed on whole."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        cap = EVENTS_BYTES if scope["path"].endswith("/events") else FORM_BYTES
        declared = dict(scope.get("headers") or []).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > cap:
            await _too_large(cap)(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > cap:
                await _too_large(cap)(scope, receive, send)
                return
        handed = False

        async def replay():
            nonlocal handed
            if handed:
                return await receive()
            handed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def _too_large(cap: int) -> Response:
    return PlainTextResponse(f"request body over {cap} bytes", status_code=413)
