"""Sparse rows in numpy alone (the TF-IDF rows of the clustering), in place of scipy.sparse, whose import cost a
cold `digest preview` about 0.17 s (its array-API layer loads numpy.f2py, numpy.testing and unittest).

`Rows` is CSR: row r's entries are data[indptr[r]:indptr[r + 1]] in columns indices[...]. Every operation stores
its entries in the order scipy's CSR kernels did and sums in that order (np.add.reduceat over the same segments,
sequential per-column sums), so the values come out bit for bit as before: a scaled row is stored in reverse
(as `diags(s) @ m` left it), and a sum of rows lists its columns last seen first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from digest.stories import large


@dataclass
class Rows:
    data: np.ndarray  # float64, one per stored entry
    indices: np.ndarray  # int64, the column of each entry
    indptr: np.ndarray  # int64, n + 1 offsets
    shape: tuple[int, int]

    @property
    def row_of(self) -> np.ndarray:
        """The row of each stored entry."""
        return np.repeat(np.arange(self.shape[0]), np.diff(self.indptr))

    def toarray(self) -> np.ndarray:
        """The dense matrix (for checks and small inputs)."""
        out = np.zeros(self.shape)
        np.add.at(out, (self.row_of, self.indices), self.data)
        return out

    def take(self, rows: np.ndarray) -> Rows:
        """These rows (repeats allowed), each with its entries in its stored order."""
        rows = np.asarray(rows, dtype=np.int64)
        starts, lengths = self.indptr[rows], np.diff(self.indptr)[rows]
        indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        at = np.repeat(starts - indptr[:-1], lengths) + np.arange(indptr[-1])
        return Rows(self.data[at], self.indices[at], indptr, (len(rows), self.shape[1]))

    def kept(self, keep: np.ndarray) -> Rows:
        """Only the entries where `keep` is true, in their order."""
        indptr = np.concatenate([[0], np.cumsum(np.bincount(self.row_of[keep], minlength=self.shape[0]))])
        return Rows(self.data[keep], self.indices[keep], indptr.astype(np.int64), self.shape)

    def canonical(self) -> bool:
        """Every row's columns strictly increasing (scipy's kernels then merge rows in column order)."""
        steps = np.diff(self.indices)
        inside = np.ones(len(steps), dtype=bool)
        inside[self.indptr[1:-1][(self.indptr[1:-1] > 0) & (self.indptr[1:-1] < len(self.indices))] - 1] = False
        return bool(np.all(steps[inside] > 0))

    def row_sums(self, data: np.ndarray | None = None) -> np.ndarray:
        """Each row's sum of `data` (default: its values), np.add.reduceat over the non-empty rows."""
        data = self.data if data is None else data
        out = np.zeros(self.shape[0])
        nonempty = np.flatnonzero(np.diff(self.indptr))
        if len(nonempty):
            out[nonempty] = np.add.reduceat(data, self.indptr[nonempty])
        return out

    def norms(self) -> np.ndarray:
        """Each row's L2 norm: `sqrt(m.multiply(m).sum(axis=1))`. Squares summed in column order when the rows are
        sorted, else in reverse stored order (as scipy's general element-wise kernel lists them); zeros dropped."""
        order = np.arange(len(self.data)) if self.canonical() else _reversed_within_rows(self.indptr)
        squares = self.data[order] ** 2
        return np.sqrt(self.kept(squares != 0).row_sums(squares[squares != 0]) if len(squares) else
                       np.zeros(self.shape[0]))

    def unit(self) -> Rows:
        """Each row divided by its norm (empty rows stay empty): `diags(1 / norms) @ m`."""
        norms = self.norms()
        return self.scaled(1.0 / np.where(norms > 0, norms, 1.0))

    def scaled(self, factors: np.ndarray) -> Rows:
        """Row r times factors[r], its entries stored in reverse and exact zeros dropped (`diags(f) @ m`)."""
        order = _reversed_within_rows(self.indptr)
        data = factors[self.row_of] * self.data
        flipped = Rows(data[order], self.indices[order], self.indptr.copy(), self.shape)
        return flipped.kept(flipped.data != 0)


def _reversed_within_rows(indptr: np.ndarray) -> np.ndarray:
    """For each stored position, the position that comes there when every row's entries are reversed."""
    rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    return (indptr[:-1] + indptr[1:] - 1)[rows] - np.arange(indptr[-1])


def from_counts(keys: np.ndarray, counts: np.ndarray, n: int, width: int) -> Rows:
    """Rows from sorted, distinct keys row * width + column and their counts."""
    rows = keys // width
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))]).astype(np.int64)
    return Rows(counts.astype(np.float64), (keys % width).astype(np.int64), indptr, (n, width))


def distinct(values: np.ndarray) -> np.ndarray:
    """The sorted distinct values: `np.unique(values)`, which (numpy ≥ 2.3) imports numpy.ma to ask whether the
    array is masked (10-25 ms of a cold start)."""
    ordered = np.sort(np.asarray(values), kind="stable")
    return ordered[np.concatenate([[True], ordered[1:] != ordered[:-1]])] if len(ordered) else ordered


def document_frequency(matrix: Rows) -> np.ndarray:
    """How many rows hold each column."""
    return np.bincount(matrix.indices, minlength=matrix.shape[1])


def dots(matrix: Rows, pairs: np.ndarray, chunk: int = 50_000) -> np.ndarray:
    """The dot product of each pair of rows: `m[i].multiply(m[j]).sum(axis=1)`, the products of their shared
    columns summed in column order (each entry of the shorter row looked up in the other; scipy's kernel on
    big inputs, `large`)."""
    if large.use_scipy(matrix.shape[0]):
        return large.dots(matrix, pairs, chunk)
    keys, order = _ascending(matrix)
    lengths = np.diff(matrix.indptr)
    parts = [_dots(matrix, keys, order, lengths, p)
             for p in (pairs[start:start + chunk] for start in range(0, len(pairs), chunk))]
    return np.concatenate(parts) if parts else np.zeros(0)


def _dots(matrix: Rows, keys: np.ndarray, order: np.ndarray, lengths: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    left, right = pairs[:, 0], pairs[:, 1]
    swap = lengths[left] > lengths[right]
    short, other = np.where(swap, right, left), np.where(swap, left, right)
    count = lengths[short]
    offsets = np.concatenate([[0], np.cumsum(count)[:-1]]) if len(count) else count
    mine = order[np.repeat(matrix.indptr[short] - offsets, count) + np.arange(count.sum())]  # ascending
    wanted = np.repeat(other, count) * max(1, matrix.shape[1]) + matrix.indices[mine]
    at = np.minimum(np.searchsorted(keys, wanted), max(len(keys) - 1, 0))
    shared = keys[at] == wanted if len(keys) else np.zeros(len(wanted), dtype=bool)
    products = matrix.data[mine[shared]] * matrix.data[order[at[shared]]]
    nonzero = products != 0
    pair_of = np.repeat(np.arange(len(pairs)), count)[shared][nonzero]
    out = np.zeros(len(pairs))
    if len(pair_of):
        starts = np.flatnonzero(np.concatenate([[True], pair_of[1:] != pair_of[:-1]]))
        out[pair_of[starts]] = np.add.reduceat(products[nonzero], starts)
    return out


def _ascending(rows: Rows) -> tuple[np.ndarray, np.ndarray]:
    """Keys row * width + column of the entries in ascending order, and where each one is stored."""
    row_of = rows.row_of
    order = np.arange(len(rows.indices))
    keys = row_of * max(1, rows.shape[1]) + rows.indices
    if np.any(np.diff(keys) <= 0):  # rows stored in reverse (scaled), or unsorted
        order = _reversed_within_rows(rows.indptr)
        keys = keys[order]
        if np.any(np.diff(keys) <= 0):
            order = order[np.argsort(keys, kind="stable")]
            keys = row_of[order] * max(1, rows.shape[1]) + rows.indices[order]
    return keys, order


def group_sums(matrix: Rows, groups: Sequence[Sequence[int]]) -> Rows:
    """Each group's sum of rows (`membership @ m`): every column summed in the members' order, the columns of a
    group listed from the one first seen last to the one seen first, exact zeros dropped (scipy's product on
    big inputs, `large`)."""
    if large.use_scipy(matrix.shape[0]):
        return large.group_sums(matrix, groups)
    members = np.concatenate([np.asarray(g, dtype=np.int64) for g in groups]) if groups else np.zeros(0, np.int64)
    stacked = matrix.take(members)
    group_of = np.repeat(np.arange(len(groups)), [len(g) for g in groups])[stacked.row_of]
    keys = group_of * max(1, matrix.shape[1]) + stacked.indices
    unique, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    sums = np.bincount(inverse.ravel(), weights=stacked.data, minlength=len(unique))
    order = np.lexsort((-first, unique // max(1, matrix.shape[1])))  # by group, then last first seen first
    rows = unique[order] // max(1, matrix.shape[1])
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=len(groups)))]).astype(np.int64)
    out = Rows(sums[order], stacked.indices[first[order]], indptr, (len(groups), matrix.shape[1]))
    return out.kept(out.data != 0)
