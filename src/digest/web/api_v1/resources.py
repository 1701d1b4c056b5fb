"""`/api/v1/imports`, `/events`, `/editions`, `/deliveries`: each handler calls one use case of
`operations.api_requests` or `operations.api_reads`. An import runs in a thread of this process; its job is a
row that `GET /imports/{id}` reads."""

from __future__ import annotations

import threading

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Route

from digest.operations import api_reads, api_requests
from digest.web.api_v1.auth import endpoint
from digest.web.api_v1.body import path_id
from digest.web.api_v1.errors import ApiResponse
from digest.web.context import context


@endpoint("subscribers:write")
async def start_import(request: Request, key) -> ApiResponse:
    """A CSV body (the columns of `digest subscribers import`): 202 and the job, run in the background."""
    ctx = context(request)
    body = await request.body()
    job = await run_in_threadpool(api_requests.queue_import, ctx.engine, api_key_id=key.id, now=ctx.clock())
    threading.Thread(target=api_requests.run_import, args=(ctx.settings, ctx.engine, job["id"], body),
                     kwargs={"clock": ctx.clock}, name=f"api-import-{job['id']}", daemon=True).start()
    return ApiResponse(job, status_code=202, headers={"Location": f"{request.url.path}/{job['id']}"})


@endpoint("subscribers:write")
async def import_status(request: Request, key) -> ApiResponse:
    return ApiResponse(await run_in_threadpool(api_requests.import_status, context(request).engine,
                                               path_id(request)))


@endpoint("events:write")
async def events(request: Request, key) -> ApiResponse:
    return ApiResponse(await run_in_threadpool(api_reads.store_events, context(request).engine,
                                               await request.body()))


@endpoint("editions:read")
async def editions(request: Request, key) -> ApiResponse:
    q = request.query_params
    return ApiResponse(await run_in_threadpool(
        api_reads.list_editions, context(request).engine, day=q.get("date", ""), newsletter=q.get("newsletter", ""),
        cursor=q.get("cursor"), limit=q.get("limit")))


@endpoint("editions:read")
async def edition(request: Request, key) -> ApiResponse:
    return ApiResponse(await run_in_threadpool(api_reads.edition, context(request).engine,
                                               request.path_params["key"]))


@endpoint("deliveries:read")
async def deliveries(request: Request, key) -> ApiResponse:
    q = request.query_params
    return ApiResponse(await run_in_threadpool(api_reads.deliveries, context(request).engine,
                                               subscriber=q.get("subscriber"), message_id=q.get("message_id")))


ROUTES = [
    Route("/imports", start_import, methods=["POST"]),
    Route("/imports/{id:int}", import_status, methods=["GET"]),
    Route("/events", events, methods=["POST"]),
    Route("/editions", editions, methods=["GET"]),
    Route("/editions/{key}", edition, methods=["GET"]),
    Route("/deliveries", deliveries, methods=["GET"]),
]
