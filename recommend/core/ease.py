"""EASE (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019): item-item
weights in closed form, B = I - P·diag(1/diag(P)) with P = (XᵀX + λI)⁻¹ and a zero diagonal,
so a row's scores are its items times B (an item never recommends itself).

One parameter (λ), chosen on a validation split carved from the training data only
(`tune_lambda`), never on the test. A dense inverse costs items² memory and items³ time, so the
fit keeps the `max_items` most frequent items (MAX_ITEMS by default; measured in
bench/evaluate_similar_products.py --ease) and says which it kept; the caller falls back to its
own method for the rest.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from common.errors import InputError
from common.topk import TopK, top_k_rows

MAX_ITEMS = 10_000
LAMBDAS = (10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0)


@dataclass
class Ease:
    weights: np.ndarray  # (kept, kept) float32: B, zero diagonal
    kept: np.ndarray  # the column positions (of the fitted matrix) the weights are over, most frequent first
    lam: float
    seconds: float
    dropped: int  # items bought at all but left out by max_items


def fit(matrix: sp.spmatrix, lam: float, *, max_items: int | None = None) -> Ease:
    """EASE on a users (or orders) x items matrix, read as 0/1, over its `max_items` (MAX_ITEMS
    when not given) most frequent items."""
    check_lambda(lam)
    started = time.perf_counter()
    x = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
    x.data[:] = 1.0
    counts = np.asarray(x.sum(axis=0)).ravel()
    kept = most_frequent(counts, max_items)
    x = x[:, kept]
    gram = (x.T @ x).astype(np.float32).toarray()
    return _solve(gram, kept, lam, int((counts > 0).sum() - len(kept)), started)


def fit_gram(a: np.ndarray, b: np.ndarray, counts: np.ndarray, diagonal: np.ndarray, lam: float, *,
             kept: np.ndarray | None = None, dropped: int = 0, started: float | None = None) -> Ease:
    """EASE from XᵀX counted elsewhere (Spark), over the items `fit` would keep: `diagonal[i]` rows
    hold item i, `counts[j]` rows hold both a[j] and b[j] (positions into `diagonal`, each pair
    once, in either order; pairs never together may be left out). The same float32 matrix as
    `fit` builds, so the same weights. `kept`: the column positions these items stand for
    (0, 1, ... when not given); `dropped` (items bought but not kept) and `started` (a
    time.perf_counter() reading, e.g. before the counting) are reported in the result."""
    check_lambda(lam)
    started = time.perf_counter() if started is None else started
    size = len(diagonal)
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    if len(a) != len(b) or len(a) != len(counts):
        raise ValueError(f"a, b and counts differ in length ({len(a)}, {len(b)}, {len(counts)}).")
    if len(a) and (min(a.min(), b.min()) < 0 or max(a.max(), b.max()) >= size):
        raise ValueError(f"pair positions must lie in 0..{size - 1}.")
    gram = np.zeros((size, size), dtype=np.float32)
    values = np.asarray(counts, dtype=np.float32)
    gram[a, b] = values
    gram[b, a] = values
    gram[np.diag_indices_from(gram)] = np.asarray(diagonal, dtype=np.float32)
    kept = np.arange(size) if kept is None else np.asarray(kept)
    if len(kept) != size:
        raise ValueError(f"{len(kept)} kept positions for {size} items.")
    return _solve(gram, kept, lam, int(dropped), started)


def check_lambda(lam: float) -> None:
    if lam <= 0:
        raise InputError(f"EASE's lambda must be positive, not {lam}.")


def most_frequent(counts: np.ndarray, max_items: int | None = None) -> np.ndarray:
    """The column positions `fit` keeps: the `max_items` (MAX_ITEMS when not given) largest
    counts, ties to the lower column, never a zero count, in column order."""
    max_items = MAX_ITEMS if max_items is None else max_items
    counts = np.asarray(counts)
    order = np.argsort(-counts, kind="stable")
    return np.sort(order[:max_items][counts[order[:max_items]] > 0])


def _solve(gram: np.ndarray, kept: np.ndarray, lam: float, dropped: int, started: float) -> Ease:
    """B from the dense float32 XᵀX over `kept` (overwritten)."""
    # float32 and one buffer reused by the inverse: 0.4 GB at 10,000 items instead of 2.4 GB in
    # float64 with copies; the lists match the float64 fit's (tests/recommend/core/test_ease.py).
    gram[np.diag_indices_from(gram)] += lam
    weights = scipy.linalg.inv(gram, overwrite_a=True, check_finite=False)
    # LAPACK hands back Fortran order; P is symmetric, so its transpose is the same matrix in C
    # order, for free: scoring (sparse rows @ weights) would otherwise copy all of it per block.
    weights = weights.T if not weights.flags.c_contiguous else weights
    weights /= -np.diag(weights).copy()
    np.fill_diagonal(weights, 0.0)
    return Ease(weights, kept, float(lam), time.perf_counter() - started, dropped)


def scores(model: Ease, rows: sp.spmatrix) -> np.ndarray:
    """(rows, kept) scores: each row's (0/1) items times B."""
    x = sp.csr_matrix(rows, dtype=np.float32, copy=True)[:, model.kept]
    x.data[:] = 1.0
    return np.asarray(x @ model.weights)


BLOCK_ROWS = 2048  # rows scored at once: bounds the dense scores to BLOCK_ROWS x kept floats


@dataclass
class Recommended:
    """Each row's n best items (column positions of the fitted matrix, -1 padding) with scores,
    and `because`: the row's own items that add most to each score (rows, n, explain), -1 padding."""
    top: TopK
    because: np.ndarray


def recommend(model: Ease, rows: sp.spmatrix, n: int, *, explain: int = 0, exclude: sp.spmatrix | None = None,
              block: int = BLOCK_ROWS) -> Recommended:
    """Each row's n best-scored items that the row does not hold (nor, with `exclude`, a matrix
    shaped like `rows`, those it marks), only positive scores. With `explain`, also the (at most)
    `explain` items of the row with the largest positive weight to each, and as counts how many
    of its items weigh positively on it (both left empty without: evaluations need neither)."""
    x = sp.csr_matrix(rows, dtype=np.float32, copy=True)
    x.data[:] = 1.0
    x = x[:, model.kept]
    skip = None if exclude is None else sp.csr_matrix(exclude)[:, model.kept]
    indices = np.full((x.shape[0], n), -1, dtype=np.int64)
    values = np.full((x.shape[0], n), np.nan, dtype=np.float32)
    counts = np.zeros((x.shape[0], n), dtype=np.int32)
    because = np.full((x.shape[0], n, explain), -1, dtype=np.int64)
    for start in range(0, x.shape[0] if len(model.kept) else 0, block):
        part = x[start:start + block]
        s = np.asarray(part @ model.weights)
        s[part.toarray() > 0] = -np.inf  # never what the row already holds
        if skip is not None:
            s[skip[start:start + block].toarray() > 0] = -np.inf
        s[s <= 0] = -np.inf  # a zero or negative weight is no reason to recommend
        top = top_k_rows(s, min(n, len(model.kept)))
        w = top.indices.shape[1]
        rows_ = slice(start, start + part.shape[0])
        found = top.indices >= 0
        indices[rows_, :w] = np.where(found, model.kept[np.maximum(top.indices, 0)], -1)
        values[rows_, :w] = top.scores
        for r in range(part.shape[0] if explain else 0):  # the reasons: a short loop per row
            own = part.indices[part.indptr[r]:part.indptr[r + 1]]
            chosen = top.indices[r][found[r]]
            if not own.size or not chosen.size:
                continue
            contrib = model.weights[np.ix_(own, chosen)]  # (own items, recommended)
            counts[start + r, :chosen.size] = (contrib > 0).sum(axis=0)
            best = np.argsort(-contrib, axis=0, kind="stable")[:explain]
            keep = np.take_along_axis(contrib, best, axis=0) > 0
            because[start + r, :chosen.size, :best.shape[0]] = np.where(keep, model.kept[own[best]], -1).T
    return Recommended(TopK(indices, values, counts), because)


def tune_lambda(matrix: sp.spmatrix, score_of: Callable[[Ease], float], lambdas: Iterable[float] = LAMBDAS, *,
                max_items: int | None = None) -> tuple[float, dict[float, float]]:
    """The λ whose fit on `matrix` (training data) scores best by `score_of` (a validation metric
    computed on held-out training data), with every λ's score."""
    found = {}
    for lam in lambdas:
        found[float(lam)] = float(score_of(fit(matrix, lam, max_items=max_items)))
    best = max(found, key=lambda lam: (found[lam], -lam))
    return best, found
