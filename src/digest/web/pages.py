"""Server-rendered pages: a Jinja2 environment per language set up like the email one (autoescape,
StrictUndefined, gettext), and the security headers every response carries.

`Pages.render(..., language=...)` is the one way a page's language is chosen (default `[sender] language`).
Handlers pass their texts untranslated but marked (`N_("...")`): the `title`, `text` and `error` of a page
are translated here, in the page's language."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError, select_autoescape
from jinja2.bccache import Bucket, BytecodeCache
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

from digest.config import Settings
from digest.errors import ConfigError
from digest.i18n import N_, text_direction, translations

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


TRANSLATED = ("title", "text", "error")  # context values given marked, translated by Pages.render
WEEKDAY_NAMES = {"mon": N_("Monday"), "tue": N_("Tuesday"), "wed": N_("Wednesday"), "thu": N_("Thursday"),
                 "fri": N_("Friday"), "sat": N_("Saturday"), "sun": N_("Sunday")}
STATUS_NAMES = {"pending": N_("pending"), "bounced": N_("bounced"), "complained": N_("complained"),
                "removed": N_("removed")}  # "This address is %(status)s: it receives no digest."


class Pages:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.envs: dict[str, Environment] = {}
        self.env = self.environment(settings.sender.language)  # the default language's, checked at start

    def environment(self, language: str) -> Environment:
        """The page environment of `language`, made once per language."""
        if language not in self.envs:
            self.envs[language] = page_environment(self.settings.web_templates_dir, language)
        return self.envs[language]

    def gettext(self, language: str | None = None) -> Callable[[str], str]:
        return translations(language or self.settings.sender.language).gettext

    def render(self, template: str, *, language: str | None = None, status_code: int = 200,
               **context) -> HTMLResponse:
        lang = language or self.settings.sender.language
        env, gettext = self.environment(lang), self.gettext(lang)
        sender = self.settings.sender
        context = {"list_name": sender.list_name, "postal_address": sender.postal_address, "lang": lang,
                   "dir": text_direction(lang), **context}
        context.update({key: gettext(context[key]) for key in TRANSLATED if isinstance(context.get(key), str)})
        try:
            body = env.get_template(template).render(context)
        except TemplateError as exc:
            raise ConfigError(f"{self.settings.web_templates_dir / template}: template error: {exc}") from None
        return HTMLResponse(body, status_code=status_code)

    def preload(self) -> list[str]:
        """Compiles the default language's page templates now (the console's, under admin/, are its own); returns
        those that did not compile, left for their request to report."""
        return preload(self.env, self.env.list_templates(
            filter_func=lambda name: name.endswith((".html", ".txt")) and not name.startswith("admin/")))

    def message(self, title: str, text: str, *, language: str | None = None, status_code: int = 200) -> HTMLResponse:
        """A page that says one thing; `title` and `text` are translated (mark them with `N_`)."""
        return self.render("message.html", language=language, title=title, text=text, status_code=status_code)


def preload(env: Environment, names: list[str]) -> list[str]:
    """Loads (compiles) each of `names` into `env`'s cache; returns the names that failed, logged."""
    failed = []
    for name in names:
        try:
            env.get_template(name)
        except TemplateError as exc:
            log.warning("template %s does not compile: %s", name, exc)
            failed.append(name)
    return failed


class CompiledTemplates(BytecodeCache):
    """Jinja's compiled code of each template kept in memory for the process (a bytecode cache: keyed by the
    template's name and file, reused while its source's checksum is the same), shared by the environments of
    one kind (same options): a second app, or another language's pages, loads a template without compiling it."""

    def __init__(self) -> None:
        self.code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        if bucket.key in self.code:
            bucket.bytecode_from_string(self.code[bucket.key])

    def dump_bytecode(self, bucket: Bucket) -> None:
        self.code[bucket.key] = bucket.bytecode_to_string()


PAGE_CODE = CompiledTemplates()  # the reader pages' environments (web/admin/session.py has the console's)


def page_environment(path: Path, language: str = "en") -> Environment:
    if not (path / "base.html").is_file():
        raise ConfigError(f"[web] templates: no page templates in {path}")
    env = Environment(loader=FileSystemLoader(str(path)), autoescape=select_autoescape(["html"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.i18n"],
                      bytecode_cache=PAGE_CODE)
    env.install_gettext_translations(translations(language), newstyle=True)
    env.globals.update(weekday_names=WEEKDAY_NAMES, status_names=STATUS_NAMES)
    return env


class SecurityHeaders:
    """ASGI middleware: adds SECURITY_HEADERS to every HTTP response, the 500 page of an unexpected error
    included (which it answers itself, so that no error page leaves without them); a header the response sets
    itself (the console's pages: their own CSP) is kept instead."""

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
                headers = message.get("headers", [])
                own = {name.lower() for name, _ in headers}  # a response may set its own (a framed preview's CSP)
                message["headers"] = [*headers, *(h for h in SECURITY_HEADERS if h[0] not in own)]
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
            return self.pages.message(N_("Something went wrong"), N_("Please try again later."), status_code=500)
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
        cap = EVENTS_BYTES if scope["path"].endswith(("/events", "/api/v1/imports")) else FORM_BYTES
        declared = dict(scope.get("headers") or []).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > cap:
            await _too_large(cap, scope)(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > cap:
                await _too_large(cap, scope)(scope, receive, send)
                return
        handed = False

        async def replay():
            nonlocal handed
            if handed:
                return await receive()
            handed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def _too_large(cap: int, scope) -> Response:
    if "/api/v1/" in scope["path"]:  # the REST API's one error shape
        return JSONResponse({"error": {"code": "too_large", "message": f"body: over {cap} bytes", "field": "body"}},
                            status_code=413)
    return PlainTextResponse(f"request body over {cap} bytes", status_code=413)
