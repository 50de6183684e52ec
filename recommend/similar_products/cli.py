"""`python -m recommend similar-products`: products bought in the same orders, top k per product."""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from common.errors import InputError
from common.shop_tables import OrderColumns
from common.spark import add_engine_arguments, check_engine_arguments, refuse_database
from recommend.cli import add_from, require_query
from recommend.core.order_columns import (add_column_arguments, add_sql_arguments, described, given_columns,
                                          resolve, source)
from recommend.similar_products import model
from recommend.similar_products.similarity import DEFAULT_K, DEFAULT_MIN_COUNT, DEFAULT_SIMILARITY, MODELS


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = ("Item-item co-occurrence from order lines: the k most similar products of every product. "
                     "Writes similar_products.csv, similar_products.json, products.csv, validation.csv "
                     "(with --category-col) and manifest.json.")
    p.add_argument("--orders", help="CSV (or .csv.gz) with one row per order line (needed to build); with "
                                    "--engine spark also Parquet, a folder of part files, or a URI (s3a://, hdfs://...)")
    add_sql_arguments(p)
    add_column_arguments(p, ("order", "item", "name", "category"), several_categories=True)
    p.add_argument("--model", "--similarity", dest="similarity", choices=MODELS, default=DEFAULT_SIMILARITY,
                   metavar="MODEL",
                   help=f"one of {', '.join(MODELS)}: how to score two products (--similarity is its older name; default {DEFAULT_SIMILARITY}: learned weights on the pairs bought "
                        "together, 1.43x jaccard's HitRate@10 in the evaluation of docs/recommenders.md, fitted on the 10,000 most "
                        "ordered products, the rest keep jaccard; cooccurrence-cosine is the original notebook's)")
    p.add_argument("-k", type=int, default=DEFAULT_K, help="similar products per product")
    p.add_argument("--min-count", type=int, default=DEFAULT_MIN_COUNT,
                   help="ignore product pairs bought together fewer times than this")
    p.add_argument("--max-order-items", type=int, default=None, metavar="N",
                   help="count only the first N products (by id) of larger orders: their pairs grow with the "
                        "square of their size (off by default; recorded in the manifest)")
    p.add_argument("--clean", choices=model.CLEANINGS, default="none",
                   help="online-retail: drop cancellations, returns, postage/fees/vouchers, zero prices "
                        "(needs the Quantity and UnitPrice columns of the UCI file)")
    p.add_argument("--out", type=Path, help="artifact folder to write, replaced whole (needed to build)")
    p.add_argument("--item", default=None, help="also print the products similar to this product id (or name)")
    add_from(p, "--item")
    add_engine_arguments(p)


def run(args) -> int:
    require_query(args, args.item, "--item")
    if args.artifact is not None:
        return _print_answer(model.load(args.artifact), args.item)
    missing = [flag for flag, value in (("--orders", args.orders or args.orders_sql or args.orders_table
                                                    or args.orders_query), ("--out", args.out))
               if value is None]
    if missing:
        raise InputError(f"Building needs {', '.join(missing)} (or answer from a built artifact with "
                         "--from DIR --item ID).")
    if args.min_count < 1:
        raise InputError(f"--min-count must be at least 1, not {args.min_count}.")
    check_engine_arguments(args)
    src = source(args, args.orders)
    if args.engine == "spark":
        refuse_database(src)
        from common.spark import read_table, session

        spark = session(args.spark_master, args.spark_conf)
        src = read_table(spark, args.orders, "Orders")
    elif not src.is_sql and not Path(args.orders).is_file():
        raise InputError(f"Orders file {args.orders} not found.")
    found = resolve(src, given_columns(args), needed=("order", "item"))
    # similar products reads the order, the product, its name and categories: no date (build time)
    columns = OrderColumns(order=found.order, item=found.item, name=found.name, categories=found.categories,
                           quantity=found.quantity, price=found.price)
    categories = list(columns.categories)
    if args.engine == "spark":
        from recommend.similar_products import spark as engine

        result = engine.build(engine.order_lines(src, columns, args.clean), columns, similarity=args.similarity,
                              k=args.k, min_count=args.min_count, max_order_items=args.max_order_items)
        inputs = {**src.describe(), "spark_master": spark.sparkContext.master}
    elif src.is_sql:
        table = src.read(model.needed(columns) + model.cleaning_columns(columns, args.clean))
        table.attrs["name"] = src.name
        lines, inputs = model.read_order_lines(table, columns, args.clean), src.describe(len(table))
    else:
        lines, inputs = model.read_order_lines(args.orders, columns, args.clean), {"orders": str(args.orders)}
    if args.engine == "local":
        result = model.build(lines, columns, similarity=args.similarity, k=args.k, min_count=args.min_count,
                             max_order_items=args.max_order_items, progress=sys.stderr.isatty())
    model.write(result, args.out, {**inputs, "columns": {
        "order": columns.order, "item": columns.item, "name": columns.name, "categories": list(categories)}},
        rebuild=args.command_line)
    m = result.manifest
    used = replace(columns, quantity=None, price=None) if args.clean == "none" else columns
    print(f"Wrote the {m['k']} most similar products of {m['products_with_similar']:,} of {m['products']:,} "
          f"products ({m['similarity']}, min count {m['min_count']}; {m['orders']:,} orders) to {args.out} "
          f"in {m['seconds']} s ({m['engine']} engine); columns: {described(used)}.")
    if not m["validation"]:
        print("  (no --category-col: no same-category validation, no validation.csv)")
    for row in m["validation"] or []:
        print(f"  same {row['level']}: best {row['top1_same']:.1%}, top {m['k']} {row['topk_same']:.1%} "
              f"(random {row['random_topk']:.1%}, most popular {row['popular_top1']:.1%} / "
              f"{row['popular_topk']:.1%})")
    return _print_answer(result, args.item) if args.item is not None else 0


def _print_answer(result: model.SimilarProducts, item: str) -> int:
    """The product with this id, else the most ordered one whose name holds `item`."""
    products = result.products
    if not (products["item"] == item).any():
        found = model.find_products(products, item, limit=1)
        if found.empty:
            raise InputError(f"No product id or name matches {item!r}.")
        item = found["item"].iloc[0]
    name = products.loc[products["item"] == item, "name"].iloc[0]
    answer = model.answer(result, item)
    print(f"Similar to {name} ({item}):" if len(answer) else f"{name} ({item}) was never bought with another product.")
    for row in answer.itertuples():
        print(f"  {row.rank:>2}. {row.id:<12} {str(row.name)[:50]:<50} score {row.score:.3f}, "
              f"bought together {row.co_count}x")
    return 0
