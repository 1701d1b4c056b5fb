"""The REST API under `/api/v1` (below the path of `[sender] base_url`): JSON, `Authorization: Bearer KEY`,
one error shape, idempotent POSTs, a rate limit per key, and its OpenAPI 3.1 document at
`/api/v1/openapi.json`. Modules: `auth` (keys, scopes, the rate limit), `idempotency`, `errors`, `body`,
`subscribers`, `resources` (imports, events, editions, deliveries), `openapi` and `schemas` (the document).
Every handler calls one function of `digest.operations` (api_subscribers, api_changes, api_reads,
api_requests).
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.routing import Mount, Route, Router

from digest.web.api_v1 import resources, subscribers
from digest.web.api_v1.auth import ApiLimits
from digest.web.api_v1.errors import http_error, no_route
from digest.web.api_v1.openapi import openapi_json

ROUTES = [Route("/openapi.json", openapi_json, methods=["GET"]), *subscribers.ROUTES, *resources.ROUTES]

__all__ = ["ApiLimits", "ROUTES", "mount"]


def mount() -> Mount:
    """`/api/v1`, its refusals (no such path, a wrong method) in the API's JSON shape, not the HTML pages'."""
    router = Router(routes=ROUTES, redirect_slashes=False, default=no_route)
    return Mount("/api/v1", app=ExceptionMiddleware(router, handlers={HTTPException: http_error}))
