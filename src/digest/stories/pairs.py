"""Similar pairs: every pair of articles within the window whose cosine reaches the threshold, found exactly
without comparing all N² of them (a split by document frequency, then a full check of the candidates)."""

from __future__ import annotations

import numpy as np

from digest.stories import large
from digest.stories.rows import Rows, distinct, document_frequency, dots
from digest.stories.story import StoryParams

__all__ = ["VERIFY_COST", "dots", "similar_pairs"]

VERIFY_COST = 30.0  # comparing one candidate pair in full, in steps of the sparse product (only changes speed)


def similar_pairs(matrix: Rows, hours: np.ndarray, params: StoryParams) -> np.ndarray:
    """Every pair (i < j) within the window whose cosine is ≥ the threshold. Exact, without comparing all pairs.

    Terms are split by document frequency into rare (df ≤ D) and common. The rare part of every dot product
    comes from one sparse product; the common part is at most ‖x_common‖·‖y_common‖, so only pairs whose rare
    part plus that bound reaches the threshold are compared in full. D changes the work, never the result.
    The rows are taken in publication order, and each block of rows is multiplied only with the rows published
    within the window after it, so articles far apart in time are never compared (linear in the days covered).
    """
    n = matrix.shape[0]
    order = np.argsort(hours, kind="stable")
    matrix, hours = matrix.take(order), np.asarray(hours, dtype=np.float64)[order]
    df = document_frequency(matrix)
    cutoff, common = _split(matrix, df, params.threshold)
    rare = matrix.kept((df[matrix.indices] <= cutoff) & (matrix.data != 0))
    keys = distinct(np.concatenate([_pair_keys(_rare_candidates(rare, common, hours, params), n),
                                    _pair_keys(_common_candidates(common, hours, params), n)]))
    pairs = _verified(matrix, np.stack([keys // n, keys % n], axis=1), hours, params)
    pairs = np.sort(order[pairs], axis=1).reshape(-1, 2)  # back to the caller's rows, i < j, ordered by (i, j)
    return np.stack(np.divmod(distinct(_pair_keys(pairs, n)), n), axis=1).astype(np.int64).reshape(-1, 2)


def _pair_keys(pairs: np.ndarray, n: int) -> np.ndarray:
    return pairs[:, 0] * n + pairs[:, 1]


def _split(matrix: Rows, df: np.ndarray, threshold: float) -> tuple[int, np.ndarray]:
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


def _rare_candidates(rare: Rows, common: np.ndarray, hours: np.ndarray, params: StoryParams,
                     budget: int = 1 << 21) -> np.ndarray:
    """Pairs whose rare-term dot product plus the common-term bound reaches the threshold, in the window.
    `hours` is sorted. From the postings (each column's rows in publication order) every row is paired with the
    later rows of each of its rare columns up to its window's end, and the products of each pair summed, a
    block of rows at a time: a block holds every product of its rows' pairs, summed in a dense block × span
    array of at most `budget` cells (about `budget` products)."""
    if large.use_scipy(rare.shape[0]):
        return large.rare_candidates(rare, common, hours, params)
    n = rare.shape[0]
    rows = rare.row_of
    order = np.lexsort((rows, rare.indices))  # postings: by column, then row
    cols, rows, values = rare.indices[order], rows[order], rare.data[order]
    ends = np.searchsorted(hours, hours + params.window_hours + 1e-6, side="right")  # first row past each window
    partners = np.searchsorted(cols * n + rows, cols * n + ends[rows], side="left") - np.arange(len(rows)) - 1
    by_row = np.argsort(rows, kind="stable")
    row_starts = np.searchsorted(rows[by_row], np.arange(n + 1))
    work = np.concatenate([[0], np.cumsum(np.bincount(rows, weights=partners, minlength=n))])
    found = [np.empty((0, 2), dtype=np.int64)]
    start = 0
    while start < n:
        stop = _block_end(start, ends, work, budget)
        at = by_row[row_starts[start]:row_starts[stop]]
        count = partners[at]
        first = np.repeat(at, count)
        second = first + 1 + np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
        span = max(int(ends[stop - 1]) - start, 1)
        cells = np.bincount((rows[first] - start) * span + rows[second] - start,
                            weights=values[first] * values[second], minlength=(stop - start) * span)
        hit = np.flatnonzero(cells)
        i, j = hit // span + start, hit % span + start
        keep = (cells[hit] + common[i] * common[j] >= params.threshold - 1e-9) & \
            (np.abs(hours[i] - hours[j]) <= params.window_hours)
        found.append(np.stack([i[keep], j[keep]], axis=1).astype(np.int64))
        start = stop
    return np.concatenate(found)


def _block_end(start: int, ends: np.ndarray, work: np.ndarray, budget: int) -> int:
    """The end of the block of rows from `start`: as many rows as keep rows × span and the products within
    `budget` (at least one row)."""
    stops = np.arange(start + 1, len(ends) + 1)
    fits = ((stops - start) * (ends[start:] - start) <= budget) & (work[start + 1:] - work[start] <= budget)
    leading = len(fits) if fits.all() else int(np.argmin(fits))  # fits is true, then false
    return start + max(leading, 1)


def _common_candidates(common: np.ndarray, hours: np.ndarray, params: StoryParams) -> np.ndarray:
    """Pairs that could reach the threshold on common terms alone (few, by the choice of D), within the window:
    time is cut into bands one window wide, and each band is searched together with the next one."""
    width = params.window_hours + 1e-6  # a pair in the window lies in one band or two adjacent ones
    band = np.floor((hours - hours[0]) / width) if len(hours) and np.isfinite(width) else np.zeros(len(hours))
    found = [np.empty((0, 2), dtype=np.int64)]
    for b in distinct(band):  # `hours` is sorted, so each band is a run of rows
        start, stop = np.searchsorted(band, [b, b + 2], side="left")
        found.append(_common_pairs(common[start:stop], params.threshold) + start)
    return np.concatenate(found)


def _common_pairs(common: np.ndarray, threshold: float) -> np.ndarray:
    """Pairs (i < j) of these rows whose common-term norms' product reaches the threshold."""
    order = np.argsort(-common, kind="stable")
    norms = common[order]
    need = (threshold - 1e-9) / np.maximum(norms, 1e-12)
    partners = np.maximum(np.searchsorted(-norms, -need, side="right") - np.arange(len(norms)) - 1, 0)
    first = np.repeat(np.arange(len(norms)), partners)
    offset = np.arange(partners.sum()) - np.repeat(np.cumsum(partners) - partners, partners)
    pairs = np.sort(np.stack([order[first], order[first + 1 + offset]], axis=1), axis=1)
    return pairs.astype(np.int64).reshape(-1, 2)


def _verified(matrix: Rows, pairs: np.ndarray, hours: np.ndarray, params: StoryParams) -> np.ndarray:
    """The candidate pairs inside the window whose full cosine reaches the threshold."""
    pairs = pairs[np.abs(hours[pairs[:, 0]] - hours[pairs[:, 1]]) <= params.window_hours]
    return pairs[dots(matrix, pairs) >= params.threshold]
