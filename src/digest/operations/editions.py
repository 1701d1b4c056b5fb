"""The console's edition page: one edition's counts and failure reasons (`digest status`'s), its variants, and
each story it carried with its clicks and click rate, also by position and by section; and its requeue of the
edition's failed and bounced deliveries (`digest deliveries requeue`'s use case)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.engine import Engine

from digest import store
from digest.config import Settings
from digest.errors import InputError
from digest.models import DeliveryStatus
from digest.operations.archive import edition_key
from digest.operations.common import engine_for
from digest.operations.deliveries import RequeueReport, requeue_deliveries
from digest.operations.status import EditionSummary, _summary
from digest.urls import edition_slug


@dataclass(frozen=True)
class Figures:
    """Deliveries that carried a story (or a position, a section), how many of them were sent, their clicks."""

    carried: int
    sent: int
    clicks: int

    @property
    def click_rate(self) -> float | None:
        return round(self.clicks / self.sent, 4) if self.sent else None


@dataclass(frozen=True)
class StoryLine:
    article_id: int
    title: str
    section: str
    position: int
    why: dict
    figures: Figures


@dataclass
class EditionDetail:
    """One edition: `digest status`'s summary of it, its date and slug, variants, stories and their clicks."""

    summary: EditionSummary
    date: str
    slug: str
    variants: list[tuple[str | None, int]]
    stories: list[StoryLine]
    by_position: list[tuple[int, Figures]]
    by_section: list[tuple[str, Figures]]

    def doc(self) -> dict:
        def figures(f: Figures) -> dict:
            return {"carried": f.carried, "sent": f.sent, "clicks": f.clicks, "click_rate": f.click_rate}

        return {**self.summary.doc(), "date": self.date, "slug": self.slug,
                "variants": [{"variant": k, "deliveries": n} for k, n in self.variants],
                "stories": [{"article_id": s.article_id, "title": s.title, "section": s.section,
                             "position": s.position, "why": s.why, **figures(s.figures)} for s in self.stories],
                "by_position": [{"position": p, **figures(f)} for p, f in self.by_position],
                "by_section": [{"section": s, **figures(f)} for s, f in self.by_section]}


def key_of(settings: Settings, key_or_slug: str) -> str:
    """An edition key given as itself (morning:2026-11-27) or as its URL slug (morning-2026-11-27)."""
    return key_or_slug if ":" in key_or_slug else edition_key(key_or_slug, settings.newsletter().key)


def edition_detail(settings: Settings, key: str, engine: Engine | None = None) -> EditionDetail:
    """The edition `key` (or its slug) in full; InputError naming it when there is none."""
    key = key_of(settings, key)
    engine = engine or engine_for(settings, readonly=True)
    with store.read_session(engine) as session:
        edition = store.editions.find_edition(session, key=key)
        if edition is None:
            raise InputError(f"no edition {key} (see `digest status`)")
        # one pass over the edition's deliveries (per status and variant) gives the counts, the variants and
        # each story's figures: see store/edition_figures.py
        groups, reasons = store.edition_figures.status_reasons(session, edition_id=edition.id)
        stories = store.edition_figures.item_figures(session, edition_id=edition.id, groups=groups)
        details = store.edition_figures.item_details(session, item_ids=[row[-1] for row in stories])
        lines = [_story(row, details) for row in stories]
        counts: dict[str, int] = {}
        for status, _, n in groups:
            counts[status] = counts.get(status, 0) + n
        return EditionDetail(
            _summary(session, edition, counts=counts, reasons=reasons), edition.date, edition_slug(edition.key),
            store.edition_figures.variant_counts(groups), lines,
            _totals(lines, lambda line: line.position), _totals(lines, lambda line: line.section))


def _story(row: tuple, details: dict[int, tuple[str, dict]]) -> StoryLine:
    article_id, section, position, carried, sent, clicks, first = row
    title, why = details.get(first, ("", {}))
    return StoryLine(article_id, title, section, position, why, Figures(carried, sent, clicks))


def _totals(lines: list[StoryLine], group) -> list[tuple]:
    """The stories' figures summed per position (or section): a loop over the edition's few story rows."""
    sums: dict = {}
    for line in lines:
        carried, sent, clicks = sums.get(group(line), (0, 0, 0))
        sums[group(line)] = (carried + line.figures.carried, sent + line.figures.sent, clicks + line.figures.clicks)
    return [(key, Figures(*sums[key])) for key in sorted(sums)]


REQUEUED = (DeliveryStatus.failed, DeliveryStatus.bounced)


def requeue_failed(settings: Settings, key: str, *, now: datetime, engine: Engine | None = None) -> RequeueReport:
    """The edition's failed and bounced deliveries back to queued (the readers their bounces suppressed back to
    active): `digest deliveries requeue --status failed,bounced --edition KEY`."""
    key = key_of(settings, key)
    engine = engine or engine_for(settings)
    with store.read_session(engine) as session:
        edition = store.editions.find_edition(session, key=key)
        if edition is None:
            raise InputError(f"no edition {key} (see `digest status`)")
        day = date.fromisoformat(edition.date)
    (report,) = requeue_deliveries(engine, day, statuses=REQUEUED, now=now, edition=key)
    return report
