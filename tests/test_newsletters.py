"""Several newsletters in one install: each its own From, List-Id, Subject, unsubscribe link, language, schedule
and scope; "never twice" per (newsletter, edition, reader); the config's `[[newsletters]]` checked key by key."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from digest import store
from digest.config import load_settings
from digest.config.newsletters import Newsletter
from digest.errors import ConfigError
from digest.operations.status import day_status
from digest.pipeline.slots import due_slots
from tests.conftest import NOW
from tests.factories import seed, send_day, subscriber

pytestmark = pytest.mark.store

MORNING = Newsletter(key="morning", name="The Morning Briefing", list_id="morning.news.example.com",
                     from_name="The Morning Briefing", from_address="morning@news.example.com")
WOCHE = Newsletter(key="woche", name="Die Woche", list_id="woche.news.example.com", from_name="Die Woche",
                   from_address="woche@news.example.com", schedule="weekly:fri", language="de")  # NOW is a Friday


def two(settings, *letters):
    return replace(settings, configured_newsletters=letters or (MORNING, WOCHE))


def _subscribe(engine, emails_to_keys: dict[str, tuple[str, ...]]) -> None:
    with store.session_scope(engine) as session:
        store.subscribers.upsert_subscribers(session, subscribers=[subscriber(e) for e in emails_to_keys], now=NOW,
                                             newsletters=emails_to_keys)


def _parsed(received):
    return message_from_bytes(received.data, policy=policy.default)


def test_a_reader_of_two_newsletters_gets_two_distinct_messages_once(engine, smtp_settings, smtpd):
    settings = two(smtp_settings)
    seed(engine, NOW, subscribers=0)
    _subscribe(engine, {"both@example.com": ("morning", "woche"), "one@example.com": ("morning",)})
    reports = send_day(engine, settings)
    assert sorted(r.key for r in reports) == [f"morning:{NOW.date()}", f"woche:{NOW.date()}"]
    both = [_parsed(m) for m in smtpd.handler.to("both@example.com")]
    assert len(both) == 2 and len(smtpd.handler.to("one@example.com")) == 1
    by_list = {m["List-Id"]: m for m in both}
    assert set(by_list) == {"The Morning Briefing <morning.news.example.com>", "Die Woche <woche.news.example.com>"}
    morning, woche = by_list["The Morning Briefing <morning.news.example.com>"], by_list["Die Woche <woche.news.example.com>"]
    assert morning["From"].addresses[0].addr_spec == "morning@news.example.com"
    assert woche["From"].addresses[0].addr_spec == "woche@news.example.com"
    assert morning["Subject"] != woche["Subject"] and "Die Woche" in woche["Subject"]
    assert morning["List-Unsubscribe"] != woche["List-Unsubscribe"]
    html = woche.get_body(("html",)).get_content()
    assert 'lang="de"' in html and "27. November 2026" in html and "Unsubscribe" not in html

    again = send_day(engine, settings)  # never twice per (newsletter, edition, reader)
    assert len(smtpd.handler.messages) == 3 and all(r.planned == 0 for r in again)


def test_a_weekly_newsletter_has_an_edition_only_on_its_day_and_a_cron_one_on_its_days(engine, smtp_settings, smtpd):
    weekdays = replace(MORNING, schedule="cron:0 7 * * 1-5")  # Monday to Friday
    settings = two(smtp_settings, weekdays, replace(WOCHE, schedule="weekly:thu"))
    seed(engine, NOW, subscribers=0)
    _subscribe(engine, {"both@example.com": ("morning", "woche")})
    assert [r.key for r in send_day(engine, settings)] == [f"morning:{NOW.date()}"]  # a Friday: not Thursday
    saturday = NOW + timedelta(days=1)
    assert send_day(engine, settings, clock=lambda: saturday, day=saturday.date()) == []


def test_a_cron_newsletter_after_a_weekend_covers_the_weekend():
    from digest.config import Settings
    from digest.pipeline.plan import edition_plan

    settings = Settings(configured_newsletters=(replace(MORNING, schedule="cron:0 7 * * 1-5"),))
    monday = edition_plan(settings, "morning", date(2026, 11, 30), "daily")
    assert monday.cutoff - monday.window_start == timedelta(days=3)  # since Friday's edition
    tuesday = edition_plan(settings, "morning", date(2026, 12, 1), "daily")
    assert tuesday.cutoff - tuesday.window_start == timedelta(hours=settings.selection.window_hours)


def test_a_newsletter_selects_within_its_scope(engine, smtp_settings, smtpd):
    sport = replace(WOCHE, key="sport", name="Sport", list_id="sport.news.example.com", schedule="daily",
                    language="en", topics=("sport",))
    settings = two(smtp_settings, MORNING, sport)
    seed(engine, NOW, articles=12, subscribers=0)
    _subscribe(engine, {"fan@example.com": ("sport",)})
    send_day(engine, settings)
    with store.read_session(engine) as session:
        edition = store.editions.find_edition(session, key=f"sport:{NOW.date()}")
        delivery = store.deliveries.subscriber_delivery(session, edition_key=edition.key,
                                                        subscriber_id=store.subscribers.find_subscriber(
                                                            session, email="fan@example.com").id)[1]
        items = store.deliveries.delivery_items(session, delivery_ids=[delivery.id])[delivery.id]
        topics = {t for i in items for t in store.articles.articles_by_id(session, ids=[i.article_id])[i.article_id].topics}
    assert items and topics == {"sport"}


def test_status_of_one_newsletter(engine, smtp_settings, smtpd):
    settings = two(smtp_settings)
    seed(engine, NOW, subscribers=0)
    _subscribe(engine, {"both@example.com": ("morning", "woche")})
    send_day(engine, settings)
    status = day_status(settings, NOW.date(), engine=engine, newsletter="woche")
    assert [(e.edition, e.newsletter, e.counts) for e in status.editions] == [
        (f"woche:{NOW.date()}", "woche", {"sent": 1})]
    with pytest.raises(ConfigError, match="unknown newsletter 'nope' .configured: morning, woche."):
        day_status(settings, NOW.date(), engine=engine, newsletter="nope")


def test_the_daemon_slots_follow_each_newsletters_schedule():
    from digest.config import Settings

    settings = Settings(configured_newsletters=(MORNING, replace(WOCHE, schedule="weekly:thu")))
    slots = [("morning", "daily", None, "UTC", "07:00"), ("woche", "daily", None, "UTC", "07:00"),
             ("gone", "daily", None, "UTC", "07:00")]  # a subscription to a newsletter no longer configured
    friday = datetime(2026, 11, 27, 7, 1, tzinfo=timezone.utc)
    assert [(s.newsletter, s.period) for s in due_slots(slots, friday, lookback=timedelta(hours=1),
                                                         settings=settings)] == [("morning", "daily")]
    thursday = friday - timedelta(days=1)
    assert sorted((s.newsletter, s.period) for s in due_slots(slots, thursday, lookback=timedelta(hours=1),
                                                               settings=settings)) == [
        ("morning", "daily"), ("woche", "weekly")]


# ── the config ────────────────────────────────────────────────────────────────────────────────────────

BASE = '''
[[newsletters]]
key = "morning"
name = "The Morning Briefing"
list_id = "morning.news.example.com"
from_address = "morning@news.example.com"
'''


@pytest.mark.parametrize("extra, problem", [
    ('key = "Morning!"', "#1 key: must be lower-case"),
    ('schedule = "weekly:friday"', "#1 schedule: must be"),
    ('schedule = "cron:0 7 * *"', "#1 schedule: not a cron line"),
    ('language = "xx"', "#1 language: must be one of en, de, fr"),
    ('send_at = "25:00"', "#1 send_at: expected HH:MM"),
    ('from_address = "not an address"', "#1 from_address: not an email address"),
    ('colour = "#ff0000"', "#1 colour: unknown key"),
    ('topics = "sport"', "#1 topics: expected a list of strings"),
])
def test_each_newsletter_key_is_checked_in_one_line(tmp_path: Path, extra, problem):
    path = tmp_path / "config.toml"
    lines = [line for line in BASE.splitlines() if not line.startswith(extra.split(" =")[0] + " =")]
    path.write_text("\n".join(lines) + "\n" + extra + "\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    message = str(caught.value)
    assert message.startswith(f"{path}: [[newsletters]] ") and problem in message and "\n" not in message


def test_two_newsletters_with_one_key_and_a_missing_key_are_errors(tmp_path: Path):
    path = tmp_path / "config.toml"
    path.write_text(BASE + BASE)
    with pytest.raises(ConfigError, match=r"#2 key: 'morning' is used twice"):
        load_settings(path, environ={})
    path.write_text(BASE.replace('list_id = "morning.news.example.com"\n', ""))
    with pytest.raises(ConfigError, match=r"#1 list_id: missing"):
        load_settings(path, environ={})


def test_without_newsletters_the_install_is_one_newsletter_of_its_sender_keys():
    from digest.config import Settings

    settings = Settings()
    (letter,) = settings.newsletters
    assert (letter.key, letter.name, letter.list_id, letter.from_address) == (
        "digest", settings.sender.list_name, settings.sender.list_id, settings.sender.from_address)


def test_each_newsletter_is_whole_for_a_reader_of_several(engine, smtp_settings, smtpd):
    """What one newsletter sent a reader does not thin out another's: "never twice" is per newsletter."""
    evening = replace(MORNING, key="evening", name="The Evening Edition", list_id="evening.news.example.com")
    settings = two(smtp_settings, MORNING, evening)
    seed(engine, NOW, subscribers=0)
    _subscribe(engine, {"both@example.com": ("morning", "evening")})
    send_day(engine, settings)
    with store.read_session(engine) as session:
        sid = store.subscribers.find_subscriber(session, email="both@example.com").id
        items = {}
        for key in ("morning", "evening"):
            delivery = store.deliveries.subscriber_delivery(session, edition_key=f"{key}:{NOW.date()}",
                                                            subscriber_id=sid)[1]
            rows = store.deliveries.delivery_items(session, delivery_ids=[delivery.id])[delivery.id]
            items[key] = [i.article_id for i in rows]
    assert items["morning"] and items["morning"] == items["evening"]


def test_the_daemons_tick_sends_each_newsletter_on_its_day_in_each_readers_time_zone(engine, smtp_settings, smtpd):
    from digest.schedule import tick_job

    settings = two(smtp_settings, MORNING, replace(WOCHE, schedule="weekly:fri"))
    seed(engine, NOW, subscribers=0)
    with store.session_scope(engine) as session:
        store.subscribers.upsert_subscribers(session, subscribers=[
            subscriber("seoul@example.com", timezone="Asia/Seoul", send_at="07:00"),
            subscriber("london@example.com", timezone="Europe/London", send_at="07:00")], now=NOW,
            newsletters=("morning", "woche"))
    tick_job(engine, settings, clock=lambda: NOW - timedelta(hours=8, minutes=55))()  # 07:05 on Friday in Seoul
    assert sorted((m.rcpt_tos[0], _parsed(m)["List-Id"].split()[-1]) for m in smtpd.handler.messages) == [
        ("seoul@example.com", "<morning.news.example.com>"), ("seoul@example.com", "<woche.news.example.com>")]
    tick_job(engine, settings, clock=lambda: NOW + timedelta(minutes=5))()  # 07:05 in London
    tick_job(engine, settings, clock=lambda: NOW + timedelta(minutes=10))()  # again: nothing twice
    assert sorted(m.rcpt_tos[0] for m in smtpd.handler.messages) == [
        "london@example.com", "london@example.com", "seoul@example.com", "seoul@example.com"]


def test_a_newsletters_brand_is_in_its_email(engine, smtp_settings, smtpd):
    branded = replace(MORNING, logo_url="https://news.example.com/logo.png", accent_color="#0a5bc4")
    settings = two(smtp_settings, branded, replace(WOCHE, schedule="daily"))
    seed(engine, NOW, subscribers=0)
    _subscribe(engine, {"both@example.com": ("morning", "woche")})
    send_day(engine, settings)
    html = {_parsed(m)["List-Id"]: _parsed(m).get_body(("html",)).get_content() for m in smtpd.handler.messages}
    morning = html["The Morning Briefing <morning.news.example.com>"]
    woche = html["Die Woche <woche.news.example.com>"]
    assert 'src="https://news.example.com/logo.png"' in morning and "#0a5bc4" in morning
    assert "logo.png" not in woche and "#0a5bc4" not in woche and "#b3261e" in woche  # the default accent


def test_a_newsletter_without_language_or_send_time_takes_the_installs(tmp_path: Path):
    path = tmp_path / "config.toml"
    path.write_text('[sender]\nlanguage = "fr"\n[schedule]\nsend_at = "06:15"\n' + BASE)
    (letter,) = load_settings(path, environ={}).newsletters
    assert (letter.language, letter.send_at) == ("fr", "06:15")


@pytest.mark.parametrize("slug, key", [
    ("morning-2026-11-27", "morning:2026-11-27"), ("morning-weekly-2026-11-27", "morning:weekly:2026-11-27"),
    ("daily-2026-11-27", "first:2026-11-27"), ("weekly-2026-11-27", "first:weekly:2026-11-27"),  # links made before 0006
])
def test_an_archive_slug_names_its_edition(slug, key):
    from digest.operations.archive import edition_key
    from digest.urls import edition_slug

    assert edition_key(slug, "first") == key
    if not slug.startswith(("daily-", "weekly-")):
        assert edition_slug(key) == slug
