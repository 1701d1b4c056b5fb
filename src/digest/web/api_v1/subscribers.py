"""`/api/v1/subscribers`: create (double opt-in, the confirmation sent after the answer as the web sign-up
does), get, look up by address, list a page, update, unsubscribe, erase. Each handler calls one use case of
`operations.api_subscribers` or `operations.api_changes`."""

from __future__ import annotations

import logging

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Route

from digest.operations import api_changes, api_subscribers as ops
from digest.operations.signup import send_confirmations
from digest.web.api_v1.auth import endpoint
from digest.web.api_v1.body import json_body, path_id
from digest.web.api_v1.errors import ApiResponse
from digest.web.context import WebContext, context

log = logging.getLogger("digest.api")


async def _send_confirmations(ctx: WebContext) -> None:
    try:
        await send_confirmations(ctx.engine, ctx.settings, ctx.get_mailer(), clock=ctx.clock)
    except Exception:  # noqa: BLE001 - the caller has its answer; the row stays queued for the sweep
        log.exception("API sign-up: confirmation not sent now (the sweep retries what is queued)")


@endpoint("subscribers:write")
async def create(request: Request, key) -> ApiResponse:
    ctx = context(request)
    created = await run_in_threadpool(ops.create_subscriber, ctx.settings, ctx.engine, await json_body(request),
                                      may_confirm=key.may("subscribers:confirmed"), now=ctx.clock())
    response = ApiResponse(created.subscriber, status_code=201,
                           headers={"Location": f"{request.url.path}/{created.subscriber['id']}"})
    if created.confirmation_queued:
        response.background = BackgroundTask(_send_confirmations, ctx)
    return response


@endpoint("subscribers:read")
async def listing(request: Request, key) -> ApiResponse:
    q = request.query_params
    return ApiResponse(await run_in_threadpool(
        ops.list_subscribers, context(request).engine, email=q.get("email"), status=q.get("status", ""),
        newsletter=q.get("newsletter", ""), cursor=q.get("cursor"), limit=q.get("limit")))


@endpoint("subscribers:read")
async def one(request: Request, key) -> ApiResponse:
    return ApiResponse(await run_in_threadpool(ops.get_subscriber, context(request).engine,
                                               path_id(request)))


@endpoint("subscribers:write")
async def update(request: Request, key) -> ApiResponse:
    ctx = context(request)
    return ApiResponse(await run_in_threadpool(api_changes.update_subscriber, ctx.settings, ctx.engine,
                                               path_id(request), await json_body(request), now=ctx.clock()))


@endpoint("subscribers:write")
async def unsubscribe(request: Request, key) -> ApiResponse:
    ctx = context(request)
    return ApiResponse(await run_in_threadpool(api_changes.unsubscribe_subscriber, ctx.settings, ctx.engine,
                                               path_id(request), await json_body(request, optional=True),
                                               now=ctx.clock()))


@endpoint("subscribers:write")
async def erase(request: Request, key) -> ApiResponse:
    ctx = context(request)
    return ApiResponse(await run_in_threadpool(api_changes.erase_subscriber, ctx.settings, ctx.engine,
                                               path_id(request), now=ctx.clock()))


ROUTES = [
    Route("/subscribers", create, methods=["POST"]),
    Route("/subscribers", listing, methods=["GET"]),
    Route("/subscribers/{id:int}", one, methods=["GET"]),
    Route("/subscribers/{id:int}", update, methods=["PATCH"]),
    Route("/subscribers/{id:int}", erase, methods=["DELETE"]),
    Route("/subscribers/{id:int}/unsubscribe", unsubscribe, methods=["POST"]),
]
