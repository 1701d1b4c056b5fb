"""What keeps the sign-up form from being abused: its CSRF token and the rate limits.

* The form's token is signed (an HMAC with DIGEST_SECRET_KEY) over its issue time and a random nonce; the
  same nonce is in a `SameSite=Strict` cookie set with the form. A POST needs both, matching, and a token
  younger than FORM_AGE: another site can neither read the token nor make a browser send the cookie.
* Rate limits (the `limits` library, moving windows): `[web] signup_limit_ip` per client address (answered
  429) and `[web] signup_limit_address` per email address (answered as usual, and nothing is done). The
  counters live in this process's memory: one `digest serve` process counts alone, and a restart forgets.
  What bounds the mail across processes and restarts is the store: at most one confirmation per address per
  `[web] confirm_window_hours` (`store.confirmations.queue_confirmation`).
"""

from __future__ import annotations

import hmac
import secrets
import time

from limits import parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.requests import Request
from starlette.responses import Response

from digest.config import Settings
from digest.web.context import WebContext

FORM_PURPOSE = "subscribe-form"
FORM_COOKIE = "digest_signup"
FORM_AGE = 86400  # seconds a sign-up form stays valid


class SignupLimits:
    def __init__(self, settings: Settings) -> None:
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self.per_ip = parse_many(settings.web.signup_limit_ip)
        self.per_address = parse_many(settings.web.signup_limit_address)

    def allow_client(self, client: str) -> bool:
        return all([self.limiter.hit(item, "signup-ip", client) for item in self.per_ip])

    def allow_address(self, address: str) -> bool:
        return all([self.limiter.hit(item, "signup-address", address.casefold()) for item in self.per_address])


def client_address(request: Request) -> str:
    """The client's IP (uvicorn's proxy_headers put the proxy's X-Forwarded-For there when it is trusted)."""
    return request.client.host if request.client else "unknown"


def new_form(ctx: WebContext) -> tuple[str, str]:
    """(token for the form, nonce for its cookie)."""
    nonce = secrets.token_urlsafe(16)
    return ctx.token(FORM_PURPOSE, 0, f"{int(time.time())}.{nonce}"), nonce


def set_form_cookie(request: Request, response: Response, nonce: str) -> None:
    response.set_cookie(FORM_COOKIE, nonce, max_age=FORM_AGE, path=request.url.path, httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")


def form_ok(ctx: WebContext, request: Request, submitted: object) -> bool:
    found = ctx.check(FORM_PURPOSE, submitted)
    if found is None:
        return False
    issued, _, nonce = found[1].partition(".")
    cookie = request.cookies.get(FORM_COOKIE, "")
    fresh = issued.isdigit() and 0 <= time.time() - int(issued) <= FORM_AGE
    return fresh and bool(nonce) and hmac.compare_digest(cookie.encode(), nonce.encode())
