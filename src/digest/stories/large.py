"""Big inputs' kernels on scipy.sparse, imported only for them: above `SCIPY_ABOVE` rows the pairs' dot products,
the rare-term product and the stories' sums of rows run in scipy's compiled CSR kernels (the dot products 3.5
times faster on 100,000 pairs of 5,000 rows than the numpy lookups of `rows`). At the sizes a preview or an
edition's selection clusters (a few hundred to about 4,000 candidates) numpy alone takes a few milliseconds more
at most, and spares a cold start scipy's import (0.17 s).

Both give the same values bit for bit: the dot products sum the shared columns' products in column order either
way, the sums of rows add the members in order, and the rare-term candidates differ at most in pairs the full
check then drops (`pairs._verified`); tests/test_stories_rows.py compares them.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from digest.stories.rows import Rows
    from digest.stories.story import StoryParams

SCIPY_ABOVE = 4096  # rows; the numpy kernels at or below (and whenever scipy is not installed)


def use_scipy(rows: int) -> bool:
    return rows > SCIPY_ABOVE and _scipy_installed()


@lru_cache(maxsize=1)
def _scipy_installed() -> bool:
    return importlib.util.find_spec("scipy") is not None


def csr(matrix: Rows):
    from scipy import sparse

    return sparse.csr_matrix((matrix.data, matrix.indices, matrix.indptr), shape=matrix.shape)


def dots(matrix: Rows, pairs: np.ndarray, chunk: int = 50_000) -> np.ndarray:
    """The cosine of each pair of rows (`rows.dots`)."""
    m = csr(matrix)
    parts = [np.asarray(m[p[:, 0]].multiply(m[p[:, 1]]).sum(axis=1)).ravel()
             for p in (pairs[start:start + chunk] for start in range(0, len(pairs), chunk))]
    return np.concatenate(parts) if parts else np.zeros(0)


def group_sums(matrix: Rows, groups) -> Rows:
    """`rows.group_sums`: membership @ matrix."""
    from scipy import sparse

    from digest.stories.rows import Rows

    membership = sparse.csr_matrix((np.ones(sum(map(len, groups))), np.concatenate(groups),
                                    np.concatenate([[0], np.cumsum([len(g) for g in groups])])),
                                   shape=(len(groups), matrix.shape[0]))
    sums = sparse.csr_matrix(membership @ csr(matrix))
    return Rows(sums.data, sums.indices.astype(np.int64), sums.indptr.astype(np.int64), (len(groups), matrix.shape[1]))


def rare_candidates(rare: Rows, common: np.ndarray, hours: np.ndarray, params: StoryParams,
                    block: int = 1000) -> np.ndarray:
    """`pairs._rare_candidates`: a block of rows is multiplied with itself and the later rows up to its
    window's end (`hours` is sorted)."""
    rare = csr(rare)
    found = [np.empty((0, 2), dtype=np.int64)]
    for start in range(0, rare.shape[0], block):
        stop = min(start + block, rare.shape[0])
        end = int(np.searchsorted(hours, hours[stop - 1] + params.window_hours + 1e-6, side="right"))
        product = (rare[start:stop] @ rare[start:end].T.tocsr()).tocoo()  # columns j ≥ start only
        i, j = product.row + start, product.col + start
        keep = (i < j) & (product.data + common[i] * common[j] >= params.threshold - 1e-9)
        i, j = i[keep].astype(np.int64), j[keep].astype(np.int64)
        near = np.abs(hours[i] - hours[j]) <= params.window_hours
        found.append(np.stack([i[near], j[near]], axis=1))
    return np.concatenate(found)
