"""`python -m recommend similar-products`: products bought in the same orders, top k per product."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from recommend.cli import InputError
from recommend.similar_products import (
    CLEANINGS, DEFAULT_K, DEFAULT_MIN_COUNT, DEFAULT_SIMILARITY, SIMILARITIES, OrderColumns,
    build_similar_products, read_order_lines, write_similar_products,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "similar-products", help="products similar to each product (bought in the same orders)",
        description="Item-item co-occurrence from order lines: the k most similar products of every product. "
                    "Writes similar_products.csv, similar_products.json, products.csv, validation.csv "
                    "(with --category-col) and manifest.json.")
    p.add_argument("--orders", type=Path, required=True, help="CSV (or .csv.gz) with one row per order line")
    p.add_argument("--order-col", required=True, help="column holding the order id")
    p.add_argument("--item-col", required=True, help="column holding the product id")
    p.add_argument("--name-col", default=None, help="column holding the product name")
    p.add_argument("--category-col", nargs="+", default=[], metavar="COL",
                   help="category column(s); each gets the same-category validation (first = main)")
    p.add_argument("--similarity", choices=SIMILARITIES, default=DEFAULT_SIMILARITY,
                   help=f"how to score two products (default {DEFAULT_SIMILARITY}, chosen by the evaluation; "
                        "cooccurrence-cosine is the original notebook's)")
    p.add_argument("-k", type=int, default=DEFAULT_K, help="similar products per product")
    p.add_argument("--min-count", type=int, default=DEFAULT_MIN_COUNT,
                   help="ignore product pairs bought together fewer times than this")
    p.add_argument("--clean", choices=CLEANINGS, default="none",
                   help="online-retail: drop cancellations, returns, postage/fees/vouchers, zero prices "
                        "(needs the Quantity and UnitPrice columns of the UCI file)")
    p.add_argument("--out", type=Path, required=True, help="artifact folder to write (replaced whole)")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.k < 1:
        raise InputError(f"-k must be at least 1, not {args.k}.")
    if args.min_count < 1:
        raise InputError(f"--min-count must be at least 1, not {args.min_count}.")
    columns = OrderColumns(args.order_col, args.item_col, args.name_col, tuple(args.category_col), None, args.clean)
    lines = read_order_lines(args.orders, columns)
    result = build_similar_products(lines, columns, similarity=args.similarity, k=args.k,
                                    min_count=args.min_count, progress=sys.stderr.isatty())
    write_similar_products(result, args.out, {"orders": str(args.orders)})
    m = result.manifest
    print(f"Wrote the {m['k']} most similar products of {m['products_with_similar']:,} of {m['products']:,} "
          f"products ({m['similarity']}, min count {m['min_count']}; {m['orders']:,} orders) to {args.out} "
          f"in {m['seconds']} s.")
    if not m["validation"]:
        print("  (no --category-col: no same-category validation, no validation.csv)")
    for row in m["validation"] or []:
        print(f"  same {row['level']}: best {row['top1_same']:.1%}, top {m['k']} {row['topk_same']:.1%} "
              f"(random {row['random_topk']:.1%}, most popular {row['popular_top1']:.1%} / "
              f"{row['popular_topk']:.1%})")
    return 0
