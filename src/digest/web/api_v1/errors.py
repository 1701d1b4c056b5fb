"""The REST API's answers: JSON with times in UTC ISO 8601, and one error shape everywhere,
`{"error": {"code": "...", "message": "...", "field": "..."}}` (`field` only when one field is at fault)."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from digest.operations.api_common import ApiProblem

HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 409: "conflict", 413: "too_large", 422: "invalid", 429: "rate_limited"}


def _default(value):
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def dumps(doc) -> str:
    return json.dumps(doc, ensure_ascii=False, default=_default, separators=(",", ":"))


class ApiResponse(Response):
    media_type = "application/json"

    def render(self, content) -> bytes:
        return dumps(content).encode()


def error(status: int, code: str, message: str, field: str | None = None, headers: dict | None = None) -> ApiResponse:
    doc = {"code": code, "message": message}
    if field is not None:
        doc["field"] = field
    return ApiResponse({"error": doc}, status_code=status, headers=headers)


def problem(exc: ApiProblem) -> ApiResponse:
    return error(exc.status, exc.code, str(exc), exc.field)


async def http_error(request: Request, exc: Exception) -> ApiResponse:
    """Starlette's own refusals (no such path, a method the path does not take) in the API's shape."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    message = {404: "no such endpoint", 405: f"{request.method} is not allowed here"}.get(status, "error")
    return error(status, HTTP_CODES.get(status, "error"), message, headers=getattr(exc, "headers", None))


async def no_route(scope, receive, send) -> None:
    await error(404, "not_found", "no such endpoint")(scope, receive, send)
