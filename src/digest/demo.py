"""`digest demo`: seed sample data, send today's edition through a local capture SMTP server, then take the
date's status and write a preview (`operations.status`, `operations.preview`).

Sample data ships with the package (`demo_data/`): real articles (from the NewsArticles set and the seed
page), re-dated so they are fresh for today's edition, synthetic engagement from a fixed random seed, and
thirty subscribers with different preferences. Running it again sends nothing twice. The links in the demo's
emails point at the local `digest serve` (`[web] host` and `port`), so they work as they are.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import secrets
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from importlib.resources import files
from pathlib import Path

from sqlalchemy.engine import Engine

from digest import store
from digest.clock import Clock
from digest.capture import CaptureServer
from digest.config import Settings
from digest.errors import InputError
from digest.ingest.subscribers import load_subscribers
from digest.ingest.tabular import article_from_row
from digest.models import Article
from digest.operations.common import engine_for, smtp_mailer
from digest.operations.preview import preview
from digest.operations.status import DayStatus, day_status
from digest.pipeline import EditionReport, Progress, run_day
from digest.pipeline.plan import edition_plan

SEED = 20170207
TRENDING_SURGES = 3


def demo_paths(base: Path) -> dict[str, Path]:
    return {"outbox": base / "outbox", "preview": base / "preview.html", "secret": base / "secret.key"}


def local_base_url(settings: Settings) -> str:
    """Where `digest serve` answers on this machine with these settings (a wildcard host means loopback)."""
    host = settings.web.host if settings.web.host not in ("", "0.0.0.0", "::") else "127.0.0.1"
    return f"http://{f'[{host}]' if ':' in host else host}:{settings.web.port}"


def local_links(settings: Settings) -> Settings:
    return replace(settings, sender=replace(settings.sender, base_url=local_base_url(settings)))


def prepare_var(var: Path) -> None:
    try:
        var.mkdir(parents=True, exist_ok=True)
        probe = var / ".write-test"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise InputError(f"--var {var}: cannot write there: {exc.strerror or exc}") from None


def demo_secret(settings: Settings, path: Path) -> Settings:
    """The token key from DIGEST_SECRET_KEY, or a random one kept in var/ (never in the repository)."""
    if settings.secret_key:
        return settings
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never readable by others, not even briefly
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))  # 64 characters: well over the 32 bytes a key needs
    return replace(settings, secret_key=path.read_text().strip())


def load_demo_articles(cutoff: datetime, now: datetime) -> list[Article]:
    text = files("digest").joinpath("demo_data/articles.jsonl").read_text(encoding="utf-8")
    articles = []
    for line in filter(None, text.splitlines()):
        row = json.loads(line)
        row["published"] = (cutoff - timedelta(hours=row.pop("hours_before"))).isoformat()
        row.pop("published_original", None)
        articles.append(article_from_row(row, {}, now=now))
    return articles


def demo_engagement(articles: list[Article], cutoff: datetime) -> list[tuple[int, datetime, str, int]]:
    """Hourly views, clicks, shares and comments: popularity × decay, with a few late surges (trending)."""
    rng = random.Random(SEED)
    surging = set(rng.sample([a.id for a in articles], k=min(TRENDING_SURGES, len(articles))))
    events = []
    for article in articles:
        popularity = rng.lognormvariate(3.0, 0.9)
        hours = int((cutoff - article.published_at).total_seconds() // 3600)
        for age in range(hours):
            at = article.published_at + timedelta(hours=age)
            views = popularity * math.exp(-age / 10) * rng.uniform(0.6, 1.4)
            if article.id in surging and (cutoff - at) <= timedelta(hours=3):
                views = views * 6 + 40
            views = int(views)
            if views:
                events.append((article.id, at, "view", views))
                events += [(article.id, at, kind, n) for kind, share in (("click", 0.12), ("share", 0.02),
                                                                          ("comment", 0.01))
                           if (n := int(views * share * rng.uniform(0.5, 1.5)))]
    return events


def seed(engine: Engine, settings: Settings, day: date, now: datetime) -> dict[str, int]:
    """Articles, engagement and subscribers for `day`'s edition; idempotent for the same day."""
    plan = edition_plan(settings, settings.newsletter().key, day, "daily")
    articles = load_demo_articles(plan.cutoff, now)
    subscribers = load_subscribers(Path(str(files("digest").joinpath("demo_data/subscribers.csv"))), defaults={})
    with store.session_scope(engine) as session:
        counts = store.articles.upsert_articles(session, articles=articles, now=now)
        ids = store.articles.article_ids_by_url(session, urls=[a.url for a in articles])
        stored = [replace_id(a, ids[a.url]) for a in articles]
        events = 0
        if not store.engagement.count_engagement(session, start=plan.window_start, end=plan.cutoff):
            events = store.engagement.add_engagement(session, events=demo_engagement(stored, plan.cutoff))
        subs = store.subscribers.upsert_subscribers(session, subscribers=subscribers, now=now)
    return {"articles": len(articles), "new articles": counts["new"], "engagement buckets": events,
            "subscribers": len(subscribers), "new subscribers": subs["new"]}


def replace_id(article: Article, article_id: int) -> Article:
    copy = article.model_copy()
    copy.id = article_id
    return copy


@dataclass(frozen=True)
class DemoResult:
    seeded: dict[str, int]
    reports: list[EditionReport]
    received: int
    outbox: Path
    settings: Settings  # the demo's: local links, the token key of var/
    status: DayStatus
    preview: Path  # the default reader's email as HTML


def run_demo(settings: Settings, *, var: Path, day: date, clock: Clock, progress: Progress | None = None) -> DemoResult:
    """Seed, send `day`'s editions through a capture server on a free loopback port, take the status, write the
    preview."""
    paths = demo_paths(var)
    prepare_var(var)
    settings = local_links(demo_secret(settings, paths["secret"]))
    engine = engine_for(settings)
    seeded = seed(engine, settings, day, clock())
    with CaptureServer(paths["outbox"]) as server:
        smtp = replace(settings.smtp, host=server.host, port=server.port, tls="none", username="", password="")
        local = replace(settings, smtp=smtp)

        async def send() -> list[EditionReport]:
            mailer = smtp_mailer(local)
            try:
                return await run_day(engine, local, mailer, day, clock=clock, progress=progress)
            finally:
                await mailer.close()

        reports = asyncio.run(send())
    engine.dispose()
    status = day_status(settings, day)
    paths["preview"].write_text(preview(settings, day, email=None, now=clock()).html)
    return DemoResult(seeded, reports, server.handler.received, paths["outbox"], settings, status, paths["preview"])
