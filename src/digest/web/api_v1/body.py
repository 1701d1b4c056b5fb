"""Reading a request's JSON body: malformed JSON is a 400 naming the body."""

from __future__ import annotations

import json

from starlette.requests import Request

from digest.operations.api_common import ApiProblem


async def json_body(request: Request, *, optional: bool = False):
    raw = await request.body()
    if not raw.strip() and optional:
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiProblem(400, "malformed", "body: not JSON", "body") from None


MAX_ID = 2**31 - 1  # ids are 32-bit integers on PostgreSQL: a larger one names nothing


def path_id(request: Request) -> int:
    value = request.path_params["id"]
    if value > MAX_ID:
        raise ApiProblem(404, "not_found", f"no such id {value}")
    return value
