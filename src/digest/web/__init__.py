"""The pages a reader reaches from an email: one-click unsubscribe, preferences, "view in browser", click
redirects, double opt-in sign-up, and the engagement events endpoint. A Starlette app run by `digest serve`."""

from digest.web.app import create_app

__all__ = ["create_app"]
