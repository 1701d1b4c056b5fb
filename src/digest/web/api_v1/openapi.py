"""The OpenAPI 3.1 document of `/api/v1`, served at `/api/v1/openapi.json` (no key needed). The tests check it
with openapi-spec-validator and check every answer they get against its schema for that path, method and
status."""

from __future__ import annotations

from starlette.requests import Request

from digest.web.api_v1.errors import ApiResponse
from digest.web.api_v1.schemas import INT, SCHEMAS, STR, ref

ERRORS = {"400": "Malformed JSON", "401": "No key, or an unknown or revoked one",
          "403": "The key lacks the scope", "404": "Not found", "409": "Conflict with what is stored",
          "413": "The body is too large (imports and events: 5 MB; others: 64 kB)",
          "422": "A field is invalid (named in error.field)", "429": "Over the key's rate limit (see Retry-After)"}
IDEMPOTENCY = {"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string",
               "maxLength": 255}, "description": "The same key and body within 24 h replay the first answer."}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _op(summary: str, scope: str, ok: tuple[str, str, str], errors: str = "", *, params: tuple = (),
        body: dict | None = None) -> dict:
    """One operation: its success (status, schema name, description), the error statuses it may answer."""
    status, schema, description = ok
    responses = {status: _json(ref(schema), description)}
    for code in ("401", "403", "429", *errors.split()):
        responses[code] = _json(ref("Error"), ERRORS[code])
    op = {"summary": summary, "security": [{"bearer": [scope]}], "x-scope": scope, "responses": responses,
          "parameters": list(params)}
    if body is not None:
        responses["413"] = _json(ref("Error"), ERRORS["413"])
        op["requestBody"] = {"required": True, "content": body}
        op["parameters"].append(IDEMPOTENCY)
    return op


def _query(name: str, description: str, schema: dict = STR) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def _json_body(name: str) -> dict:
    return {"application/json": {"schema": ref(name)}}


ID = {"name": "id", "in": "path", "required": True, "schema": INT}
PAGE = (_query("cursor", "The next_cursor of the page before."),
        _query("limit", "Items per page (1-200).", {"type": "integer", "minimum": 1, "maximum": 200}))

PATHS = {
    "/subscribers": {
        "post": _op("Create a subscriber: pending with a confirmation email (double opt-in), or confirmed with "
                    "the scope subscribers:confirmed", "subscribers:write", ("201", "Subscriber", "Created"),
                    "400 409 422", body=_json_body("SubscriberCreate")),
        "get": _op("List subscribers by id (cursor pages), or look one up by address", "subscribers:read",
                   ("200", "SubscriberPage", "A page"), "422",
                   params=(_query("email", "An address, in any case: the page holds that subscriber or none."),
                           _query("status", "Only readers of this status."),
                           _query("newsletter", "Only readers actively subscribed to this newsletter."), *PAGE)),
    },
    "/subscribers/{id}": {
        "get": _op("One subscriber", "subscribers:read", ("200", "Subscriber", "The subscriber"), "404",
                   params=(ID,)),
        "patch": _op("Change preferences and subscriptions", "subscribers:write", ("200", "Subscriber", "Changed"),
                     "400 404 409 422", params=(ID,), body=_json_body("SubscriberUpdate")),
        "delete": _op("Erase (the subscriber's row, deliveries and items; the address stays suppressed by hash)",
                      "subscribers:write", ("200", "Erased", "Erased"), "404", params=(ID,)),
    },
    "/subscribers/{id}/unsubscribe": {
        "post": _op("Unsubscribe from one newsletter, or (no newsletter) from all", "subscribers:write",
                    ("200", "Subscriber", "Unsubscribed"), "400 404 422", params=(ID,),
                    body=_json_body("Unsubscribe")),
    },
    "/imports": {
        "post": _op("Import a CSV (the columns of `digest subscribers import`) as a background job",
                    "subscribers:write", ("202", "ImportJob", "Queued"), "422",
                    body={"text/csv": {"schema": {"type": "string"}}}),
    },
    "/imports/{id}": {
        "get": _op("An import job's status and counts", "subscribers:write", ("200", "ImportJob", "The job"), "404",
                   params=(ID,)),
    },
    "/events": {
        "post": _op("Store engagement events (JSON Lines or a JSON list; the rules of POST /events)",
                    "events:write", ("200", "EventsStored", "Stored"), "422",
                    body={"application/json": {"schema": {}}, "application/x-ndjson": {"schema": {"type": "string"}}}),
    },
    "/editions": {
        "get": _op("Editions, newest first, each with the figures of `digest status --json`", "editions:read",
                   ("200", "EditionPage", "A page"), "422",
                   params=(_query("date", "Only editions of this date (YYYY-MM-DD).", {"type": "string",
                                                                                        "format": "date"}),
                           _query("newsletter", "Only this newsletter's editions."), *PAGE)),
    },
    "/editions/{key}": {
        "get": _op("One edition by key", "editions:read", ("200", "Edition", "The edition"), "404",
                   params=({"name": "key", "in": "path", "required": True, "schema": STR},)),
    },
    "/deliveries": {
        "get": _op("A subscriber's deliveries (newest first, at most 100), or the one of a Message-ID",
                   "deliveries:read", ("200", "DeliveryList", "The deliveries"), "404 422",
                   params=(_query("subscriber", "A subscriber id.", INT),
                           _query("message_id", "A Message-ID, with or without its angle brackets."))),
    },
}


def document(server: str) -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": "digest REST API", "version": "1",
                 "description": "Subscribers, imports, events, editions and deliveries of a digest install. "
                                "Send `Authorization: Bearer KEY` (`digest api-keys create`). Errors are "
                                "`{\"error\": {\"code\", \"message\", \"field\"}}`."},
        "servers": [{"url": server}],
        "components": {"schemas": SCHEMAS,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                                      "description": "An API key (dk_...)."}}},
        "paths": PATHS,
    }


async def openapi_json(request: Request) -> ApiResponse:
    base = request.app.state.ctx.settings.sender.base_url.rstrip("/")
    return ApiResponse(document(f"{base}/api/v1"))
