"""Same answers from both engines on the full public files (../shared/datasets): every basket rule
(support, confidence, lift to 1e-9), every itemset and the lookup for Market Basket, Groceries and
Online Retail; every product's k best on full Online Retail for each similarity; every customer's neighbours and
recommendations on full Online Retail; a whole workspace (python -m recommend build) of full
Online Retail: the same mapped order lines and every part's files byte for byte. One Spark
session (local[2]) for the run; time of each engine beside it (Spark's includes its planning on
data this small: these files are what one machine does in seconds, see bench/spark_scaling.py).

Usage:
    python bench/spark_same_results.py [--master local[2]] [--parts rules products customers workspace]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from harness import DATASETS, describe, timed  # bench/harness.py, beside this script
from common.shop_tables import OrderColumns
from common.spark import read_table, session
from recommend.rules import model as rules_model
from recommend.rules import spark as rules_spark
from recommend.rules.baskets import read_long, read_wide
from recommend.similar_products import model as products_model
from recommend.similar_products import spark as products_spark
from recommend.similar_products.similarity import MODELS

SHARED = DATASETS
SEED = {"min_support": 0.0045, "min_confidence": 0.2, "min_lift": 2.0, "max_length": 5}
RETAIL = {"min_support": 0.01, "min_confidence": 0.2, "min_lift": 2.0, "max_length": 4}  # as bench/rules.py
RETAIL_FILE = SHARED / "online_retail" / "online_retail.csv.gz"
BASKETS = OrderColumns(order="InvoiceNo", item="Description", quantity="Quantity")  # rules read product names
PARTS = ("rules", "products", "customers", "workspace")


def compare_rules(local: rules_model.BasketRules, spark: rules_model.BasketRules) -> str:
    gaps = []
    for name in ("rules", "itemsets"):
        a, b = getattr(local, name), getattr(spark, name)
        if len(a) != len(b):
            return f"DIFFERENT: {len(a):,} vs {len(b):,} {name}"
        text = [c for c in a.columns if a[c].dtype == object or str(a[c].dtype).startswith(("str", "string"))]
        if not (a[text].astype(str).to_numpy() == b[text].astype(str).to_numpy()).all():
            return f"DIFFERENT {name}"
        numbers = [c for c in a.columns if c not in text]
        finite = np.isfinite(a[numbers].to_numpy(dtype=float))
        gap = np.abs(a[numbers].to_numpy(dtype=float) - b[numbers].to_numpy(dtype=float))[finite]
        gaps.append(float(gap.max(initial=0.0)))
    same_lookup = local.lookup_json() == spark.lookup_json()
    return (f"{len(local.rules):,} rules, {len(local.itemsets):,} itemsets: "
            f"{'same' if max(gaps) <= 1e-9 and same_lookup else 'DIFFERENT'} (max gap {max(gaps):.1e}, "
            f"lookup {'same' if same_lookup else 'DIFFERENT'})")




def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--master", default="local[2]")
    p.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS), help="what to compare (default: all)")
    args = p.parse_args()
    if not RETAIL_FILE.is_file():
        raise SystemExit(f"{RETAIL_FILE} not found: this benchmark needs ../shared/datasets (see its README).")
    print(describe())
    spark = session(args.master)
    print(f"Spark {spark.version}, master {spark.sparkContext.master}")
    cases = [
        ("Market Basket", SEED, lambda: read_wide(SHARED / "market_basket" / "Market_Basket_Optimisation.csv"),
         lambda: rules_spark.wide_baskets(spark, str(SHARED / "market_basket" / "Market_Basket_Optimisation.csv"))),
        ("Groceries", SEED, lambda: read_wide(SHARED / "groceries" / "groceries.csv"),
         lambda: rules_spark.wide_baskets(spark, str(SHARED / "groceries" / "groceries.csv"))),
        ("Online Retail", RETAIL, lambda: read_long(RETAIL_FILE, BASKETS),
         lambda: rules_spark.long_baskets(read_table(spark, RETAIL_FILE), BASKETS)),
    ]
    if "rules" in args.parts:
        print("Basket rules (local engine vs Spark):")
    for name, thresholds, local_read, spark_read in cases if "rules" in args.parts else []:
        local, local_s = timed(lambda: rules_model.build(local_read(), **thresholds))
        remote, spark_s = timed(lambda: rules_spark.build(spark_read(), **thresholds))
        print(f"  {name:<14} min_support {thresholds['min_support']:<6g} local {local_s:5.1f} s, spark {spark_s:5.1f} s "
              f"({remote.manifest['input']['miner']}): {compare_rules(local, remote)}", flush=True)
    if "products" in args.parts:
        products(spark)
    if "customers" in args.parts:
        customers(spark)
    if "workspace" in args.parts:
        workspace(args.master)
    spark.stop()
    return 0


def products(spark) -> None:
    """Similar products on full Online Retail, every similarity."""
    columns = OrderColumns(order="InvoiceNo", item="StockCode", name="Description")
    lines = products_model.read_order_lines(RETAIL_FILE, columns)
    spark_lines = products_spark.order_lines(read_table(spark, RETAIL_FILE), columns)
    print(f"Similar products, full Online Retail ({len(lines):,} order lines, no cleaning), k=5:")
    for similarity in MODELS:
        local, local_s = timed(lambda: products_model.build(lines, columns, similarity=similarity))
        remote, spark_s = timed(lambda: products_spark.build(spark_lines, columns, similarity=similarity))
        a, b = local.neighbours, remote.neighbours
        same_ids = len(a) == len(b) and (a[["item", "rank", "similar_item"]].to_numpy(dtype=str)
                                         == b[["item", "rank", "similar_item"]].to_numpy(dtype=str)).all()
        gap = float(np.abs(a["score"].to_numpy() - b["score"].to_numpy()).max()) if len(a) == len(b) else np.nan
        ties = "" if same_ids else _tie_note(a, b)
        print(f"  {similarity:<20} local {local_s:5.1f} s, spark {spark_s:6.1f} s: {len(a):,} entries, "
              f"{'same lists' if same_ids else 'lists differ'} (max score gap {gap:.1e}){ties}", flush=True)


def customers(spark) -> None:
    """Similar customers on full Online Retail (cleaned), both recommenders."""
    from recommend.similar_customers import model as customers_model
    from recommend.similar_customers import spark as customers_spark

    purchases = customers_model.read_purchases(RETAIL_FILE)
    print(f"Similar customers, full Online Retail ({len(purchases):,} cleaned lines), k=30 neighbours, n=10:")
    for which in customers_model.MODELS:
        local, local_s = timed(lambda: customers_model.build(purchases, model=which))
        remote, spark_s = timed(lambda: customers_spark.build(
            customers_spark.read_purchases(read_table(spark, RETAIL_FILE)), model=which))
        parts = []
        for name, key in (("neighbours", "neighbour"), ("recommendations", "item")):
            a, b = getattr(local, name), getattr(remote, name)
            score = "similarity" if name == "neighbours" else "score"
            same = len(a) == len(b) and (a[key].astype(str).to_numpy() == b[key].astype(str).to_numpy()).all()
            gap = float(np.abs(a[score].to_numpy(float) - b[score].to_numpy(float)).max()) if len(a) == len(b) else np.nan
            parts.append(f"{name} {len(a):,} {'same' if same else 'DIFFER'} (max gap {gap:.1e})")
        print(f"  {which:<10} local {local_s:5.1f} s, spark {spark_s:6.1f} s: {'; '.join(parts)}", flush=True)


def workspace(master: str) -> None:
    """python -m recommend build on full Online Retail, both engines, compared file by file."""
    import tempfile

    from recommend import cli
    from recommend.workspace import model as workspace_model

    with tempfile.TemporaryDirectory(prefix="vitrine-bench-") as folder:
        built = {}
        for engine in ("local", "spark"):
            args = ["build", "--orders", str(RETAIL_FILE), "--name", engine, "--artifacts", folder, "--engine", engine]
            code, seconds = timed(lambda: cli.main(args + (["--spark-master", master] if engine == "spark" else [])))
            if code != 0:
                print(f"  {engine} build failed ({code})")
                return
            built[engine] = (workspace_model.open_workspace(engine, Path(folder)), seconds)
        (local, local_s), (remote, spark_s) = built["local"], built["spark"]
        same_orders = local.orders().equals(remote.orders().astype(local.orders().dtypes.to_dict()))
        files = sorted(p.relative_to(local.folder) for p in local.folder.rglob("*.*")
                       if p.is_file() and p.name not in ("manifest.json", "orders.parquet"))
        differ = [str(f) for f in files if (local.folder / f).read_bytes() != (remote.folder / f).read_bytes()]
        m = local.manifest
        print(f"Workspace (python -m recommend build), full Online Retail: {m['order_lines']:,} mapped lines, "
              f"{m['parts']['basket_rules']['rules']:,} rules at min support "
              f"{m['parts']['basket_rules']['thresholds']['min_support']:g}:")
        print(f"  local {local_s:5.1f} s, spark {spark_s:6.1f} s: order lines {'same' if same_orders else 'DIFFER'}; "
              f"{len(files)} part files {'all byte-identical' if not differ else 'DIFFER: ' + ', '.join(differ)}",
              flush=True)


def _tie_note(a: pd.DataFrame, b: pd.DataFrame) -> str:
    """Where the lists differ, whether only within tied scores (the same score at each rank)."""
    if len(a) != len(b):
        return f"; {len(a):,} vs {len(b):,} entries"
    same_scores = np.allclose(a["score"].to_numpy(), b["score"].to_numpy(), rtol=0, atol=1e-9)
    differ = int((a["similar_item"].astype(str).to_numpy() != b["similar_item"].astype(str).to_numpy()).sum())
    return f"; {differ:,} entries differ, {'all within ties' if same_scores else 'NOT only ties'}"


if __name__ == "__main__":
    sys.exit(main())
