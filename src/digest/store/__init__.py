"""Every SQL statement, one module per table; the engine and sessions at the package level.

Callers write `from digest import store`, then `store.open_engine(url)`, `store.session_scope(engine)`,
`store.read_session(engine)`, `store.ping(session)`, and `store.<module>.<query>(session, ...)`, e.g.
`store.editions.find_edition(session, key=...)`. Queries take `session` first, keyword-only after, and return
plain records (`models.*Record`) or small tuples, never lazy ORM objects, to the pure stages. Each module's
docstring says which table it holds and what it asks of it.
"""

from __future__ import annotations

from digest.store.engine import open_engine, ping, read_session, session_scope
from digest.store import (  # one module per table or role, one per line
    admin,
    api_keys,
    api_reads,
    articles,
    confirmations,
    deliveries,
    delivery_status,
    edition_figures,
    edition_holds,
    editions,
    editorial,
    engagement,
    engine,
    feeds,
    inbound,
    jobs,
    migrate,
    ratelimit,
    scratch,
    selection,
    stories,
    subscribers,
    subscriptions,
    trending,
    webhook_outbox,
    webhooks,
)

__all__ = ["open_engine", "ping", "read_session", "session_scope", *(
    "admin",
    "api_keys",
    "api_reads",
    "articles",
    "confirmations",
    "deliveries",
    "delivery_status",
    "edition_figures",
    "edition_holds",
    "editions",
    "editorial",
    "engagement",
    "engine",
    "feeds",
    "inbound",
    "jobs",
    "migrate",
    "ratelimit",
    "scratch",
    "selection",
    "stories",
    "subscribers",
    "subscriptions",
    "trending",
    "webhook_outbox",
    "webhooks",
)]
