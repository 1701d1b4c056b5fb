"""What every handler needs: settings, the engine (handed to digest.operations), the pages, the clock and (for
sign-ups) a mailer; and the checking and making of the tokens in the reader links."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.engine import Engine
from starlette.exceptions import HTTPException
from starlette.requests import Request

from digest.config import Settings
from digest.operations.public_archive import PageCache
from digest.operations.reader import token_key
from digest.send import Mailer
from digest.tokens import read_bound_token, read_token
from digest.urls import reader_token
from digest.web.pages import Pages

MAX_TOKEN = 200  # longer path segments are not ours: refused before any HMAC work


@dataclass
class WebContext:
    settings: Settings
    engine: Engine
    pages: Pages
    clock: Callable[[], datetime]
    mailer: Mailer | None = None
    owns_mailer: bool = False
    limits: object = None  # digest.web.guard.SignupLimits, set by create_app
    public_pages: PageCache = field(default_factory=PageCache)  # the public archive's feed entries, in memory

    def read(self, purpose: str, token: str) -> tuple[int, str]:
        """(subscriber id, extra) of a genuine token for `purpose`; a 404 for anything else."""
        found = None
        if len(token) <= MAX_TOKEN:
            found = read_bound_token(self.settings.secret_key, purpose, token, self.settings.sender.list_id,
                                     self.ident_of)
        if found is None:
            raise HTTPException(404)
        return found

    def check(self, purpose: str, token: object) -> tuple[int, str] | None:
        """(subscriber id, extra) of a genuine token for `purpose` that names no subscriber (a form's), else None."""
        if not isinstance(token, str) or len(token) > MAX_TOKEN:
            return None
        return read_token(self.settings.secret_key, purpose, token, self.settings.sender.list_id)

    def token(self, purpose: str, subscriber_id: int, extra: str = "") -> str:
        return reader_token(self.settings, purpose, subscriber_id, extra, self.ident_of(subscriber_id) or "")

    def ident_of(self, subscriber_id: int) -> str | None:
        """The identity a subscriber's tokens are bound to; None when no subscriber has that id."""
        return token_key(self.engine, subscriber_id)

    def get_mailer(self) -> Mailer:
        if self.mailer is None:
            from digest.send import SmtpMailer

            self.mailer = SmtpMailer(self.settings.smtp, local_hostname=self.settings.sender_domain)
            self.owns_mailer = True
        return self.mailer


def context(request: Request) -> WebContext:
    return request.app.state.ctx
