#!/usr/bin/env python3
"""Build the demo data set shipped with `digest`.

Reads the 339-article news CSV (7-8 February 2017; eight outlets: ABC News,
Al Jazeera, BBC, CNN, DW, HuffPost, RTÉ, TASS) plus one scraped article page, and writes:

* src/digest/demo_data/articles.jsonl   - ~120 cleaned articles + the seed article
* src/digest/demo_data/subscribers.csv  - 30 hand-written demo subscribers

Articles are chosen so that several events are covered by more than one
outlet (titles sharing distinctive words), then topped up round-robin across
outlets.  Text is cleaned of the CSV's mojibake, split into paragraphs and
tagged with a country and topics using small keyword tables.

The output is committed to the repository; its inputs are copies kept in
tests/data/, so a clone needs nothing beside it.  Re-run this script only to
regenerate it.  It is
deterministic (fixed seed, no clock) and uses the standard library only.

Usage:
    python scripts/make_demo_data.py [CSV_PATH [SEED_PAGE_PATH]]

CSV_PATH defaults to tests/data/news-articles-2017-02-07_08.csv; SEED_PAGE_PATH defaults to seed-article.txt next to
the CSV.
"""

from __future__ import annotations

import collections
import csv
import itertools
import json
import random
import re
import sys
from pathlib import Path
from urllib.parse import urlsplit

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CSV = REPO_ROOT / "tests" / "data" / "news-articles-2017-02-07_08.csv"
OUT_DIR = REPO_ROOT / "src" / "digest" / "demo_data"

TARGET_CSV_ARTICLES = 120
MAX_PER_OUTLET_PER_EVENT = 3
BODY_MAX_CHARS = 4000
SUMMARY_MAX_CHARS = 280
SENTENCES_PER_PARAGRAPH = 3

# --------------------------------------------------------------------------
# Outlets
# --------------------------------------------------------------------------

OUTLETS = {  # host suffix -> display name
    "abcnews.go.com": "ABC News",
    "aljazeera.com": "Al Jazeera",
    "bbc.com": "BBC",
    "bbc.co.uk": "BBC",
    "chinadaily.com.cn": "China Daily",
    "cnn.com": "CNN",
    "dw.com": "DW",
    "huffingtonpost.com": "HuffPost",
    "rte.ie": "RTÉ",
    "tass.com": "TASS",
}


def outlet_name(url: str) -> str:
    """Map an article URL to its outlet's display name."""
    host = (urlsplit(url).hostname or "").lower()
    for suffix, name in OUTLETS.items():
        if host == suffix or host.endswith("." + suffix):
            return name
    raise ValueError(f"unknown outlet host in {url!r}")


# --------------------------------------------------------------------------
# Text cleaning
# --------------------------------------------------------------------------

# Words whose non-ASCII letters the CSV turned into U+FFFD pairs.
BROKEN_WORDS = {
    "Gr��co": "Gréco", "D��il": "Dáil", "O��Reilly": "O’Reilly",
    "K��hn": "Kühn", "Zachra��": "Zachraň", "j��dlo": "jídlo", "j��du": "jídu",
    "Reichsb��rger": "Reichsbürger", "F��rth": "Fürth", "F��il": "Fáil",
    "F��in": "Féin", "Donnabh��in": "Donnabháin", "Pen��lope": "Penélope",
    "Sch��tz": "Schütz", "incans��vel": "incansável", "Parab��ns": "Parabéns",
    "fam��lia": "família", "R��is��n": "Róisín", "W��rttemberg": "Württemberg",
    "Georgensgm��nd": "Georgensgmünd", "S��ddeutsche": "Süddeutsche",
    "S��dtrib��ne": "Südtribüne", "S��dtribune": "Südtribune",
    "Strejcov��": "Strejcová", "Ravensbr��ck": "Ravensbrück", "caf��": "café",
    "Pr��s": "Prés", "G��rard": "Gérard", "��ternel": "éternel",
    "f��minin": "féminin", "D��shabillez": "Déshabillez",
    "Zurm��hlen": "Zurmühlen", "am��ricaine": "américaine",
    "N��ir��n": "Nóirín", "garda��": "gardaí", "Garda��": "Gardaí",
    "Se��n": "Seán", "S��och��na": "Síochána", "clich��s": "clichés",
    "K��rten": "Körten", "C��cile": "Cécile", "H��ller": "Hüller",
    "M��ller": "Müller", "��nomadic": '"nomadic', "RT? News": "RTÉ News",
    "M?nchengladbach": "Mönchengladbach",
}

# Function words that the CSV glued to a neighbour with "-" (a mangled
# non-breaking space), e.g. "has been-delayed", "that-retroactively".
GLUE_WORDS = set(
    "the a an that this these those in on at to of for and or but with by "
    "from as is are was were be been has have had it its he she they we his "
    "her their which who will would can could not said says".split()
)
REAL_COMPOUNDS = {
    "in-vitro", "drive-by", "in-house", "for-profit", "at-risk", "in-app",
    "in-depth", "so-called", "built-in", "run-in", "sit-in", "add-on",
    "hands-on", "by-election", "one-to", "on-site", "stand-in", "check-in",
}


def _fix_broken_letters(text: str) -> str:
    """Repair U+FFFD damage: known words, currency signs, stray marks."""
    for broken, fixed in BROKEN_WORDS.items():
        text = text.replace(broken, fixed)
    text = re.sub(r"\ufffd(?=\d)", "€", text)  # RTÉ euro amounts
    text = re.sub(r'"\ufffd+\??', '"', text)  # mangled opening quote
    text = re.sub(r"\ufffd+\??", "", text)
    return text


def _fix_currency(text: str, source: str) -> str:
    """'?50,000' -> '£50,000' (BBC) or '€50,000' (RTÉ)."""
    if source == "BBC":
        return re.sub(r"(?<![\w\"?])\?(?=\d)", "£", text)
    if source == "RTÉ":
        text = re.sub(r"(?<![\w\"?])\?(?=[\d,.]+\s+sterling)", "£", text)
        return re.sub(r"(?<![\w\"?])\?(?=\d)", "€", text)
    return text


def _fix_quote_marks(text: str) -> str:
    """Decode the CSV's '"?' mojibake (a curly quote/dash that ate a space).

    ' "?'         -> ' — '  (an em dash between words)
    after . , ! ? -> '" '   (closing double quote)
    after a word  -> '" '   if a double quote is open at that point,
                     '’ '   otherwise (apostrophe: "DeVos’ nomination")
    """
    out, quote_open = [], False
    for piece in re.split(r'("\?)', text):
        if piece != '"?':
            quote_open ^= piece.count('"') % 2 == 1
            out.append(piece)
            continue
        before = out[-1][-1:] if out and out[-1] else " "
        if before.isspace():
            out.append("— ")
        elif quote_open or before in ".,!?;:":
            out.append('" ')
            quote_open = False
        else:
            out.append("’ ")
    text = "".join(out)
    text = re.sub(r"(?<=[A-Za-z])\"(?=(?:t|s|re|ve|ll|d|m)\b)", "’", text)  # aren"t
    return re.sub(r"(?<=\bd)\"(?=[A-Z])", "’", text)  # d"Arezzo


def _fix_glued_hyphens(text: str) -> str:
    """Undo '-' standing in for a space after punctuation or a function word."""
    text = re.sub(r"(?<=\w[\"’”])-(?=\w)", " ", text)  # '"seamless"-or'
    text = re.sub(r"(?<=['’]s)-(?=[a-z])", " ", text)  # "May's-own party"
    text = re.sub(r"(?<=\b\d{4})-(?=[a-z]{3,})", " ", text)  # "in 2015-under"
    text = re.sub(r"(?<=\d)-(?=(?:in|on|at|of|for|to|from|by|with|and)\b)", " ", text)
    after_punct = r"(?:(?<![A-Z]\.)(?<=[.,;:!?)])|(?<=[.,;:!?][\"’']))"
    text = re.sub(after_punct + r"-(?=[^\d\s-])", " ", text)
    text = re.sub(after_punct + r"-(?=\s)", "", text)

    def unglue(match: re.Match) -> str:
        left, right = match.group(1), match.group(2)
        word = match.group(0)
        if word.lower() in REAL_COMPOUNDS:
            return word
        for side in (left, right):
            if side.lower() in GLUE_WORDS and not (side.isupper() and len(side) > 1):
                return f"{left} {right}"
        return word

    return re.sub(r"(?<![\w-])([A-Za-z’']+)-([A-Za-z’']+)(?![\w-])", unglue, text)


SHARE_WIDGET = re.compile(
    r"Send Facebook Twitter Google\+ Whatsapp Tumblr linkedin stumble Digg reddit "
    r"Newsvine Permalink \S+\s*"
)


def collapse_ws(text: str) -> str:
    """Strip and collapse all runs of whitespace to single spaces."""
    return re.sub(r"\s+", " ", text).strip()


def clean_text(text: str, source: str) -> str:
    """Apply every mojibake repair and collapse whitespace."""
    text = SHARE_WIDGET.sub("", _fix_broken_letters(text))
    text = _fix_currency(text, source)
    text = _fix_quote_marks(text)
    text = _fix_glued_hyphens(collapse_ws(text))
    text = collapse_ws(text)
    return re.sub(r"\s+([,.;:!?)])", r"\1", text)


# --------------------------------------------------------------------------
# Sentences, paragraphs, summaries
# --------------------------------------------------------------------------

ABBREVIATIONS = set(
    "Mr Mrs Ms Dr Prof Sen Rep Gov Gen Lt Col Sgt Capt St Jr Sr No Nos vs "
    "Inc Co Corp Ltd Dept Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec "
    "U.S U.K U.N D.C a.m p.m e.g i.e approx est".split()
)
SENTENCE_END = re.compile(r"[.!?]+[\"”’')]*\s+(?=[\"“‘'(]?[A-Z0-9])")


def split_sentences(text: str) -> list[str]:
    """Split cleaned text into sentences, merging very short fragments."""
    sentences, start = [], 0
    for match in SENTENCE_END.finditer(text):
        words = text[start:match.start()].split()
        last = words[-1].rstrip(".") if words else ""
        if last in ABBREVIATIONS or re.fullmatch(r"[A-Z]", last):
            continue
        sentences.append(text[start:match.end()].strip())
        start = match.end()
    if text[start:].strip():
        sentences.append(text[start:].strip())
    merged: list[str] = []
    for sentence in sentences:  # e.g. "MOSCOW, February 7. /TASS/."
        if merged and len(merged[-1]) < 40:
            merged[-1] += " " + sentence
        else:
            merged.append(sentence)
    return merged


def to_paragraphs(sentences: list[str]) -> str:
    """Group sentences 3 at a time (a lone trailing one joins the previous)."""
    n = SENTENCES_PER_PARAGRAPH
    groups = [sentences[i:i + n] for i in range(0, len(sentences), n)]
    if len(groups) > 1 and len(groups[-1]) == 1:
        groups[-2].extend(groups.pop())
    return "\n\n".join(" ".join(group) for group in groups)


def cut_at_word(text: str, limit: int) -> str:
    """Cut text at a word boundary so that text + '…' fits in limit."""
    if len(text) <= limit:
        return text
    cut = text[:limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:—-")
    return cut + "…"


def make_body(text: str) -> str:
    """Paragraphs of the longest sentence prefix that fits BODY_MAX_CHARS."""
    sentences = split_sentences(text)
    for count in range(len(sentences), 0, -1):
        body = to_paragraphs(sentences[:count])
        if len(body) <= BODY_MAX_CHARS:
            return body
    return cut_at_word(sentences[0], BODY_MAX_CHARS) if sentences else ""


def make_summary_from_text(text: str) -> str:
    """First sentence(s) of the text, at most SUMMARY_MAX_CHARS."""
    text = strip_dateline(text)
    summary = ""
    for sentence in split_sentences(text):
        candidate = f"{summary} {sentence}".strip()
        if len(candidate) > SUMMARY_MAX_CHARS:
            break
        summary = candidate
    return summary or cut_at_word(text, SUMMARY_MAX_CHARS)


BAD_SUBTITLE = re.compile(
    r"expressed in this commentary|received funding|^This video is", re.I
)


def make_summary(subtitle: str, text: str) -> str:
    """The subtitle (tidied) if usable, else the opening of the text."""
    subtitle = re.sub(r"^(?:[A-Z][\w .,]*)?\(CNN\)\s*", "", subtitle)
    if not subtitle or BAD_SUBTITLE.search(subtitle):
        return make_summary_from_text(text)
    # Al Jazeera subtitles end with the next sub-heading: "... say. By"
    tail = re.search(r"([.!?][\"'”’]?)\s+([^.!?]{1,40})$", subtitle)
    if tail:
        subtitle = subtitle[:tail.start(2)].strip()
    if not re.search(r"[.!?…][\"”’')]*$|\"$", subtitle):  # TASS lacks full stops
        subtitle += "."
    subtitle = subtitle[0].upper() + subtitle[1:]
    return cut_at_word(subtitle, SUMMARY_MAX_CHARS)


# --------------------------------------------------------------------------
# Datelines, countries, topics
# --------------------------------------------------------------------------

DATELINES = [
    re.compile(r"^([A-Z][A-Z .'-]{2,30}?),? (?:[A-Z][a-z]+ \d{1,2}\. )?/TASS/\.\s*"),
    re.compile(r"^([A-Z][A-Z .'-]{2,30}?)(?:, [A-Z][A-Za-z. ]+)? — \s*"),
    re.compile(r"^([A-Z][A-Za-z .'-]{2,30}?)(?:, [A-Z][A-Za-z .'-]+)? \(CNN\)\s*"),
    re.compile(r"^\(CNN\)\s*"),
]


def find_location(text: str) -> str | None:
    """Dateline city, e.g. 'WASHINGTON —' or 'MOSCOW, February 7. /TASS/.'"""
    for pattern in DATELINES:
        match = pattern.match(text)
        if match and match.groups():
            city = match.group(1).strip().title().replace("'S", "'s")
            return city.removeprefix("The ")
    return None


def strip_dateline(text: str) -> str:
    """Drop a leading dateline such as 'MOSCOW, February 7. /TASS/.'"""
    for pattern in DATELINES:
        text = pattern.sub("", text, count=1)
    return text


# Checked in this order; the first country with a hit wins.
COUNTRIES = [
    ("North Korea", "North Korea|North Korean|Pyongyang|Kim Jong Un|Kim Jong-un"),
    ("South Korea", "South Korea|South Korean|Seoul|THAAD|PyeongChang"),
    ("Syria", "Syria|Syrian|Syrians|Damascus|Aleppo|Idlib|Palmyra|Assad"),
    ("Iraq", "Iraq|Iraqi|Baghdad|Mosul"),
    ("Yemen", "Yemen|Yemeni|Yakla|Sanaa|Houthi|Houthis"),
    ("Afghanistan", "Afghanistan|Afghan|Kabul|Taliban"),
    ("Somalia", "Somalia|Somali|Mogadishu|al-Shabab"),
    ("Israel", "Israel|Israeli|Israelis|Palestinian|Palestinians|West Bank|Gaza|Netanyahu|Knesset"),
    ("Iran", "Iran|Iranian|Iranians|Tehran|Khamenei|Rouhani"),
    ("Ukraine", (
        "Ukraine|Ukrainian|Kiev|Donbass|Donetsk|Lugansk|Poroshenko|Minsk accords|"
        "Minsk agreements|Normandy format"
    )),
    ("Turkey", "Turkey|Turkish|Ankara|Istanbul|Erdogan"),
    ("Romania", "Romania|Romanian|Romanians|Bucharest|Iohannis"),
    ("Haiti", "Haiti|Haitian|Moise"),
    ("Poland", "Poland|Polish|Warsaw|Kaczynski|Szydlo"),
    ("Libya", "Libya|Libyan|Tripoli"),
    ("Belarus", "Belarus|Belarusian|Lukashenko"),
    ("Azerbaijan", "Azerbaijan|Azerbaijani|Baku"),
    ("Georgia", "Georgian|Tbilisi"),
    ("Cyprus", "Cyprus|Cypriot|Nicosia"),
    ("Estonia", "Estonia|Estonian|Tallinn"),
    ("Netherlands", "Netherlands|Dutch|Wilders"),
    ("Thailand", "Thailand|Thai|Bangkok"),
    ("Vietnam", "Vietnam|Vietnamese"),
    ("Japan", "Japan|Japanese|Tokyo|Shinzo Abe|Kuril|Kurils"),
    ("India", "India|Indian|New Delhi|Modi"),
    ("Australia", "Australia|Australian|Australians|Sydney|Canberra|Melbourne|Great Barrier Reef"),
    ("Mexico", "Mexico|Mexican|Mexicans"),
    ("China", "China|Chinese|Beijing"),
    ("France", "France|French|Paris|Louvre|Sarkozy|Fillon|Le Pen|Macron"),
    ("Egypt", "Egypt|Egyptian|Cairo"),
    ("Belgium", "Belgium|Belgian|Brussels"),
    ("Germany", (
        "Germany|German|Germans|Berlin|Merkel|Bundesliga|Berlinale|Munich|Hamburg|Dortmund|"
        "Bayern|Bundestag"
    )),
    ("Ireland", (
        "Ireland|Irish|Dublin|Dáil|Garda|Gardaí|Taoiseach|Enda Kenny|Cork|Limerick|Galway|HSE|"
        "Fianna Fáil|Sinn Féin"
    )),
    ("United Kingdom", (
        "UK|Britain|British|England|Scotland|Scottish|Wales|Welsh|London|Brexit|Theresa May|"
        "NHS|Westminster|Commons|MPs|Downing Street|Labour|Manchester|Birmingham|Liverpool|"
        "Surrey|Essex|Hertfordshire|Stansted|Heathrow|Leicester"
    )),
    ("Russia", (
        "Russia|Russian|Russians|Moscow|Kremlin|Putin|Lavrov|Medvedev|St. Petersburg|Crimea|"
        "Navalny|Sakhalin|Shoigu|Peskov|Siberia|Siberian"
    )),
    ("United States", (
        "US|U.S.|USA|United States|America|American|Americans|Trump|Washington|White House|"
        "Senate|Congress|DeVos|Pence|Obama|Republican|Republicans|Democrat|Democrats|GOP|"
        "Pentagon|Super Bowl|New York|California|Texas|Louisiana|Spicer|Conway|FBI|Clinton"
    )),
]
COUNTRY_PATTERNS = [
    (name, re.compile(r"(?<![\w.])(?:" + words.replace(".", r"\.") + r")(?![\w])"))
    for name, words in COUNTRIES
]


def first_country(text: str) -> str | None:
    """The highest-priority country named in text, if any."""
    for name, pattern in COUNTRY_PATTERNS:
        if pattern.search(text):
            return name
    return None


def find_country(title: str, subtitle: str, lead: str) -> str | None:
    """Country by priority, looking at the title, then subtitle, then lead.

    lead = first 600 chars of the text.  Going field by field stops e.g. the
    travel-ban stories, whose opening lists seven countries, from being filed
    under Syria.  "United States" is last in priority and, when it is all the
    title names (usually just "Trump"), another country in the subtitle wins.
    """
    in_title, in_subtitle = first_country(title), first_country(subtitle)
    if in_title == "United States" and in_subtitle not in (None, "United States"):
        return in_subtitle
    return in_title or in_subtitle or first_country(lead)


TOPIC_WORDS = {
    "politics": (
        "election|elections|vote|votes|voted|voting|parliament|parliamentary|senate|senator|"
        "senators|congress|congressman|president|presidential|minister|ministers|government|"
        "opposition|lawmakers|MPs|cabinet|referendum|campaign|Brexit|Kremlin|Putin|White House|"
        "Dáil|Taoiseach|legislation|bill|diplomat|diplomats|diplomatic|sanctions|nominee|"
        "confirmation|administration|corruption|Democrats|Republicans|party"
    ),
    "world": (
        "foreign|international|UN|United Nations|NATO|EU|war|refugee|refugees|migrants|"
        "ceasefire|embassy|ambassador|conflict|troops|military|terror|terrorism|terrorist|"
        "terrorists|bombing|blast|attack|attacks|airstrike|airstrikes|rebels|militants|ISIL|"
        "ISIS|asylum|border|summit|peace|humanitarian|travel ban"
    ),
    "business": (
        "economy|economic|market|markets|trade|bank|banks|company|companies|firm|firms|shares|"
        "stocks|investors|investment|profit|profits|losses|revenue|sales|oil|gas|exports|"
        "imports|GDP|inflation|industry|business|businesses|jobs|tax|prices|airline|billion|"
        "bln|mln|housing market|brand"
    ),
    "technology": (
        "technology|tech|internet|online|software|cyber|hackers|hacking|hacked|app|apps|"
        "smartphone|digital|robot|robots|artificial intelligence|computer|Google|Apple|"
        "Facebook|Twitter|Tesla|Elon Musk|self-driving|Hyperloop|aircraft|Superjet"
    ),
    "science": (
        "science|scientist|scientists|scientific|researchers|physics|quantum|space|NASA|"
        "astronomers|black hole|telescope|fossil|experiment|laboratory|entropy|study"
    ),
    "health": (
        "health|hospital|hospitals|patient|patients|doctor|doctors|vaccine|vaccines|disease|"
        "cancer|medical|medicine|flu|virus|NHS|HSE|autism|e-cigarettes|tobacco|smoking|surgery|"
        "contraceptive|sugar|abortion"
    ),
    "sport": (
        "football|soccer|match|league|cup|tournament|Olympic|Olympics|Olympiad|doping|athlete|"
        "athletes|biathlon|tennis|championship|coach|FIFA|IAAF|WADA|Bundesliga|Premier League|"
        "Super Bowl|NFL|NHL|cricket|rugby|skier|skiers|boxer|medals|Patriots|Formula One|"
        "Grand Slam|Universiade|Lindsey Vonn"
    ),
    "culture": (
        "film|films|movie|movies|music|museum|exhibition|Broadway|Berlinale|festival|art|"
        "artist|artists|singer|song|actor|actress|book|novel|Grammy|Oscars|cinema|composer|"
        "concert|painting|celebrity|fashion|television|comedy|chanson|Swimsuit"
    ),
    "environment": (
        "climate|pollution|emissions|environment|environmental|wildlife|coral|reef|species|"
        "forest|waste|renewables|renewable|solar|flood|floods|drought|elephants|crops|armyworm|"
        "PFCs|tornadoes|winter storm|snow|conservation"
    ),
}
TOPIC_PATTERNS = {
    topic: re.compile(r"(?<![\w-])(?:" + words + r")(?![\w-])", re.I if topic != "world" else 0)
    for topic, words in TOPIC_WORDS.items()
}
URL_SECTION_TOPICS = [  # (regex on the URL path, topic)
    (r"^/(politics|Politics)/|uk-politics", "politics"),
    (r"^/(world|International)/|/news/world-", "world"),
    (r"^/economy/|/news/business", "business"),
    (r"/news/technology", "technology"),
    (r"^/science/|science-environment", "science"),
    (r"^/Health/|/news/health", "health"),
    (r"^/sport/|^/Sports/|/sport/", "sport"),
    (r"^/Entertainment/|entertainment-arts", "culture"),
]


def find_topics(url: str, title: str, subtitle: str, lead: str) -> list[str]:
    """Top 1-2 topics by weighted keyword hits (title 3, subtitle 2, lead 1)."""
    scores = collections.Counter()
    for topic, pattern in TOPIC_PATTERNS.items():
        scores[topic] += 3 * len(pattern.findall(title))
        scores[topic] += 2 * len(pattern.findall(subtitle))
        scores[topic] += len(pattern.findall(lead))
    path = urlsplit(url).path
    for section, topic in URL_SECTION_TOPICS:
        if re.search(section, path):
            scores[topic] += 4
    ranked = [(t, s) for t, s in scores.most_common() if s >= 2]
    if not ranked:
        return ["world"]
    topics = [ranked[0][0]]
    if len(ranked) > 1 and ranked[1][1] >= max(3, ranked[0][1] / 3):
        topics.append(ranked[1][0])
    return topics


# --------------------------------------------------------------------------
# Choosing articles: events covered by several outlets, then round-robin
# --------------------------------------------------------------------------

TITLE_STOPWORDS = set(
    "the a an and or but of to in on at for with from by as is are was were "
    "be been has have had it its this that after over into about says say "
    "said will would could can not no new more than who what why how when "
    "where which their his her they he she we you your our just up out off "
    "all amid during being two three four five year years under before "
    "against despite want wants make takes back one first last still may top "
    "report leader calls call set sets near news day week white house john "
    "defend defends check health country countries crisis worth seized task "
    "force forces air sentenced".split()
)
MAX_TITLE_DF = 8  # a word in more titles than this is not distinctive


def title_words(title: str) -> set[str]:
    """Distinctive-word candidates: lowercase, 6-letter stems, no stopwords."""
    words = set()
    for word in re.findall(r"[A-Za-z][A-Za-z0-9]*(?:['’][A-Za-z]+)?", title):
        word = re.sub(r"['’]s?$|['’]s$", "", word.lower())
        if len(word) >= 3 and word not in TITLE_STOPWORDS:
            words.add(word[:6])
    return words


def capitalised_words(title: str) -> set[str]:
    return {w.lower()[:6] for w in re.findall(r"\b[A-Z][a-z]{2,}", title)}


def same_event(a: dict, b: dict, df: collections.Counter, lead_df: collections.Counter) -> bool:
    """Rough test: titles share 2+ distinctive words, or one shared proper
    noun plus 4+ distinctive words shared by title+subtitle+opening."""
    shared = {w for w in a["twords"] & b["twords"] if df[w] <= MAX_TITLE_DF}
    if len(shared) >= 2:
        return True
    proper = shared & a["caps"] & b["caps"]
    lead_shared = {w for w in a["lwords"] & b["lwords"] if lead_df[w] <= 10}
    return bool(proper) and len(lead_shared) >= 4


def find_events(articles: list[dict]) -> list[list[dict]]:
    """Group articles into events; return those covered by 2+ outlets."""
    df = collections.Counter(w for a in articles for w in a["twords"])
    lead_df = collections.Counter(w for a in articles for w in a["lwords"])
    parent = list(range(len(articles)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in itertools.combinations(range(len(articles)), 2):
        if same_event(articles[i], articles[j], df, lead_df):
            parent[root(i)] = root(j)
    groups = collections.defaultdict(list)
    for i, article in enumerate(articles):
        groups[root(i)].append(article)
    return [g for g in groups.values() if len({a["source"] for a in g}) >= 2]


def outlet_queues(candidates: list[dict], taken: set[int]) -> dict[str, collections.deque]:
    """Per outlet, the unchosen articles alternating 8 Feb / 7 Feb (newer first),
    so the top-up is not almost all from the 7th (80% of the CSV)."""
    queues = {}
    for source in sorted({a["source"] for a in candidates}):
        rest = [a for a in candidates if a["source"] == source and a["id"] not in taken]
        newer = [a for a in rest if a["date"] == "2017/2/8"]
        older = [a for a in rest if a["date"] != "2017/2/8"]
        mixed = [a for pair in itertools.zip_longest(newer, older) for a in pair if a]
        queues[source] = collections.deque(mixed)
    return queues


def choose_articles(candidates: list[dict]) -> tuple[list[dict], list[list[dict]]]:
    """Keep multi-outlet events (max 3 per outlet each), fill round-robin."""
    events = find_events(candidates)
    chosen: dict[int, dict] = {}
    for event in events:
        per_outlet = collections.Counter()
        for article in event:
            if per_outlet[article["source"]] < MAX_PER_OUTLET_PER_EVENT:
                per_outlet[article["source"]] += 1
                chosen[article["id"]] = article
    by_outlet = collections.defaultdict(collections.deque)
    for source, queue in outlet_queues(candidates, set(chosen)).items():
        by_outlet[source] = queue
    for source in itertools.cycle(sorted(by_outlet)):
        if len(chosen) >= TARGET_CSV_ARTICLES or not any(by_outlet.values()):
            break
        if by_outlet[source]:
            article = by_outlet[source].popleft()
            chosen[article["id"]] = article
    kept = sorted(chosen.values(), key=lambda a: a["id"])
    kept_ids = {a["id"] for a in kept}
    events = [[a for a in e if a["id"] in kept_ids] for e in events]
    return kept, [e for e in events if len({a["source"] for a in e}) >= 2]


# --------------------------------------------------------------------------
# Building records
# --------------------------------------------------------------------------

MIN_TEXT_CHARS = 150
EXCLUDED_URL_PARTS = (
    "my-first-time-masturbating",  # personal essay, not news
    "interactive-news-hour",  # programme promo, not an article
)


def usable(row: dict, url: str) -> bool:
    """Skip rows without a title or text, damaged URLs and non-news pages."""
    return (
        bool(row["title"].strip())
        and len(row["text"].strip()) >= MIN_TEXT_CHARS
        and "\ufffd" not in url
        and not any(part in url for part in EXCLUDED_URL_PARTS)
    )


CNN_LEAD = re.compile(r"^(?:[A-Z][\w .,'-]{0,40} )?\(CNN\)")


def with_cnn_lead(subtitle: str, text: str) -> str:
    """CNN rows keep the dateline paragraph in `subtitle`; put it back on top."""
    if CNN_LEAD.match(subtitle):
        text = f"{subtitle} {text}"
    text = re.sub(r"^\(CNN\)\s*", "", text)
    return re.sub(r"\(CNN\)(?=\S)", "(CNN) ", text)


def read_candidates(csv_path: Path) -> list[dict]:
    """Parse and clean every usable CSV row (non-empty text, sane URL)."""
    candidates = []
    with csv_path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            url = row["article_source_link"].strip()
            if not usable(row, url):
                continue
            source = outlet_name(url)
            title = collapse_ws(clean_text(row["title"], source))
            subtitle = clean_text(row["subtitle"], source)
            text = with_cnn_lead(subtitle, clean_text(row["text"], source))
            candidates.append({
                "id": int(row["article_id"]), "url": url, "source": source,
                "date": row["publish_date"].strip(), "title": title,
                "subtitle": subtitle, "text": text,
                "twords": title_words(title), "caps": capitalised_words(title),
                "lwords": title_words(f"{title} {subtitle} {text[:400]}"),
            })
    return candidates


def iso_date(csv_date: str) -> str:
    year, month, day = (int(part) for part in csv_date.split("/"))
    return f"{year:04d}-{month:02d}-{day:02d}"


def hours_before(csv_date: str, rng: random.Random) -> float:
    """2017-02-08 articles: 1-20 h before send; 2017-02-07 ones: 14-34 h."""
    low, high = (1.0, 20.0) if iso_date(csv_date) == "2017-02-08" else (14.0, 34.0)
    return round(rng.uniform(low, high), 1)


def to_record(article: dict, rng: random.Random) -> dict:
    title, subtitle, text = article["title"], article["subtitle"], article["text"]
    lead = text[:600]
    return {
        "url": article["url"],
        "guid": article["url"],
        "title": title,
        "summary": make_summary(subtitle, text),
        "body": make_body(text),
        "source": article["source"],
        "author": None,
        "location": find_location(text),
        "country": find_country(title, subtitle, lead),
        "topics": find_topics(article["url"], title, subtitle, lead),
        "hours_before": hours_before(article["date"], rng),
        "published_original": iso_date(article["date"]),
    }


SEED_URL = "https://www.devdiscourse.com/article/headlines/kim-jong-un-backs-russias-stand-on-ukraine"


def seed_record(page_path: Path) -> dict:
    """The scraped Devdiscourse page: standfirst + the four body paragraphs."""
    lines = [line.strip() for line in page_path.read_text(encoding="utf-8").splitlines()]
    paragraphs = [line for line in lines if line]
    title = "Kim Jong Un Backs Russia's Stand on Ukraine"
    standfirst = next(p for p in paragraphs if p.startswith("North Korean leader Kim Jong Un"))
    country_at = next(i for i, p in enumerate(paragraphs) if p.lstrip("• ").startswith("Country:"))
    trending_at = paragraphs.index("TRENDING")
    body = paragraphs[country_at + 2:trending_at]  # skip "Country:" and its value
    assert body[0].startswith("In a significant diplomatic exchange"), body[0]
    assert body[-1] == "(With inputs from agencies.)", body[-1]
    return {
        "url": SEED_URL,
        "guid": SEED_URL,
        "title": title,
        "summary": standfirst,
        "body": "\n\n".join(body),
        "source": "Devdiscourse News Desk",
        "author": None,
        "location": "Seoul",
        "country": "South Korea",
        "topics": ["politics", "world"],
        "hours_before": 3.0,
        "published_original": "2025-07-12T21:27:00Z",
    }


# --------------------------------------------------------------------------
# Subscribers (hand-written; countries/topics all occur in the articles)
# --------------------------------------------------------------------------

# One row per subscriber.  Empty topics/countries = no filter.  The last two
# rows deliberately match nothing in the demo data, so a run shows a skip.
SUBSCRIBERS_CSV = """\
email,name,topics,countries,frequency,weekday,send_at,timezone,max_items,format
amara.okafor@example.com,Amara Okafor,politics;world,,daily,,07:30,Europe/London,8,html
zoe.brandt@example.org,Zoë Brandt,culture,,daily,,08:00,Europe/Berlin,5,html
jose.nunez@example.net,José Núñez,,,daily,,06:00,America/Los_Angeles,10,html
priya.raman@example.com,Priya Raman,business;technology,,daily,,07:00,Asia/Kolkata,6,text
minjun.kim@example.com,Kim Min-jun,politics,South Korea;Japan;Russia,daily,,06:30,Asia/Seoul,5,html
liam.murphy@example.net,Liam Murphy,,Ireland,daily,,07:00,Europe/Dublin,6,html
sarah.cohen@example.com,Sarah Cohen,politics,United States,daily,,18:00,America/New_York,12,html
noah.williams@example.org,Noah Williams,sport,,daily,,06:00,Australia/Sydney,4,html
fatima.haddad@example.com,Fatima Haddad,world,Syria;Israel;Iraq;Yemen,daily,,08:00,Asia/Dubai,7,html
ingrid.solberg@example.net,Ingrid Solberg,environment;science,,daily,,09:00,Europe/Oslo,5,text
ops-digest@example.com,,,,daily,,05:45,UTC,12,text
chen.wei@example.com,Chen Wei,business,,daily,,07:30,Asia/Shanghai,6,html
oleksandr.kovalenko@example.org,Oleksandr Kovalenko,politics;world,Russia;Ukraine,daily,,07:00,Europe/Warsaw,8,html
hannah.schmidt@example.com,Hannah Schmidt,culture;sport,,daily,,18:30,Europe/Berlin,6,html
aisha.bello@example.com,Aisha Bello,health,,daily,,06:15,Africa/Lagos,5,html
tom.becker@example.net,Tom Becker,sport;culture,,daily,,19:00,America/Chicago,8,text
lucia.ferreira@example.com,Lúcia Ferreira,,,daily,,08:30,America/Sao_Paulo,9,html
emily.clarke@example.org,Emily Clarke,politics,,daily,,07:00,Europe/London,6,html
rahul.mehta@example.com,Rahul Mehta,technology;science,,weekly,mon,08:00,Asia/Kolkata,10,html
sophie.martin@example.com,Sophie Martin,,,weekly,fri,17:00,Europe/Paris,12,html
kenji.tanaka@example.org,Kenji Tanaka,business,,weekly,sat,09:30,Asia/Tokyo,7,text
grace.oconnor@example.com,Grace O'Connor,health;politics,,weekly,sun,10:00,Europe/Dublin,8,html
mateo.garcia@example.net,Mateo García,world,,weekly,wed,07:30,America/Mexico_City,6,html
olivia.smith@example.com,Olivia Smith,,,weekly,thu,18:00,America/New_York,12,html
bjorn.lund@example.org,Björn Lund,environment,,weekly,tue,06:30,Europe/Stockholm,5,html
yusuf.demir@example.com,Yusuf Demir,,,daily,,07:15,Europe/Istanbul,8,html
ana.popescu@example.com,Ana Popescu,,Romania;Ukraine;Turkey,daily,,08:00,Europe/Bucharest,5,html
david.levi@example.net,David Levi,world;politics,,daily,,21:00,Asia/Jerusalem,10,html
ruby.nguyen@example.com,Ruby Nguyen,science,Australia,daily,,06:00,Australia/Sydney,5,html
erik.jansen@example.org,Erik Jansen,sport,Iran,weekly,mon,07:00,Europe/Amsterdam,3,text
"""


# --------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------

def write_articles(records: list[dict], path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def write_subscribers(path: Path) -> int:
    """Write SUBSCRIBERS_CSV through the csv module; return the row count."""
    rows = list(csv.reader(SUBSCRIBERS_CSV.splitlines()))
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)
    return len(rows) - 1


def print_summary(records: list[dict], events: list[list[dict]]) -> None:
    """Articles per outlet / country / topic, and multi-outlet events."""
    for label, values in (
        ("outlet", [r["source"] for r in records]),
        ("country", [r["country"] or "(none)" for r in records]),
        ("topic", [t for r in records for t in r["topics"]]),
    ):
        print(f"\nArticles per {label}:")
        for value, count in collections.Counter(values).most_common():
            print(f"  {count:4d}  {value}")
    print(f"\nEvents covered by 2+ outlets (title overlap): {len(events)}")
    for event in events:
        outlets = sorted({a["source"] for a in event})
        print(f"  {len(outlets)} outlets, {len(event)} articles: {event[0]['title'][:70]}")


def main(argv: list[str]) -> int:
    csv_path = Path(argv[1]) if len(argv) > 1 else DEFAULT_CSV
    seed_path = Path(argv[2]) if len(argv) > 2 else csv_path.with_name("seed-article.txt")
    rng = random.Random(2017)
    chosen, events = choose_articles(read_candidates(csv_path))
    records = [seed_record(seed_path)] + [to_record(a, rng) for a in chosen]
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    write_articles(records, OUT_DIR / "articles.jsonl")
    n_subscribers = write_subscribers(OUT_DIR / "subscribers.csv")
    print(f"wrote {len(records)} articles and {n_subscribers} subscribers to {OUT_DIR}")
    print_summary(records, events)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
