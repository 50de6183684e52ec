"""`python -m recommend evaluate`: how good each recommender is on a demo set or a workspace,
held out by time; prints the table and writes the evaluation artifact the app's pages read.

It lives in shop/ because it opens data sets by name through the registry, which sits above
recommend/; recommend/cli.py's table names it like every other sub-command."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

import settings
from common.errors import InputError
from recommend.core.order_columns import (FLAGS, add_column_arguments, add_sql_arguments, described, given_columns,
                                          resolve, source)
from recommend.quality import evaluation
from shop import evaluation as dataset_evaluation
from shop.demos import DEMOS

FLAG_PARTS = {part.replace("_", "-"): part for part in evaluation.PARTS}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = ("Evaluate similar products, similar customers and similar items on held-out data (split by "
                     "time), against popularity and the earlier default, and write the evaluation artifact "
                     "that each page's \"How good is this?\" section shows.")
    p.add_argument("--part", choices=[*FLAG_PARTS, "all"], default="all",
                   help="which recommender to evaluate (default: every one the data set has)")
    p.add_argument("--dataset", "--name", dest="dataset", default=None,
                   help="a workspace's name (python -m recommend build --name) or a demo set: "
                        + ", ".join(name for name, demo in DEMOS.items() if set(demo.parts) & set(evaluation.PARTS)))
    p.add_argument("--artifacts", type=Path, default=settings.ARTIFACTS_DIR,
                   help=f"where workspaces live (default {settings.ARTIFACTS_DIR})")
    files = p.add_argument_group("or a file (instead of --dataset)")
    files.add_argument("--orders", type=Path, default=None, metavar="FILE",
                       help="order lines (CSV, CSV.gz, .xlsx, Parquet) for similar products and customers")
    add_sql_arguments(p)
    add_column_arguments(p, FLAGS)
    files.add_argument("--ratings", type=Path, default=None, metavar="FILE",
                       help="ratings (user, item, rating, time) for similar items")
    files.add_argument("--ratings-map", nargs="+", default=[], metavar="FIELD=COL",
                       help="name columns of --ratings whose guess is wrong, e.g. user=Reviewer time=When")
    files.add_argument("--out", type=Path, default=None,
                       help="where a file's evaluation goes (default ARTIFACTS/evaluation/<file name>/<part>)")


def _parts(dataset: str, artifacts: Path, chosen: str) -> list[str]:
    return [FLAG_PARTS[chosen]] if chosen != "all" else dataset_evaluation.parts_of(dataset, artifacts)


def _from_files(args) -> list[tuple[str, pd.DataFrame, object, dict]]:
    """(part, data, columns, what was evaluated) for --orders / --orders-sql and --ratings."""
    from recommend.workspace.cli import read_extra
    from common.shop_tables import OrderColumns
    from recommend.workspace.model import customer_orders, mapped_orders, rated_items

    found = []
    if args.orders is not None or args.orders_sql is not None:
        src = source(args, args.orders)
        given = given_columns(args)
        mapping = resolve(src, given, needed=("order", "item"))
        print(f"Reading {src.name}: {described(mapping)}", file=sys.stderr)
        orders = mapped_orders(src.read(mapping.needed()), mapping, src.name)
        about = {"dataset": src.name, "source": src.describe(len(orders)), "columns": mapping.mapping()}
        found.append(("similar_products", orders, OrderColumns.mapped(orders.columns), about))
        if "customer" in orders.columns:
            found.append(("similar_customers", customer_orders(orders), OrderColumns.mapped(orders.columns), about))
    if args.ratings is not None:
        ratings, path = read_extra("ratings", args.ratings, args.ratings_map)
        found.append(("similar_movies", rated_items(ratings, None)[0], None, {"dataset": path.name}))
    chosen = FLAG_PARTS.get(args.part)
    return [f for f in found if chosen in (None, f[0])]


def run(args) -> int:
    from_files = args.orders is not None or args.orders_sql is not None or args.ratings is not None
    if from_files == (args.dataset is not None):
        raise InputError("Say what to evaluate: --dataset NAME (a workspace or demo set), or --orders FILE "
                         "(or --orders-sql URL) and/or --ratings FILE.")
    if from_files:
        for part, data, columns, about in _from_files(args):
            result = evaluation.run(part, data, columns=columns, step=_progress(part), about=about)
            stem = Path(str(about["dataset"])).name.split(".")[0] or "file"
            folder = (args.out / part) if args.out else evaluation.folder_for(part, stem)
            _report(result, about["dataset"], evaluation.write(result, folder, args.command_line))
        return 0
    for part in _parts(args.dataset, args.artifacts, args.part):
        result, folder = dataset_evaluation.evaluate_dataset(part, args.dataset, artifacts=args.artifacts,
                                                     step=_progress(part), rebuild=args.command_line)
        _report(result, args.dataset, folder)
    return 0


def _progress(part: str):
    shown = [0.0]

    def step(what: str, share: float) -> None:
        if share >= shown[0]:
            shown[0] = share
            print(f"[{share:4.0%}] {part.replace('_', ' ')}: {what}", file=sys.stderr, flush=True)

    return step


def _report(result: evaluation.Evaluation, dataset: str, folder: Path) -> None:
    print(f"== {result.part.replace('_', ' ')} on {dataset} ==")
    print(result.split)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(result.table.round(4).to_string(index=False))
    print(f"default / earlier default, NDCG@10: {result.ratio():.2f}x; written to {folder}\n")
