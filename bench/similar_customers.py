"""Similar customers at scale: neighbours (and recommendations) for every customer.

1. Full UCI Online Retail: the original notebook's way (dense pandas pivot customers x products, dense
   scikit-learn cosine_similarity customers x customers, argsort) next to the sparse build, same
   neighbours checked; time and peak memory (tracemalloc) of both, and their ratio.
2. Synthetic customers x 20,000 products (20 purchases each, Zipf-like popularity): on a sample
   of 20,000 customers, the fused numba kernel (recommend/product_top_k.py) against the blockwise
   scipy way it replaced (a block of customers @ all customers, then ranking each block), same
   neighbours checked, and their ratio; then the whole build for 100,000 customers, target under
   60 s (the dense way would need 100,000^2 x 8 bytes = 80 GB, so it is not run).
    python bench/similar_customers.py [--purchases ../shared/datasets/online_retail/online_retail.csv.gz]
"""
from __future__ import annotations

import argparse
import resource
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from harness import DATASETS, describe  # bench/harness.py, beside this script
from recommend.similar_customers.model import (
    build, customer_matrix, nearest_customers, read_purchases,
)
from common.shop_tables import OrderColumns
from recommend.datasets.online_retail import ORDER_COLUMNS
from recommend.core.sparse_topk import top_k_sparse_rows

SHARED = DATASETS / "online_retail" / "online_retail.csv.gz"
COLS = ORDER_COLUMNS
SYNTHETIC = OrderColumns(customer=COLS.customer, item=COLS.item, quantity=COLS.quantity)


def measured(fn, *args, **kw):
    tracemalloc.start()
    start = time.perf_counter()
    out = fn(*args, **kw)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return out, seconds, peak


def notebook_way(purchases: pd.DataFrame, k: int):
    from sklearn.metrics.pairwise import cosine_similarity

    matrix = purchases.pivot_table(index=COLS.customer, columns=COLS.item, values=COLS.quantity,
                                   aggfunc="sum", fill_value=0).clip(upper=1)
    sims = cosine_similarity(matrix.to_numpy(dtype=np.float64))
    np.fill_diagonal(sims, -np.inf)
    return np.argsort(-sims, axis=1, kind="stable")[:, :k], np.sort(sims, axis=1)[:, ::-1][:, :k]


def blockwise_way(matrix: sp.csr_matrix, k: int, block_cells: int = 16_000_000):
    """The previous implementation: unit rows, a block of rows @ all rows in scipy, top k per block."""
    unit = normalize(sp.csr_matrix(matrix, dtype=np.float32), norm="l2", axis=1)
    unit_t = unit.T.tocsr()
    n = unit.shape[0]
    step = max(1, min(n, block_cells // n))
    parts = [top_k_sparse_rows(unit[start:start + step] @ unit_t, k, offset=start) for start in range(0, n, step)]
    return np.vstack([p.indices for p in parts]), np.vstack([p.scores for p in parts])


def same_similarities(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.allclose(np.nan_to_num(a, nan=0), np.nan_to_num(b, nan=0), atol=1e-5))


def synthetic(customers: int, products: int, per_customer: int, skew: float, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, products + 1) ** skew
    popularity /= popularity.sum()
    items = rng.choice(products, size=customers * per_customer, p=popularity)
    return pd.DataFrame({COLS.customer: np.repeat(np.arange(customers), per_customer).astype(str),
                         COLS.item: items.astype(str), COLS.quantity: 1})


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--purchases", type=Path, default=SHARED)
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--sample", type=int, default=20_000, help="customers in the kernel-vs-blockwise comparison")
    p.add_argument("--skew", type=float, nargs="+", default=[0.5, 0.8],
                   help="Zipf exponents of product popularity for the synthetic sets")
    args = p.parse_args()
    print(describe(), flush=True)

    purchases = read_purchases(args.purchases)
    (dense_idx, dense_sim), dense_s, dense_mb = measured(notebook_way, purchases, args.k)
    built = customer_matrix(purchases, COLS, "binary")
    nearest_customers(built.matrix[:10], 2)  # numba compiles (or loads its cache) once, outside the timings
    near, sparse_s, sparse_mb = measured(nearest_customers, built.matrix, args.k)
    agree = same_similarities(near.scores, np.clip(dense_sim, 0, None))
    print(f"Online Retail, {built.shape[0]:,} customers x {built.shape[1]:,} products, k={args.k}")
    print(f"  original notebook (dense pivot + dense cosine): {dense_s:6.2f} s, peak {dense_mb:8.1f} MB")
    print(f"  sparse neighbours:                 {sparse_s:6.2f} s, peak {sparse_mb:8.1f} MB   "
          f"speed-up {dense_s / sparse_s:.1f}x, memory {dense_mb / sparse_mb:.1f}x less; "
          f"same similarities: {agree}")
    _, full_s, full_mb = measured(build, purchases, COLS, k=30)
    print(f"  whole build (30 neighbours + 10 recommendations each): {full_s:.2f} s, peak {full_mb:.1f} MB")

    for skew in args.skew:
        synth = synthetic(100_000, 20_000, 20, skew)
        top = synth.drop_duplicates().groupby(COLS.item)[COLS.customer].nunique().max() / 100_000
        sample = customer_matrix(synth[synth[COLS.customer].astype(int) < args.sample],
                                 SYNTHETIC, "binary").matrix
        (_, old_sims), old_s, old_mb = measured(blockwise_way, sample, args.k)
        near, new_s, new_mb = measured(nearest_customers, sample, args.k)
        print(f"Synthetic {args.sample:,} customers, popularity 1/rank^{skew}, k={args.k}: blockwise scipy "
              f"{old_s:.1f} s (peak {old_mb:.0f} MB), fused kernel {new_s:.2f} s (peak {new_mb:.0f} MB): "
              f"speed-up {old_s / new_s:.1f}x; same similarities: {same_similarities(near.scores, old_sims)}")
        _, s_s, s_mb = measured(build, synth, SYNTHETIC, k=30)
        print(f"Synthetic 100,000 customers x 20,000 products, popularity 1/rank^{skew} (best seller bought by "
              f"{top:.1%} of customers): whole build {s_s:.1f} s (target < 60 s), peak {s_mb:.0f} MB; "
              "the dense way would need 80 GB")
    print(f"Process peak resident memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
