"""Validation and evaluation of similar products on the full data sets; prints the two tables.

1. The original notebook's validation (Superstore, the only set with categories): per category, the share of
   products whose best recommendation is in the same category, and the share of their top 5,
   next to random (expected value) and most-popular recommendations. Default similarity.
2. The offline evaluation (recommend.similar_products.evaluation): orders split by time (the
   last 20% of orders are the test); in each test order with two or more products known from
   training, one product is hidden and recommended back from the rest. HitRate, Precision,
   Recall, NDCG, MAP and Coverage at 5 and 10 for the four similarities and several minimum
   co-occurrence counts, against the popularity baseline. This is how the default was chosen.
Usage:
    python bench/evaluate_similar_products.py [--datasets ../shared/datasets] [--min-counts 1 2 3 5]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from harness import DATASETS, describe  # bench/harness.py, beside this script
from recommend.similar_products.model import build, read_order_lines
from shop.demos import ONLINE_RETAIL, SUPERSTORE
from recommend.similar_products.similarity import DEFAULT_MIN_COUNT, DEFAULT_SIMILARITY
from recommend.similar_products.evaluation import evaluate_similar_products

SHARED = DATASETS
SHOWN = ["users", "HitRate@5", "NDCG@5", "HitRate@10", "Precision@10", "Recall@10", "NDCG@10", "MAP@10",
         "Coverage@10", "build_s"]


def percent(table: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    out = table.copy()
    for c in columns:
        out[c] = out[c].map(lambda v: f"{100 * v:.1f}%")
    return out


def validation(datasets: Path, similarities: list[str]) -> None:
    path = datasets / "superstore" / "sample_superstore.csv"
    lines = read_order_lines(path, SUPERSTORE)
    print(f"== Validation: same category, Superstore full ({path.name}), top 5 ==")
    for similarity in similarities:
        result = build(lines, SUPERSTORE, similarity=similarity)
        v = result.validation
        m = result.manifest
        print(f"-- {similarity}{' (default)' if similarity == DEFAULT_SIMILARITY else ''}: "
              f"{m['products_with_similar']:,} of {m['products']:,} products have similar products")
        cols = ["top1_same", "topk_same", "random_top1", "popular_top1", "popular_topk"]
        shown = v if similarity == DEFAULT_SIMILARITY else v[v["category"] == "(all)"]
        print(percent(shown, cols)[["level", "category", "with_recommendations", *cols]]
              .rename(columns={"with_recommendations": "products", "topk_same": "top5_same",
                               "random_top1": "random", "popular_topk": "popular_top5"})
              .to_string(index=False))
        print()


def evaluation(datasets: Path, min_counts: list[int]) -> None:
    for label, path, columns, clean in [
        ("Online Retail", datasets / "online_retail" / "online_retail.csv.gz", ONLINE_RETAIL, "online-retail"),
        ("Superstore", datasets / "superstore" / "sample_superstore.csv", SUPERSTORE, "none"),
    ]:
        started = time.perf_counter()
        lines = read_order_lines(path, columns, clean)
        table, facts = evaluate_similar_products(lines, columns, min_counts=tuple(min_counts), ks=(5, 10),
                                                 with_ease=True)
        print(f"== Evaluation: {label} full, time split (train {facts['train_orders']:,} orders, test "
              f"{facts['test_orders']:,} from {facts['test_cut'][:10]}), {facts['queries']:,} test orders "
              f"with a product hidden, {facts['train_products']:,} products ==")
        with pd.option_context("display.width", 200, "display.max_columns", 20):
            print(table[SHOWN].round(4).to_string())
        if "ease_lambda" in facts:
            by = ", ".join(f"{lam:g}: {hr:.4f}" for lam, hr in facts["ease_validation_hitrate10"].items())
            print(f"EASE: lambda {facts['ease_lambda']:g} chosen on a validation split of the training orders "
                  f"(HitRate@10 there by lambda: {by}); {facts['ease_items']:,} products fitted")
        best = table.drop(index=[("random", "-"), ("popularity", "-")])["NDCG@10"].idxmax()
        hits = (table["HitRate@10"] * table["users"]).round().astype(int)
        print(f"best NDCG@10: {best[0]} (min count {best[1]}), {hits[best]} hidden products found in the top 10 "
              f"(random {hits[('random', '-')]}, popularity {hits[('popularity', '-')]}); default: "
              f"{DEFAULT_SIMILARITY} (min count {DEFAULT_MIN_COUNT}); {time.perf_counter() - started:.0f} s\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", type=Path, default=SHARED)
    p.add_argument("--min-counts", type=int, nargs="+", default=[1, 2, 3, 5])
    p.add_argument("--skip-evaluation", action="store_true")
    args = p.parse_args()
    print(describe(), flush=True)
    validation(args.datasets, [DEFAULT_SIMILARITY, "cooccurrence-cosine", "cosine", "lift"])
    if not args.skip_evaluation:
        evaluation(args.datasets, args.min_counts)


if __name__ == "__main__":
    main()
