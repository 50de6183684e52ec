"""Where the EASE fit (recommend/core/ease.py) stops being practical here, to justify MAX_ITEMS.

For each catalogue size: a synthetic orders x products matrix (10 orders per product, 1 + Poisson(3)
products per order, popularity ∝ 1/rank^0.8, seeded), then in a fresh process each: the wall time
and peak memory of ease.fit(..., max_items=n) (a dense float32 inverse over n items: n² memory,
n³ time), and the Jaccard similar-products build (top_similar k=50) on the same matrix
as the baseline (the earlier default, and the lists kept past the guard). Peak memory is the process's peak resident set (VmHWM, reset just before the
timed call) minus its resident set at that moment, so numpy/LAPACK buffers are counted.
50,000 products are not fitted whole (50,000² float32 alone is 10 GB): that figure is
extrapolated from the largest measured size; what the guard does there (max_items=MAX_ITEMS) is
measured. A size whose predicted memory exceeds 80% of MemAvailable is skipped.
Usage:
    python bench/ease_scale.py [--items 2000 5000 10000 15000 20000] [--budget-s 60] [--budget-gb 2]
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from harness import describe, in_child, reset_peak, rss  # bench/harness.py, beside this script
from recommend.core import ease
from recommend.similar_products.similarity import top_similar

GUARD_PRODUCTS = 50_000
LAM = 25.0
REPEATS = 2  # --repeats
MB = 1024 ** 2


def orders_matrix(n_products: int, orders_per_product: int = 10, seed: int = 0) -> sp.csr_matrix:
    """Binary orders x products CSR, popularity ∝ 1/rank^0.8 (products shuffled so rank is not column)."""
    rng = np.random.default_rng(seed)
    n_orders = orders_per_product * n_products
    sizes = 1 + rng.poisson(3, n_orders)
    p = 1 / np.arange(1, n_products + 1) ** 0.8
    items = rng.permutation(n_products)[rng.choice(n_products, size=int(sizes.sum()), p=p / p.sum())]
    rows = np.repeat(np.arange(n_orders), sizes)
    m = sp.csr_matrix((np.ones(len(items), dtype=np.float32), (rows, items)), shape=(n_orders, n_products))
    m.data[:] = 1.0  # an order holding a product twice is still 0/1
    return m


def child(method: str, n: int, max_items: int, repeats: int) -> dict:
    """In a fresh process (harness.in_child): the fit's best time and its peak growth past the matrix."""
    matrix = orders_matrix(n)
    reset_peak()  # VmHWM from the current resident set
    before = rss()
    seconds, facts = [], {}
    for _ in range(repeats):  # the best of a few: a busy shared machine only ever adds time
        started = time.perf_counter()
        if method == "ease":
            model = ease.fit(matrix, LAM, max_items=max_items)
            facts = {"kept": len(model.kept), "dropped": model.dropped}
            del model
        else:
            top_similar(matrix, similarity="jaccard", k=50)
        seconds.append(time.perf_counter() - started)
    return {"seconds": min(seconds), "peak": rss("VmHWM") - before, "orders": matrix.shape[0], "nnz": matrix.nnz,
            **facts}


def measure(method: str, n: int, max_items: int) -> dict:
    try:
        return in_child(child, method, n, max_items, REPEATS)[0]
    except EOFError:  # the child died (out of memory, say) before it could answer
        raise SystemExit(f"{method} at {n:,} items failed in its process") from None


def available() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable"):
            return int(line.split()[1]) * 1024
    return 0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--items", type=int, nargs="+", default=[2000, 5000, 10000, 15000, 20000])
    p.add_argument("--budget-s", type=float, default=60.0, help="longest acceptable fit, seconds")
    p.add_argument("--budget-gb", type=float, default=2.0, help="largest acceptable peak memory growth, GB")
    p.add_argument("--repeats", type=int, default=2, help="calls per measurement; the fastest is reported")
    args = p.parse_args()
    global REPEATS
    REPEATS = args.repeats
    print(describe(), flush=True)
    print(f"EASE fit (λ={LAM:g}, dense float32 inverse) against the Jaccard build (top_similar k=50), "
          f"each in its own process, best of {REPEATS}; peak = peak resident set growth during the calls; "
          f"load average at start {os.getloadavg()[0]:.2f}")
    print(f"{'items':>7} {'orders':>8} {'fit s':>8} {'peak MB':>9} {'jaccard s':>10} {'ratio':>7}")
    done = []  # (n, fit seconds, fit peak bytes)
    per_n2 = 12.0  # bytes per item² before anything is measured: dense gram + inverse + sparse gram, roughly
    for n in sorted(args.items):
        if per_n2 * 1.2 * n * n > 0.8 * available():
            print(f"{n:>7,} skipped: predicted {per_n2 * 1.2 * n * n / MB:,.0f} MB > 80% of "
                  f"{available() / MB:,.0f} MB available", flush=True)
            continue
        fit, jac = measure("ease", n, n), measure("jaccard", n, n)
        done.append((fit.get("kept", n), fit["seconds"], fit["peak"]))
        per_n2 = fit["peak"] / fit["kept"] ** 2
        print(f"{n:>7,} {fit['orders']:>8,} {fit['seconds']:>8.2f} {fit['peak'] / MB:>9,.0f} "
              f"{jac['seconds']:>10.2f} {fit['seconds'] / jac['seconds']:>6.1f}x", flush=True)
    if not done:
        return
    n_max, t_max, m_max = done[-1]
    if len(done) >= 2:
        (n0, t0, m0), (n1, t1, m1) = done[-2], done[-1]
        print(f"measured scaling between the two largest sizes: time ∝ n^{np.log(t1 / t0) / np.log(n1 / n0):.2f}, "
              f"memory ∝ n^{np.log(m1 / m0) / np.log(n1 / n0):.2f}")
    t50, m50 = t_max * (GUARD_PRODUCTS / n_max) ** 3, m_max * (GUARD_PRODUCTS / n_max) ** 2
    print(f"{GUARD_PRODUCTS:>7,} EXTRAPOLATED from {n_max:,} (n³ time, n² memory), not run: fit ~{t50:,.0f} s "
          f"(~{t50 / 60:.0f} min), peak ~{m50 / MB:,.0f} MB (~{m50 / 1024 ** 3:.1f} GB; "
          f"{available() / 1024 ** 3:.1f} GB available here)")
    guard, jac = measure("ease", GUARD_PRODUCTS, ease.MAX_ITEMS), measure("jaccard", GUARD_PRODUCTS, GUARD_PRODUCTS)
    print(f"{GUARD_PRODUCTS:>7,} with the guard max_items={ease.MAX_ITEMS:,}: fitted {guard['kept']:,}, "
          f"dropped {guard['dropped']:,}; fit {guard['seconds']:.2f} s, peak {guard['peak'] / MB:,.0f} MB; "
          f"jaccard on all {GUARD_PRODUCTS:,}: {jac['seconds']:.2f} s; ratio {guard['seconds'] / jac['seconds']:.1f}x")
    budget = args.budget_gb * 1024 ** 3
    within = [n for n, t, m in done if t <= args.budget_s and m <= budget]
    n_time = n_max * (args.budget_s / t_max) ** (1 / 3)
    n_mem = n_max * (budget / m_max) ** 0.5
    limit = min(n_time, n_mem)
    print(f"Conclusion: largest measured size within {args.budget_s:g} s and {args.budget_gb:g} GB: "
          f"{f'{max(within):,}' if within else 'none'} items; by the scaling the limit is ~{limit:,.0f} items "
          f"({'memory' if n_mem < n_time else 'time'} binds: ~{n_time:,.0f} by time, ~{n_mem:,.0f} by memory), "
          f"so MAX_ITEMS={ease.MAX_ITEMS:,} is {'within' if ease.MAX_ITEMS <= limit else 'OVER'} it "
          f"and {GUARD_PRODUCTS:,} is {GUARD_PRODUCTS / limit:.1f}x past it.")
    print(f"Load average at end {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores (other work here only adds time).")


if __name__ == "__main__":
    main()
