"""Stories: same-event clustering on labelled pairs, stable keys, representative, diversity, one item per story."""

from __future__ import annotations

import asyncio
import csv
import json
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from digest import store
from digest.cli import app
from digest.config import load_settings
from digest.errors import ConfigError
from digest.ingest.tabular import load_articles, parse_map
from digest.models import DeliveryItem, article_record
from digest.pipeline import run_day
from digest.pipeline.plan import edition_plans, plan_edition
from digest.ranking import Ranking, StoryScore
from digest.select import Diversity, select_for
from digest.send import RecordingMailer
from digest.stories import (Story, StoryParams, article_terms, group_stories, representative_first, similar_pairs,
                            tf_idf)
from tests.conftest import ROOT, SHARED
from tests.factories import article, record, sub_record, subscriber
from sqlmodel import select

NEWS_CSV = SHARED / "news-articles-2017-02-07_08.csv"
NEWS_MAP = "title=title,url=article_source_link,published=publish_date,summary=subtitle,body=text"
PAIRS = Path(__file__).parent / "data" / "story_pairs.csv"
NOW = datetime(2026, 11, 27, 7, 0, tzinfo=timezone.utc)
H = timedelta(hours=1)


@lru_cache(maxsize=1)
def news() -> dict[str, object]:
    """The shared sample as stored articles, by the sample's own article_id (read once per test run)."""
    ids = {r["article_source_link"]: r["article_id"] for r in csv.DictReader(NEWS_CSV.open(encoding="utf-8"))}
    loaded = load_articles(NEWS_CSV, mapping=parse_map(NEWS_MAP), now=NOW)
    return {ids[a.guid]: a for a in loaded}


def labelled_pairs() -> list[tuple[int, int, bool]]:
    with PAIRS.open(encoding="utf-8") as fh:
        return [(int(r["a_id"]), int(r["b_id"]), r["same"] == "1") for r in csv.DictReader(fh)]


def configured_params() -> StoryParams:
    sel = load_settings(ROOT / "config.toml", environ={}).selection
    return StoryParams(threshold=sel.story_threshold, window_hours=sel.story_window_hours)


# ── clustering on the labelled pairs ────────────────────────────────────────────────────────────────

def test_labelled_pairs_reach_the_precision_and_recall_targets():
    records = []
    for sample_id, a in news().items():
        a.id = int(sample_id)
        records.append(article_record(a))
    story_of = {a.id: s.key for s in group_stories(records, params=configured_params()) for a in s.articles}
    pairs = labelled_pairs()
    together = [(same, story_of[a] == story_of[b]) for a, b, same in pairs]
    tp = sum(1 for same, joined in together if same and joined)
    fp = sum(1 for same, joined in together if joined and not same)
    fn = sum(1 for same, joined in together if same and not joined)
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    print(f"\nstory pairs: {len(pairs)} labelled ({tp + fn} same event); precision {precision:.3f}, recall {recall:.3f}")
    assert len(pairs) >= 150 and sum(1 for *_, same in pairs if not same) >= 50
    assert precision >= 0.95 and recall >= 0.80


def test_the_labelled_set_is_well_formed():
    pairs = labelled_pairs()
    assert len({frozenset((a, b)) for a, b, _ in pairs}) == len(pairs)
    assert all(str(a) in news() and str(b) in news() and a != b for a, b, _ in pairs)
    with PAIRS.open(encoding="utf-8") as fh:
        hard = [r for r in csv.DictReader(fh) if r["same"] == "0" and r["note"].startswith("hard")]
    assert len(hard) >= 100


def test_the_bulk_vectors_count_the_same_words_as_article_terms():
    records = [article_record(a) for a in list(news().values())[:40]]
    matrix, terms = tf_idf(records)
    for row, a in enumerate(records):
        counted = {terms[c] for c in matrix.indices[matrix.indptr[row]:matrix.indptr[row + 1]]}
        assert counted == set(article_terms(a)), a.title
    assert (matrix.toarray() ** 2).sum(axis=1).round(9).tolist() == [1.0] * len(records)


@pytest.mark.parametrize("threshold", [0.1, 0.3, 0.6])
def test_the_pair_search_finds_exactly_the_pairs_all_pairs_would(threshold):
    records = sorted((article_record(a) for a in news().values()), key=lambda a: (a.published_at, a.id))
    matrix, _ = tf_idf(records)
    hours = np.array([a.published_at.timestamp() / 3600 for a in records])
    params = StoryParams(threshold=threshold, window_hours=12)  # the sample's two days are 24 h apart
    dense = matrix.toarray() @ matrix.toarray().T
    expected = {(i, j) for i in range(len(records)) for j in range(i + 1, len(records))
                if dense[i, j] >= threshold - 1e-12 and abs(hours[i] - hours[j]) <= 12}
    found = {tuple(p) for p in similar_pairs(matrix, hours, params).tolist()}
    assert found == expected and found


@pytest.mark.parametrize("threshold", [0.2, 0.4])
def test_the_time_blocked_pair_search_matches_all_pairs_on_rows_in_any_order(threshold, monkeypatch):
    """Rows not in publication order, spread over ten days (a window of 30 h), blocks of 50 products."""
    from digest.stories import pairs
    monkeypatch.setattr(pairs._rare_candidates, "__defaults__", (50,))
    records = list(news().values())
    matrix, _ = tf_idf([article_record(a) for a in records])
    rng = np.random.default_rng(3)
    hours = rng.uniform(0, 240, len(records))
    hours[:40] = 100.0  # ties, and a run of rows at one instant
    params = StoryParams(threshold=threshold, window_hours=30)
    dense = matrix.toarray() @ matrix.toarray().T
    expected = [(i, j) for i in range(len(records)) for j in range(i + 1, len(records))
                if dense[i, j] >= threshold - 1e-12 and abs(hours[i] - hours[j]) <= 30]
    found = similar_pairs(matrix, hours, params).tolist()
    assert [tuple(p) for p in found] == expected and found  # the same pairs, ordered by (i, j)


def test_clustering_is_deterministic_and_ignores_input_order():
    records = [record(i, NOW - i * H, title=t) for i, t in enumerate(
        ["Storm hits the coast", "Storm hits coast towns", "Markets rally on rate cut", "Rate cut lifts markets",
         "Cup final tonight"], start=1)]
    first = group_stories(records)
    again = group_stories(list(reversed(records)))
    assert [(s.key, [a.id for a in s.articles]) for s in first] == [(s.key, [a.id for a in s.articles]) for s in again]


def test_articles_outside_the_window_are_never_one_story():
    a = record(1, NOW - 60 * H, title="Volcano erupts near Reykjavik", summary="Lava reaches the road")
    b = record(2, NOW, title="Volcano erupts near Reykjavik", summary="Lava reaches the road")
    assert len(group_stories([a, b], params=StoryParams(window_hours=48))) == 2
    assert len(group_stories([a, b], params=StoryParams(window_hours=72))) == 1


# ── stable keys ─────────────────────────────────────────────────────────────────────────────────────

def quake(i: int, hours_ago: float, source: str) -> object:
    return record(i, NOW - hours_ago * H, title="Earthquake of magnitude 6.1 shakes Anatolia",
                  summary="Rescuers search collapsed buildings in Malatya after the earthquake", source=source)


def test_a_story_keeps_its_key_as_it_grows_and_as_its_first_article_leaves_the_window():
    other = record(9, NOW - 30 * H, title="Parliament passes the budget bill", source="Wire")
    day1 = group_stories([quake(3, 40, "Wire"), quake(5, 30, "Daily"), other])
    keys = {a.id: s.key for s in day1 for a in s.articles}
    assert keys[3] == keys[5] == "s3" and keys[9] == "s9"

    grown = [quake(5, 30, "Daily"), quake(11, 2, "Herald"), other]  # article 3 has left the window
    assert {s.key for s in group_stories(grown) if 11 in s.article_ids} == {"s5"}  # without history: a new key
    day2 = group_stories(grown, keys)
    assert {a.id: s.key for s in day2 for a in s.articles} == {5: "s3", 11: "s3", 9: "s9"}


def test_a_split_story_keeps_its_key_for_the_larger_part_and_keys_stay_unique():
    previous = {1: "s1", 2: "s1", 3: "s1"}
    a, b = quake(1, 5, "Wire"), quake(2, 4, "Daily")
    c = record(3, NOW - 3 * H, title="Parliament passes the budget bill", source="Wire")
    stories = group_stories([a, b, c], previous)
    assert sorted(s.key for s in stories) == ["s1", "s3"]
    assert next(s for s in stories if 1 in s.article_ids).key == "s1"


def test_planning_stores_story_keys_so_a_story_sent_yesterday_is_not_sent_again(engine, settings):
    day1, day2 = NOW - timedelta(days=1), NOW
    quake = dict(title="Earthquake of magnitude 6.1 shakes Anatolia",
                 summary="Rescuers search collapsed buildings in Malatya after the earthquake")
    first = [article(1, day1 - 20 * H, source="Wire", **quake), article(2, day1 - 2 * H, source="Daily", **quake),
             article(3, day1 - 3 * H, title="Parliament passes the budget bill", summary="A late vote")]
    later = [article(4, day2 - 2 * H, source="Herald", **quake),  # the quake grows as its first article leaves
             article(5, day2 - 1 * H, title="Cup final ends in a penalty shoot-out", summary="Drama", source="Sport")]
    with store.session_scope(engine) as session:
        store.articles.upsert_articles(session, articles=first, now=day1)
        store.subscribers.upsert_subscribers(session, subscribers=[subscriber("reader@example.com")], now=day1)
    plan_edition(engine, settings, edition_plans(settings, day1.date())[0], now=day1)
    with store.session_scope(engine) as session:
        store.articles.upsert_articles(session, articles=later, now=day2)
    plan_edition(engine, settings, edition_plans(settings, day2.date())[0], now=day2)
    with store.session_scope(engine) as session:
        ids = store.articles.article_ids_by_url(session, urls=[a.url for a in first + later])
        keys = store.stories.story_assignments(session, article_ids=ids.values())
        items = session.exec(select(DeliveryItem)).all()
    by_factory = {int(url.rsplit("/", 1)[1]): keys[i] for url, i in ids.items()}
    assert by_factory[1] == by_factory[2] == by_factory[4] != by_factory[3] != by_factory[5]
    carried = [i.story_key for i in items]
    assert carried.count(by_factory[1]) == 1 and by_factory[5] in carried  # the quake went out once, on day 1


# ── representative and "also covered by" ────────────────────────────────────────────────────────────

def test_the_representative_is_the_most_engaged_else_the_most_complete_article():
    short = record(1, NOW - 3 * H, summary="Short", source="A")
    full = record(2, NOW - 2 * H, summary="A much longer and more complete summary", source="B")
    assert representative_first([short, full])[0].id == 2
    assert representative_first([short, full], {1: 5.0})[0].id == 1
    story = Story("s1", representative_first([short, full]))
    assert story.led_by({1: 5.0}).lead.id == 1 and story.led_by({}).lead.id == 2


def test_also_covered_by_lists_up_to_three_other_outlets_once_each():
    arts = [record(i, NOW - i * H, source=s) for i, s in enumerate(["A", "A", "B", "B", "C", "D", "E"], 1)]
    story = Story("s1", tuple(arts))
    assert [a.source for a in story.also] == ["B", "C", "D"]


# ── diversity ───────────────────────────────────────────────────────────────────────────────────────

def scored(i: int, score: float, topic: str = "politics", centroid: dict | None = None) -> StoryScore:
    art = record(i, NOW - i * H, topics=(topic,))
    return StoryScore(Story(f"s{i}", (art,), centroid or {f"t{i}": 1.0}), score, score, 1, "engagement")


def pick(entries, max_items=10, diversity=Diversity(), **sub):
    return select_for(sub_record(max_items=max_items, **sub), Ranking(tuple(entries), ()), sent_articles=set(),
                      sent_stories=set(), trending_items=0, diversity=diversity)


def test_the_topic_cap_keeps_one_subject_from_filling_a_digest():
    entries = [scored(i, 100 - i) for i in range(1, 7)] + [scored(7, 50, "sport"), scored(8, 40, "science")]
    capped = pick(entries, max_items=5, diversity=Diversity(topic_cap=2))
    assert [p.entry.story.key for p in capped.picks] == ["s1", "s2", "s7", "s8"]
    assert len(pick(entries, max_items=5).picks) == 5  # no cap: rank order
    follower = pick(entries, max_items=5, diversity=Diversity(topic_cap=2), topics=("politics",))
    assert [p.entry.story.key for p in follower.picks] == ["s1", "s2", "s3", "s4", "s5"]  # a followed topic may fill


def test_mmr_puts_a_different_story_before_a_near_duplicate_and_records_its_rank():
    entries = [scored(1, 10, centroid={"quake": 1.0}), scored(2, 9, centroid={"quake": 0.9, "aid": 0.436}),
               scored(3, 8, centroid={"budget": 1.0})]
    diverse = pick(entries, diversity=Diversity(mmr_lambda=0.7))
    assert [p.entry.story.key for p in diverse.picks] == ["s1", "s3", "s2"]
    assert [p.mmr_rank for p in diverse.picks] == [1, 2, 3]
    assert diverse.picks[2].why()["redundancy"] == pytest.approx(0.9)
    assert [p.entry.story.key for p in pick(entries, diversity=Diversity(mmr_lambda=1.0)).picks] == ["s1", "s2", "s3"]


@pytest.mark.parametrize("key, value", [("story_threshold", 0), ("story_threshold", 1.5), ("mmr_lambda", -0.1),
                                        ("mmr_lambda", 2), ("topic_cap", -1), ("story_window_hours", 0)])
def test_bad_story_settings_are_refused_naming_the_key(tmp_path, key, value):
    path = tmp_path / "config.toml"
    path.write_text(f"[selection]\n{key} = {value}\n")
    with pytest.raises(ConfigError, match=key):
        load_settings(path, environ={})


# ── the shared sample, end to end ───────────────────────────────────────────────────────────────────

@pytest.fixture
def news_store(engine, settings):
    with store.session_scope(engine) as session:
        store.articles.upsert_articles(session, articles=list(load_articles(NEWS_CSV, mapping=parse_map(NEWS_MAP), now=NOW)),
                              now=NOW)
        store.subscribers.upsert_subscribers(session, now=NOW, subscribers=[
            subscriber("all@example.com", max_items=25), subscriber("ten@example.com", max_items=10),
            subscriber("text@example.com", max_items=15, format="text")])
    return engine


@pytest.mark.store
def test_no_digest_from_the_shared_sample_carries_one_event_twice(news_store, settings):
    clock = lambda: datetime(2017, 2, 8, 7, 0, tzinfo=timezone.utc)  # noqa: E731
    mailer = RecordingMailer()
    reports = asyncio.run(run_day(news_store, settings, mailer, clock().date(), clock=clock))
    assert reports[0].counts == {"sent": 3} and len(mailer.messages) == 3
    same_event = {frozenset((a, b)) for a, b, same in labelled_pairs() if same}
    with store.session_scope(news_store) as session:
        sample_id = {a.id: int(sid) for sid, a in _stored(session).items()}
        sources = {a.id: a.source for a in _stored(session).values()}
        items = session.exec(select(DeliveryItem)).all()
    by_delivery: dict[int, list[DeliveryItem]] = {}
    for item in items:
        by_delivery.setdefault(item.delivery_id, []).append(item)
    assert sorted(map(len, by_delivery.values())) == [10, 15, 25]
    for carried in by_delivery.values():
        assert len({i.story_key for i in carried}) == len(carried)
        leads = [sample_id[i.article_id] for i in carried]
        assert not any(frozenset((a, b)) in same_event for a in leads for b in leads if a != b)
        for item in carried:
            outlets = [sources[a] for a in item.why["also"]]
            assert len(set(outlets)) == len(outlets) and sources[item.article_id] not in outlets
            assert {"engagement", "coverage", "trending_z", "mmr_rank", "filters"} <= set(item.why)
    devos = next(i for rows in by_delivery.values() for i in rows if sample_id[i.article_id] in (1, 21, 75, 227, 640))
    assert len(devos.why["also"]) == 3  # five outlets covered it: the lead and three others


def _stored(session) -> dict[str, object]:
    by_url = {a.url: a for a in store.articles.list_articles(session)}
    return {sid: by_url[a.url] for sid, a in news().items()}


@pytest.mark.store
def test_stories_and_preview_json_show_the_stories_and_why(news_store, settings, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for name, value in {"DIGEST_STORE_URL": settings.store.url, "DIGEST_SCHEDULE_TIMEZONE": "UTC",
                        "DIGEST_RENDER_TEMPLATES": str(ROOT / "templates" / "email")}.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    result = runner.invoke(app, ["--config", str(ROOT / "config.toml"), "stories", "--date", "2017-02-08", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["edition"] == "digest:2017-02-08" and len(doc["stories"]) < 339
    first = doc["stories"][0]
    assert first["coverage"] == 5 and len(first["articles"]) == 5 and first["articles"][0]["representative"]
    assert {"score", "engagement", "trending_z", "sources", "also"} <= set(first)
    text = runner.invoke(app, ["--config", str(ROOT / "config.toml"), "stories", "--date", "2017-02-08",
                               "--min-articles", "3"])
    assert text.exit_code == 0 and "Betsy DeVos" in text.stdout
    preview = runner.invoke(app, ["--config", str(ROOT / "config.toml"), "preview", "--date", "2017-02-08",
                                  "--format", "json"])
    assert preview.exit_code == 0, preview.output
    items = json.loads(preview.stdout)["items"]
    assert [i["why"]["mmr_rank"] for i in items] == sorted(i["why"]["mmr_rank"] for i in items)
    assert all({"engagement", "coverage", "trending_z", "mmr_rank", "filters", "also"} <= set(i["why"]) for i in items)
    assert len({i["story"] for i in items}) == len(items)
