"""`python -m recommend similar-customers`: user-user cosine over purchases, neighbours and
recommendations for every customer, or one customer's answer."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import settings
from recommend.cli import InputError
from recommend.similar_customers import (
    DEFAULT_NEIGHBOURS, DEFAULT_RECOMMENDATIONS, DEFAULT_WEIGHTING, WEIGHTINGS, PurchaseColumns,
    answer_for, build_similar_customers, read_purchases, write_similar_customers,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("similar-customers", help="customers who buy alike, and what to recommend",
                       description="User-user cosine on the customer x product purchase matrix.")
    p.add_argument("--purchases", type=Path, default=settings.DEMO_ONLINE_RETAIL,
                   help="purchase lines CSV (default: the demo Online Retail sample)")
    p.add_argument("--customer-col", default="CustomerID")
    p.add_argument("--item-col", default="StockCode")
    p.add_argument("--name-col", default="Description")
    p.add_argument("--quantity-col", default="Quantity")
    p.add_argument("--no-clean", action="store_true",
                   help="skip Online Retail's cleaning (cancellations, returns, postage and fees)")
    p.add_argument("-k", type=int, default=DEFAULT_NEIGHBOURS, help="neighbours per customer")
    p.add_argument("-n", type=int, default=DEFAULT_RECOMMENDATIONS, help="recommendations per customer")
    p.add_argument("--weighting", choices=WEIGHTINGS, default=DEFAULT_WEIGHTING)
    p.add_argument("--out", type=Path, default=None, help="artifact folder to write")
    p.add_argument("--customer", default=None, help="print this customer's neighbours and recommendations")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.out is None and args.customer is None:
        raise InputError("Give --out DIR to write every customer's answer, --customer ID to see one, or both.")
    cols = PurchaseColumns(args.customer_col, args.item_col, args.name_col or None, args.quantity_col or None)
    purchases = read_purchases(args.purchases, cols, clean=not args.no_clean)
    result = build_similar_customers(purchases, cols, k=args.k, n=args.n, weighting=args.weighting,
                                     progress=sys.stderr.isatty())
    if args.out is not None:
        write_similar_customers(result, args.out, {"purchases": str(args.purchases)})
        m = result.manifest
        print(f"Wrote neighbours and recommendations of {m['customers']} customers ({m['products']} products, "
              f"k={m['k']}, {m['weighting']}) to {args.out} in {m['seconds']} s.")
    if args.customer is not None:
        near, recs = answer_for(result, args.customer)
        if near.empty:
            print(f"Customer {args.customer} shares no product with anyone: no neighbours, no recommendations.")
            return 0
        print(f"Customer {args.customer}: most similar customers")
        for row in near.head(10).itertuples():
            print(f"  {row.rank:>2}. {row.neighbour:<10} similarity {row.similarity:.3f}, {row.shared_items} products in common")
        print("Recommended")
        for row in recs.itertuples():
            print(f"  {row.rank:>2}. {row.item:<8} {str(row.name)[:40]:<40} score {row.score:.3f}  ({row.why})")
    return 0
