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
import tomllib
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, timedelta
from importlib.resources import files
from pathlib import Path

from sqlalchemy.engine import Engine

from digest import store
from digest.clock import Clock
from digest.capture import CaptureServer
from digest.config import Settings
from digest.config.newsletters import Newsletter
from digest.errors import InputError
from digest.ingest.subscribers import load_subscribers
from digest.ingest.tabular import article_from_row
from digest.models import WEEKDAYS, Article
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
        keys = [n.key for n in settings.newsletters]
        subs = store.subscribers.upsert_subscribers(
            session, subscribers=subscribers, now=now, source="demo",
            newsletters={r.email: [k for k in r.newsletters if k in keys] or keys[:1] for r in subscribers})
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


def demo_newsletters(settings: Settings, day: date) -> Settings:
    """The config's `[[newsletters]]`; a config without them gets two for the demo, so that a new user sees
    several at once: a daily one in English and a weekly one in German, whose day is the demo's."""
    if settings.configured_newsletters:
        return settings
    domain = settings.sender_domain
    morning = Newsletter(key="morning", name="The Morning Briefing", list_id=f"morning.{domain}",
                         from_name="The Morning Briefing", from_address=f"morning@{domain}", public_archive=True,
                         weekly_name="The Week in Review", send_at=settings.schedule.send_at,
                         description="The stories of the day, every morning.")
    woche = Newsletter(key="woche", name="Die Woche", list_id=f"woche.{domain}", from_name="Die Woche",
                       from_address=f"woche@{domain}", schedule=f"weekly:{WEEKDAYS[day.weekday()]}",
                       language="de", public_archive=True, send_at=settings.schedule.send_at,
                       description="Die wichtigsten Geschichten der Woche, einmal pro Woche.")
    return replace(settings, configured_newsletters=(morning, woche))


def newsletters_toml(settings: Settings) -> str:
    """The `[[newsletters]]` tables of `settings`, as config.toml would say them."""
    out = []
    for letter in settings.newsletters:
        out.append("\n[[newsletters]]")
        for key, value in asdict(letter).items():
            if value in ("", (), 0, False) and key not in ("public_archive",):
                continue
            out.append(f"{key} = {json.dumps(list(value) if isinstance(value, tuple) else value, ensure_ascii=False)}")
    return "\n".join(out) + "\n"  # JSON's strings, lists and booleans are TOML's


def demo_config(config: Path | None, settings: Settings, var: Path) -> Path | None:
    """When the demo added its newsletters: `var/demo-config.toml`, the config with them, for the commands the
    demo suggests next (so that `digest serve` and `digest send` know them too); else None."""
    text = config.read_text(encoding="utf-8") if config is not None and config.is_file() else ""
    if not settings.configured_newsletters or "newsletters" in tomllib.loads(text):
        return None  # the config has its own
    path = var / "demo-config.toml"
    origin = f"{config} and " if text else ""
    path.write_text(f"# written by `digest demo`: {origin}the demo's two newsletters\n" + text
                    + newsletters_toml(settings), encoding="utf-8")
    return path


def run_demo(settings: Settings, *, var: Path, day: date, clock: Clock, progress: Progress | None = None) -> DemoResult:
    """Seed, send `day`'s editions of every newsletter through a capture server on a free loopback port, take the
    status, write the preview."""
    paths = demo_paths(var)
    prepare_var(var)
    settings = local_links(demo_secret(demo_newsletters(settings, day), paths["secret"]))
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
