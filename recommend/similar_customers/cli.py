"""`python -m recommend similar-customers`: user-user cosine over purchases for the neighbours,
EASE or the neighbours for the recommendations, for every customer, or one customer's answer;
in this process, or on Apache Spark with --engine spark (recommend/similar_customers/spark.py,
the same artifact)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import settings
from common.errors import InputError
from common.shop_tables import OrderColumns
from common.spark import add_engine_arguments, check_engine_arguments, refuse_database
from recommend.cli import add_from, require_query
from recommend.core.order_columns import add_column_arguments, add_sql_arguments, given_columns, resolve, source
from recommend.similar_customers import model


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = "User-user cosine on the customer x product purchase matrix."
    p.add_argument("--orders", "--purchases", dest="purchases", metavar="FILE", default=str(settings.DEMO_ONLINE_RETAIL),
                   help="order lines CSV or .csv.gz (with --engine spark also Parquet, a folder of part files, or any "
                        "URI Spark reads: s3a://, hdfs://...); default: the demo Online Retail sample")
    add_sql_arguments(p)
    add_column_arguments(p, ("customer", "item", "name", "quantity", "order", "date"),
                         examples={"customer": "CustomerID", "item": "StockCode", "name": "Description",
                                   "quantity": "Quantity", "order": "InvoiceNo", "date": "InvoiceDate"})
    p.add_argument("--no-clean", action="store_true",
                   help="skip Online Retail's cleaning (cancellations, returns, postage and fees)")
    p.add_argument("-k", type=int, default=model.DEFAULT_NEIGHBOURS, help="neighbours per customer")
    p.add_argument("-n", type=int, default=model.DEFAULT_RECOMMENDATIONS, help="recommendations per customer")
    p.add_argument("--weighting", choices=model.WEIGHTINGS, default=model.DEFAULT_WEIGHTING)
    p.add_argument("--model", choices=model.MODELS, default=model.DEFAULT_MODEL, metavar="MODEL",
                   help=f"one of {', '.join(model.MODELS)}: what recommends: ease (learned item-item weights, the default: 1.13x the neighbours' "
                        "NDCG@10 in the evaluation of docs/recommenders.md; fitted on the 10,000 most bought products, customers with only "
                        "rarer ones get user-user's) or user-user (what the nearest customers bought)")
    p.add_argument("--ease-lambda", type=float, default=model.EASE_LAMBDA, help="EASE's regularisation")
    p.add_argument("--out", type=Path, default=None, help="artifact folder to write")
    p.add_argument("--customer", default=None, help="print this customer's neighbours and recommendations")
    add_from(p, "--customer")
    add_engine_arguments(p)
    p.add_argument("--skip-popular", type=float, default=None, metavar="SHARE",
                   help="with --engine spark: products bought by more than this share of the customers (e.g. 0.2) "
                        "do not make candidate pairs (pairs found otherwise keep their exact cosine); off by "
                        "default, so the neighbours are exact and equal the local engine's")


def run(args) -> int:
    require_query(args, args.customer, "--customer")
    if args.artifact is not None:
        return _print_answer(model.load(args.artifact), args.customer)
    if args.out is None and args.customer is None:
        raise InputError("Give --out DIR to write every customer's answer, --customer ID to see one, or both.")
    check_engine_arguments(args)
    if args.skip_popular is not None and args.engine != "spark":
        raise InputError("--skip-popular only applies with --engine spark (the local engine compares every pair "
                         "of customers sharing a product); add --engine spark, or drop it.")
    src = source(args, args.purchases)
    if args.engine == "spark":
        result, inputs, cols = _build_on_spark(args, src)
    else:
        result, inputs, cols = _build_here(args, src)
    if args.out is not None:
        used = {k: cols.mapping()[k] for k in ("customer", "item", "name", "quantity", "order", "date")}
        model.write(result, args.out, {**inputs, "columns": used}, rebuild=args.command_line)
        m = result.manifest
        print(f"Wrote neighbours and recommendations of {m['customers']} customers ({m['products']} products, "
              f"k={m['k']}, {m['weighting']}, recommendations by {m['model']}) to {args.out} in {m['seconds']} s "
              f"({m['engine']} engine).")
    if args.customer is not None:
        return _print_answer(result, args.customer)
    return 0


def _columns(args, src) -> OrderColumns:
    """The columns of each field (those not named are guessed from the header)."""
    return resolve(src, given_columns(args), needed=("customer", "item"))


def _build_here(args, src) -> tuple[model.SimilarCustomers, dict, OrderColumns]:
    if not src.is_sql and not Path(args.purchases).is_file():
        raise InputError(f"Orders file {args.purchases} not found.")
    cols = _columns(args, src)
    if src.is_sql:
        table = src.read(cols.needed("customer", "item", "name", "quantity", "order", "date", "price"))
        table.attrs["name"] = src.name
        purchases, inputs = model.read_purchases(table, cols, clean=not args.no_clean), src.describe(len(table))
    else:
        purchases, inputs = model.read_purchases(Path(args.purchases), cols, clean=not args.no_clean), {"purchases": str(args.purchases)}
    result = model.build(purchases, cols, k=args.k, n=args.n, weighting=args.weighting,
                         model=args.model, ease_lambda=args.ease_lambda, progress=sys.stderr.isatty())
    return result, inputs, cols


def _build_on_spark(args, src) -> tuple[model.SimilarCustomers, dict, OrderColumns]:
    """The purchases read and worked on by Spark (recommend/similar_customers/spark.py): files or folders, not a database."""
    from common.artifacts import file_sha256
    from common.spark import is_remote, read_table, session
    from recommend.similar_customers import spark as engine

    refuse_database(src)
    path = str(args.purchases)
    local_file = not is_remote(path) and Path(path).is_file()
    if not is_remote(path) and not Path(path).exists():
        raise InputError(f"Orders file {path} not found.")
    spark = session(args.spark_master, args.spark_conf)
    table = read_table(spark, path, "Orders")
    cols = _columns(args, table)
    result = engine.build(engine.read_purchases(table, cols, clean=not args.no_clean), cols, k=args.k, n=args.n,
                          weighting=args.weighting, model=args.model, ease_lambda=args.ease_lambda,
                          skip_popular=args.skip_popular, progress=sys.stderr.isatty())
    inputs = {"purchases": path, **({"sha256": file_sha256(path)} if local_file else {}), "engine": "spark",
              "spark_master": spark.sparkContext.master}
    return result, inputs, cols


def _print_answer(result: model.SimilarCustomers, customer: str) -> int:
    near, recs = model.neighbours(result, customer), model.answer(result, customer)
    if near.empty:
        print(f"Customer {customer} shares no product with anyone: no neighbours, no recommendations.")
        return 0
    print(f"Customer {customer}: most similar customers")
    for row in near.head(10).itertuples():
        print(f"  {row.rank:>2}. {row.id:<10} similarity {row.score:.3f}, {row.shared_items} products in common")
    print("Recommended")
    for row in recs.itertuples():
        print(f"  {row.rank:>2}. {row.id:<8} {str(row.name)[:40]:<40} score {row.score:.3f}  ({row.why})")
    return 0
