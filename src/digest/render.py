"""Rendering: one Jinja2 + css-inline pass per content variant, then cheap per-subscriber substitution.

Per-subscriber values (the name in the greeting, link URLs) are rendered as inert placeholders, inlined once
with the variant, and substituted afterwards: HTML-escaped in the HTML part, verbatim in the text part.

A Renderer writes one language (`Renderer(settings, language=...)`, default `[sender] language`): its templates
get that catalogue's gettext, and the dates and item times are written the way that language writes them.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from types import MappingProxyType
from zoneinfo import ZoneInfo

from markupsafe import Markup
from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError, select_autoescape

from digest.config import Settings
from digest.editorial import note_html, note_text
from digest.errors import ConfigError
from digest.inline import InlineError, inline_css
from digest.i18n import N_, edition_label, meta_time, short_label, text_direction, translations
from digest.models import ArticleRecord

PLACEHOLDERS = MappingProxyType({  # read-only: no module-level state that a run could change
    "greeting_name": "__DIGEST_GREETING_NAME__",  # " Zoë" or "": the greeting itself is the variant's
    "unsubscribe_url": "__DIGEST_UNSUBSCRIBE_URL__",
    "preferences_url": "__DIGEST_PREFERENCES_URL__",
    "archive_url": "__DIGEST_ARCHIVE_URL__",
})
SECTION_TITLES = MappingProxyType({"top": N_("Top stories"), "trending": N_("Trending")})  # translated when shown


@dataclass(frozen=True, slots=True)
class ItemView:
    title: str
    url: str
    source: str
    meta: str
    summary: str
    image_url: str | None = None
    also: tuple[Mapping[str, str], ...] = ()
    place: str = ""  # location, country: `meta` again in the renderer's language
    published: datetime | None = None  # in the edition's zone


@dataclass(frozen=True, slots=True)
class SectionView:
    title: str
    items: tuple[ItemView, ...]


@dataclass(frozen=True)
class Content:
    """What one variant says: the same for every subscriber who shares it."""

    key: str
    format: str  # "html" | "text"
    edition_key: str
    period: str
    date: datetime  # the edition's cutoff
    sections: tuple[SectionView, ...]
    day: date | None = None  # the edition's date, for labels (default: the cutoff's date)
    note: str = ""  # the editor's note, Markdown (digest.editorial)

    @property
    def items(self) -> list[ItemView]:
        return [item for section in self.sections for item in section.items]


@dataclass(frozen=True)
class RenderedVariant:
    key: str
    subject: str
    text: str
    html: str | None  # None for text-only subscribers


@dataclass(frozen=True)
class Personal:
    name: str
    unsubscribe_url: str
    preferences_url: str
    archive_url: str

    @property
    def greeting_name(self) -> str:
        """What goes into the variant's greeting ("Hi%(name)s, ..."): a space and the first name, or ""."""
        first = self.name.split()[0] if self.name.split() else ""
        return f" {first}" if first else ""

    @property
    def greeting(self) -> str:
        """The English greeting (the variant renders its own language's)."""
        return f"Hi{self.greeting_name}, here is what you should not miss."


DEFAULT_BRAND = MappingProxyType({"logo_url": "", "accent_color": "#b3261e"})


@dataclass
class Renderer:
    settings: Settings
    language: str | None = None  # default: [sender] language
    brand: Mapping[str, str] = field(default_factory=dict)  # a newsletter's logo_url and accent_color, where set
    env: Environment = field(init=False)
    inlined: int = field(init=False, default=0)  # CSS inlining runs by this renderer: one per HTML variant

    def __post_init__(self) -> None:
        self.language = self.language or self.settings.sender.language
        self.env = make_environment(self.settings.templates_dir, self.language)

    def render_variant(self, content: Content) -> RenderedVariant:
        context = self._context(content)
        subject = " ".join(self._render("subject.txt", context).split())
        context["subject"] = subject
        text = self._render("digest.txt", context)
        html_part = None
        if content.format == "html":
            html_part = self._inline(self._render("digest.html", context))
            self.inlined += 1
        return RenderedVariant(key=content.key, subject=subject, text=_tidy_text(text), html=html_part)

    def _render(self, name: str, context: dict) -> str:
        try:
            return self.env.get_template(name).render(context)
        except TemplateError as exc:
            raise ConfigError(f"{self.settings.templates_dir / name}: template error: {exc}") from None

    def _inline(self, rendered_html: str) -> str:
        try:
            return inline_css(rendered_html)
        except InlineError as exc:
            raise ConfigError(f"{self.settings.templates_dir / 'digest.html'}: CSS error: {exc}") from None

    def _context(self, content: Content) -> dict:
        items = content.items
        local = content.day or content.date.astimezone(self.settings.tz).date()
        lang = self.language
        return {
            **PLACEHOLDERS,
            "lang": lang,
            "dir": text_direction(lang),
            "sender": self.settings.sender,
            "brand": {**DEFAULT_BRAND, **{k: v for k, v in self.brand.items() if v}},
            "sections": tuple(replace(s, items=tuple(_in_language(i, lang) for i in s.items)) for s in content.sections),
            "edition": {"key": content.edition_key, "period": content.period,
                        "label": edition_label(local, lang), "short_label": short_label(local, lang)},
            "lead_title": items[0].title if items else "",
            "more": max(0, len(items) - 1),
            "preheader": preheader(items),
            "note_html": Markup(note_html(content.note)),  # sanitised: digest.editorial
            "note_text": note_text(content.note),
        }


def _in_language(item: ItemView, language: str) -> ItemView:
    if item.published is None:
        return item
    return replace(item, meta=_meta_line(item.source, item.place, item.published, language))


def make_environment(templates_dir: Path, language: str = "en") -> Environment:
    """The email templates' environment, with the gettext of `language` installed (`_`, `gettext`, `ngettext`)."""
    if not (templates_dir / "digest.html").is_file():
        raise ConfigError(f"[render] templates: no email templates in {templates_dir}")
    env = Environment(loader=FileSystemLoader(str(templates_dir)), autoescape=select_autoescape(["html"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                      extensions=["jinja2.ext.i18n"])
    env.install_gettext_translations(translations(language), newstyle=True)
    return env


def personalize(variant: RenderedVariant, person: Personal) -> tuple[str, str | None]:
    """(text, html) for one subscriber, from the shared variant."""
    values = {name: getattr(person, name) for name in PLACEHOLDERS}
    text = _substitute(variant.text, values, escape=False)
    html_part = _substitute(variant.html, values, escape=True) if variant.html is not None else None
    return text, html_part


def personal_values(person: Personal) -> tuple[dict[str, str], dict[str, str]]:
    """marker → value for the text part (verbatim) and for the HTML part (escaped)."""
    text = {marker: getattr(person, name) for name, marker in PLACEHOLDERS.items()}
    return text, {marker: html.escape(value, quote=True) for marker, value in text.items()}


def _substitute(template: str, values: Mapping[str, str], *, escape: bool) -> str:
    for name, marker in PLACEHOLDERS.items():
        value = values[name]
        template = template.replace(marker, html.escape(value, quote=True) if escape else value)
    return template


def preheader(items: Sequence[ItemView]) -> str:
    """A truthful teaser: the first headlines, 40–140 characters."""
    text = ""
    for item in items:
        candidate = f"{text} · {item.title}" if text else item.title
        if len(candidate) > 140:
            break
        text = candidate
    if not text and items:
        text = items[0].title[:139].rstrip() + "…"
    if len(text) < 40 and items and items[0].summary:
        text = (text + " — " + items[0].summary)[:139].rstrip() + "…"
    return text


def item_meta(source: str, location: str | None, country: str | None, published: datetime, tz: ZoneInfo,
              language: str = "en") -> str:
    return _meta_line(source, _place(location, country), published.astimezone(tz), language)


def _place(location: str | None, country: str | None) -> str:
    return ", ".join(dict.fromkeys(p for p in (location, country) if p))


def _meta_line(source: str, place: str, local: datetime, language: str) -> str:
    return " · ".join(p for p in (source, place, meta_time(local, language)) if p)


def _tidy_text(text: str) -> str:
    lines = [line.rstrip() for line in text.splitlines()]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip() + "\n"


Entry = tuple[str, ArticleRecord, Sequence[ArticleRecord]]  # (section, lead article, also covered by)


def build_content(*, key: str, fmt: str, edition_key: str, period: str, cutoff: datetime,
                  entries: Sequence[Entry], tz: ZoneInfo, day: date | None = None, note: str = "") -> Content:
    sections = []
    for section in ("top", "trending"):
        items = tuple(_item_view(lead, also, tz) for name, lead, also in entries if name == section)
        if items:
            sections.append(SectionView(SECTION_TITLES[section], items))
    return Content(key=key, format=fmt, edition_key=edition_key, period=period, date=cutoff, sections=tuple(sections),
                   day=day, note=note)


def _item_view(lead: ArticleRecord, also: Sequence[ArticleRecord], tz: ZoneInfo) -> ItemView:
    return ItemView(title=lead.title, url=lead.url, source=lead.source,
                    meta=item_meta(lead.source, lead.location, lead.country, lead.published_at, tz),
                    summary=lead.summary, image_url=lead.image_url,
                    also=tuple({"source": a.source or a.url, "url": a.url} for a in also),
                    place=_place(lead.location, lead.country), published=lead.published_at.astimezone(tz))
