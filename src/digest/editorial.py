"""An editor's controls of one edition, pure: the log folded into pins, exclusions, a note and an approval, and
the ranking they change.

- A **pin** puts an article's story first in its section (Top or Trending) of every reader's digest, led by the
  pinned article, whatever the reader's topics and countries (the editor chose it for everyone); a reader who
  was already sent that story or article does not get it again, and a pin counts toward the reader's
  `max_items`. Pins keep the order they were made in.
- An **exclusion** leaves an article out of the edition (its story may still run, led by another outlet's
  article), or a whole story (by its key).
- The **note** is Markdown: CommonMark without raw HTML (markdown-it-py), then sanitised to a short allow-list
  of tags and attributes (nh3, the Rust `ammonia` sanitiser), links http(s) and mailto only. The text part
  carries the Markdown as written (it is made to be read as plain text).

The last action on a thing wins: pinning an excluded article includes it again, excluding a pinned one unpins it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache

from digest.ranking import Ranking, StoryScore
from digest.stories import Story
from digest.stories.story import by_publication

SECTIONS = ("top", "trending")
NOTE_LIMIT = 5000  # characters of Markdown
NOTE_TAGS = {"p", "br", "strong", "em", "b", "i", "a", "ul", "ol", "li", "blockquote", "code", "h3", "h4", "hr"}


@dataclass(frozen=True)
class Pin:
    article_id: int
    section: str  # "top" | "trending"


@dataclass(frozen=True)
class Controls:
    pins: tuple[Pin, ...] = ()
    excluded_articles: frozenset[int] = frozenset()
    excluded_stories: frozenset[str] = frozenset()
    note: str = ""
    approved_by: str | None = None
    approved_at: datetime | None = None

    @property
    def approved(self) -> bool:
        return self.approved_by is not None

    @property
    def empty(self) -> bool:
        return not (self.pins or self.excluded_articles or self.excluded_stories or self.note)


def fold(changes: Iterable) -> Controls:
    """The controls after `changes` (rows with action, article_id, story_key, section, text, actor, at), oldest
    first."""
    pins: dict[int, str] = {}
    articles: set[int] = set()
    stories: set[str] = set()
    note, approval = "", (None, None)
    for c in changes:
        if c.action == "pin":
            pins.pop(c.article_id, None)
            pins[c.article_id] = c.section or "top"
            articles.discard(c.article_id)
        elif c.action == "unpin":
            pins.pop(c.article_id, None)
        elif c.action == "exclude" and c.story_key:
            stories.add(c.story_key)
        elif c.action == "exclude":
            articles.add(c.article_id)
            pins.pop(c.article_id, None)
        elif c.action == "include":
            stories.discard(c.story_key) if c.story_key else articles.discard(c.article_id)
        elif c.action == "note":
            note = c.text or ""
        elif c.action in ("approve", "unapprove"):
            approval = (c.actor, c.at) if c.action == "approve" else (None, None)
    return Controls(tuple(Pin(a, s) for a, s in pins.items()), frozenset(articles), frozenset(stories), note,
                    *approval)


def apply_controls(ranking: Ranking, controls: Controls) -> Ranking:
    """The ranking without the excluded stories, with the pinned ones as `pins` (each led by its pinned article).
    The excluded articles are left out before the stories are grouped (`pipeline.plan.edition_ranking`)."""
    if controls.empty:
        return ranking
    pins = tuple(found for pin in controls.pins if (found := _pinned(ranking, pin)) is not None)
    pinned = {entry.story.key for entry, _ in pins}
    gone = controls.excluded_stories - pinned

    def keep(entries: tuple[StoryScore, ...]) -> tuple[StoryScore, ...]:
        return tuple(e for e in entries if e.story.key not in gone and e.story.key not in pinned)

    return replace(ranking, top=keep(ranking.top), trending=keep(ranking.trending), pins=pins)


def _pinned(ranking: Ranking, pin: Pin) -> tuple[StoryScore, str] | None:
    for entry in ranking.top:
        for article in entry.story.articles:
            if article.id == pin.article_id:
                return replace(entry, story=_led_by(entry.story, article.id)), pin.section
    return None


def _led_by(story: Story, article_id: int) -> Story:
    lead = next(a for a in story.articles if a.id == article_id)
    rest = sorted((a for a in story.articles if a.id != article_id), key=by_publication)
    return replace(story, articles=(lead, *rest))


def note_html(markdown: str) -> str:
    """The note as safe HTML: CommonMark without raw HTML, then an allow-list sanitiser."""
    return _note_html(markdown.strip()) if markdown.strip() else ""


@lru_cache(maxsize=64)
def _note_html(markdown: str) -> str:
    import nh3
    from markdown_it import MarkdownIt

    rendered = MarkdownIt("commonmark", {"html": False}).disable("image").render(markdown)
    return nh3.clean(rendered, tags=NOTE_TAGS, attributes={"a": {"href"}}, url_schemes={"http", "https", "mailto"},
                     link_rel="noopener").strip()


def note_text(markdown: str) -> str:
    return "\n".join(line.rstrip() for line in markdown.strip().splitlines())
