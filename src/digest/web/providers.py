"""The sending providers' event webhooks: `/webhooks/ses` (through Amazon SNS), `/webhooks/sendgrid`,
`/webhooks/mailgun`, `/webhooks/postmark`. Each authenticates and applies its request in
`digest.operations.providers` and answers JSON; an endpoint whose secret is not configured answers 404."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from digest.operations.providers import (ProviderState, receive_mailgun, receive_postmark, receive_sendgrid,
                                         receive_ses)
from digest.web.api import _body
from digest.web.context import context


def _state(request: Request) -> ProviderState:
    """The app's in-memory replay caches, made on first use."""
    state = getattr(request.app.state, "providers", None)
    if state is None:
        state = request.app.state.providers = ProviderState()
    return state


async def _answer(request: Request, call, *args, **kwargs) -> JSONResponse:
    ctx = context(request)
    body = await _body(request)
    if body is None:
        return JSONResponse({"error": "body too large"}, status_code=413)
    outcome = await run_in_threadpool(call, ctx.engine, ctx.settings, body, *args, now=ctx.clock(), **kwargs)
    headers = {"WWW-Authenticate": 'Basic realm="digest webhooks"'} if outcome.status == 401 else None
    return JSONResponse(outcome.as_json(), status_code=outcome.status, headers=headers)


async def ses(request: Request) -> JSONResponse:
    return await _answer(request, receive_ses, state=_state(request))


async def sendgrid(request: Request) -> JSONResponse:
    return await _answer(request, receive_sendgrid, dict(request.headers))


async def mailgun(request: Request) -> JSONResponse:
    return await _answer(request, receive_mailgun, state=_state(request))


async def postmark(request: Request) -> JSONResponse:
    return await _answer(request, receive_postmark, request.headers.get("authorization", ""))


ROUTES = [
    Route("/webhooks/ses", ses, methods=["POST"]),
    Route("/webhooks/sendgrid", sendgrid, methods=["POST"]),
    Route("/webhooks/mailgun", mailgun, methods=["POST"]),
    Route("/webhooks/postmark", postmark, methods=["POST"]),
]
