"""Top-k selection over a score vector (or a batch of them), shared by every recommender.

`np.argpartition` finds the k best in O(n) and only those k are sorted, so a query over a
large catalogue never pays for a full sort. Ties are broken by ascending index, so answers
are reproducible from run to run, and `-inf` marks a candidate as excluded: it is never
returned, which is how masks and "leave these out" are expressed.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["check_k", "top_k", "top_k_rows"]


def check_k(k: int) -> int:
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
        raise ValueError(f"k must be a positive whole number, got {k!r}.")
    if k <= 0:
        raise ValueError(f"k must be at least 1, got {k}.")
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


def top_k_rows(scores_2d: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise `top_k` for a dense (m, n) block of scores, e.g. a batch of queries.

    Returns (indices, scores), both (m, w), best first in each row, ties by ascending column.
    `-inf` entries are never returned: w = min(k, n) unless even the fullest row has fewer
    valid candidates, and a row with fewer valid candidates than w is padded at its end with
    index -1 and score NaN (a sentinel, not a result; drop it with `indices >= 0`).
    """
    k = check_k(k)
    s = _as_float_scores(scores_2d, 2)
    m, n = s.shape
    kk = min(k, n)
    if m == 0 or n == 0:
        return np.empty((m, 0), dtype=np.intp), np.empty((m, 0), dtype=s.dtype)
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
    return idx.astype(np.intp, copy=False), val


# ---- sparse rows: shared by similar products and similar customers ----------------------

DENSE_BLOCK_SHARE = 0.05  # above this share of non-zeros a block is ranked dense (faster than row by row)


def row_of_each(matrix: sp.csr_matrix) -> np.ndarray:
    return np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr))


def keep_entries(matrix: sp.csr_matrix, keep: np.ndarray, data=None) -> sp.csr_matrix:
    """The same matrix with only the non-zeros where `keep` (and optionally new values)."""
    rows = row_of_each(matrix)[keep]
    indptr = np.zeros(matrix.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=matrix.shape[0]), out=indptr[1:])
    values = (matrix.data if data is None else data)[keep]
    out = sp.csr_matrix((values, matrix.indices[keep], indptr), shape=matrix.shape)
    out.has_sorted_indices = matrix.has_sorted_indices  # a subset keeps the order; skip a re-sort
    return out


def top_k_sparse_rows(matrix: sp.csr_matrix, k: int, offset: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top k stored entries of every row (positive scores), best first, ties by ascending column.

    Returns (indices, scores), each (rows, k), padded with -1 / NaN. With `offset`, entry
    (r, offset + r) is left out: pass the first row's number when `matrix` is a block of rows of
    a square products x products matrix, so a product is never its own neighbour.
    """
    m, n = matrix.shape
    idx = np.full((m, k), -1, dtype=np.int64)
    val = np.full((m, k), np.nan)
    if m == 0 or matrix.nnz == 0:
        return idx, val
    matrix = sp.csr_matrix(matrix)
    if matrix.nnz > DENSE_BLOCK_SHARE * m * n:
        # Nearly dense block (the seed's similarity): one vectorised top_k_rows beats a Python
        # loop over rows, and needs no sorting or filtering of the sparse entries first.
        dense = matrix.toarray()
        dense[dense <= 0] = -np.inf
        if offset is not None:
            rows = np.arange(m)
            inside = offset + rows < n
            dense[rows[inside], offset + rows[inside]] = -np.inf
        block_idx, block_val = top_k_rows(dense, k)
        width = block_idx.shape[1]
        idx[:, :width], val[:, :width] = block_idx, block_val
        return idx, val
    matrix.sort_indices()
    keep = matrix.data > 0
    if offset is not None:
        keep &= matrix.indices != row_of_each(matrix) + offset
    matrix = keep_entries(matrix, keep) if not keep.all() else matrix
    indptr, indices, data = matrix.indptr, matrix.indices, matrix.data
    for r in np.flatnonzero(np.diff(indptr)):
        start, stop = indptr[r], indptr[r + 1]
        pos, scores = top_k(data[start:stop], k)  # positions follow ascending columns: ties by column
        idx[r, : pos.size] = indices[start:stop][pos]
        val[r, : pos.size] = scores
    return idx, val
