"""Story clustering's connected components (union-find, digest.stories.linkage.connected): the same components,
in the same order, as scipy's connected_components, which it replaced (its import cost a cold start 0.2 s)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from digest.stories.linkage import connected


def scipy_components(n: int, edges: list[tuple[int, int]]) -> list[list[int]]:
    """What linkage.cluster did before: scipy's labels, members listed by label in node order."""
    pairs = np.array(edges, dtype=np.int64).reshape(-1, 2)
    graph = sparse.coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    members: dict[int, list[int]] = {}
    for node, label in enumerate(connected_components(graph, directed=False)[1].tolist()):
        members.setdefault(label, []).append(node)
    return list(members.values())


@st.composite
def graphs(draw):
    n = draw(st.integers(1, 60))
    node = st.integers(0, n - 1)
    edges = draw(st.lists(st.tuples(node, node).map(sorted).map(tuple), max_size=3 * n))
    return n, [(a, b) for a, b in edges]


@settings(max_examples=300, deadline=None)
@given(graphs())
def test_union_find_matches_scipy(graph):
    n, edges = graph
    assert connected(n, edges) == scipy_components(n, edges)


def test_chains_and_isolated_nodes():
    assert connected(6, [(4, 5), (0, 2), (2, 4)]) == [[0, 2, 4, 5], [1], [3]]
    assert connected(3, []) == [[0], [1], [2]]
    assert connected(0, []) == []
