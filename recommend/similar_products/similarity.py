"""How similar two products are, from the orders that hold them.

Order lines -> binary orders x products CSR (recommend.core.interactions) -> co-occurrence
C = XᵀX (sparse; C[i, j] = orders holding both, C[i, i] = orders holding i) -> a similarity
between products -> the k best per product. Nothing dense is ever products x products or
orders x products: the first-order similarities live on C's own sparsity pattern, and the
original notebook's second-order one goes through the fused sparse kernel or dense tiles.

Models (`--model`, once `--similarity`; registered by name in MODELS at the end of this file),
with n_i the orders holding i and N all orders:
  cooccurrence-cosine  the original notebook's: cosine between rows of C with its diagonal zeroed
                       ("bought with the same other products"), so two products never
                       bought together can still be similar
  jaccard              C_ij / (n_i + n_j - C_ij)      (as Microsoft Recommenders' SAR)
  lift                 N C_ij / (n_i n_j)             (SAR's C_ij / (n_i n_j), times N so 1 = chance)
  cosine               C_ij / sqrt(n_i n_j)           (cosine between the products' order columns)
  ease                 EASE's learned item-item weights (recommend/core/ease.py) on the pairs
Pairs bought together fewer than `min_count` times are dropped before any of them is
computed (SAR's co-occurrence threshold).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from tqdm import tqdm

from dataclasses import dataclass

from common.errors import InputError
from common.topk import TopK, check_k, top_k_rows
from recommend.core.models import Model, Models
from recommend.core.sparse_topk import (TIE_DECIMALS, cosine_top_k, keep_entries, row_of_each, top_k_sparse_rows,
                                        unit_rows)

SIMILARITIES = ("cooccurrence-cosine", "jaccard", "lift", "cosine")  # sparse: never products x products
# EASE (recommend/core/ease.py): learned item-item weights, dense over the fitted products. Its
# λ was chosen on a validation split of the full Online Retail training orders (docs/recommenders.md).
EASE_LAMBDA = 25.0
DEFAULT_K = 5
# Chosen by bench/evaluate_similar_products.py (time-split leave-one-out on the full Online
# Retail data; see docs/recommenders.md): EASE's lists find the hidden product 1.43x as often as Jaccard's
# (HitRate@10), Jaccard being the best of the four co-occurrence similarities.
DEFAULT_SIMILARITY = "ease"
EARLIER_DEFAULT = "jaccard"  # the default before EASE: what "How good is this?" compares the default with
DEFAULT_MIN_COUNT = 1  # min_count 2 or 3 scored no better and leaves more products without a list
# Rows of the second-order similarity computed at once: bounds the dense block to
# BLOCK_CELLS floats (256 MB) whatever the catalogue size.
BLOCK_CELLS = 32_000_000


def cooccurrence(orders: sp.csr_matrix) -> sp.csr_matrix:
    """Products x products: C[i, j] = orders holding both i and j; C[i, i] = orders holding i."""
    x = sp.csr_matrix(orders, dtype=np.int32, copy=True)
    x.data[:] = 1
    c = (x.T.tocsr() @ x).tocsr()
    c.sort_indices()
    return c


def pair_counts(counts: sp.csr_matrix, min_count: int = 1) -> sp.csr_matrix:
    """The co-occurrence without its diagonal and without pairs bought together < min_count times."""
    rows = row_of_each(counts)
    return keep_entries(counts, (rows != counts.indices) & (counts.data >= min_count))


def pair_formula(similarity: str, c, ni, nj, n_orders, sqrt=np.sqrt):
    """A first-order similarity of pairs from their count c and each side's orders, written once
    for NumPy arrays and for Spark columns alike (similar_products/spark.py passes F.sqrt and
    F.lit(n_orders))."""
    if similarity == "jaccard":
        return c / (ni + nj - c)
    if similarity == "lift":
        return c * n_orders / (ni * nj)
    if similarity == "cosine":
        return c / sqrt(ni * nj)
    raise InputError(f"Unknown pair similarity {similarity!r}.")


def pair_similarity(pairs: sp.csr_matrix, n_orders_per_item: np.ndarray, n_orders: int,
                    similarity: str) -> sp.csr_matrix:
    """A first-order similarity on the pattern of `pairs` (jaccard, lift or cosine)."""
    rows = row_of_each(pairs)
    cols = pairs.indices
    c = pairs.data.astype(np.float64)
    ni = n_orders_per_item[rows].astype(np.float64)
    nj = n_orders_per_item[cols].astype(np.float64)
    s = pair_formula(similarity, c, ni, nj, n_orders)
    out = sp.csr_matrix((s, cols.copy(), pairs.indptr.copy()), shape=pairs.shape)
    out.has_sorted_indices = pairs.has_sorted_indices
    return out


# Speeds measured on the 2-core development machine, used only to pick the faster of two exact
# ways to compute the same numbers: the fused sparse kernel (recommend/product_top_k.py) does
# ~5.6e8 multiply-adds/s on both cores; OpenBLAS float64 ~3e10 flop/s. Online Retail's
# co-occurrence is a third full, so dense tiles are 8x faster there (1.8 s, not 14 s); a large
# sparse catalogue is the other way round.
SPARSE_PRODUCT_RATE = 5.6e8
DENSE_PRODUCT_RATE = 3e10


def cooccurrence_cosine_top_k(pairs: sp.csr_matrix, k: int, *, progress: bool = False) -> TopK:
    """Top k of the cosine between rows of `pairs` (the original notebook's similarity).

    Sparse catalogues go to the shared kernel; nearly full ones are multiplied in dense tiles, a
    block of rows at a time, never holding more than BLOCK_CELLS floats densely.
    """
    n = pairs.shape[0]
    degree = np.diff(pairs.indptr).astype(np.float64)
    sparse_seconds = float((degree ** 2).sum()) / SPARSE_PRODUCT_RATE
    dense_seconds = 2.0 * float(n) ** 3 / DENSE_PRODUCT_RATE
    if sparse_seconds <= dense_seconds:
        return cosine_top_k(pairs, k, progress=progress, desc="Similar products")
    unit = unit_rows(pairs)
    step = max(1, min(n, BLOCK_CELLS // 3 // max(n, 1)))
    parts = [TopK(np.full((0, k), -1, dtype=np.int64), np.full((0, k), np.nan))]
    for start in tqdm(range(0, n, step), desc="Similar products", unit="block", disable=not progress):
        stop = min(n, start + step)
        left = unit[start:stop].toarray()
        block = np.empty((stop - start, n))
        for col in range(0, n, step):  # tiles, so the right-hand side is never whole and dense
            block[:, col:col + step] = left @ unit[col:col + step].toarray().T
        block = np.round(block, TIE_DECIMALS)  # ties as the sparse kernel breaks them
        block[np.arange(stop - start), np.arange(start, stop)] = -np.inf  # not its own neighbour
        block[block <= 0] = -np.inf  # nothing in common: not similar
        parts.append(top_k_rows(block, k).padded(k))
    return TopK(np.vstack([p.indices for p in parts]).astype(np.int64), np.vstack([p.scores for p in parts]))


def lookup(matrix: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """matrix[rows[i], cols[i]] for many (row, col) at once (0 where nothing is stored)."""
    if rows.size == 0:
        return np.zeros(0, dtype=matrix.dtype)
    return np.asarray(matrix[rows, cols]).ravel()


def ease_on_pairs(orders: sp.csr_matrix, pairs: sp.csr_matrix, per_item: np.ndarray, lam: float,
                  facts: dict | None = None) -> sp.csr_matrix:
    """EASE's weights on the pattern of the pairs bought together (a list says "bought with"): the
    products past EASE's guard (ease.MAX_ITEMS, the least ordered) keep their Jaccard scores."""
    from recommend.core import ease

    model = ease.fit(orders, lam, max_items=ease.MAX_ITEMS)
    where = np.full(orders.shape[1], -1, dtype=np.int64)
    where[model.kept] = np.arange(len(model.kept))
    rows, cols = row_of_each(pairs), pairs.indices
    values = pair_similarity(pairs, per_item, orders.shape[0], "jaccard").data.astype(np.float64)
    both = (where[rows] >= 0) & (where[cols] >= 0)
    values[both] = model.weights[where[rows[both]], where[cols[both]]]
    values[both & ~(values > 0)] = 0.0  # a negative weight is no "bought with"
    weighted = sp.csr_matrix((values, pairs.indices.copy(), pairs.indptr.copy()), shape=pairs.shape)
    weighted.eliminate_zeros()
    if facts is not None:  # for the manifest
        facts.update({"lambda": model.lam, "products_fitted": int(len(model.kept)),
                      "products_past_the_guard": model.dropped, "fit_seconds": round(model.seconds, 2)})
    return weighted


@dataclass(frozen=True)
class Pairs:
    """What a model of similar products is fitted on."""

    orders: sp.csr_matrix  # binary orders x products
    counts: sp.csr_matrix  # C = XᵀX
    pairs: sp.csr_matrix  # C without its diagonal and the pairs bought together < min_count times
    per_item: np.ndarray  # orders holding each product


def check_min_count(min_count) -> int:
    """The minimum co-occurrence count of a pair, checked the same way by both engines."""
    if isinstance(min_count, bool) or int(min_count) != min_count or min_count < 1:
        raise InputError(f"The minimum co-occurrence count must be a whole number of at least 1, not {min_count!r}.")
    return int(min_count)


def top_similar(orders: sp.csr_matrix, *, similarity: str = DEFAULT_SIMILARITY, k: int = DEFAULT_K,
                min_count: int = DEFAULT_MIN_COUNT, progress: bool = False,
                ease_lambda: float = EASE_LAMBDA, facts: dict | None = None) -> tuple[TopK, int]:
    """The k most similar products of every product, from a binary orders x products matrix, by the
    registered model `similarity`: TopK (counts = orders holding both) and the number of product
    pairs bought together; `facts` (a dict) gets what the model adds to a manifest (EASE's λ and
    the products it fitted)."""
    model = MODELS[similarity]
    k = check_k(k)
    min_count = check_min_count(min_count)
    counts = cooccurrence(orders)
    per_item = counts.diagonal().astype(np.int64)
    pairs = pair_counts(counts, int(min_count))
    found = model.fit(Pairs(orders, counts, pairs, per_item), k, progress=progress, ease_lambda=ease_lambda,
                      facts=facts if facts is not None else {})
    rows, ranks = found.entries()
    found.counts = np.zeros(found.indices.shape, dtype=np.int64)
    found.counts[rows, ranks] = lookup(counts, rows, found.indices[rows, ranks])
    return found, int(pairs.nnz // 2)


# --- the models, by name -----------------------------------------------------------------------
# fit(pairs: Pairs, k, *, progress, ease_lambda, facts) -> TopK of each product's k best (scores
# higher is better; facts gets what the manifest should say). A new model: its fit function in a
# file of its own, and one MODELS.register line.

def _first_order(name: str):
    return lambda p, k, **_: top_k_sparse_rows(pair_similarity(p.pairs, p.per_item, p.orders.shape[0], name), k)


MODELS = Models("similar_products")
MODELS.register(Model("cooccurrence-cosine", "the notebook's co-occurrence cosine",
                      "cosine between the products' co-occurrence rows (bought with the same other products)",
                      lambda p, k, progress=False, **_: cooccurrence_cosine_top_k(p.pairs, k, progress=progress),
                      unit_scale=True, spark=True))
MODELS.register(Model("jaccard", "Jaccard", "orders holding both over orders holding either", _first_order("jaccard"),
                      unit_scale=True, spark=True))
MODELS.register(Model("lift", "lift", "orders holding both over what chance would give (1 = chance)",
                      _first_order("lift"), spark=True))
MODELS.register(Model("cosine", "cosine", "orders holding both over the root of each one's orders",
                      _first_order("cosine"), unit_scale=True, spark=True))
MODELS.register(Model("ease", "EASE (learned)", "EASE's item-item weights learned from every order",
                      lambda p, k, ease_lambda=EASE_LAMBDA, facts=None, **_: top_k_sparse_rows(
                          ease_on_pairs(p.orders, p.pairs, p.per_item, ease_lambda, facts), k), spark=True))
