"""Per-subscriber selection: filters, already-sent, caps, sections, skip reasons. Pure."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from digest.ranking import Ranking, StoryScore
from digest.select import matches, select_for, variant_key
from digest.stories import Story
from tests.factories import record, sub_record

NOW = datetime(2026, 11, 27, 7, 0, tzinfo=timezone.utc)


def entry(i, score=None, topics=("politics",), country="Germany", z=None):
    art = record(i, NOW - timedelta(hours=i), topics=tuple(topics), country=country)
    return StoryScore(Story(f"s{i}", (art,)), score if score is not None else 100 - i, 0.0, 1, "engagement",
                      trending_z=z)


def ranking(top, trending=()):
    return Ranking(tuple(top), tuple(trending))


def keys(selection, section=None):
    return [p.entry.story.key for p in selection.picks if section in (None, p.section)]


@pytest.mark.parametrize("topics, countries, article_topics, country, passes", [
    ((), (), ("sport",), "Japan", True),
    (("sport",), (), ("sport", "business"), "Japan", True),
    (("politics",), (), ("sport",), "Japan", False),
    (("Sport",), (), ("sport",), None, True),  # case does not matter
    ((), ("Japan",), ("sport",), "Japan", True),
    ((), ("japan",), ("sport",), "Japan", True),
    ((), ("Japan",), ("sport",), "Kenya", False),
    ((), ("Japan",), ("sport",), None, False),  # a country filter excludes articles with no country
    (("sport",), ("Japan",), ("sport",), "Kenya", False),
])
def test_topic_and_country_filters(topics, countries, article_topics, country, passes):
    sub = sub_record(topics=topics, countries=countries)
    assert (matches(entry(1, topics=article_topics, country=country), sub) is not None) is passes


def test_caps_at_max_items_in_rank_order():
    sel = select_for(sub_record(max_items=3), ranking([entry(i) for i in range(1, 8)]), sent_articles=set(),
                     sent_stories=set(), trending_items=0)
    assert keys(sel) == ["s1", "s2", "s3"]


def test_trending_section_never_repeats_a_top_story():
    top = [entry(i) for i in range(1, 8)]
    trending = [entry(2, z=9.0), entry(6, z=5.0), entry(7, z=3.0)]
    sel = select_for(sub_record(max_items=5), ranking(top, trending), sent_articles=set(), sent_stories=set(),
                     trending_items=3)
    assert not set(keys(sel, "top")) & set(keys(sel, "trending"))
    assert len(sel.picks) == 5
    assert keys(sel, "trending") == ["s6", "s7"]
    assert keys(sel, "top") == ["s1", "s2", "s3"]


def test_trending_backfills_top_when_it_runs_short():
    top = [entry(i) for i in range(1, 8)]
    sel = select_for(sub_record(max_items=4), ranking(top, [entry(1, z=9.0)]), sent_articles=set(),
                     sent_stories={"s1"}, trending_items=3)  # the one trending story was sent already
    assert keys(sel, "top") == ["s2", "s3", "s4", "s5"] and keys(sel, "trending") == []


def test_a_trending_story_top_took_moves_to_trending_rather_than_leave_it_empty():
    top = [entry(i) for i in range(1, 8)]
    sel = select_for(sub_record(max_items=4), ranking(top, [entry(1, z=9.0)]), sent_articles=set(),
                     sent_stories=set(), trending_items=3)
    assert keys(sel, "top") == ["s2", "s3", "s4"] and keys(sel, "trending") == ["s1"]
    alone = select_for(sub_record(max_items=4), ranking(top[:1], [entry(1, z=9.0)]), sent_articles=set(),
                       sent_stories=set(), trending_items=3)
    assert keys(alone, "top") == ["s1"] and keys(alone, "trending") == []  # Top is never emptied for it
    single = select_for(sub_record(max_items=1), ranking(top, [entry(1, z=9.0)]), sent_articles=set(),
                        sent_stories=set(), trending_items=3)
    assert keys(single) == ["s1"] and single.trending == ()
    two = select_for(sub_record(max_items=2), ranking(top, [entry(1, z=9.0)]), sent_articles=set(),
                     sent_stories=set(), trending_items=3)
    assert keys(two, "top") == ["s2"] and keys(two, "trending") == ["s1"]


def test_the_topic_cap_counts_each_section_and_never_empties_trending():
    """Two topics, cap 2: Top uses both topics' caps; Trending still gets its three stories (the demo had 15
    trending stories and an empty Trending section in 19 of 22 emails)."""
    from digest.select import Diversity

    politics = [entry(i, topics=("politics",)) for i in range(1, 10)]
    business = [entry(i, topics=("business",)) for i in range(10, 20)]
    trending = [entry(i, topics=("politics",), z=10.0 - i) for i in (5, 6, 7, 8)]
    sel = select_for(sub_record(max_items=7), ranking(politics + business, trending), sent_articles=set(),
                     sent_stories=set(), trending_items=3, diversity=Diversity(topic_cap=2))
    assert keys(sel, "top") == ["s1", "s2", "s10", "s11"]
    assert keys(sel, "trending") == ["s5", "s6", "s7"]  # the cap (2) gives way to fill the section
    assert not set(keys(sel, "top")) & set(keys(sel, "trending"))
    varied = select_for(sub_record(max_items=7), ranking(politics + business, trending + [entry(12, topics=(
        "business",), z=1.0)]), sent_articles=set(), sent_stories=set(), trending_items=3,
        diversity=Diversity(topic_cap=2))
    assert keys(varied, "trending") == ["s5", "s6", "s12"]  # inside the section the cap still brings variety


def test_already_sent_articles_and_stories_are_dropped():
    sel = select_for(sub_record(max_items=3), ranking([entry(i) for i in range(1, 6)]), sent_articles={1},
                     sent_stories={"s2"}, trending_items=0)
    assert keys(sel) == ["s3", "s4", "s5"]


def test_skip_reasons_say_why():
    nothing = select_for(sub_record(), ranking([]), sent_articles=set(), sent_stories=set(), trending_items=3)
    assert nothing.skip_reason == "no articles published in this edition's window"
    unmatched = select_for(sub_record(topics=("science",)), ranking([entry(1)]), sent_articles=set(),
                           sent_stories=set(), trending_items=3)
    assert "topics and countries" in unmatched.skip_reason
    seen = select_for(sub_record(), ranking([entry(1)]), sent_articles={1}, sent_stories=set(), trending_items=3)
    assert seen.skip_reason.startswith("nothing new")


def test_each_pick_says_why_it_passed():
    sel = select_for(sub_record(topics=("politics",), countries=("Germany",)), ranking([entry(1)]),
                     sent_articles=set(), sent_stories=set(), trending_items=0)
    assert sel.picks[0].reason == "topic politics; country Germany"


def test_variant_key_depends_on_content_and_format_only():
    a = select_for(sub_record(1), ranking([entry(1), entry(2)]), sent_articles=set(), sent_stories=set(),
                   trending_items=0)
    b = select_for(sub_record(2, name="Other"), ranking([entry(1), entry(2)]), sent_articles=set(),
                   sent_stories=set(), trending_items=0)
    assert variant_key("html", a.picks) == variant_key("html", b.picks)
    assert variant_key("html", a.picks) != variant_key("text", a.picks)
    assert variant_key("html", a.picks) != variant_key("html", a.picks[:1])


def test_a_stored_story_without_an_http_link_never_reaches_a_reader():
    """Stores filled before `ingest` refused pages without an address hold `file://` articles: never mailed."""
    from dataclasses import replace

    local = StoryScore(Story("local", (replace(record(1, NOW), url="file:///home/op/page.txt"),)), 99, 0.0, 1,
                       "engagement")
    web = Story("web", (record(2, NOW), replace(record(3, NOW, source="Other"), url="file:///home/op/other.html"),
                        record(4, NOW, source="Third")))
    sel = select_for(sub_record(max_items=5), ranking([local, StoryScore(web, 50, 0.0, 1, "engagement")]),
                     sent_articles=set(), sent_stories=set(), trending_items=0)
    assert keys(sel) == ["web"]
    assert [a.id for a in sel.picks[0].entry.story.also] == [4]
