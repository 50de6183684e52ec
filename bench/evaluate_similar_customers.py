"""Evaluate similar-customer recommendations on UCI Online Retail, split by time.

    python bench/evaluate_similar_customers.py [--purchases ../shared/datasets/online_retail/online_retail.csv.gz]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from harness import DATASETS, describe  # bench/harness.py, beside this script
from recommend.similar_customers.model import read_purchases
from recommend.similar_customers.evaluation import evaluate_customers

SHARED = DATASETS / "online_retail" / "online_retail.csv.gz"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--purchases", type=Path, default=SHARED)
    p.add_argument("--cut", default="2011-09-01")
    args = p.parse_args()
    print(describe(), flush=True)
    start = time.perf_counter()
    purchases = read_purchases(args.purchases)
    grid = [{"weighting": w, "k": k} for w in ("binary", "log-quantity", "tfidf") for k in (10, 30, 50)]
    table, facts = evaluate_customers(purchases, cut=args.cut, grid=grid)
    print(f"{len(purchases):,} cleaned purchase lines; train before {args.cut}, test after; "
          f"relevant = products a customer bought after the cut and never before")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.round(4).to_string())
    print(f"EASE: λ={facts['ease_lambda']:g} chosen by NDCG@10 on a validation cut of the training months "
          f"({ {k: round(v, 4) for k, v in facts['ease_validation_ndcg10'].items()} }), {facts['ease_products']:,} products")
    ratio = table.loc[f"ease λ={facts['ease_lambda']:g}", "NDCG@10"] / table.loc["user-user binary k=30", "NDCG@10"]
    print(f"EASE NDCG@10 / the earlier default (user-user binary, 30 neighbours): {ratio:.2f}x (target 1.10x)")
    print(f"evaluated in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
