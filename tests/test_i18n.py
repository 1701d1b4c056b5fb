"""Languages: every message of the sources is translated in every shipped catalogue (extracted at test time,
with babel.cfg's method map), the German and French emails and pages carry no English, dates are written the
way each language writes them, English stays as it was, and `[sender] language` accepts shipped languages only.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from email import message_from_bytes, policy

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from digest.config import load_settings
from digest.errors import ConfigError
from digest.i18n import (LANGUAGES, LOCALE_DIR, N_, catalogue_path, edition_label, meta_time, short_label,
                         text_direction, translations)
from digest.message import build_message
from digest.models import ArticleRecord, SubscriberRecord
from digest.render import Personal, Renderer, build_content, personalize
from tests.conftest import NOW, ROOT

THURSDAY = date(2017, 2, 9)
CUTOFF = datetime(2017, 2, 9, 7, 0, tzinfo=timezone.utc)
PERSON = Personal(name="Zoë Example", unsubscribe_url="https://news.example.com/u/T",
                  preferences_url="https://news.example.com/p/T", archive_url="https://news.example.com/archive/x/T")
ENGLISH = ["Unsubscribe", "Change your preferences", "View this email", "View in your browser", "You are receiving",
           "Also covered by", "Read:", "Top stories", "Trending", "here is what", "The week to", "week to", " more"]
EXPECTED = {  # language → what its email says
    "de": {"date": "Donnerstag, 9. Februar 2017", "short": "Do., 9. Feb.", "sections": ["Top-Meldungen", "Im Trend"],
           "footer": "Abbestellen", "greeting": "Hallo Zoë,", "more": "und 1 weitere", "meta": "9. Feb. 03:00 UTC",
           "week": "Die Woche bis Donnerstag, 9. Februar 2017", "subject_week": "Woche bis Do., 9. Feb."},
    "fr": {"date": "jeudi 9 février 2017", "short": "jeu. 9 févr.", "sections": ["À la une", "Tendances"],
           "footer": "Se désabonner", "greeting": "Bonjour Zoë,", "more": "et 1 autre", "meta": "9 févr. 03:00 UTC",
           "week": "La semaine jusqu'au jeudi 9 février 2017", "subject_week": "semaine jusqu'au jeu. 9 févr."},
}


def source_messages() -> dict[str, tuple]:
    """msgid → the message (a str, or a (singular, plural) tuple) of everything the sources mark, as pybabel does."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found = {}
    for _, _, message, _, _ in extract_from_dir(str(ROOT), method_map, options_map, keywords=DEFAULT_KEYWORDS):
        key = message[0] if isinstance(message, tuple) else message
        if key:
            found[key] = message if isinstance(message, tuple) else (message,)
    return found


def placeholders(text: str) -> set[str]:
    return set(re.findall(r"%\((\w+)\)[sd]", text))


def test_the_sources_mark_messages_where_expected():
    found = source_messages()
    assert len(found) > 90  # every email and page template, the section titles, the handlers' texts
    for message in ("Unsubscribe", "Top stories", "Check your inbox", "Confirm your subscription to %(list)s",
                    "Not found", "Monday", "Hi%(name)s, here is what you should not miss."):
        assert message in found
    assert found["and %(num)d more"] == ("and %(num)d more", "and %(num)d more")


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != "en"])
def test_every_message_is_translated_and_none_is_fuzzy(language):
    """Fails when a template or handler gains a string that the catalogue does not translate (docs/languages.md)."""
    with catalogue_path(language).open("rb") as po:
        catalog = read_po(po, locale=language)
    assert not catalog.fuzzy
    problems = []
    for key, message in source_messages().items():
        entry = catalog.get(key)
        if entry is None:
            problems.append(f"missing: {key!r}")
            continue
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        if entry.fuzzy or len(strings) != (catalog.num_plurals if len(message) > 1 else 1) or not all(strings):
            problems.append(f"untranslated or fuzzy: {key!r}")
        elif any(placeholders(s) != placeholders(message[-1]) for s in strings):
            problems.append(f"placeholders differ: {key!r}")
    assert problems == []


def test_each_shipped_language_has_a_catalogue_and_each_catalogue_is_shipped():
    on_disk = {path.parent.parent.name for path in LOCALE_DIR.glob("*/LC_MESSAGES/digest.po")}
    assert on_disk == set(LANGUAGES)
    with (LOCALE_DIR / "digest.pot").open("rb") as pot:
        template = {m.id[0] if isinstance(m.id, tuple) else m.id for m in read_po(pot) if m.id}
    assert set(source_messages()) <= template  # the .pot is extracted from today's sources


def test_catalogues_compile_in_memory_and_translate():
    assert translations("de").gettext("Unsubscribe") == "Abbestellen"
    assert translations("fr").ngettext("and %(num)d more", "and %(num)d more", 3) == "et %(num)d autres"
    assert translations("en").gettext("Unsubscribe") == "Unsubscribe"
    assert translations("de") is translations("de")  # compiled once
    with pytest.raises(ConfigError, match=r"^\[sender\] language: must be one of en, de, fr, got 'xx'$"):
        translations("xx")


def test_dates_and_directions():
    assert edition_label(THURSDAY, "en") == "Thursday 9 February 2017" and short_label(THURSDAY, "en") == "Thu 9 Feb"
    assert edition_label(THURSDAY, "de") == "Donnerstag, 9. Februar 2017"
    assert edition_label(THURSDAY, "fr") == "jeudi 9 février 2017"
    assert meta_time(CUTOFF, "en") == "9 Feb 07:00 UTC" and meta_time(CUTOFF, "de") == "9. Feb. 07:00 UTC"
    assert [text_direction(lang) for lang in ("en", "de", "fr", "ar", "he", "fa", "ur")] == ["ltr"] * 3 + ["rtl"] * 4
    assert N_("x") == "x"


def entries():
    lead = ArticleRecord(1, "https://example.com/a", "Lead story", "A summary.", "Example Times",
                         CUTOFF - timedelta(hours=4), location="Berlin", country="Germany", topics=("politics",))
    other = ArticleRecord(2, "https://example.com/b", "Other angle", "Other.", "Other Post", CUTOFF - timedelta(hours=5))
    hot = ArticleRecord(3, "https://example.com/c", "Hot story", "Hot.", "Hot News", CUTOFF - timedelta(hours=2))
    return [("top", lead, [other]), ("trending", hot, [])]


def email(settings, language: str, period: str = "daily"):
    """(subject, text, html) of one personalised email in `language`, through the wire format and back."""
    content = build_content(key="v", fmt="html", edition_key=f"{period}:2017-02-09", period=period, cutoff=CUTOFF,
                            entries=entries(), tz=timezone.utc, day=THURSDAY)
    variant = Renderer(settings, language=language).render_variant(content)
    text, html = personalize(variant, PERSON)
    data = build_message(sender=settings.sender, to_email="zoe@example.org", to_name=PERSON.name,
                         subject=variant.subject, text=text, html=html, unsubscribe_url=PERSON.unsubscribe_url,
                         unsubscribe_token="T", message_id="<m@example.com>", date=CUTOFF)
    parsed = message_from_bytes(data, policy=policy.default)
    return (str(parsed["Subject"]), parsed.get_body(("plain",)).get_content(),
            parsed.get_body(("html",)).get_content())


@pytest.mark.parametrize("language", ["de", "fr"])
def test_the_email_speaks_the_renderers_language(settings, language):
    want = EXPECTED[language]
    subject, text, html = email(settings, language)
    assert f'lang="{language}" dir="ltr"' in html
    for part in (text, html):
        assert want["date"] in part and want["footer"] in part and want["greeting"] in part
        assert want["meta"] in part
        assert all(title in part or title.upper() in part for title in want["sections"])
        assert [word for word in ENGLISH if word in part] == []
    assert subject == f"Lead story {want['more']} | {settings.sender.list_name}, {want['short']}"


@pytest.mark.parametrize("language", ["de", "fr"])
def test_the_weekly_email_says_the_week_in_the_language(settings, language):
    subject, text, html = email(settings, language, period="weekly")
    assert EXPECTED[language]["week"] in html.replace("&#39;", "'") and EXPECTED[language]["week"] in text
    assert subject.endswith(f"{settings.sender.weekly_name}, {EXPECTED[language]['subject_week']}")


def test_the_default_language_comes_from_the_settings(settings):
    german = replace(settings, sender=replace(settings.sender, language="de"))
    assert Renderer(german).language == "de" and Renderer(german, language="fr").language == "fr"
    assert Renderer(settings).language == "en"


def test_the_english_email_is_as_it_was(settings):
    subject, text, html = email(settings, "en")
    assert subject == "Lead story and 1 more | The Daily Digest, Thu 9 Feb"
    assert "Thursday 9 February 2017" in text and "Hi Zoë, here is what you should not miss." in text
    assert "Example Times · Berlin, Germany · 9 Feb 03:00 UTC" in text and "Unsubscribe: " in text


def test_the_confirmation_email_speaks_the_language(settings):
    from digest.operations.signup import confirmation_message

    sub = SubscriberRecord(id=7, email="new@example.org", name="Ana Reader")
    parsed = message_from_bytes(confirmation_message(settings, sub, now=NOW, language="de").data, policy=policy.default)
    assert str(parsed["Subject"]) == f"Bitte bestätigen Sie Ihr Abonnement von {settings.sender.list_name}"
    text, html = parsed.get_body(("plain",)).get_content(), parsed.get_body(("html",)).get_content()
    for part in (text, html):
        assert "Hallo Ana," in part and "7 Tage lang gültig" in part and "Please" not in part
    assert 'lang="de" dir="ltr"' in html and "Abonnement bestätigen" in html


@pytest.mark.store
def test_a_reader_page_in_german(engine, settings):
    from starlette.testclient import TestClient

    from digest.send import RecordingMailer
    from digest.web import create_app

    german = replace(settings, sender=replace(settings.sender, language="de"))
    app = create_app(german, engine, mailer=RecordingMailer(), clock=lambda: NOW)
    with TestClient(app, base_url="https://news.example.com") as client:
        page = client.get("/digest/subscribe").text
        missing = client.get("/digest/u/not-a-token")
    assert '<html lang="de" dir="ltr">' in page and "<title>Abonnieren · " in page
    assert "E-Mail-Adresse" in page and "Email address" not in page and "Subscribe" not in page
    assert missing.status_code == 404 and "Nicht gefunden" in missing.text and "Not found" not in missing.text
    french = app.state.ctx.pages.message(N_("Check your inbox"), N_("Please try again later."), language="fr")
    assert '<html lang="fr" dir="ltr">' in french.body.decode() and "Veuillez réessayer plus tard." in french.body.decode()


def test_a_language_that_is_not_shipped_is_a_one_line_error_naming_the_key(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[sender]\nlanguage = "xx"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ={})
    assert str(err.value) == f"{path}: [sender] language: must be one of en, de, fr, got 'xx'"
    with pytest.raises(ConfigError, match=r"^environment DIGEST_SENDER_LANGUAGE: \[sender\] language: "):
        load_settings(None, environ={"DIGEST_SENDER_LANGUAGE": "klingon"})
    assert load_settings(None, environ={"DIGEST_SENDER_LANGUAGE": "fr"}).sender.language == "fr"


def test_the_send_path_writes_the_configured_language(settings):
    """The Composer (pipeline, as it is) renders with `[sender] language`: the greeting's name is the only part
    a reader adds, so the greeting is German too, on both paths (quoted-printable and plain)."""
    from digest.pipeline.compose import Composer
    from digest.pipeline.plan import edition_plans

    german = replace(settings, sender=replace(settings.sender, language="de"))
    composer = Composer(german, edition_plans(german, THURSDAY, periods=("daily",))[0])
    sub = SubscriberRecord(id=3, email="zoe@example.org", name="Zoë Example", token_key="k")
    subject, text, html = composer.parts(sub=sub, vkey="v", entries=entries())
    encoded = composer.encoded_parts(sub=sub, vkey="v", entries=entries())[1].replace(b"=\r\n", b"").decode()
    assert "Do., 9. Feb." in subject and "Hallo Zoë, das sollten Sie nicht verpassen." in text
    assert 'lang="de"' in html and "Abbestellen" in html and "Unsubscribe" not in html + text
    assert "Hallo Zo=C3=AB, das sollten Sie nicht verpassen." in encoded
