"""Basket rules speed, against mlxtend (fpgrowth, apriori), efficient-apriori and apyori, in one run.

Every method gets the same baskets (a list of item-name lists, prepared untimed) and the same
thresholds, and is timed from that list to its rules (ours: encode, itemsets, rules and the
lookup). Each runs in its own process (clean memory figures, a time limit, a memory cap), and
its rules are checked against ours: the same (antecedent, consequent) pairs with the same
support, confidence and lift. A rule exactly at a threshold (confidence 1/5 at min 0.2) is
kept by us and efficient-apriori, but float rounding drops it in some libraries; such
differences are reported as ties.

Cases: Market Basket Optimisation and Groceries at the original notebook's thresholds; Online Retail
invoices (returns dropped: 20,136 baskets, 4,065 items) at min_support 0.01 and 0.005, max
length 4; 1,000,000 synthetic baskets. Targets: >= 5x the fastest other method on Online
Retail at both supports; 1M baskets in < 60 s with peak memory < 2 GB.

Usage:
    python bench/rules.py [--datasets ../shared/datasets] [--timeout 240] [--cases ...] [--methods ...]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
from harness import DATASETS, describe, peak_mb  # bench/harness.py, beside this script
from common.shop_tables import OrderColumns
from recommend.rules.model import build
from recommend.rules.rules import split_items
from recommend.rules.baskets import Baskets, baskets_from_lists, from_codes, read_long, read_wide

SHARED = DATASETS
METHODS = ["vitrine", "mlxtend-fpgrowth", "mlxtend-apriori", "efficient-apriori", "apyori"]
SEED = {"min_support": 0.0045, "min_confidence": 0.2, "min_lift": 2.0, "max_length": 5}
RETAIL = {"min_confidence": 0.2, "min_lift": 2.0, "max_length": 4}
CASES = {
    "market-basket": ("Market Basket Optimisation", SEED),
    "groceries": ("Groceries", SEED),
    "retail-0.01": ("Online Retail invoices", {**RETAIL, "min_support": 0.01}),
    "retail-0.005": ("Online Retail invoices", {**RETAIL, "min_support": 0.005}),
    "synthetic-1m": ("Synthetic, 1,000,000 baskets", {**SEED, "min_support": 0.001}),
}
MEMORY_CAP = 12 * 1024 ** 3  # per worker process; a method that needs more is reported as out of memory
TIE = 1e-9


def synthetic_baskets(n: int = 1_000_000, n_items: int = 5_000, seed: int = 0) -> Baskets:
    """Zipf-popular items (1 + Poisson(5) per basket) plus, in half the baskets, one of 400 planted
    patterns of 2-5 items, each of its items kept with probability 0.8."""
    rng = np.random.default_rng(seed)
    popularity = 1 / np.arange(1, n_items + 1) ** 1.05
    popularity /= popularity.sum()
    sizes = rng.poisson(5, n) + 1
    items = rng.choice(n_items, size=int(sizes.sum()), p=popularity)
    owners = np.repeat(np.arange(n), sizes)
    pattern_len = rng.integers(2, 6, 400)
    patterns = [rng.choice(n_items, size=k, replace=False) for k in pattern_len]
    pattern_pop = 1 / np.arange(1, 401) ** 0.8
    pattern_pop /= pattern_pop.sum()
    who = np.flatnonzero(rng.random(n) < 0.5)
    which = rng.choice(400, size=len(who), p=pattern_pop)
    planted_owner = np.repeat(who, pattern_len[which])
    planted_items = np.concatenate([patterns[w] for w in which])
    kept = rng.random(len(planted_items)) < 0.8
    names = np.array([f"item{j:05d}" for j in range(n_items)], dtype=object)
    return from_codes(np.concatenate([owners, planted_owner[kept]]), np.concatenate([items, planted_items[kept]]),
                      names, {"name": "synthetic"})


def load_case(case: str, datasets: Path) -> Baskets:
    if case == "market-basket":
        return read_wide(ROOT / "data" / "baskets" / "market_basket_optimisation.csv")
    if case == "groceries":
        return read_wide(datasets / "groceries" / "groceries.csv")
    if case.startswith("retail"):
        return read_long(datasets / "online_retail" / "online_retail.csv.gz",
                         OrderColumns(order="InvoiceNo", item="Description", quantity="Quantity"))
    return synthetic_baskets()




def run_method(method: str, baskets: Baskets, t: dict) -> tuple[float, list]:
    """(seconds, rules as [antecedent items, consequent items, support, confidence, lift])."""
    s, c, lift, length = t["min_support"], t["min_confidence"], t["min_lift"], t["max_length"]
    if method == "vitrine":
        transactions = baskets.as_lists()
        start = time.perf_counter()
        result = build(baskets_from_lists(transactions), **t)
        seconds = time.perf_counter() - start
        r = result.rules
        return seconds, [[split_items(a), split_items(b), x, y, z] for a, b, x, y, z in
                         zip(r["antecedents"], r["consequents"], r["support"], r["confidence"], r["lift"])]
    transactions = baskets.as_lists()
    if method.startswith("mlxtend"):
        import pandas as pd
        from mlxtend.frequent_patterns import apriori, association_rules, fpgrowth
        from mlxtend.preprocessing import TransactionEncoder

        start = time.perf_counter()
        encoder = TransactionEncoder()
        onehot = encoder.fit(transactions).transform(transactions, sparse=True)
        frame = pd.DataFrame.sparse.from_spmatrix(onehot, columns=encoder.columns_)
        miner = fpgrowth if method == "mlxtend-fpgrowth" else apriori
        found = miner(frame, min_support=s, use_colnames=True, max_len=length)
        rules = association_rules(found, num_itemsets=len(transactions), metric="confidence", min_threshold=c)
        rules = rules[rules["lift"] >= lift]
        seconds = time.perf_counter() - start
        return seconds, [[sorted(a), sorted(b), x, y, z] for a, b, x, y, z in
                         zip(rules["antecedents"], rules["consequents"], rules["support"], rules["confidence"],
                             rules["lift"])]
    if method == "efficient-apriori":
        from efficient_apriori import apriori

        tuples = [tuple(b) for b in transactions]
        start = time.perf_counter()
        _, rules = apriori(tuples, min_support=s, min_confidence=c, max_length=length)
        rules = [r for r in rules if r.lift >= lift]
        seconds = time.perf_counter() - start
        return seconds, [[sorted(r.lhs), sorted(r.rhs), r.support, r.confidence, r.lift] for r in rules]
    if method == "apyori":
        from apyori import apriori

        start = time.perf_counter()
        records = list(apriori(transactions, min_support=s, min_confidence=c, min_lift=lift, max_length=length))
        seconds = time.perf_counter() - start
        return seconds, [[sorted(o.items_base), sorted(o.items_add), r.support, o.confidence, o.lift]
                         for r in records for o in r.ordered_statistics if o.items_base]
    raise ValueError(method)


def worker(case: str, method: str, datasets: Path, out: Path) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
    baskets = load_case(case, datasets)
    # Warm-up on a few baskets first (imports, first-call costs), so the timing is of the work.
    small = baskets_from_lists(baskets.as_lists()[:300])
    run_method(method, small, {**CASES[case][1], "min_support": 0.05})
    seconds, rules = run_method(method, baskets, CASES[case][1])
    out.write_text(json.dumps({"seconds": seconds, "rules": rules, "peak_mb": peak_mb(),
                               "baskets": baskets.n_baskets, "items": baskets.n_items}), encoding="utf-8")


def run_worker(case: str, method: str, datasets: Path, timeout: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, __file__, "--worker", case, method, str(out), "--datasets", str(datasets)]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"status": f"> {timeout:.0f} s"}
        if done.returncode != 0 or not out.is_file():
            tail = (done.stderr or "").strip().splitlines()[-1:] or [f"exit {done.returncode}"]
            if "MemoryError" in tail[0] or done.returncode in (-9, 137):
                status = "out of memory"
            elif done.returncode < 0:  # e.g. SIGSEGV when an allocation fails under the memory cap
                status = f"crashed ({-done.returncode})"
                tail = [f"killed by signal {-done.returncode} (under the {MEMORY_CAP // 1024 ** 3} GB cap)"]
            else:
                status = "failed"
            return {"status": status, "detail": tail[0][:160]}
        return {"status": "ok", **json.loads(out.read_text(encoding="utf-8"))}


def compare(ours: list, theirs: list, t: dict) -> str:
    """'same', 'same but N ties' (rules exactly at a threshold), or what differs."""
    def keyed(rules):
        return {(tuple(a), tuple(c)): (s, conf, lift) for a, c, s, conf, lift in rules}

    a, b = keyed(ours), keyed(theirs)
    at_threshold = lambda m: abs(m[1] - t["min_confidence"]) < TIE or abs(m[2] - t["min_lift"]) < TIE  # noqa: E731
    only_ours = [k for k in a.keys() - b.keys()]
    only_theirs = [k for k in b.keys() - a.keys()]
    real = [k for k in only_ours if not at_threshold(a[k])] + [k for k in only_theirs if not at_threshold(b[k])]
    common = a.keys() & b.keys()
    worst = max((max(abs(x - y) / max(abs(y), 1e-300) for x, y in zip(a[k], b[k])) for k in common), default=0.0)
    if real or worst > 1e-9:
        return f"DIFFERENT ({len(only_ours)} only ours, {len(only_theirs)} only theirs, worst rel. diff {worst:.1e})"
    ties = len(only_ours) + len(only_theirs)
    return "same" if not ties else f"same but {ties} at-threshold tie{'s' if ties > 1 else ''}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", type=Path, default=SHARED)
    p.add_argument("--timeout", type=float, default=240, help="seconds per method and case")
    p.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    p.add_argument("--methods", nargs="+", choices=METHODS, default=METHODS)
    p.add_argument("--worker", nargs=3, metavar=("CASE", "METHOD", "OUT"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if not args.worker:
        print(describe(), flush=True)
    if args.worker:
        worker(args.worker[0], args.worker[1], args.datasets, Path(args.worker[2]))
        return 0
    methods = ["vitrine"] + [m for m in args.methods if m != "vitrine"]
    print(f"Basket rules: seconds from a list of baskets to rules, one run, {os.cpu_count()} CPUs; "
          f"each method in its own process (limit {args.timeout:.0f} s, {MEMORY_CAP // 1024 ** 3} GB).")
    header = f"{'case':<14}{'baskets':>10}{'items':>7}{'support':>9}{'len':>4}{'rules':>8}" + "".join(
        f"{m:>19}" for m in methods) + f"{'speed-up':>10}"
    print(header)
    print("-" * len(header))
    notes, summary = [], {}
    for case in args.cases:
        t = CASES[case][1]
        results = {m: run_worker(case, m, args.datasets, args.timeout) for m in methods}
        ours = results["vitrine"]
        if ours["status"] != "ok":
            print(f"{case:<14} vitrine {ours['status']}: {ours.get('detail', '')}")
            continue
        cells = []
        for m in methods:
            r = results[m]
            cells.append(f"{r['seconds']:.3f} s" if r["status"] == "ok" else r["status"])
            if m != "vitrine" and r["status"] == "ok":
                verdict = compare(ours["rules"], r["rules"], t)
                notes.append(f"{case}: {m} {len(r['rules']):,} rules, output {verdict}")
            elif m != "vitrine":
                notes.append(f"{case}: {m} {r['status']} {r.get('detail', '')}".rstrip())
        others = {m: r["seconds"] for m, r in results.items() if m != "vitrine" and r["status"] == "ok"}
        fastest = min(others, key=others.get) if others else None
        ratio = others[fastest] / ours["seconds"] if fastest else float("nan")
        summary[case] = (ours, fastest, others.get(fastest), ratio)
        print(f"{case:<14}{ours['baskets']:>10,}{ours['items']:>7,}{t['min_support']:>9g}{t['max_length']:>4}"
              f"{len(ours['rules']):>8,}" + "".join(f"{c:>19}" for c in cells)
              + (f"{ratio:>9.1f}x" if fastest else f"{'n/a':>10}"))
    print()
    for note in notes:
        print(note)
    print()
    for case, (ours, fastest, theirs, ratio) in summary.items():
        if case.startswith("retail") and fastest:  # with --methods vitrine alone there is nothing to compare
            print(f"{case}: vitrine {ours['seconds']:.3f} s vs fastest other ({fastest}) {theirs:.3f} s "
                  f"-> {ratio:.1f}x (target >= 5x)")
        if case == "synthetic-1m":
            print(f"{case}: vitrine {ours['seconds']:.2f} s (target < 60 s), worker peak memory "
                  f"{ours['peak_mb']:,.0f} MB, making the data included (target < 2,048 MB)"
                  + (f"; fastest other ({fastest}) {theirs:.1f} s -> {ratio:.1f}x" if fastest else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
