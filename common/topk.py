"""Top-k selection, and the one result type for "the k best of each row", shared by every stage.

`np.argpartition` finds the k best in O(n) and only those k are sorted, so a query over a
large catalogue never pays for a full sort. Ties are broken by ascending index, so answers
are reproducible from run to run, and `-inf` marks a candidate as excluded: it is never
returned, which is how masks and "leave these out" are expressed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from common.errors import InputError

__all__ = ["TopK", "check_k", "top_k", "top_k_rows"]


@dataclass
class TopK:
    """The k best columns of every row, best first, ties by ascending column.

    `indices` (rows, w) with -1 where a row has fewer than w answers, `scores` with NaN there, and
    optionally `counts`: how many terms made each score (products in common, neighbours who
    bought it, orders holding both), 0 in padding.
    """

    indices: np.ndarray
    scores: np.ndarray
    counts: np.ndarray | None = None

    @property
    def found(self) -> np.ndarray:
        """True where an answer is stored (not padding)."""
        return self.indices >= 0

    def entries(self) -> tuple[np.ndarray, np.ndarray]:
        """(row, rank - 1) of every stored answer, row by row, best first within a row."""
        return np.nonzero(self.found)

    def as_matrix(self, n_cols: int) -> sp.csr_matrix:
        """The answers as a sparse rows x n_cols matrix of scores (e.g. neighbour weights)."""
        rows, ranks = self.entries()
        return sp.csr_matrix((self.scores[rows, ranks], (rows, self.indices[rows, ranks])),
                             shape=(self.indices.shape[0], n_cols))

    def padded(self, k: int) -> "TopK":
        """The same answers in exactly k columns (padding added on the right)."""
        pad = k - self.indices.shape[1]
        if pad <= 0:
            return self
        counts = None if self.counts is None else np.pad(self.counts, ((0, 0), (0, pad)))
        return TopK(np.pad(self.indices, ((0, 0), (0, pad)), constant_values=-1),
                    np.pad(self.scores, ((0, 0), (0, pad)), constant_values=np.nan), counts)


def check_k(k: int) -> int:
    """k as an int, or InputError: every "how many" of every recommender is checked here."""
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InputError(f"k must be a whole number of at least 1, got {k!r}.")
    return int(k)


def _as_float_scores(scores, ndim: int) -> np.ndarray:
    """Scores as a float array (integers cannot hold -inf), rejecting NaN and wrong shapes."""
    s = np.asarray(scores)
    if s.ndim != ndim:
        raise ValueError(f"Expected a {ndim}-D array of scores, got shape {s.shape}.")
    if not np.issubdtype(s.dtype, np.floating):
        s = s.astype(np.float64)
    # NaN has no place in an order; it means a bug upstream (e.g. cosine of a zero vector),
    # so say so rather than rank it somewhere arbitrary.
    if np.isnan(s).any():
        raise ValueError("Scores contain NaN; fix the similarity that produced them (e.g. zero vectors).")
    return s


def _exclusion_mask(exclude, n: int) -> np.ndarray:
    """A boolean mask of length n from either a boolean mask or an array of positions."""
    ex = np.asarray(exclude)
    if ex.dtype == bool:
        if ex.shape != (n,):
            raise ValueError(f"A boolean exclude mask must have shape ({n},), got {ex.shape}.")
        return ex
    if ex.size and not np.issubdtype(ex.dtype, np.integer):
        raise ValueError(f"exclude must be a boolean mask or integer positions, got dtype {ex.dtype}.")
    positions = ex.astype(np.intp, copy=False).ravel()
    if positions.size and (positions.min() < -n or positions.max() >= n):
        raise ValueError(f"exclude holds positions outside 0..{n - 1}.")
    mask = np.zeros(n, dtype=bool)
    mask[positions] = True
    return mask


def top_k(scores: np.ndarray, k: int, *, exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The k highest scores and their positions, best first, ties by ascending position.

    `exclude` is a boolean mask or an array of positions to leave out. Entries scored `-inf`
    (or excluded) are never returned, so fewer than k come back only when fewer than k valid
    candidates exist. `k >= len(scores)` is allowed and returns every valid candidate.
    """
    k = check_k(k)
    s = _as_float_scores(scores, 1)
    n = s.shape[0]
    if exclude is not None:
        ex = _exclusion_mask(exclude, n)
        if ex.any():
            s = s.copy()  # never write into the caller's array
            s[ex] = -np.inf
    if n == 0:
        return np.empty(0, dtype=np.intp), np.empty(0, dtype=s.dtype)
    if k < n:
        part = np.argpartition(-s, k - 1)[:k]
        kth = s[part].min()
        # argpartition picks arbitrarily among scores tied with the k-th best; re-pick so the
        # lowest positions win. Both passes are O(n) and the second returns at most k - 1.
        above = np.flatnonzero(s > kth)
        tied = np.flatnonzero(s == kth)[: k - above.size]
        idx = np.concatenate([above, tied])
    else:
        idx = np.arange(n)
    idx = idx[s[idx] > -np.inf]
    # Sort just the chosen few: by score descending, then position ascending.
    order = np.lexsort((idx, -s[idx]))
    idx = idx[order].astype(np.intp, copy=False)
    return idx, s[idx]


def top_k_rows(scores_2d: np.ndarray, k: int) -> TopK:
    """Row-wise `top_k` for a dense (m, n) block of scores, e.g. a batch of queries.

    Returns TopK (indices, scores), both (m, w), best first in each row, ties by ascending column.
    `-inf` entries are never returned: w = min(k, n) unless even the fullest row has fewer
    valid candidates, and a row with fewer valid candidates than w is padded at its end with
    index -1 and score NaN (a sentinel, not a result; drop it with `indices >= 0`).
    """
    k = check_k(k)
    s = _as_float_scores(scores_2d, 2)
    m, n = s.shape
    kk = min(k, n)
    if m == 0 or n == 0:
        return TopK(np.empty((m, 0), dtype=np.intp), np.empty((m, 0), dtype=s.dtype))
    if kk < n:
        part = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
    else:
        part = np.broadcast_to(np.arange(n), (m, n)).copy()
    # Sorting the partition by (score desc, column asc) per row: columns first, then a stable
    # sort on score keeps equal scores in column order.
    part.sort(axis=1)
    top = np.take_along_axis(s, part, axis=1)
    order = np.argsort(-top, axis=1, kind="stable")
    idx = np.take_along_axis(part, order, axis=1)
    val = np.take_along_axis(top, order, axis=1)
    if kk < n:
        # Vectorised argpartition may pick any of the scores tied with a row's k-th best;
        # only rows where such a tie spans the cut need the exact (1-D) treatment. With real
        # valued scores these are rare, so the loop is cheap.
        kth = val[:, -1]
        spans = np.flatnonzero((s >= kth[:, None]).sum(axis=1) > kk)
        for r in spans:
            ridx, rval = top_k(s[r], kk)
            idx[r, : ridx.size], val[r, : ridx.size] = ridx, rval
            val[r, ridx.size :] = -np.inf  # fewer valid candidates than kk: mark the rest
    valid = val > -np.inf
    counts = valid.sum(axis=1)
    width = int(counts.max())
    idx, val, valid = idx[:, :width].copy(), val[:, :width].copy(), valid[:, :width]
    # -inf sorts last, so invalid slots are already at the end of each row.
    idx[~valid] = -1
    val[~valid] = np.nan
    return TopK(idx.astype(np.intp, copy=False), val)
