"""Server-rendered pages: a Jinja2 environment set up like the email one (autoescape, StrictUndefined), and the
security headers every response carries."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError, select_autoescape
from starlette.responses import HTMLResponse

from digest.config import Settings
from digest.errors import ConfigError

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
    """ASGI middleware: adds SECURITY_HEADERS to every HTTP response."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)
