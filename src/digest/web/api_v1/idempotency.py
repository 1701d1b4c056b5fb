"""`Idempotency-Key` on a POST: the first answer (status and body) is stored per API key for 24 hours and
given again, without doing the request again, for the same key with the same method, path and body; the same
key with another request is a 422. A 5xx answer is not stored (the request may be tried again). Two requests
with one new key at the very same time may both run: the first answer stored is the one replayed after.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from digest.operations.api_keys import ApiKeyInfo
from digest.operations.api_requests import check_idempotency_key, remember_answer, request_hash, stored_answer
from digest.web.context import context

HEADER = "idempotency-key"


async def once(request: Request, key: ApiKeyInfo, handler) -> Response:
    given = request.headers.get(HEADER)
    if given is None:
        return await handler(request, key)
    ctx = context(request)
    fingerprint = request_hash(request.method, request.url.path, await request.body())
    found = await run_in_threadpool(stored_answer, ctx.engine, api_key_id=key.id, key=check_idempotency_key(given),
                                    fingerprint=fingerprint, now=ctx.clock())
    if found is not None:
        return Response(found.body, status_code=found.status_code, media_type="application/json",
                        headers={"Idempotent-Replayed": "true"})
    response = await handler(request, key)
    if response.status_code < 500:
        await run_in_threadpool(remember_answer, ctx.engine, api_key_id=key.id, key=given, fingerprint=fingerprint,
                                status_code=response.status_code, body=response.body.decode(), now=ctx.clock())
    return response
