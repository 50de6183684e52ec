"""Similar products at scale, one run, each measurement in its own process (so peak memory is its own).

1. Full Online Retail (cleaned: 528k lines, 19.8k orders, 3.9k products), the original notebook's similarity
   (cooccurrence-cosine): the original notebook's dense way (pandas pivot_table orders x products, dense
   co-occurrence by matrix product, scikit-learn dense cosine_similarity, argsort per row) next
   to the sparse build; time and peak memory of both; are the top-5 lists the same?
   Then the sparse build with the default similarity on the same data.
2. Synthetic 5,000,000 order lines over 50,000 products (target: under 60 s and 4 GB peak for the
   default similarity), and the other similarities for comparison.

Time is the build from order lines already in memory (reading and cleaning the CSV excluded, the
same for both); peak memory is the process's peak resident set (VmHWM), reading included.
Usage:
    python bench/similar_products.py [--online-retail PATH] [--skip-synthetic] [--synthetic-similarities ...]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from harness import DATASETS, describe  # bench/harness.py, beside this script
from recommend.core.interactions import interaction_matrix
from recommend.datasets.online_retail import ORDER_COLUMNS as ONLINE_RETAIL
from recommend.similar_products.model import read_order_lines
from recommend.similar_products.similarity import DEFAULT_MIN_COUNT, DEFAULT_SIMILARITY, SIMILARITIES, top_similar

SHARED = DATASETS
K = 5
GB = 1024 ** 3


def memory() -> dict[str, float]:
    """Current and peak resident memory of this process, in bytes (Linux)."""
    status = Path("/proc/self/status").read_text().split("\n")
    fields = {line.split(":")[0]: line.split(":")[1] for line in status if ":" in line}
    return {"rss": int(fields["VmRSS"].split()[0]) * 1024, "peak": int(fields["VmHWM"].split()[0]) * 1024}


def synthetic_order_lines(n_lines: int = 5_000_000, n_products: int = 50_000, mean_basket: int = 10,
                          theme_size: int = 100, seed: int = 0) -> pd.DataFrame:
    """Orders with structure like a shop's: each order has a theme (500 themes of 100 products,
    Zipf-like theme popularity); 70% of its lines come from the theme (Zipf within it), 30% from
    the whole catalogue (Zipf, exponent 0.9). Basket sizes are geometric with mean 10."""
    rng = np.random.default_rng(seed)
    sizes = rng.geometric(1 / mean_basket, int(n_lines / mean_basket * 1.2))
    ends = np.cumsum(sizes)
    n_orders = int(np.searchsorted(ends, n_lines)) + 1
    sizes = sizes[:n_orders]
    sizes[-1] -= ends[n_orders - 1] - n_lines
    order = np.repeat(np.arange(n_orders), sizes)
    n_themes = n_products // theme_size
    theme_p = 1 / np.arange(1, n_themes + 1) ** 0.8
    theme = rng.choice(n_themes, size=n_orders, p=theme_p / theme_p.sum())[order]
    within_p = 1 / np.arange(1, theme_size + 1)
    within = rng.choice(theme_size, size=n_lines, p=within_p / within_p.sum())
    global_p = 1 / np.arange(1, n_products + 1) ** 0.9
    anywhere = rng.permutation(n_products)[rng.choice(n_products, size=n_lines, p=global_p / global_p.sum())]
    item = np.where(rng.random(n_lines) < 0.7, theme * theme_size + within, anywhere)
    return pd.DataFrame({"order": order, "item": item})


# ------------------------------------------------------------------------------- children


def notebook_dense(lines: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The original notebook's way, dense throughout: pivot -> 0/1 -> XᵀX -> zero diagonal -> cosine -> argsort."""
    from sklearn.metrics.pairwise import cosine_similarity

    basket = lines.pivot_table(index="InvoiceNo", columns="StockCode", values="Quantity", aggfunc="sum",
                               fill_value=0)
    basket = (basket > 0).astype(np.float64)
    co = basket.T.dot(basket)
    items = np.asarray(co.columns)
    co = co.to_numpy(copy=True)  # pandas 3 (copy-on-write) hands out read-only views
    np.fill_diagonal(co, 0)
    sim = cosine_similarity(co)
    np.fill_diagonal(sim, -np.inf)  # a product is not its own neighbour
    top = np.argsort(-sim, axis=1, kind="stable")[:, :K]
    return items, top, np.take_along_axis(sim, top, axis=1)


def child(task: str, similarity: str, source: str, out: Path) -> None:
    if task == "synthetic":
        lines = synthetic_order_lines()
        order_col, item_col = "order", "item"
    else:
        lines = read_order_lines(Path(source), ONLINE_RETAIL, "online-retail")
        lines["Quantity"] = 1  # the pivot's value column (cleaning kept quantities > 0 only)
        order_col, item_col = "InvoiceNo", "StockCode"
    loaded = memory()
    started = time.perf_counter()
    if task == "dense":
        items, top, scores = notebook_dense(lines)
        facts = {}
    else:
        inter = interaction_matrix(lines, order_col, item_col)
        found, n_pairs = top_similar(inter.matrix, similarity=similarity, k=K, min_count=DEFAULT_MIN_COUNT)
        items, top, scores = np.asarray(inter.col_ids), found.indices, found.scores
        facts = {"orders": inter.shape[0], "products": inter.shape[1], "pairs": n_pairs,
                 "lines": len(lines)}
    seconds = time.perf_counter() - started
    mem = memory()
    lists = {}
    if task != "synthetic":
        for i, item in enumerate(items):
            keep = (top[i] >= 0) & (scores[i] > 0)  # the dense way also lists products scored 0
            lists[str(item)] = [[str(items[j]), float(s)] for j, s in zip(top[i][keep], scores[i][keep])]
    out.write_text(json.dumps({"seconds": seconds, "peak": mem["peak"], "loaded_rss": loaded["rss"],
                               "lists": lists, **facts}))


def measure(task: str, similarity: str, source: str, timeout: float | None = None) -> dict | None:
    """Run one measurement in a fresh process; None if it ran out of time."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        try:
            done = subprocess.run([sys.executable, __file__, "--child", task, "--similarity", similarity,
                                   "--online-retail", source, "--child-out", str(out)], capture_output=True,
                                  text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        if done.returncode != 0:
            raise SystemExit(f"{task} ({similarity}) failed:\n{done.stderr[-3000:]}")
        return json.loads(out.read_text())


# ------------------------------------------------------------------------------- comparison


def compare_lists(sparse: dict, dense: dict) -> tuple[int, int, int, list[str]]:
    """(identical, identical up to the order of tied scores, different, a few different ids)."""
    same = tied = 0
    different = []
    for item, a in sparse.items():
        b = dense.get(item, [])
        if [x for x, _ in a] == [x for x, _ in b]:
            same += 1
            continue
        sa, sb = np.array([s for _, s in a]), np.array([s for _, s in b])
        if sa.size == sb.size and np.allclose(sa, sb, rtol=0, atol=1e-9):
            last = sa[-1] if sa.size else 0
            firm_a = {x for x, s in a if s > last + 1e-9}
            firm_b = {x for x, s in b if s > last + 1e-9}
            if firm_a == firm_b:
                tied += 1
                continue
        different.append(item)
    return same, tied, len(different), different[:5]


def gb(n: float) -> str:
    return f"{n / GB:.2f} GB"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--online-retail", default=str(SHARED / "online_retail" / "online_retail.csv.gz"))
    p.add_argument("--skip-synthetic", action="store_true")
    p.add_argument("--synthetic-similarities", nargs="*", default=list(SIMILARITIES), choices=SIMILARITIES)
    p.add_argument("--synthetic-timeout", type=float, default=300,
                   help="seconds after which a synthetic build is stopped (the original notebook's similarity needs minutes)")
    p.add_argument("--similarity", default=DEFAULT_SIMILARITY)
    p.add_argument("--child", choices=["dense", "sparse", "synthetic"])
    p.add_argument("--child-out", type=Path)
    args = p.parse_args()
    if not args.child:
        print(describe(), flush=True)
    if args.child:
        child(args.child, args.similarity, args.online_retail, args.child_out)
        return

    print(f"1. Full Online Retail ({args.online_retail}), top {K}, the original notebook's similarity (cooccurrence-cosine)")
    dense = measure("dense", "cooccurrence-cosine", args.online_retail)
    sparse = measure("sparse", "cooccurrence-cosine", args.online_retail)
    print(f"   data: {sparse['lines']:,} order lines, {sparse['orders']:,} orders, {sparse['products']:,} products, "
          f"{sparse['pairs']:,} pairs bought together")
    print(f"   original notebook, dense pandas pivot + dense cosine: {dense['seconds']:6.1f} s, peak {gb(dense['peak'])} "
          f"(+{gb(dense['peak'] - dense['loaded_rss'])} over the loaded lines)")
    print(f"   sparse build (cooccurrence-cosine):      {sparse['seconds']:6.1f} s, peak {gb(sparse['peak'])} "
          f"(+{gb(sparse['peak'] - sparse['loaded_rss'])} over the loaded lines)")
    print(f"   ratio: sparse is {dense['seconds'] / sparse['seconds']:.1f}x faster, "
          f"{(dense['peak'] - dense['loaded_rss']) / max(sparse['peak'] - sparse['loaded_rss'], 1):.1f}x less "
          f"memory over the loaded lines ({dense['peak'] / sparse['peak']:.1f}x less peak)")
    same, tied, diff, examples = compare_lists(sparse["lists"], dense["lists"])
    print(f"   same top-{K} lists: {same:,} of {len(sparse['lists']):,} products identical, {tied:,} identical up to "
          f"the order of tied scores, {diff:,} different{' ' + str(examples) if diff else ''}")
    if DEFAULT_SIMILARITY != "cooccurrence-cosine":
        default = measure("sparse", DEFAULT_SIMILARITY, args.online_retail)
        print(f"   sparse build, default similarity ({DEFAULT_SIMILARITY}): {default['seconds']:.1f} s, "
              f"peak {gb(default['peak'])}; {dense['seconds'] / default['seconds']:.0f}x faster than the original notebook's way")

    if args.skip_synthetic:
        return
    print("2. Synthetic: 5,000,000 order lines over 50,000 products (mean basket 10); target < 60 s, < 4 GB peak")
    order = [DEFAULT_SIMILARITY] + [s for s in args.synthetic_similarities if s != DEFAULT_SIMILARITY]
    for similarity in order:
        label = f"{similarity}{' (default)' if similarity == DEFAULT_SIMILARITY else ''}"
        r = measure("synthetic", similarity, "", timeout=args.synthetic_timeout)
        if r is None:
            print(f"   sparse build, {label:<24} stopped after {args.synthetic_timeout:.0f} s  target NOT met "
                  f"(raise --synthetic-timeout to let it finish)")
            continue
        if similarity == DEFAULT_SIMILARITY:
            n_orders, n_products = r["orders"], r["products"]
            print(f"   data: {r['lines']:,} lines, {n_orders:,} orders, {n_products:,} products, "
                  f"{r['pairs']:,} pairs bought together")
            print(f"   dense way would need: products x products float64 {gb(8 * n_products ** 2)}, "
                  f"orders x products pivot {gb(8 * n_orders * n_products)}")
        met = "met" if r["seconds"] < 60 and r["peak"] < 4 * GB else "NOT met"
        print(f"   sparse build, {label:<24} {r['seconds']:6.1f} s, peak {gb(r['peak'])}  target {met}")


if __name__ == "__main__":
    main()
