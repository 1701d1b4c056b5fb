"""The overview's charts: `/admin/charts.json` (viewers; `operations.charts.overview_charts`, whose status
counts are `digest status`'s) and the console's static files under `/admin/static` (the vendored uPlot and the
console's own script, `console.js`: the charts, and the overview's live progress polling
`/admin/overview.json`). Static files need no session: they are the same for everyone and carry no data."""

from __future__ import annotations

from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from digest.web.admin.session import Session, requires
from digest.web.admin.views import json_response, overview_charts

STATIC = Path(__file__).resolve().parent.parent / "static"


@requires("viewer")
async def charts_json(request: Request, user: Session) -> Response:
    return json_response((await run_in_threadpool(overview_charts, request)).doc())


STATIC_MOUNT = Mount("/admin/static", app=StaticFiles(directory=STATIC), name="admin-static")
