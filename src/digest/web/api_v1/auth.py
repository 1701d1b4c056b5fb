"""Who may call the REST API: `endpoint(scope)` wraps every handler but the OpenAPI document's. It reads the
`Authorization: Bearer KEY` header (no key, an unknown or revoked one: 401 with WWW-Authenticate; a key without
the scope: 403), counts the request against the key's `[api] rate_limit` (429 with Retry-After), replays the
answer of a POST whose `Idempotency-Key` was seen (`idempotency.py`), and turns an ApiProblem, or any other
error, into the one error shape.

The rate limit counts in this process's memory (the `limits` library's moving window, as the sign-up limits
in web/guard.py): one `digest serve` process counts alone, and a restart forgets.
"""

from __future__ import annotations

import functools
import logging
import math
import time

from limits import parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from digest.config import Settings
from digest.errors import InputError
from digest.operations.api_common import ApiProblem
from digest.operations.api_keys import ApiKeyInfo, authenticate
from digest.web.api_v1 import idempotency
from digest.web.api_v1.errors import error, problem
from digest.web.context import context

log = logging.getLogger("digest.api")
REALM = 'Bearer realm="digest api"'


class ApiLimits:
    """`[api] rate_limit` per key."""

    def __init__(self, settings: Settings) -> None:
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self.items = parse_many(settings.api.rate_limit)

    def retry_after(self, key_id: int) -> int | None:
        """None when the request may go on; else the seconds until it may be made."""
        for item in self.items:
            if not self.limiter.hit(item, "api", str(key_id)):
                reset = self.limiter.get_window_stats(item, "api", str(key_id)).reset_time
                return max(1, math.ceil(reset - time.time()))
        return None


async def _key(request: Request) -> ApiKeyInfo:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise ApiProblem(401, "unauthorized", "send the API key as `Authorization: Bearer KEY`")
    ctx = context(request)
    key = await run_in_threadpool(authenticate, ctx.engine, given.strip(), now=ctx.clock())
    if key is None:
        raise ApiProblem(401, "unauthorized", "unknown or revoked API key")
    return key


def endpoint(scope: str):
    """The handler `(request, key) -> response` behind the key checks, the rate limit and idempotency."""
    def wrap(handler):
        @functools.wraps(handler)
        async def run(request: Request):
            try:
                key = await _key(request)
            except ApiProblem as exc:
                response = problem(exc)
                response.headers["WWW-Authenticate"] = REALM + (', error="invalid_token"'
                                                                if "authorization" in request.headers else "")
                return response
            try:
                return await _authorized(request, key, scope, handler)
            except ApiProblem as exc:
                return problem(exc)
            except InputError as exc:
                return error(422, "invalid", " ".join(str(exc).split())[:500])
            except Exception:  # noqa: BLE001 - a bug: logged, answered in the one shape
                log.exception("API %s %s failed", request.method, request.url.path)
                return error(500, "internal", "internal error (logged)")
        run.scope = scope
        return run
    return wrap


async def _authorized(request: Request, key: ApiKeyInfo, scope: str, handler):
    if not key.may(scope):
        raise ApiProblem(403, "forbidden", f"this key lacks the scope {scope}")
    wait = request.app.state.api_limits.retry_after(key.id)
    if wait is not None:
        return error(429, "rate_limited", f"over this key's rate limit; retry in {wait} s",
                     headers={"Retry-After": str(wait)})
    if request.method == "POST":
        return await idempotency.once(request, key, handler)
    return await handler(request, key)
