"""Stories that know events: the hand-labelled hard pairs (tests/data/event_pairs.csv), the pair features, no
chaining, and the explanation `digest stories --json` gives for every grouped pair."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from typer.testing import CliRunner

from digest import store
from digest.cli import app
from digest.ingest.tabular import load_articles, parse_map
from digest.stories import Story, StoryParams, follow_ups, group_stories, load_model, tf_idf
from digest.stories.features import FEATURES, PairFeatures
from digest.stories.story import by_publication
from tests.conftest import ROOT
from tests.factories import record

_spec = importlib.util.spec_from_file_location("score_story_pairs", ROOT / "scripts" / "score_story_pairs.py")
scoring = sys.modules.setdefault("score_story_pairs", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(scoring)

EVENTS = ROOT / "tests" / "data" / "event_pairs.csv"
NOW = datetime(2026, 11, 27, 7, 0, tzinfo=timezone.utc)
H = timedelta(hours=1)


def event_rows() -> list[dict]:
    with EVENTS.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


# ── the labelled set ────────────────────────────────────────────────────────────────────────────────

def test_the_event_pairs_are_well_formed_and_the_held_out_days_are_apart():
    rows = event_rows()
    articles = scoring.articles("news-articles-dec2016-feb2017.csv")
    assert len(rows) >= 300 and len({frozenset((r["a_id"], r["b_id"])) for r in rows}) == len(rows)
    assert all(int(r["a_id"]) in articles and int(r["b_id"]) in articles and r["a_id"] != r["b_id"] for r in rows)
    assert all(r["label"] in ("same", "different") and r["part"] in ("dev", "held") and r["reason"] for r in rows)
    days = {part: {articles[int(r[k])].published_at.date() for r in rows if r["part"] == part for k in ("a_id", "b_id")}
            for part in ("dev", "held")}
    assert not days["dev"] & days["held"]
    held = [r for r in rows if r["part"] == "held"]
    assert len(held) >= 100 and sum(r["label"] == "same" for r in held) >= 30


def test_the_held_out_part_scores_with_the_committed_model():
    """Pairwise precision and recall of the configured clustering on pairs never used for fitting or choosing.

    The issue's targets (precision 0.95, recall 0.85) are NOT reached (README "Stories"); these bounds are the
    committed model's figures less a hair, so that a change which loses precision or recall fails here."""
    held, _ = scoring.score("held", StoryParams())
    dev, _ = scoring.score("dev", StoryParams())
    pairs, _ = scoring.score("story_pairs", StoryParams())
    print(f"\n{held.line()}\n{dev.line()}\n{pairs.line()}")
    assert held.pairs >= 100 and held.same >= 30
    assert held.precision >= 0.83 and held.recall >= 0.83
    assert dev.precision >= 0.95 and pairs.precision >= 0.95 and pairs.recall >= 0.85


# ── features of named pairs ─────────────────────────────────────────────────────────────────────────

def features_of(name: str, pairs: list[tuple[int, int]]) -> dict[tuple[int, int], dict[str, float]]:
    ordered = sorted(scoring.labelled_set(name).articles, key=by_publication)
    row = {a.id: i for i, a in enumerate(ordered)}
    matrix, _ = tf_idf(ordered)
    hours = np.array([a.published_at.timestamp() / 3600.0 for a in ordered])
    index = np.array([sorted((row[a], row[b])) for a, b in pairs], dtype=np.int64)
    values = PairFeatures(ordered, matrix, hours).of(index)
    return {p: dict(zip(FEATURES, v)) for p, v in zip(pairs, values)}


def test_features_of_named_pairs():
    model = load_model()
    romania, flamanville, attacks = (885, 940), (797, 805), (687, 948)
    got = features_of("held", [romania, flamanville, attacks])
    # Iordache's resignation (DW vs Al Jazeera): the names carry it though the outlets word it apart
    assert got[romania]["names"] > 0.3 and got[romania]["outlet"] == 0 and got[romania]["days"] == 0
    assert got[flamanville]["outlet"] == 1  # two TASS reports of the Flamanville blast
    for same in (romania, flamanville):
        assert model.probability(np.array([list(got[same].values())]))[0] >= model.threshold
    # a market attack in Petah Tikva and an air strike on a Gaza tunnel, the same day: shared names, two events
    assert got[attacks]["names"] > 0.2
    assert model.probability(np.array([list(got[attacks].values())]))[0] < model.threshold


def test_the_model_explains_each_feature_with_its_contribution():
    model = load_model()
    row = np.array([0.5, 0.2, 0.4, 0.0, 0.3, 0.0, 1.0])
    why = model.explain(row)
    assert set(why["features"]) == set(FEATURES)
    logit = why["intercept"] + sum(f["contribution"] for f in why["features"].values())
    assert why["probability"] == pytest.approx(1 / (1 + np.exp(-logit)), abs=2e-3)
    assert why["features"]["words"]["contribution"] == pytest.approx(row[0] * model.weights[0], abs=1e-3)


# ── linkage that does not chain ─────────────────────────────────────────────────────────────────────

VOLCANO = "Volcano erupts near Reykjavik as lava reaches the Grindavik road and residents flee"
BUDGET = "Althing passes the budget bill after the finance minister wins a late vote on taxes"


def test_a_chain_of_near_misses_does_not_make_one_story():
    a = record(1, NOW - 3 * H, title=VOLCANO, summary=VOLCANO, source="Wire")
    b = record(2, NOW - 2 * H, title=f"{VOLCANO}; {BUDGET}", summary=f"{VOLCANO}. {BUDGET}", source="Daily")
    c = record(3, NOW - 1 * H, title=BUDGET, summary=BUDGET, source="Herald")
    assert len(group_stories([a, b])) == 1 and len(group_stories([b, c])) == 1  # A~B and B~C
    assert len(group_stories([a, c])) == 2  # A and C share nothing
    stories = group_stories([a, b, c])
    assert len(stories) == 2 and not any({1, 3} <= s.article_ids for s in stories)


# ── the explanation in `digest stories --json` ──────────────────────────────────────────────────────

@pytest.mark.store
def test_stories_json_shows_why_each_grouped_pair_is_one_event(engine, settings, monkeypatch, tmp_path):
    path = ROOT / "tests" / "data" / "news-articles-dec2016-feb2017.csv"
    mapping = parse_map("title=title,url=article_source_link,published=publish_date,summary=subtitle,body=text")
    day = [a for a in load_articles(path, mapping=mapping, now=NOW) if a.published_at.date().isoformat() == "2017-02-09"]
    with store.session_scope(engine) as session:
        store.articles.upsert_articles(session, articles=day, now=NOW)
    monkeypatch.chdir(tmp_path)
    for name, value in {"DIGEST_STORE_URL": settings.store.url, "DIGEST_SCHEDULE_TIMEZONE": "UTC"}.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(app, ["--config", str(ROOT / "config.toml"), "stories", "--date", "2017-02-09",
                                      "--json", "--min-articles", "2"])
    assert result.exit_code == 0, result.output
    stories = json.loads(result.stdout)["stories"]
    assert stories and all("follows" in s for s in stories)
    model = load_model()
    for story in stories:
        ids = {a["id"] for a in story["articles"]}
        n = len(ids)
        assert len(story["grouped"]) == n * (n - 1) // 2
        for pair in story["grouped"]:
            assert set(pair["articles"]) <= ids and set(pair["features"]) == set(FEATURES)
            assert all({"value", "contribution"} == set(f) for f in pair["features"].values())
            assert 0 < pair["probability"] <= 1
        assert max(p["probability"] for p in story["grouped"]) >= model.threshold


# ── follow-ups ──────────────────────────────────────────────────────────────────────────────────────

def test_a_later_development_stays_its_own_story_and_says_what_it_follows():
    def story(key, hours_ago, centroid):
        return Story(key, (record(int(key[1:]), NOW - hours_ago * H),), centroid)

    quake = story("s1", 30, {"quake": 0.894, "malatya": 0.447})
    aftershock = story("s2", 2, {"quake": 0.8, "aftershock": 0.6})  # 28 h later, much alike: follows s1
    rescue = story("s4", 27, {"quake": 0.6, "malatya": 0.8})  # like s1 but only 3 h later: not a follow-up
    budget = story("s3", 1, {"budget": 1.0})
    assert follow_ups([quake, aftershock, rescue, budget]) == {"s2": "s1"}


# ── names and numbers (the patterns were rewritten for speed: the same words must come out) ─────────────────

def test_names_skip_sentence_starts_unless_capitalised_elsewhere_and_numbers_keep_their_unit():
    from digest.stories.features import names, numbers

    lead = ("Officials said NATO and the U.S. met. Geneva talks resumed in Geneva with O'Brien. \"Talks are over,\" "
            "said McCain-Feingold's aide.\nMoscow replied: Putin spoke. Prices rose 3.5% to $503b, a.5 and x5 aside, "
            "52-47 vote.")
    article = record(1, NOW, title="Putin meets O'Brien in Geneva", summary="", lead=lead)
    # "Geneva" opens a sentence but is a name elsewhere too; "Moscow" (after a line break) and "Putin" (after a
    # colon) open sentences only, so neither counts, not even from the title; "Talks" follows a quote, not a space.
    # "Officials" counts: with an empty summary the body starts with a space, which is not read as a sentence start
    assert names(article) == ["official", "nato", "geneva", "geneva", "o'brien", "talk", "mccain-feingold",
                              "o'brien", "geneva"]
    assert numbers(article) == ["3.5%", "$503b", "52-47 vote"]  # "a.5" and "x5" are inside words: not numbers
