"""The operator's console under /admin of `digest serve` (same app and port as the reader pages, under the path
of `[sender] base_url`): accounts with roles (viewer looks, editor steers editions, admin manages readers and
accounts), sessions, and the overview of the editions. `session` holds the rules every route follows;
`views` the pages. Its pages are English only and carry no script (the reader pages' CSP holds here too).
"""

from __future__ import annotations

from starlette.routing import Route

from digest.web.admin import editions, feeds, plan, readers, views
from digest.web.admin.session import Console

ROUTES = [
    Route("/admin/login", views.login_page, methods=["GET"]),
    Route("/admin/login", views.login, methods=["POST"]),
    Route("/admin/logout", views.logout, methods=["POST"]),
    Route("/admin", views.home, methods=["GET"]),
    Route("/admin/", views.overview_page, methods=["GET"]),
    Route("/admin/overview.json", views.overview_json, methods=["GET"]),
    Route("/admin/users", views.users_page, methods=["GET"]),
    Route("/admin/users.json", views.users_json, methods=["GET"]),
    Route("/admin/editions/{slug}.json", editions.edition_json, methods=["GET"]),  # before the page's: it matches too
    Route("/admin/editions/{slug}", editions.edition_page, methods=["GET"]),
    Route("/admin/editions/{slug}/requeue", editions.requeue, methods=["POST"]),
    Route("/admin/plan", plan.plan_index, methods=["GET"]),
    Route("/admin/plan.json", plan.plan_index, methods=["GET"]),
    Route("/admin/plan/{slug}.json", plan.plan_json, methods=["GET"]),
    Route("/admin/plan/{slug}/preview.html", plan.plan_preview, methods=["GET"]),
    Route("/admin/plan/{slug}/change", plan.plan_change, methods=["POST"]),
    Route("/admin/plan/{slug}", plan.plan_page, methods=["GET"]),
    *readers.ROUTES,
    *feeds.ROUTES,
]
OPEN = {"/admin/login"}  # the only paths that need no session

__all__ = ["ROUTES", "OPEN", "Console"]
