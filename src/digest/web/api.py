"""Machine endpoints: `POST /events` (engagement from the site's analytics, bearer token) and `GET /healthz`."""

from __future__ import annotations

import hmac

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from digest.errors import InputError
from digest.ingest.events import parse_events
from digest.ingest.tabular import rows_from_bytes
from digest.operations.reader import add_events, ping
from digest.web.context import context

MAX_BODY = 5_000_000


async def events(request: Request) -> JSONResponse:
    """JSON Lines, or a JSON list, of {url | article_id, kind, count, at}: the rules of `digest events import`.
    All or nothing: a bad row or an unknown article stores nothing and names every bad line (422)."""
    ctx = context(request)
    if not ctx.settings.events_token:
        return JSONResponse({"error": "not found"}, status_code=404)
    if not _authorized(request, ctx.settings.events_token):
        return JSONResponse({"error": "missing or wrong bearer token"}, status_code=401,
                            headers={"WWW-Authenticate": 'Bearer realm="digest events"'})
    body = await _body(request)
    if body is None:
        return JSONResponse({"error": f"body over {MAX_BODY} bytes"}, status_code=413)
    fmt = "json" if body.lstrip().startswith(b"[") else "jsonl"
    try:
        rows = parse_events(rows_from_bytes("body", body, fmt), "body")
        buckets = await run_in_threadpool(add_events, ctx.engine, rows)
    except InputError as exc:
        return JSONResponse({"error": str(exc).splitlines()}, status_code=422)
    return JSONResponse({"events": len(rows), "buckets": buckets})


async def _body(request: Request) -> bytes | None:
    """The request body, or None past MAX_BODY (read no further)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _authorized(request: Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def healthz(request: Request) -> JSONResponse:
    ping(context(request).engine)
    return JSONResponse({"status": "ok"})


ROUTES = [
    Route("/events", events, methods=["POST"]),
    Route("/healthz", healthz, methods=["GET"]),
]
