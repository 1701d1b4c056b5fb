"""Pair features: why two articles may report one event, beyond the words they share.

Every feature of a pair is a number in about [0, 1], computed in bulk for the candidate pairs:
  words    TF-IDF cosine of title (twice) + summary + lead: the clustering's original similarity
  title    TF-IDF cosine of the titles alone: two headlines about one happening share its key words
  names    TF-IDF cosine of the capitalised names (people, places, organisations; not the first word of a
           sentence, datelines, weekdays or months): one event has its own names, a topic does not
  numbers  TF-IDF cosine of the numbers with their unit ("3 turkish", "52-47", "$503b"): counts, tallies, scores
  chars    cosine of the titles' character 4-grams: catches "resigns"/"resignation", "Russia"/"Russian"
  days     hours between the two publications / 24: one event is reported close together
  outlet   1 when both come from the same outlet (which seldom reports one happening twice)
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from digest.models import ArticleRecord
from digest.stories.rows import Rows, document_frequency, dots, from_counts
from digest.stories.text import STOPWORDS, _normal, article_text, words

FEATURES = ("words", "title", "names", "numbers", "chars", "days", "outlet")

# The patterns start with a character class, not a lookbehind, so that `re` can skip ahead to the candidates (2.4 and
# 1.5 times faster than the same patterns written lookbehind first; the text is ASCII by then, so no € or £).
NAME = re.compile(r"[A-Z](?<![\w'][A-Z])(?:[A-Za-z'\-]*[a-z][A-Za-z'\-]*|[A-Z]+(?![\w']))")
NUMBER = re.compile(r"(?:\$(?<![\w.]\$)\d|\d(?<![\w.]\d))[\d,.\-]*(?:\s*(?:%|[A-Za-z]+))?")
SENTENCE_END = frozenset('.!?:"')
NOT_NAMES = STOPWORDS | frozenset("""
january february march april may june july august september october november december monday tuesday wednesday
thursday friday saturday sunday jan feb mar apr jun jul aug sep sept oct nov dec tass reuters ap afp cnn bbc abc
dw analysis opinion update updated live breaking photo video watch read president minister government
""".split())


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def names(article: ArticleRecord) -> list[str]:
    """Capitalised words of the summary and lead (and of the title when the body capitalises them too),
    lower-cased; a sentence's first word counts only when it is capitalised elsewhere in the body."""
    title, body = article_text(article)
    text = _ascii(body)
    hits = [(_sentence_start(text, m.start()), _name(m.group(0))) for m in NAME.finditer(text)]
    inner = {w for first, w in hits if not first}
    found = [w for first, w in hits if not first or w in inner]
    found += [w for w in map(_name, NAME.findall(_ascii(title))) if w in inner]
    return [w for w in found if w and w not in NOT_NAMES]


def _sentence_start(text: str, at: int) -> bool:
    """Whether the word at `at` begins the text, a line, or a sentence (after . ! ? : or a quote, then space)."""
    if at == 0 or text[at - 1] == "\n":
        return True
    end = at  # walked back over the spaces before the word, without copying the text before it
    while end > 0 and text[end - 1].isspace():
        end -= 1
    return 0 < end < at and text[end - 1] in SENTENCE_END


@lru_cache(maxsize=1 << 16)
def _name(word: str) -> str:
    return _normal(re.sub(r"'s?$", "", word.lower()).strip("'-").encode())


def numbers(article: ArticleRecord) -> list[str]:
    """Numbers with the word after them ("3 turkish", "52-47", "$503b"); bare years count too."""
    title, body = article_text(article)
    out = []
    for m in NUMBER.finditer(_ascii(f"{title} {body}")):
        token = re.sub(r"\s+", " ", m.group(0).lower().rstrip(".,-"))
        value, _, unit = token.partition(" ")
        if unit and unit in STOPWORDS:
            token = value
        out.append(token)
    return out


def title_chars(title_words: Sequence[str], n: int = 4) -> list[str]:
    """The character n-grams of the title's words (each word padded with spaces)."""
    return [padded[i:i + n] for padded in (f" {word} " for word in title_words)
            for i in range(max(1, len(padded) - n + 1))]


def unit_rows(streams: Sequence[Sequence[str]]) -> Rows:
    """One L2-normalised row per token stream, (1 + log tf) · (1 + log((1 + N) / (1 + df)))."""
    vocabulary = {t: i for i, t in enumerate(dict.fromkeys(itertools.chain.from_iterable(streams)))}  # first seen
    cols = np.fromiter(map(vocabulary.__getitem__, itertools.chain.from_iterable(streams)), np.int64)
    rows = np.repeat(np.arange(len(streams)), [len(stream) for stream in streams])
    width = max(1, len(vocabulary))
    keys, counts = np.unique(rows * width + cols, return_counts=True)
    matrix = from_counts(keys, counts, len(streams), width)
    idf = 1.0 + np.log((1.0 + len(streams)) / (1.0 + document_frequency(matrix)))
    matrix.data = (1.0 + np.log(matrix.data)) * idf[matrix.indices]
    return matrix.unit()


class PairFeatures:
    """The per-article rows each feature needs, built once for a set of articles."""

    def __init__(self, articles: Sequence[ArticleRecord], word_rows: Rows, hours: np.ndarray):
        self.words = word_rows
        titles = [words(a.title) for a in articles]
        self.title = unit_rows(titles)
        self.names = unit_rows([names(a) for a in articles])
        self.numbers = unit_rows([numbers(a) for a in articles])
        self.chars = unit_rows([title_chars(t) for t in titles])
        self.hours = hours
        outlets: dict[str, int] = {}
        self.outlet = np.array([outlets.setdefault((a.source or a.url).lower(), len(outlets)) for a in articles])

    def of(self, pairs: np.ndarray) -> np.ndarray:
        """One row of FEATURES per pair (i, j)."""
        if len(pairs) == 0:
            return np.zeros((0, len(FEATURES)))
        i, j = pairs[:, 0], pairs[:, 1]
        return np.column_stack([dots(self.words, pairs), dots(self.title, pairs), dots(self.names, pairs),
                                dots(self.numbers, pairs), dots(self.chars, pairs),
                                np.abs(self.hours[i] - self.hours[j]) / 24.0,
                                (self.outlet[i] == self.outlet[j]).astype(np.float64)])
