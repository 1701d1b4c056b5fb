"""Clustering: the pairs the model calls one event, then complete linkage inside each connected component.

Candidates are the pairs whose word or name cosine reaches the model's candidate cosines (found exactly without
comparing all N² pairs, `similar_pairs`); the model gives each its probability of being one event. Two groups merge while
the mean probability of their cross pairs reaches the threshold and none of those pairs is below the floor, so a
story cannot chain through near-misses (A~B, B~C, A≁C stays two stories). Complete linkage (every cross pair at
the threshold) is kept for comparison (`StoryParams.linkage`). A merge needs one pair at the threshold, so every
story lies inside one connected component of the graph of such pairs, and each component is clustered on all
its pairs: exact, and fast because components are small.
"""

from __future__ import annotations

import heapq
import itertools
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np

from digest.models import ArticleRecord
from digest.stories.features import PairFeatures
from digest.stories.model import Model, load_model
from digest.stories.pairs import similar_pairs
from digest.stories.rows import Rows, distinct, dots
from digest.stories.story import StoryParams

Pair = tuple[int, int]
NO_EVIDENCE = 10.0  # a pair outside the window scores this far below "no shared evidence" (never one event)


def _logit(p: float) -> float:
    p = min(max(p, 1e-9), 1 - 1e-9)
    return float(np.log(p / (1 - p)))


def cluster(articles: Sequence[ArticleRecord], matrix: Rows, hours: np.ndarray, params: StoryParams,
            model: Model | None = None) -> tuple[list[list[int]], dict[Pair, np.ndarray]]:
    """Groups of row indexes (each sorted, ordered by their first index), and the features of each pair inside."""
    model = model or load_model()
    features = PairFeatures(articles, matrix, hours)
    candidates = _candidates(features, hours, params, model)
    known = {"words": dots(features.words, candidates), "names": dots(features.names, candidates)}
    candidates = candidates[model.may_reach(known, params.threshold)]  # the other features only for these
    edges = candidates[model.probability(features.of(candidates)) >= params.threshold]
    components = connected(len(articles), edges.tolist())
    inside = np.array([p for c in components if len(c) > 1 for p in itertools.combinations(c, 2)],
                      dtype=np.int64).reshape(-1, 2)
    rows = features.of(inside)
    near = np.abs(hours[inside[:, 0]] - hours[inside[:, 1]]) <= params.window_hours
    pair_rows = dict(zip(map(tuple, inside.tolist()), rows))
    # linkage works on the log-odds (the model's linear evidence score): averaging evidence, not probabilities
    similarity = dict(zip(pair_rows, np.where(near, model.logits(rows), model.intercept - NO_EVIDENCE).tolist()))
    link = _complete_linkage if params.linkage == "complete" else _average_linkage
    on_logits = replace(params, threshold=_logit(params.threshold), floor=_logit(params.floor))
    groups: list[list[int]] = []
    for component in components:
        groups.extend([component] if len(component) == 1 else link(component, similarity, on_logits))
    grouped = {p: pair_rows[p] for g in groups for p in itertools.combinations(sorted(g), 2)}
    return sorted((sorted(g) for g in groups), key=lambda g: g[0]), grouped


def _candidates(features: PairFeatures, hours: np.ndarray, params: StoryParams, model: Model) -> np.ndarray:
    """Pairs (i < j) in the window whose word or name cosine reaches the model's candidate cosine: every pair
    that can reach the threshold (`scripts/fit_story_model.py` derives the two cosines from the weights)."""
    n = len(hours)
    found = [similar_pairs(features.words, hours, replace(params, threshold=model.candidate_words)),
             similar_pairs(features.names, hours, replace(params, threshold=model.candidate_names))]
    keys = distinct(np.concatenate([p[:, 0] * n + p[:, 1] for p in found]))
    return np.stack([keys // n, keys % n], axis=1).astype(np.int64)


def connected(n: int, edges: Sequence[Sequence[int]]) -> list[list[int]]:
    """The connected components of the graph of `n` nodes and these edges (union-find): each sorted, ordered by
    its smallest node, as scipy's connected_components labels them (whose import costs a cold start 0.2 s)."""
    parent = list(range(n))

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = x = parent[parent[x]]  # path halving
        return x

    for a, b in edges:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)  # the smallest node is each component's root
    members: dict[int, list[int]] = defaultdict(list)
    for node in range(n):
        members[root(node)].append(node)
    return list(members.values())


def _complete_linkage(component: list[int], similarity: Mapping[Pair, float], params: StoryParams) -> list[list[int]]:
    """Merge the pair of groups whose weakest cross pair is strongest, while it reaches the threshold."""
    members = {x: [x] for x in component}  # group id → rows; a merged group gets a new id
    links: dict[int, dict[int, float]] = defaultdict(dict)  # group → neighbour → weakest cross pair (≥ threshold)
    heap: list[tuple[float, int, int]] = []
    for a, b in itertools.combinations(component, 2):
        if similarity[a, b] >= params.threshold:
            links[a][b] = links[b][a] = similarity[a, b]
            heap.append((-similarity[a, b], a, b))
    heapq.heapify(heap)
    next_id = max(component) + 1
    while heap:
        _, a, b = heapq.heappop(heap)
        if a not in members or b not in members:
            continue  # one side has merged since: groups are never changed, only replaced
        new, next_id = next_id, next_id + 1
        members[new] = members.pop(a) + members.pop(b)
        for other in (set(links[a]) & set(links[b])) - {a, b}:  # linked to both sides: every cross pair passes
            weakest = min(links[a][other], links[b][other])
            links[new][other] = links[other][new] = weakest
            heapq.heappush(heap, (-weakest, other, new))
        for other in set(links[a]) | set(links[b]):
            links[other].pop(a, None)
            links[other].pop(b, None)
        del links[a], links[b]
    return list(members.values())


def _average_linkage(component: list[int], similarity: Mapping[Pair, float], params: StoryParams) -> list[list[int]]:
    """Merge the closest pair of groups (mean cross similarity) while the mean reaches the threshold and no
    cross pair is below the floor (each article at least somewhat like every other: no chaining)."""
    members = {x: [x] for x in component}
    links: dict[int, dict[int, tuple[float, float]]] = defaultdict(dict)  # group → neighbour → (sum, weakest)
    heap: list[tuple[float, int, int]] = []
    for a, b in itertools.combinations(component, 2):  # every pair of a component is scored
        links[a][b] = links[b][a] = (similarity[a, b], similarity[a, b])
        heap.append((-similarity[a, b], a, b))
    heapq.heapify(heap)
    next_id = max(component) + 1
    while heap and -heap[0][0] >= params.threshold:
        _, a, b = heapq.heappop(heap)
        if a not in members or b not in members or links[a][b][1] < params.floor:
            continue  # merged since, or a cross pair below the floor (it only gets weaker as groups grow)
        new, next_id = next_id, next_id + 1
        members[new] = members.pop(a) + members.pop(b)
        for other in set(links[a]) - {b}:  # every other group is linked to both
            (sa, wa), (sb, wb) = links[other].pop(a), links[other].pop(b)
            links[new][other] = links[other][new] = (sa + sb, min(wa, wb))
            heapq.heappush(heap, (-(sa + sb) / (len(members[new]) * len(members[other])), other, new))
        del links[a], links[b]
    return list(members.values())
