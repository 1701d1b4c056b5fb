"""An editor steering the next edition: pin, unpin, exclude, include, the note, approve (the console's plan page
and `digest editions ...` call these). Every change is one row of the editors' log (who, when, what); the
edition's controls are that log folded (`digest.editorial`), applied by the send path, `digest preview`,
`send --dry-run`, the archive and the public pages alike.

Changes are accepted until the edition is planned: once it has deliveries, its readers' digests are fixed and
a change is refused with one line (it could only make two readers' copies of one edition differ).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime

from sqlalchemy.engine import Engine

from digest import store
from digest.config import Settings
from digest.editorial import NOTE_LIMIT, SECTIONS, Controls, note_html
from digest.errors import InputError
from digest.operations.common import engine_for
from digest.pipeline.plan import AWAITING_APPROVAL, EditionPlan, edition_controls, edition_plan, edition_ranking


@dataclass(frozen=True)
class ArticleRef:
    id: int
    title: str
    url: str
    source: str


@dataclass(frozen=True)
class LogLine:
    at: datetime
    actor: str
    action: str
    article: ArticleRef | None
    story_key: str | None
    section: str | None
    text: str | None


@dataclass(frozen=True)
class EditionControls:
    """An edition's controls as the console and `digest editions show` print them."""

    key: str
    newsletter: str
    date: str
    period: str
    state: str  # open | awaiting_approval | approved | planned | sending | done | paused
    approval_required: bool
    pins: tuple[tuple[ArticleRef, str], ...]
    excluded_articles: tuple[ArticleRef, ...]
    excluded_stories: tuple[str, ...]
    note: str
    note_html: str
    approved_by: str | None
    approved_at: datetime | None
    log: tuple[LogLine, ...]

    @property
    def open(self) -> bool:
        """Whether changes are still accepted (nothing of it planned)."""
        return self.state in ("open", "awaiting_approval", "approved")

    def doc(self) -> dict:
        return {**asdict(self), "pins": [{**asdict(a), "section": s} for a, s in self.pins], "open": self.open}


def edition_of(settings: Settings, day: date, *, newsletter: str | None = None, weekly: bool = False) -> EditionPlan:
    """The plan of `newsletter`'s edition of `day` (its weekly one with `weekly`); InputError when its schedule
    has none that day."""
    letter = settings.newsletter(newsletter)
    if weekly and not letter.offers_weekly:
        raise InputError(f"--weekly: newsletter {letter.key} has no separate weekly edition (schedule "
                         f"{letter.schedule})")
    if not weekly and not letter.sends_on(day, settings.tz):
        raise InputError(f"--date: newsletter {letter.key} has no edition on {day} (schedule {letter.schedule})")
    period = "weekly" if weekly or letter.kind == "weekly" else "daily"
    return edition_plan(settings, letter.key, day, period)


def show(settings: Settings, plan: EditionPlan, *, engine: Engine | None = None) -> EditionControls:
    engine = engine or engine_for(settings, readonly=True)
    with store.read_session(engine) as session:
        return _controls(session, settings, plan)


def show_in(session, settings: Settings, plan: EditionPlan) -> EditionControls:
    """`show` inside a session the caller holds (a list of editions)."""
    return _controls(session, settings, plan)


def change(settings: Settings, plan: EditionPlan, action: str, *, actor: str, now: datetime,
           engine: Engine | None = None, article: str | int | None = None, story: str | None = None,
           section: str | None = None, text: str | None = None) -> EditionControls:
    """One editorial change (pin, unpin, exclude, include, note, approve, unapprove), validated, then logged."""
    engine = engine or engine_for(settings)
    with store.session_scope(engine) as session:
        _require_open(session, settings, plan)
        fields = _fields(session, action, article=article, story=story, section=section, text=text)
        if fields.get("story_key"):
            _require_story(session, settings, plan, fields["story_key"])
        store.editorial.add_change(session, edition_key=plan.key, newsletter=plan.newsletter, actor=actor, now=now,
                                   action=action, **fields)
        if action in ("approve", "unapprove"):
            _approval_hold(session, plan.key, approved=action == "approve")
        session.flush()
        return _controls(session, settings, plan)


def _fields(session, action: str, *, article, story, section, text) -> dict:
    if action in ("pin", "unpin"):
        if action == "pin" and (section or "top") not in SECTIONS:
            raise InputError(f"--section: must be top or trending, got {section!r}")
        return {"article_id": _article_id(session, article), "section": (section or "top") if action == "pin" else None}
    if action in ("exclude", "include"):
        if (article is None) == (story is None):
            raise InputError("name an article (--article URL) or a story (--story KEY), one of them")
        if story is not None:
            if not story.strip():
                raise InputError("--story: empty story key")
            return {"story_key": story.strip()}
        return {"article_id": _article_id(session, article)}
    if action == "note":
        text = (text or "").strip()
        if len(text) > NOTE_LIMIT:
            raise InputError(f"--text: the note is {len(text)} characters; at most {NOTE_LIMIT}")
        return {"text": text}
    if action in ("approve", "unapprove"):
        return {}
    raise InputError(f"unknown editorial action {action!r}")


def _article_id(session, article: str | int | None) -> int:
    if article is None or not str(article).strip():
        raise InputError("--article: name the article by its URL (or id)")
    if isinstance(article, int) or (isinstance(article, str) and article.isdigit()):
        if store.articles.known_article_ids(session, ids=[int(article)]):
            return int(article)
        raise InputError(f"--article: no article {article}")
    from digest.ingest.normalize import canonical_url

    url = (article or "").strip()
    found = store.articles.article_ids_by_url(session, urls=[url, canonical_url(url)]) if url else {}
    if not found:
        raise InputError(f"--article: no article with URL {url!r} (see `digest articles list`)")
    return next(iter(found.values()))


def _require_story(session, settings: Settings, plan: EditionPlan, key: str) -> None:
    """A story stored for a planned edition, or one of this edition's candidates."""
    if store.stories.story_known(session, key=key):
        return
    if key not in {e.story.key for e in edition_ranking(session, settings, plan).top}:
        raise InputError(f"--story: no story {key!r} among {plan.key}'s candidates (see `digest editions "
                         "candidates`)")


def _require_open(session, settings: Settings, plan: EditionPlan) -> None:
    edition = store.editions.find_edition(session, key=plan.key)
    if edition is not None and store.editions.has_deliveries(session, edition_id=edition.id):
        raise InputError(f"{plan.key} is already planned (status {edition.status}): its readers' digests are "
                         "fixed, so an edition is steered before its send time")


def _approval_hold(session, key: str, *, approved: bool) -> None:
    """Approving releases an edition held awaiting approval (the next send or tick plans it); unapproving holds
    it again if it exists."""
    edition = store.editions.find_edition(session, key=key)
    if edition is not None and edition.held in (None, AWAITING_APPROVAL):
        store.editions.set_held(session, edition_id=edition.id, held=None if approved else AWAITING_APPROVAL)


def _controls(session, settings: Settings, plan: EditionPlan) -> EditionControls:
    controls = edition_controls(session, plan.key)
    changes = store.editorial.changes(session, edition_key=plan.key)
    ids = {p.article_id for p in controls.pins} | set(controls.excluded_articles) | {
        c.article_id for c in changes if c.article_id is not None}
    articles = {i: ArticleRef(a.id, a.title, a.url, a.source)
                for i, a in store.articles.articles_by_id(session, ids=ids).items()}
    gone = ArticleRef(0, "(article removed)", "", "")
    log = tuple(LogLine(c.at, c.actor, c.action, articles.get(c.article_id, gone) if c.article_id else None,
                        c.story_key, c.section, c.text) for c in changes)
    return EditionControls(
        plan.key, plan.newsletter, plan.day.isoformat(), plan.period, _state(session, settings, plan, controls),
        settings.send.approval == "required", tuple((articles.get(p.article_id, gone), p.section) for p in controls.pins),
        tuple(articles.get(i, gone) for i in sorted(controls.excluded_articles)), tuple(sorted(controls.excluded_stories)),
        controls.note, note_html(controls.note), controls.approved_by, controls.approved_at, log)


def _state(session, settings: Settings, plan: EditionPlan, controls: Controls) -> str:
    edition = store.editions.find_edition(session, key=plan.key)
    if edition is not None and store.editions.has_deliveries(session, edition_id=edition.id):
        return edition.held or str(edition.status)
    if controls.approved:
        return "approved"
    return AWAITING_APPROVAL if settings.send.approval == "required" else "open"
