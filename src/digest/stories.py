"""Stories: groups of articles about the same event, so a digest shows each event once. Pure and deterministic.

Clustering (`group_stories`):
  text     title (counted twice) + summary + lead paragraph; the summary is skipped when the lead repeats it,
           and an article's own outlet name ("tass", "cnn") is dropped; stopwords out, plurals folded
  vector   TF-IDF: (1 + log tf) · (1 + log((1 + N) / (1 + df))) over the candidates, L2-normalised
  pairs    cosine; two articles published more than `window_hours` apart are never the same story (0)
  linkage  average linkage: two groups merge while the mean similarity of all their cross pairs is ≥ threshold

Exact and fast: a merge needs at least one cross pair ≥ threshold, so every story lies inside a connected
component of the graph of such pairs, and each component is clustered on its full similarity matrix. The pairs
come from a split by document frequency (`similar_pairs`) instead of comparing all N² of them.

Keys: a story takes the key most of its articles had before (`previous`), so it keeps its key as it grows and
after its first articles leave the window; a new story is `s<id of its earliest article>`.

Representative: the most engaged article once ranking knows engagement (`Story.led_by`), else the most complete
(longest summary + lead paragraph), then the earliest. "Also covered by": up to three other outlets.
"""

from __future__ import annotations

import heapq
import itertools
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from digest.models import ArticleRecord

Vector = Mapping[str, float]
VERIFY_COST = 30.0  # comparing one candidate pair in full, in steps of the sparse product (only changes speed)
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


@dataclass(frozen=True)
class StoryParams:
    threshold: float = 0.3  # average-linkage cosine; calibrated on tests/data/story_pairs.csv
    window_hours: float = 48.0


@dataclass(frozen=True, slots=True)
class Story:
    key: str
    articles: tuple[ArticleRecord, ...]  # representative first, then by publication time
    centroid: Vector = field(default_factory=dict, compare=False, repr=False)  # unit TF-IDF centroid

    @property
    def lead(self) -> ArticleRecord:
        return self.articles[0]

    @property
    def sources(self) -> frozenset[str]:
        return frozenset(a.source for a in self.articles if a.source)

    @property
    def article_ids(self) -> frozenset[int]:
        return frozenset(a.id for a in self.articles)

    @property
    def also(self) -> tuple[ArticleRecord, ...]:
        """Up to three other articles, one per outlet, none from the representative's outlet; http(s) links only."""
        seen, picked = {_outlet(self.lead)}, []
        for article in self.articles[1:]:
            if _outlet(article) not in seen and len(picked) < 3 and linkable(article):
                seen.add(_outlet(article))
                picked.append(article)
        return tuple(picked)

    def led_by(self, engagement: Mapping[int, float]) -> Story:
        """The same story with its most engaged article first (unchanged when none has engagement)."""
        if not any(engagement.get(a.id, 0.0) > 0 for a in self.articles):
            return self
        return replace(self, articles=representative_first(self.articles, engagement))


def representative_first(articles: Iterable[ArticleRecord],
                         engagement: Mapping[int, float] | None = None) -> tuple[ArticleRecord, ...]:
    """Most engaged, else most complete (longest summary + lead), else earliest; the rest by publication time."""
    engagement = engagement or {}
    ordered = sorted(articles, key=_published)
    lead = min(ordered, key=lambda a: (-engagement.get(a.id, 0.0), -(len(a.summary) + len(a.lead)), _published(a)))
    return (lead, *(a for a in ordered if a is not lead))


def story_similarity(a: Story, b: Story) -> float:
    """Cosine of the two stories' TF-IDF centroids (0 when either has none)."""
    small, large = (a.centroid, b.centroid) if len(a.centroid) <= len(b.centroid) else (b.centroid, a.centroid)
    return sum(w * large[t] for t, w in small.items() if t in large)


def group_stories(articles: Sequence[ArticleRecord], previous: Mapping[int, str] | None = None, *,
                  params: StoryParams = StoryParams()) -> list[Story]:
    """Same-event stories among `articles`, keyed stably; `previous` maps article id → its earlier story key."""
    ordered = sorted({a.id: a for a in articles}.values(), key=_published)
    if not ordered:
        return []
    matrix, terms = tf_idf(ordered)
    hours = np.array([a.published_at.timestamp() / 3600.0 for a in ordered])
    groups = cluster(matrix, hours, params)
    keys = assign_keys([[ordered[i] for i in g] for g in groups], previous or {})
    centroids = _centroids(matrix, groups, terms)
    return [Story(key, representative_first(ordered[i] for i in g) if len(g) > 1 else (ordered[g[0]],), c)
            for key, g, c in zip(keys, groups, centroids)]


# ── text and vectors ────────────────────────────────────────────────────────────────────────────────

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


def tf_idf(articles: Sequence[ArticleRecord]) -> tuple[sparse.csr_matrix, list[str]]:
    """One unit row per article, (1 + log tf) · (1 + log((1 + N) / (1 + df))), and the word of each column.

    Equal to vectorising `article_terms` one by one; done in bulk because it dominates the clustering time.
    """
    counts, terms = _term_counts(articles)
    idf = 1.0 + np.log((1.0 + len(articles)) / (1.0 + counts.getnnz(axis=0)))
    counts.data = (1.0 + np.log(counts.data)) * idf[counts.indices]
    norms = np.sqrt(np.asarray(counts.multiply(counts).sum(axis=1)).ravel())
    return sparse.csr_matrix(sparse.diags(1.0 / np.where(norms > 0, norms, 1.0)) @ counts), terms


def _term_counts(articles: Sequence[ArticleRecord]) -> tuple[sparse.csr_matrix, list[str]]:
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
    matrix = sparse.csr_matrix((counts.astype(np.float64), (keys // width, keys % width)), shape=(len(articles), width))
    return matrix, list(words_)


def _outlet_columns(articles: Sequence[ArticleRecord], columns: Mapping[str, int]) -> np.ndarray:
    """Per article, the columns of its own outlet's name (padded with -2), which says nothing about the event."""
    own = {a.source: [columns[w] for w in _outlet_words(a.source) if w in columns] for a in articles}
    width = max(1, max(map(len, own.values()), default=1))
    return np.array([own[a.source] + [-2] * (width - len(own[a.source])) for a in articles], dtype=np.int64)


def _centroids(matrix: sparse.csr_matrix, groups: Sequence[Sequence[int]], terms: Sequence[str]) -> list[Vector]:
    """Each group's normalised mean row, as {word: weight}."""
    membership = sparse.csr_matrix((np.ones(sum(map(len, groups))), np.concatenate(groups),
                                    np.concatenate([[0], np.cumsum([len(g) for g in groups])])),
                                   shape=(len(groups), matrix.shape[0]))
    sums = sparse.csr_matrix(membership @ matrix)
    norms = np.sqrt(np.asarray(sums.multiply(sums).sum(axis=1)).ravel())
    sums = sparse.csr_matrix(sparse.diags(1.0 / np.where(norms > 0, norms, 1.0)) @ sums)
    words_, data, indptr = np.array(terms, dtype=object), sums.data.tolist(), sums.indptr.tolist()
    return [dict(zip(words_[sums.indices[indptr[g]:indptr[g + 1]]].tolist(), data[indptr[g]:indptr[g + 1]]))
            for g in range(len(groups))]


# ── clustering ──────────────────────────────────────────────────────────────────────────────────────

def cluster(matrix: sparse.csr_matrix, hours: np.ndarray, params: StoryParams) -> list[list[int]]:
    """Average-linkage groups of row indexes (each sorted), ordered by their first index."""
    pairs = similar_pairs(matrix, hours, params)
    graph = sparse.coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(matrix.shape[0],) * 2)
    components = _members(connected_components(graph, directed=False)[1])
    inside = np.array([p for c in components if len(c) > 2 for p in itertools.combinations(c, 2)],
                      dtype=np.int64).reshape(-1, 2)
    near = np.abs(hours[inside[:, 0]] - hours[inside[:, 1]]) <= params.window_hours
    similarity = dict(zip(map(tuple, inside.tolist()), np.where(near, _dots(matrix, inside), 0.0).tolist()))
    groups: list[list[int]] = []
    for component in components:
        groups.extend([component] if len(component) <= 2 else _average_linkage(component, similarity, params))
    return sorted((sorted(g) for g in groups), key=lambda g: g[0])


def _members(labels: np.ndarray) -> list[list[int]]:
    members: dict[int, list[int]] = defaultdict(list)
    for index, label in enumerate(labels.tolist()):
        members[label].append(index)
    return list(members.values())


def similar_pairs(matrix: sparse.csr_matrix, hours: np.ndarray, params: StoryParams) -> np.ndarray:
    """Every pair (i < j) within the window whose cosine is ≥ the threshold. Exact, without comparing all pairs.

    Terms are split by document frequency into rare (df ≤ D) and common. The rare part of every dot product
    comes from one sparse product; the common part is at most ‖x_common‖·‖y_common‖, so only pairs whose rare
    part plus that bound reaches the threshold are compared in full. D changes the work, never the result.
    """
    df = np.bincount(matrix.indices, minlength=matrix.shape[1])
    cutoff, common = _split(matrix, df, params.threshold)
    rare = matrix.copy()
    rare.data[df[rare.indices] > cutoff] = 0.0
    rare.eliminate_zeros()
    n = matrix.shape[0]
    keys = np.union1d(_pair_keys(_rare_candidates(rare, common, hours, params), n),
                      _pair_keys(_common_candidates(common, params), n))
    return _verified(matrix, np.stack([keys // n, keys % n], axis=1), hours, params)


def _pair_keys(pairs: np.ndarray, n: int) -> np.ndarray:
    return pairs[:, 0] * n + pairs[:, 1]


def _split(matrix: sparse.csr_matrix, df: np.ndarray, threshold: float) -> tuple[int, np.ndarray]:
    """The df cutoff D (a power of two) with the least estimated work, and each row's norm above it."""
    buckets = np.ceil(np.log2(np.maximum(df, 1))).astype(np.int64)  # cutoff 2**k keeps buckets ≤ k rare
    width = int(buckets.max(initial=0)) + 1
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    mass = np.bincount(rows * width + buckets[matrix.indices], weights=matrix.data ** 2,
                       minlength=matrix.shape[0] * width).reshape(-1, width)
    above = np.cumsum(mass[:, ::-1], axis=1)[:, ::-1]  # above[:, k]: squared weight in buckets ≥ k
    pair_work = np.bincount(buckets, weights=df * (df - 1) / 2.0, minlength=width)
    best = None
    for k in range(width):
        norms = np.sqrt(above[:, k + 1]) if k + 1 < width else np.zeros(matrix.shape[0])
        work = pair_work[: k + 1].sum() + VERIFY_COST * _count_common_pairs(norms, threshold)
        if best is None or work < best[0]:
            best = (work, 2 ** k, norms)
    return best[1], best[2]


def _count_common_pairs(norms: np.ndarray, threshold: float) -> int:
    """How many pairs i < j could reach the threshold on their common terms alone."""
    ordered = np.sort(norms)
    with np.errstate(divide="ignore"):
        partners = len(ordered) - np.searchsorted(ordered, threshold / ordered, side="left")
    selves = int(np.count_nonzero(ordered * ordered >= threshold))
    return int((partners.sum() - selves) // 2)


def _rare_candidates(rare: sparse.csr_matrix, common: np.ndarray, hours: np.ndarray, params: StoryParams,
                     block: int = 1000) -> np.ndarray:
    """Pairs whose rare-term dot product plus the common-term bound reaches the threshold, in the window."""
    found = [np.empty((0, 2), dtype=np.int64)]
    for start in range(0, rare.shape[0], block):
        product = (rare[start:start + block] @ rare[start:].T.tocsr()).tocoo()  # columns j ≥ start only
        i, j = product.row + start, product.col + start
        keep = (i < j) & (product.data + common[i] * common[j] >= params.threshold - 1e-9)
        i, j = i[keep].astype(np.int64), j[keep].astype(np.int64)
        near = np.abs(hours[i] - hours[j]) <= params.window_hours
        found.append(np.stack([i[near], j[near]], axis=1))
    return np.concatenate(found)


def _common_candidates(common: np.ndarray, params: StoryParams) -> np.ndarray:
    """Pairs that could reach the threshold on common terms alone (few, by the choice of D)."""
    order = np.argsort(-common, kind="stable")
    norms = common[order]
    need = (params.threshold - 1e-9) / np.maximum(norms, 1e-12)
    partners = np.maximum(np.searchsorted(-norms, -need, side="right") - np.arange(len(norms)) - 1, 0)
    first = np.repeat(np.arange(len(norms)), partners)
    offset = np.arange(partners.sum()) - np.repeat(np.cumsum(partners) - partners, partners)
    pairs = np.sort(np.stack([order[first], order[first + 1 + offset]], axis=1), axis=1)
    return pairs.astype(np.int64)


def _verified(matrix: sparse.csr_matrix, pairs: np.ndarray, hours: np.ndarray, params: StoryParams) -> np.ndarray:
    """The candidate pairs inside the window whose full cosine reaches the threshold."""
    pairs = pairs[np.abs(hours[pairs[:, 0]] - hours[pairs[:, 1]]) <= params.window_hours]
    return pairs[_dots(matrix, pairs) >= params.threshold]


def _dots(matrix: sparse.csr_matrix, pairs: np.ndarray, chunk: int = 50_000) -> np.ndarray:
    """The cosine of each pair of rows."""
    parts = [np.asarray(matrix[p[:, 0]].multiply(matrix[p[:, 1]]).sum(axis=1)).ravel()
             for p in (pairs[start:start + chunk] for start in range(0, len(pairs), chunk))]
    return np.concatenate(parts) if parts else np.zeros(0)


def _average_linkage(component: list[int], similarity: Mapping[tuple[int, int], float],
                     params: StoryParams) -> list[list[int]]:
    """Merge the closest pair of groups (mean cross similarity) until no pair reaches the threshold."""
    members = {x: [x] for x in component}  # group id → rows; a merged group gets a new id
    links: dict[int, dict[int, float]] = defaultdict(dict)  # group → neighbour → sum of cross similarities
    heap: list[tuple[float, int, int]] = []
    for a, b in itertools.combinations(component, 2):
        if similarity[a, b] > 0:
            links[a][b] = links[b][a] = similarity[a, b]
            heap.append((-similarity[a, b], a, b))
    heapq.heapify(heap)
    next_id = max(component) + 1
    while heap and -heap[0][0] >= params.threshold:
        _, a, b = heapq.heappop(heap)
        if a not in members or b not in members:
            continue  # one side has merged since: groups are never changed, only replaced
        new, next_id = next_id, next_id + 1
        members[new] = members.pop(a) + members.pop(b)
        for other in (set(links[a]) | set(links[b])) - {a, b}:
            total = links[other].pop(a, 0.0) + links[other].pop(b, 0.0)
            links[new][other] = links[other][new] = total
            heapq.heappush(heap, (-total / (len(members[new]) * len(members[other])), other, new))
        del links[a], links[b]
    return list(members.values())


# ── keys ────────────────────────────────────────────────────────────────────────────────────────────

def assign_keys(groups: Sequence[Sequence[ArticleRecord]], previous: Mapping[int, str]) -> list[str]:
    """One key per group: the previous key most of its articles carry (each key to one group), else derived."""
    votes = sorted((-n, g, key) for g, members in enumerate(groups)
                   for key, n in Counter(previous[a.id] for a in members if a.id in previous).items())
    keys: dict[int, str] = {}
    taken: set[str] = set()
    for _, g, key in votes:
        if g not in keys and key not in taken:
            keys[g] = key
            taken.add(key)
    used = taken | set(previous.values())
    for g, members in enumerate(groups):
        if g not in keys:
            keys[g] = _fresh_key(min(members, key=_published).id, used)
            used.add(keys[g])
    return [keys[g] for g in range(len(groups))]


def _fresh_key(article_id: int, used: set[str]) -> str:
    key, n = f"s{article_id}", 1
    while key in used:
        n += 1
        key = f"s{article_id}-{n}"
    return key


def _published(article: ArticleRecord) -> tuple:
    return article.published_at, article.id


def linkable(article: ArticleRecord) -> bool:
    """An http(s) link a reader can follow (a store filled before ingestion refused `file://` may hold others)."""
    return article.url.lower().startswith(("http://", "https://"))


def _outlet(article: ArticleRecord) -> str:
    return (article.source or article.url).lower()
