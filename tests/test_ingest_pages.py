"""Article pages: the seed text dump (exact fields, trending headlines) and an HTML page through trafilatura."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from digest.ingest.sources import SourceOptions, parse_document
from tests.conftest import SHARED

FEEDS = Path(__file__).parent / "data" / "feeds"
SEED = SHARED / "seed-article.txt"
NOW = datetime(2025, 7, 14, 9, 0, tzinfo=timezone.utc)
SEED_BODY = [
    "In a significant diplomatic exchange, North Korean leader Kim Jong Un has reiterated his unwavering support for "
    "the Russian government's actions concerning the Ukraine conflict. This statement underscores Pyongyang's close "
    "ties with Moscow amid ongoing international tensions.",
    "The remarks were made known during a high-profile meeting with the Russian Foreign Minister, Sergei Lavrov, "
    "highlighting the strategic alignment between North Korea and Russia. Kim expressed his backing for all measures "
    "undertaken by the Russian leadership to address the Ukraine crisis decisively.",
    "The North Korean state news agency, KCNA, reported these developments, emphasizing the continued solidarity "
    "between the two nations as geopolitical dynamics evolve.",
    "(With inputs from agencies.)",
]


SEED_URL = "https://www.devdiscourse.com/article/headlines/kim-backs-russia"


def seed_batch(**kw):
    return parse_document(str(SEED), SEED.read_bytes(), SourceOptions(now=NOW, **{"url": SEED_URL, **kw}))


def test_seed_page_yields_exactly_the_listed_fields():
    batch = seed_batch()
    assert batch.rejected == ()
    [article] = batch.articles
    assert article.title == "Kim Jong Un Backs Russia's Stand on Ukraine"
    assert article.source == "Devdiscourse News Desk"
    assert article.location == "Seoul"
    assert article.country == "South Korea"
    assert article.published_at == datetime(2025, 7, 12, 21, 27, tzinfo=timezone.utc)  # 13 July 02:57 IST
    assert article.summary == ("North Korean leader Kim Jong Un reiterated his country's unconditional support for "
                               "Russia in resolving the Ukraine situation. This declaration was made during a "
                               "meeting with Russian Foreign Minister Sergei Lavrov as reported by North Korea's "
                               "state media.")
    assert article.body.split("\n\n") == SEED_BODY
    for boilerplate in ("TRENDING", "OPINION", "Left Menu", "Cockpit", "Devdiscourse", "Copyright", "Country:"):
        assert boilerplate not in article.body
    assert article.url == SEED_URL  # the dump names no address: --url gives it


def test_a_page_without_an_address_is_refused_never_given_its_file_path():
    batch = parse_document(str(SEED), SEED.read_bytes(), SourceOptions(now=NOW))
    assert batch.articles == () and batch.trending == ()
    [rejected] = batch.rejected
    assert str(rejected) == f"{SEED}: page: url: the page names no http(s) address (give it with --url)"


def test_seed_page_takes_an_address_when_given():
    [article] = seed_batch(url="https://www.devdiscourse.com/article/headlines/kim-backs-russia?utm_source=x").articles
    assert article.url == "https://www.devdiscourse.com/article/headlines/kim-backs-russia"


def test_seed_page_trending_headlines_with_their_regions():
    trending = seed_batch().trending
    assert [(t.rank, t.title, t.region) for t in trending] == [
        (1, "Cockpit Confusion: Inside the Air India Crash Investigation", "Global"),
        (2, "International Diplomatic Drama: Cocaine Plane Controversy", "Global"),
        (3, "Giuseppe Palermo's Arrest: A Blow to 'Ndrangheta's Latin American Operations", "Colombia"),
        (4, "Unraveling Tragedy: The Air India Crash That Claimed 260 Lives", "Global"),
    ]
    assert {t.source for t in trending} == {"Devdiscourse News Desk"}


def test_a_text_page_without_a_title_is_one_rejection():
    batch = parse_document("empty.txt", b"\n\n  \n", SourceOptions(now=NOW, fmt="text"))
    assert batch.articles == () and [r.position for r in batch.rejected] == ["page"]


def test_html_article_page_through_trafilatura():
    path = FEEDS / "article.html"
    batch = parse_document(str(path), path.read_bytes(), SourceOptions(now=NOW))
    assert batch.rejected == ()
    [article] = batch.articles
    assert article.title == "Ports reopen after strike ends"
    assert article.url == "https://www.harbour-herald.example/news/ports-reopen"  # og:url, tracking removed
    assert article.source == "Harbour Herald" and article.author == "Priya Natarajan"
    assert article.topics == ["business"]
    assert article.published_at == datetime(2025, 7, 12, 21, 27, tzinfo=timezone.utc)
    assert article.image_url == "https://cdn.harbour-herald.example/ports.jpg"
    paragraphs = article.body.split("\n\n")
    assert paragraphs[0].startswith("Container ports along the coast reopened on Sunday")
    assert paragraphs[-1].startswith("Shipping companies warned")
    for noise in ("Home", "Advertisement", "Most read", "All rights reserved", "Privacy", "javascript", "onerror"):
        assert noise not in article.body
    assert article.summary.startswith("Container ports along the coast reopened")


def test_html_without_article_text_is_one_rejection():
    batch = parse_document("nav.html", b"<html><body><nav><a href='/'>Home</a></nav></body></html>",
                           SourceOptions(now=NOW))
    assert batch.articles == () and [r.position for r in batch.rejected] == ["page"]
