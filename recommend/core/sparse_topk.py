"""The k best entries of each row of a sparse matrix, or of a sparse product A @ B without
storing the product: every "what is nearest / what to recommend" of the tabular recommenders.

Every "what is nearest / what to recommend" question here is one of these: cosine neighbours
are the top of U @ U.T (leaving out the diagonal), user-user recommendations the top of
(similarities of the k nearest) @ (what they bought), leaving out what the customer owns.

Small products (at most SMALL_PRODUCT_CELLS cells, e.g. the app's 400 demo customers or 1,500
movies) are computed by scipy a block of rows at a time and ranked by common.topk.top_k_rows.
That is slower than the kernel (0.14 s against 0.06 s for the demo's 1,500 movies, 2 cores) but
keeps numba and LLVM (~100 MB resident, bench/app_memory.py) out of the app's process, whose
builds are all this small. Above that, one fused pass per row, compiled with numba
(sparse_topk_kernel.py): walk the row of A, and for each of its entries the
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
from tqdm import tqdm

from common.topk import TopK, check_k, top_k, top_k_rows

__all__ = ["TopK", "cosine_top_k", "keep_entries", "product_top_k", "row_of_each", "top_k_sparse_rows",
           "unit_rows"]

TIE_DECIMALS = 12  # far above float64 noise, far below any real gap between scores
CHUNK_ROWS = 512  # rows per task: small enough to balance the cores and move a progress bar
SMALL_PRODUCT_CELLS = 4_000_000  # rows x columns of a product computed by scipy, not the kernel
BLOCK_CELLS = 262_144  # of those, computed a block of rows at a time (2 MB of float64 each)


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
    if n * m <= SMALL_PRODUCT_CELLS:
        with tqdm(total=n, desc=desc, unit="row", disable=not progress) as bar:
            _small_product_top_k(a, b, k, x, skip_diagonal, out)
            bar.update(n)
        return out
    from recommend.core.sparse_topk_kernel import _rows_top_k  # numba: imported only when needed

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


def _small_product_top_k(a, b, k, exclude, skip_diagonal, out: TopK) -> TopK:
    """product_top_k for a product small enough to compute: the same answer (positive scores
    rounded to TIE_DECIMALS, ties by ascending column, counts = terms summed) from scipy and
    top_k_rows, a block of rows at a time so that at most BLOCK_CELLS are held at once."""
    ones_a, ones_b_t = a.copy(), b.T.tocsr()
    ones_a.data[:], ones_b_t.data[:] = 1.0, 1.0
    n, m = a.shape[0], b.shape[1]
    step = max(1, BLOCK_CELLS // max(m, 1))
    for first in range(0, n, step):
        last = min(n, first + step)
        scores = np.round((a[first:last] @ b).toarray(), TIE_DECIMALS)
        invalid = ~(scores > 0.0)
        block = exclude[first:last]
        if block.nnz:
            invalid[row_of_each(block), block.indices] = True
        if skip_diagonal:
            rows = np.arange(first, min(last, m))
            invalid[rows - first, rows] = True
        scores[invalid] = -np.inf
        found = top_k_rows(scores, k)
        kept = found.indices >= 0
        rows, slots = np.nonzero(kept)
        columns = found.indices[kept]
        out.indices[first + rows, slots] = columns
        out.scores[first + rows, slots] = found.scores[kept]
        # terms summed, for the chosen entries only: stored entries row r of a and column c of b share
        shared = ones_a[first + rows].multiply(ones_b_t[columns]).sum(axis=1)
        out.counts[first + rows, slots] = np.asarray(shared, dtype=np.int64).ravel()
    return out


def unit_rows(matrix) -> sp.csr_matrix:
    """Rows scaled to unit length (float64, sorted indices); all-zero rows stay zero.

    By hand rather than scikit-learn's `normalize`, bit for bit the same (each row's squares summed
    in stored order, as its `inplace_csr_row_normalize_l2` does; tests/recommend/core/test_unit_rows.py
    compares them): the app builds the demo's similar customers and similar movies in its own
    process, and scikit-learn's import is 59 MB of its resident memory there (bench/app_memory.py).
    The price: about 1 s more than scikit-learn per 16M stored entries (a row of 80,000 included)."""
    unit = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
    _check_finite(unit, "The matrix")
    lengths = np.diff(unit.indptr)
    if unit.nnz:
        # Position p of every row at once, longest rows first: sequential per row, vectorised across rows.
        by_length = np.argsort(-lengths, kind="stable")
        longest_first = lengths[by_length]
        starts = unit.indptr[:-1][by_length]
        sums = np.zeros(len(by_length))
        for p in range(int(longest_first[0])):
            n = int(np.searchsorted(-longest_first, -p, side="left"))  # rows longer than p
            values = unit.data[starts[:n] + p]
            sums[:n] += values * values
        norms = np.empty_like(sums)
        norms[by_length] = np.sqrt(sums)
        norms[norms == 0] = 1.0
        unit.data /= np.repeat(norms, lengths)
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
