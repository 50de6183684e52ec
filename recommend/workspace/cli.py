"""`python -m recommend build`: a shop's orders (a file or a database) into a workspace of every
recommender the data allows, artifacts/<name>/."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import settings
from recommend.core.order_columns import FLAGS, add_sql_arguments, described, resolve, source
from recommend.workspace import model


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = ("Build a shop's workspace: basket rules, similar products and (with a customer column) "
                     "similar customers from one orders table, into ARTIFACTS/NAME, replaced whole. "
                     "Every page of the app then offers it in its data-set picker.")
    p.add_argument("--orders", type=Path, default=None, metavar="FILE",
                   help="order lines: CSV (any delimiter and encoding), CSV.gz, .xlsx or Parquet")
    add_sql_arguments(p)
    for role, flag in FLAGS.items():
        p.add_argument(flag, default=None, metavar="COL",
                       help=f"the column of {model.ORDERS.field(role).label} (guessed from the header; '' for none)")
    p.add_argument("--name", required=True, help="the workspace's name, e.g. myshop (letters, digits, - and _)")
    p.add_argument("--artifacts", type=Path, default=settings.ARTIFACTS_DIR,
                   help=f"where workspaces live (default {settings.ARTIFACTS_DIR})")
    p.add_argument("--min-support", type=float, default=None,
                   help="basket rules' min support (default: the highest step that finds 20 rules, as the app does)")
    p.add_argument("--min-confidence", type=float, default=None, help="basket rules' min confidence (default 0.2)")
    p.add_argument("--min-lift", type=float, default=None, help="basket rules' min lift (default 2)")


def run(args) -> int:
    name = model.check_name(args.name)
    src = source(args, args.orders)
    given = {role: getattr(args, flag[2:].replace("-", "_")) for role, flag in FLAGS.items()}
    mapping = resolve(src, given, needed=("order", "item"))
    print(f"Reading {src.name}: {described(mapping)}", file=sys.stderr)
    table = src.read([c for c in dict.fromkeys(mapping.values()) if c])
    orders = model.mapped_orders(table, mapping, src.name)
    done = [0.0]

    def progress(what: str, share: float) -> None:
        if share > done[0]:
            done[0] = share
            print(f"[{share:4.0%}] {what}...", file=sys.stderr, flush=True)

    workspace = model.build(orders, name, source=src.describe(len(table)), artifacts=args.artifacts,
                            min_support=args.min_support, min_confidence=args.min_confidence,
                            min_lift=args.min_lift, progress=progress, rebuild=args.command_line)
    m = workspace.manifest
    dropped = sum(m["dropped"].values())
    print(f"Workspace {name}: {m['order_lines']:,} order lines ({dropped:,} dropped: returns or blank ids), "
          f"{m['orders']:,} orders, {m['products']:,} products, {m['customers']:,} customers; "
          f"built {', '.join(workspace.parts)} in {m['seconds']['total']} s into {workspace.folder}.")
    for part, why in m["parts_skipped"].items():
        print(f"  no {part.replace('_', ' ')}: {why}")
    return 0
