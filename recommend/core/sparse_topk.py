"""The k best entries of each row of a sparse matrix, or of a sparse product A @ B without
storing the product: every "what is nearest / what to recommend" of the tabular recommenders.

Every "what is nearest / what to recommend" question here is one of these: cosine neighbours
are the top of U @ U.T (leaving out the diagonal), user-user recommendations the top of
(similarities of the k nearest) @ (what they bought), leaving out what the customer owns.

One fused pass per row, compiled with numba: walk the row of A, and for each of its entries the
matching row of B, accumulating into a dense scratch vector (and counting contributions); then
keep the k best of what was touched with a small heap, and reset only what was touched. Work is
that of the sparse product itself, but nothing of the product is stored or sorted: the blockwise
scipy way (a block of rows of A @ B, then ranking each block) spent most of its time ranking the
half-full blocks that popular columns make. Chunks of rows run on every core in Python threads
(the kernel releases the GIL), so a progress bar works and concurrent callers (two app sessions)
need no special threading layer.

Only positive scores are returned; ties are broken by ascending column. Scores are rounded to
TIE_DECIMALS so that equal values reached by different sums in floating point tie exactly.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
import numpy as np
import scipy.sparse as sp
from numba import njit
from tqdm import tqdm

from common.topk import TopK, check_k, top_k, top_k_rows

__all__ = ["TopK", "cosine_top_k", "keep_entries", "product_top_k", "row_of_each", "top_k_sparse_rows",
           "unit_rows"]

TIE_DECIMALS = 12  # far above float64 noise, far below any real gap between scores
CHUNK_ROWS = 512  # rows per task: small enough to balance the cores and move a progress bar


@njit(cache=True, inline="always")
def _worse(a_val, a_idx, b_val, b_idx):
    """Is candidate a ranked below b? A lower score, or an equal score and a higher column."""
    return a_val < b_val or (a_val == b_val and a_idx > b_idx)


@njit(cache=True, inline="always")
def _swap(hv, hi, hc, a, b):
    hv[a], hv[b] = hv[b], hv[a]
    hi[a], hi[b] = hi[b], hi[a]
    hc[a], hc[b] = hc[b], hc[a]


@njit(cache=True)
def _sift_down(hv, hi, hc, size, pos):
    """Restore the heap (root = worst kept candidate) below `pos`."""
    while True:
        child = 2 * pos + 1
        if child >= size:
            return
        if child + 1 < size and _worse(hv[child + 1], hi[child + 1], hv[child], hi[child]):
            child += 1
        if not _worse(hv[child], hi[child], hv[pos], hi[pos]):
            return
        _swap(hv, hi, hc, pos, child)
        pos = child


@njit(cache=True, nogil=True)
def _rows_top_k(start, stop, a_ptr, a_idx, a_val, b_ptr, b_idx, b_val, x_ptr, x_idx, skip_diagonal,
                k, out_idx, out_val, out_cnt, acc, cnt, banned, touched, hv, hi, hc):
    """Rows start..stop of the answer. Scratch: acc and cnt all zero (left so), banned all -1
    (it holds the last row that banned a column), touched, hv, hi, hc any."""
    for r in range(start, stop):
        for p in range(x_ptr[r], x_ptr[r + 1]):
            banned[x_idx[p]] = r
        t = 0
        for p in range(a_ptr[r], a_ptr[r + 1]):
            v = a_val[p]
            j = a_idx[p]
            for q in range(b_ptr[j], b_ptr[j + 1]):
                c = b_idx[q]
                if cnt[c] == 0:  # first time this row meets c (a running sum can pass through 0)
                    touched[t] = c
                    t += 1
                acc[c] += v * b_val[q]
                cnt[c] += 1
        size = 0
        for i in range(t):
            c = touched[i]
            s = round(acc[c], TIE_DECIMALS)
            n_terms = cnt[c]
            acc[c] = 0.0
            cnt[c] = 0
            if not s > 0.0 or banned[c] == r or (skip_diagonal and c == r):
                continue
            if size < k:  # heap not full: add, sift up
                pos = size
                hv[pos], hi[pos], hc[pos] = s, c, n_terms
                size += 1
                while pos > 0:
                    parent = (pos - 1) // 2
                    if not _worse(hv[pos], hi[pos], hv[parent], hi[parent]):
                        break
                    _swap(hv, hi, hc, pos, parent)
                    pos = parent
            elif _worse(hv[0], hi[0], s, c):  # better than the worst kept: replace it
                hv[0], hi[0], hc[0] = s, c, n_terms
                _sift_down(hv, hi, hc, size, 0)
        # pop the worst first, filling the row from its end: best first, ties by column
        while size > 0:
            size -= 1
            out_val[r, size], out_idx[r, size], out_cnt[r, size] = hv[0], hi[0], hc[0]
            hv[0], hi[0], hc[0] = hv[size], hi[size], hc[size]
            _sift_down(hv, hi, hc, size, 0)


def _workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _csr_arrays(matrix: sp.csr_matrix, dtype=np.float64):
    # int32 column numbers (scipy's own for all but huge matrices) halve what the inner loop reads
    return (matrix.indptr.astype(np.int64), matrix.indices.astype(np.int32, copy=False),
            np.asarray(matrix.data, dtype=dtype))


def product_top_k(a, b, k: int, *, exclude=None, skip_diagonal: bool = False, progress: bool = False,
                  desc: str = "Top k", workers: int | None = None) -> TopK:
    """The k largest positive entries of each row of a @ b, best first, ties by ascending column.

    `exclude`: a sparse matrix shaped like the product whose non-zeros are never returned (e.g.
    what each customer already bought). `skip_diagonal`: never return column r for row r.
    """
    k = check_k(k)
    a, b = sp.csr_matrix(a), sp.csr_matrix(b)
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"Cannot multiply shapes {a.shape} and {b.shape}.")
    n, m = a.shape[0], b.shape[1]
    if max(n, m, a.shape[1]) >= 2**31:
        raise ValueError("More than 2^31 rows or columns is not supported.")
    for name, mat in (("a", a), ("b", b)):
        _check_finite(mat, f"Matrix {name}")
    x = sp.csr_matrix((n, m)) if exclude is None else sp.csr_matrix(exclude)
    if x.shape != (n, m):
        raise ValueError(f"exclude has shape {x.shape}; the product has shape {(n, m)}.")
    out = TopK(np.full((n, k), -1, dtype=np.int64), np.full((n, k), np.nan), np.zeros((n, k), dtype=np.int64))
    if n == 0 or a.nnz == 0 or b.nnz == 0:
        return out
    arrays = (*_csr_arrays(a), *_csr_arrays(b), *_csr_arrays(x)[:2], bool(skip_diagonal), k,
              out.indices, out.scores, out.counts)

    def run(start: int) -> int:
        stop = min(n, start + CHUNK_ROWS)
        # scratch made here (not inside the kernel) so that tracemalloc sees the memory used
        _rows_top_k(start, stop, *arrays, np.zeros(m), np.zeros(m, dtype=np.int32), np.full(m, -1, dtype=np.int64),
                    np.empty(m, dtype=np.int64),
                    np.empty(k), np.empty(k, dtype=np.int64), np.empty(k, dtype=np.int64))
        return stop - start

    starts = range(0, n, CHUNK_ROWS)
    workers = workers or _workers()
    with tqdm(total=n, desc=desc, unit="row", disable=not progress) as bar:
        if workers == 1 or len(starts) == 1:
            for start in starts:
                bar.update(run(start))
        else:
            with ThreadPoolExecutor(max_workers=min(workers, len(starts))) as pool:
                for done in pool.map(run, starts):
                    bar.update(done)
    return out


def unit_rows(matrix) -> sp.csr_matrix:
    """Rows scaled to unit length (float64, sorted indices); all-zero rows stay zero."""
    # Imported here, not at the top: scikit-learn takes ~1-2 s and ~65 MB to import, which only
    # a build should pay (answering from a loaded artifact never normalises).
    from sklearn.preprocessing import normalize

    unit = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
    _check_finite(unit, "The matrix")
    if unit.shape[0]:  # scikit-learn refuses an empty matrix
        unit = normalize(unit, norm="l2", copy=False)
    unit.sort_indices()
    return unit


def _check_finite(matrix: sp.csr_matrix, name: str) -> None:
    if matrix.nnz and not np.isfinite(matrix.data).all():
        raise ValueError(f"{name} holds NaN or infinity; fill or drop missing values first.")


def cosine_top_k(matrix, k: int, *, progress: bool = False, desc: str = "Neighbours") -> TopK:
    """Each row's k most cosine-similar other rows (similarity > 0 only), exact, never holding a
    rows x rows matrix: the top of unit @ unit.T leaving each row itself out; `counts` = columns
    shared. Used by similar customers (user-user) and similar movies (item k-NN)."""
    unit = unit_rows(matrix)
    return product_top_k(unit, unit.T.tocsr(), k, skip_diagonal=True, progress=progress, desc=desc)


# ---- the k best stored entries of each row of a sparse matrix ------------------------------

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


def top_k_sparse_rows(matrix: sp.csr_matrix, k: int, offset: int | None = None) -> TopK:
    """Top k stored entries of every row (positive scores), best first, ties by ascending column.

    Returns TopK (indices, scores), each (rows, k), padded with -1 / NaN. With `offset`, entry
    (r, offset + r) is left out: pass the first row's number when `matrix` is a block of rows of
    a square products x products matrix, so a product is never its own neighbour.
    """
    m, n = matrix.shape
    idx = np.full((m, k), -1, dtype=np.int64)
    val = np.full((m, k), np.nan)
    if m == 0 or matrix.nnz == 0:
        return TopK(idx, val)
    matrix = sp.csr_matrix(matrix)
    if matrix.nnz > DENSE_BLOCK_SHARE * m * n:
        # Nearly dense block (the original notebook's similarity): one vectorised top_k_rows beats a Python
        # loop over rows, and needs no sorting or filtering of the sparse entries first.
        dense = matrix.toarray()
        dense[dense <= 0] = -np.inf
        if offset is not None:
            rows = np.arange(m)
            inside = offset + rows < n
            dense[rows[inside], offset + rows[inside]] = -np.inf
        return top_k_rows(dense, k).padded(k)
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
    return TopK(idx, val)
