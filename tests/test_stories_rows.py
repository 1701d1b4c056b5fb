"""Story clustering's sparse rows in numpy (digest.stories.rows), which replaced scipy.sparse below 4,096 rows:
the same stored entries, bit for bit, as the scipy expressions they replaced, and the same values as a dense
brute-force reference, on random sparse inputs; the rare-term candidates the same as the brute-force ones."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse

from digest.stories import large, pairs as pairs_module
from digest.stories.features import unit_rows
from digest.stories.rows import dots, group_sums
from digest.stories.story import StoryParams


@pytest.fixture(autouse=True)
def numpy_kernels(monkeypatch):
    monkeypatch.setattr(large, "SCIPY_ABOVE", 10**9)


@st.composite
def streams(draw, max_rows: int = 30):
    vocabulary = [f"w{i}" for i in range(draw(st.integers(1, 40)))]
    rows = draw(st.lists(st.lists(st.sampled_from(vocabulary), max_size=25), min_size=1, max_size=max_rows))
    return rows


def scipy_unit_rows(matrix):
    """What features.unit_rows did on scipy before (its last step)."""
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    return sparse.csr_matrix(sparse.diags(1.0 / np.where(norms > 0, norms, 1.0)) @ matrix)


def as_scipy(rows):
    return sparse.csr_matrix((rows.data, rows.indices, rows.indptr), shape=rows.shape)


def dense(rows) -> np.ndarray:
    out = np.zeros(rows.shape)
    for r in range(rows.shape[0]):
        for at in range(rows.indptr[r], rows.indptr[r + 1]):
            out[r, rows.indices[at]] += rows.data[at]
    return out


def same_entries(ours, theirs) -> bool:
    return (np.array_equal(ours.indptr, theirs.indptr) and np.array_equal(ours.indices, theirs.indices)
            and np.array_equal(ours.data, theirs.data))


@settings(max_examples=200, deadline=None)
@given(streams(), st.data())
def test_dots_match_scipy_bit_for_bit_and_brute_force(rows, data):
    matrix = unit_rows(rows)
    n = matrix.shape[0]
    index = st.integers(0, n - 1)
    pairs = np.array(data.draw(st.lists(st.tuples(index, index), max_size=60)), dtype=np.int64).reshape(-1, 2)
    ours = dots(matrix, pairs)
    scipy_matrix = as_scipy(matrix)
    theirs = np.asarray(scipy_matrix[pairs[:, 0]].multiply(scipy_matrix[pairs[:, 1]]).sum(axis=1)).ravel()
    assert ours.tobytes() == theirs.tobytes()
    full = dense(matrix)
    for (i, j), value in zip(pairs.tolist(), ours.tolist()):
        assert math.isclose(value, math.fsum(full[i] * full[j]), rel_tol=1e-12, abs_tol=1e-12)


@settings(max_examples=200, deadline=None)
@given(streams())
def test_unit_rows_store_what_scipy_stored(rows):
    matrix = unit_rows(rows)
    vocabulary = {t: i for i, t in enumerate(dict.fromkeys(t for row in rows for t in row))}
    counts = sparse.csr_matrix(
        (np.ones(sum(map(len, rows))), ([r for r, row in enumerate(rows) for _ in row],
                                        [vocabulary[t] for row in rows for t in row])),
        shape=(len(rows), max(1, len(vocabulary))))
    counts.sum_duplicates()
    idf = 1.0 + np.log((1.0 + len(rows)) / (1.0 + counts.getnnz(axis=0)))
    counts.data = (1.0 + np.log(counts.data)) * idf[counts.indices]
    assert same_entries(matrix, scipy_unit_rows(counts))


@settings(max_examples=200, deadline=None)
@given(streams(), st.data())
def test_group_sums_match_scipy_and_brute_force(rows, data):
    matrix = unit_rows(rows)
    n = matrix.shape[0]
    order = data.draw(st.permutations(range(n)))
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, n - 1)), max_size=n)) if n > 1 else [])
    groups = [sorted(g) for g in np.split(np.array(order), cuts) if len(g)]
    ours = group_sums(matrix, groups)
    membership = sparse.csr_matrix((np.ones(n), np.concatenate(groups),
                                    np.concatenate([[0], np.cumsum([len(g) for g in groups])])),
                                   shape=(len(groups), n))
    assert same_entries(ours, sparse.csr_matrix(membership @ as_scipy(matrix)))
    assert same_entries(ours.unit(), scipy_unit_rows(sparse.csr_matrix(membership @ as_scipy(matrix))))
    full, summed = dense(matrix), dense(ours)
    for g, group in enumerate(groups):
        assert np.allclose(summed[g], full[group].sum(axis=0), rtol=1e-12, atol=1e-12)


@settings(max_examples=200, deadline=None)
@given(streams(max_rows=40), st.data())
def test_rare_candidates_are_the_brute_force_pairs(rows, data):
    matrix = unit_rows(rows)
    n = matrix.shape[0]
    hours = np.sort(np.array(data.draw(st.lists(st.floats(0, 200), min_size=n, max_size=n))))
    common = np.array(data.draw(st.lists(st.floats(0, 1), min_size=n, max_size=n)))
    params = StoryParams(threshold=data.draw(st.floats(0.05, 1.5)), window_hours=data.draw(st.sampled_from([12.0, 48.0, math.inf])))
    found = {tuple(p) for p in pairs_module._rare_candidates(matrix, common, hours, params, budget=64).tolist()}
    full = dense(matrix)
    for i in range(n):
        for j in range(i + 1, n):
            shared = math.fsum(full[i] * full[j])
            bound = shared + common[i] * common[j] - (params.threshold - 1e-9)
            if shared == 0 or abs(bound) < 1e-9 or abs(hours[i] - hours[j]) > params.window_hours:
                assert (i, j) not in found or abs(bound) < 1e-9
                continue
            assert ((i, j) in found) == (bound > 0), (i, j, shared, bound)


@settings(max_examples=100, deadline=None)
@given(streams(max_rows=40), st.data())
def test_big_inputs_kernels_on_scipy_give_the_same_pairs_and_dots(rows, data):
    matrix = unit_rows(rows)
    n = matrix.shape[0]
    hours = np.sort(np.array(data.draw(st.lists(st.floats(0, 200), min_size=n, max_size=n))))
    params = StoryParams(threshold=data.draw(st.floats(0.05, 1.0)), window_hours=48.0)
    on_numpy = pairs_module.similar_pairs(matrix, hours, params)
    large.SCIPY_ABOVE = 0  # the autouse fixture puts it back
    on_scipy = pairs_module.similar_pairs(matrix, hours, params)
    large.SCIPY_ABOVE = 10**9
    assert np.array_equal(on_numpy, on_scipy)
    assert dots(matrix, on_numpy).tobytes() == large.dots(matrix, on_numpy).tobytes()
    groups = [list(range(start, min(start + 3, n))) for start in range(0, n, 3)]
    assert same_entries(group_sums(matrix, groups), large.group_sums(matrix, groups))
