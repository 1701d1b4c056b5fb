"""Every reader URL an email or a page carries, built in one place: one-click unsubscribe (`/u/`), preferences
(`/p/`), "view in browser" (`/archive/`), click tracking (`/c/`) and sign-up confirmation (`/confirm/`).

Each is `[sender] base_url` (without its trailing slash) followed by the route and a token signed with
DIGEST_SECRET_KEY for `[sender] list_id` and the subscriber's identity (`digest.tokens`)."""

from __future__ import annotations

from digest.config import Settings
from digest.tokens import make_token


def reader_token(settings: Settings, purpose: str, subscriber_id: int, extra: str = "", ident: str = "") -> str:
    """The signed token of one reader link (also the web pages' own form tokens)."""
    return make_token(settings.secret_key, purpose, subscriber_id, settings.sender.list_id, extra, ident)


def _url(settings: Settings, route: str, token: str) -> str:
    return f"{settings.sender.base_url.rstrip('/')}/{route}/{token}"


def unsubscribe_url(settings: Settings, subscriber_id: int, ident: str = "", *, newsletter: str = "") -> str:
    """`/u/TOKEN`: the one-click unsubscribe link (List-Unsubscribe and the footer) of one newsletter: the token
    names it, and the link leaves that newsletter only (a token without one, made before newsletters existed,
    leaves the first)."""
    return _url(settings, "u", reader_token(settings, "unsubscribe", subscriber_id, newsletter, ident))


def preferences_url(settings: Settings, subscriber_id: int, ident: str = "") -> str:
    """`/p/TOKEN`: the preference centre."""
    return _url(settings, "p", reader_token(settings, "preferences", subscriber_id, ident=ident))


def edition_slug(edition_key: str) -> str:
    """The URL slug of an edition key: daily:2026-11-27 → daily-2026-11-27."""
    return edition_key.replace(":", "-")


def archive_url(settings: Settings, subscriber_id: int, edition_key: str, ident: str = "") -> str:
    """`/archive/SLUG/TOKEN`: that reader's email of that edition; the token is bound to the edition."""
    slug = edition_slug(edition_key)
    return _url(settings, f"archive/{slug}", reader_token(settings, "archive", subscriber_id, slug, ident))


def click_url(settings: Settings, subscriber_id: int, delivery_id: int, article_id: int, ident: str = "") -> str:
    """`/c/TOKEN`: a tracked item link; the token names the delivery and the article, never the URL."""
    return _url(settings, "c", reader_token(settings, "click", subscriber_id, f"{delivery_id}:{article_id}", ident))


def confirm_url(settings: Settings, subscriber_id: int, issued: str, ident: str = "") -> str:
    """`/confirm/TOKEN`: the double opt-in link; `issued` (epoch seconds) makes it expire."""
    return _url(settings, "confirm", reader_token(settings, "confirm", subscriber_id, issued, ident))
