"""Clustering: average linkage inside each connected component of the graph of similar pairs.

A merge needs at least one cross pair ≥ threshold, so every story lies inside one component, and each component
is clustered on its full similarity matrix: exact, and fast because components are small.
"""

from __future__ import annotations

import heapq
import itertools
from collections import defaultdict
from collections.abc import Mapping

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from digest.stories.pairs import dots, similar_pairs
from digest.stories.story import StoryParams

def cluster(matrix: sparse.csr_matrix, hours: np.ndarray, params: StoryParams) -> list[list[int]]:
    """Average-linkage groups of row indexes (each sorted), ordered by their first index."""
    pairs = similar_pairs(matrix, hours, params)
    graph = sparse.coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(matrix.shape[0],) * 2)
    components = _members(connected_components(graph, directed=False)[1])
    inside = np.array([p for c in components if len(c) > 2 for p in itertools.combinations(c, 2)],
                      dtype=np.int64).reshape(-1, 2)
    near = np.abs(hours[inside[:, 0]] - hours[inside[:, 1]]) <= params.window_hours
    similarity = dict(zip(map(tuple, inside.tolist()), np.where(near, dots(matrix, inside), 0.0).tolist()))
    groups: list[list[int]] = []
    for component in components:
        groups.extend([component] if len(component) <= 2 else _average_linkage(component, similarity, params))
    return sorted((sorted(g) for g in groups), key=lambda g: g[0])


def _members(labels: np.ndarray) -> list[list[int]]:
    members: dict[int, list[int]] = defaultdict(list)
    for index, label in enumerate(labels.tolist()):
        members[label].append(index)
    return list(members.values())


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
