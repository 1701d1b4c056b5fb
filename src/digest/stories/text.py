"""Text features: the words an article is compared by, and its TF-IDF row (in bulk, for the clustering).

text    title (counted twice) + summary + lead paragraph; the summary is skipped when the lead repeats it,
        and an article's own outlet name ("tass", "cnn") is dropped; stopwords out, plurals folded
vector  (1 + log tf) · (1 + log((1 + N) / (1 + df))) over the candidates, L2-normalised
"""

from __future__ import annotations

import itertools
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np

from digest.models import ArticleRecord
from digest.stories.rows import Rows, document_frequency, from_counts, group_sums
from digest.stories.story import Vector

ALNUM = bytes(i if 48 <= i <= 57 or 97 <= i <= 122 else i + 32 if 65 <= i <= 90 else 32 for i in range(256))
STOPWORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before being below between
both but by can could did do does doing down during each few for from further had has have having he her here
hers herself him himself his how i if in into is it its itself just may me might more most must my myself no nor
not now of off on once only or other our ours ourselves out over own same says said she should so some such than
that the their theirs them themselves then there these they this those through to too under until up upon us very
was we were what when where which while who whom why will with would you your yours yourself yourselves
mr mrs ms according told tell tells news new one two year years time week day today yesterday
""".split())


def words(text: str) -> list[str]:
    """Lower-cased ASCII words without stopwords, plurals folded ("attacks" → "attack", "cities" → "city")."""
    return [word for token in _tokens(text) if (word := _normal(token))]


def _tokens(text: str) -> list[bytes]:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").translate(ALNUM).split()


def _normal(token: bytes) -> str:
    """The word a token counts as ("" for stopwords and single letters; numbers always count)."""
    word = token.decode()
    if (len(word) < 2 and not word.isdigit()) or word in STOPWORDS:
        return ""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def article_text(article: ArticleRecord) -> tuple[str, str]:
    """(title, body): the body is the summary and the lead paragraph, or the lead alone when it repeats the summary."""
    summary = article.summary.rstrip("…. ")
    if summary and article.lead.startswith(summary[:80]):
        return article.title, article.lead
    return article.title, f"{article.summary} {article.lead}"


def article_terms(article: ArticleRecord) -> Counter[str]:
    """The words an article is compared by: title twice, body once, without its outlet's own name."""
    title, body = article_text(article)
    terms = Counter(words(title) * 2 + words(body))
    for own in _outlet_words(article.source):
        terms.pop(own, None)
    return terms


def _outlet_words(source: str) -> list[str]:
    """"tass.com" → ["tass"], "bbc.co.uk" → ["bbc"], "The Guardian" → ["guardian"]."""
    if "." in source and " " not in source.strip():
        source = source.strip().lower().removeprefix("www.").split(".")[0]
    return [w for w in words(source) if not w.isdigit()]


def tf_idf(articles: Sequence[ArticleRecord]) -> tuple[Rows, list[str]]:
    """One unit row per article, (1 + log tf) · (1 + log((1 + N) / (1 + df))), and the word of each column.

    Equal to vectorising `article_terms` one by one; done in bulk because it dominates the clustering time.
    """
    counts, terms = _term_counts(articles)
    idf = 1.0 + np.log((1.0 + len(articles)) / (1.0 + document_frequency(counts)))
    counts.data = (1.0 + np.log(counts.data)) * idf[counts.indices]
    return counts.unit(), terms


def _term_counts(articles: Sequence[ArticleRecord]) -> tuple[Rows, list[str]]:
    streams = [_tokens(title) * 2 + _tokens(body) for title, body in map(article_text, articles)]
    column: dict[bytes, int] = {}  # token → column of its word, or -1 for a stopword
    words_: dict[str, int] = {}
    for token in dict.fromkeys(itertools.chain.from_iterable(streams)):  # first-seen order: the same on every run
        word = _normal(token)
        column[token] = words_.setdefault(word, len(words_)) if word else -1
    cols = np.fromiter(map(column.__getitem__, itertools.chain.from_iterable(streams)), np.int64)
    rows = np.repeat(np.arange(len(articles)), [len(stream) for stream in streams])
    keep = (cols >= 0) & (cols[:, None] != _outlet_columns(articles, words_)[rows]).all(axis=1)
    width = max(1, len(words_))
    keys, counts = np.unique(rows[keep] * width + cols[keep], return_counts=True)
    return from_counts(keys, counts, len(articles), width), list(words_)


def _outlet_columns(articles: Sequence[ArticleRecord], columns: Mapping[str, int]) -> np.ndarray:
    """Per article, the columns of its own outlet's name (padded with -2), which says nothing about the event."""
    own = {a.source: [columns[w] for w in _outlet_words(a.source) if w in columns] for a in articles}
    width = max(1, max(map(len, own.values()), default=1))
    return np.array([own[a.source] + [-2] * (width - len(own[a.source])) for a in articles], dtype=np.int64)


def centroid_rows(matrix: Rows, groups: Sequence[Sequence[int]]) -> Rows:
    """Each group's normalised mean row."""
    return group_sums(matrix, groups).unit()


def centroids(rows: Rows, terms: Sequence[str]) -> list[Vector]:
    """Each centroid row as {word: weight}."""
    words_, data, indptr = np.array(terms, dtype=object), rows.data.tolist(), rows.indptr.tolist()
    return [dict(zip(words_[rows.indices[indptr[g]:indptr[g + 1]]].tolist(), data[indptr[g]:indptr[g + 1]]))
            for g in range(rows.shape[0])]
