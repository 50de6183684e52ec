"""`python -m recommend rules`: association rules and the "show next to X" lookup from a basket file."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import settings
from common.artifacts import file_sha256
from common.errors import InputError
from common.shop_tables import OrderColumns
from common.spark import add_engine_arguments, check_engine_arguments, refuse_database
from recommend.cli import add_from, require_query
from recommend.rules import defaults, model
from recommend.core.order_columns import add_column_arguments, add_sql_arguments, given_columns, resolve, source
from recommend.rules.baskets import FORMATS, guess_format, long_baskets, read_baskets


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = ("Mine association rules from shopping baskets and write rules.csv, itemsets.csv, "
                     "lookup.json and manifest.json. max_length counts every item of a rule.")
    p.add_argument("--orders", "--baskets", dest="baskets", metavar="FILE", default=str(settings.DEMO_BASKETS),
                   help="orders or baskets CSV (.csv or .csv.gz; with --engine spark also Parquet, a folder of part files, or any URI Spark reads: s3a://, hdfs://...); default: the demo Market Basket Optimisation file")
    p.add_argument("--format", choices=FORMATS, default=None,
                   help="wide: one basket per line, no header; long: one row per order line "
                        "(default: long when a column is named or the file starts with a header, else wide)")
    add_column_arguments(p, ("order", "item", "quantity"), aliases={"order": "--basket-col"},
                         examples={"order": "InvoiceNo (long files)",
                                   "item": "Description (rules read best over names: guessed as the name column, "
                                           "else the product id)"})
    add_sql_arguments(p)
    p.add_argument("--min-support", type=float, default=defaults.MIN_SUPPORT,
                   help=f"share of baskets an itemset must be in (default {defaults.MIN_SUPPORT})")
    p.add_argument("--min-confidence", type=float, default=defaults.MIN_CONFIDENCE,
                   help=f"default {defaults.MIN_CONFIDENCE}")
    p.add_argument("--min-lift", type=float, default=defaults.MIN_LIFT, help=f"default {defaults.MIN_LIFT}")
    p.add_argument("--max-length", type=int, default=defaults.MAX_LENGTH,
                   help=f"most items in a rule, both sides together (default {defaults.MAX_LENGTH})")
    p.add_argument("--show", type=int, default=defaults.SHOW_NEXT_TO,
                   help=f"items to list next to each item (default {defaults.SHOW_NEXT_TO})")
    p.add_argument("--out", type=Path, default=defaults.DEFAULT_OUT,
                   help=f"artifact folder to write (default {defaults.DEFAULT_OUT})")
    p.add_argument("--item", default=None, help="also print what to show next to this item")
    add_from(p, "--item")
    add_engine_arguments(p)


def run(args) -> int:
    require_query(args, args.item, "--item")
    if args.artifact is not None:
        result = model.load(args.artifact)
    else:
        result = _build(args)
    if args.item is not None:
        shown = model.answer(result, args.item)
        print(f"Next to {args.item}: {', '.join(shown['id'])}")
    return 0


def _build(args) -> model.BasketRules:
    check_engine_arguments(args)
    src = source(args, args.baskets)
    if args.engine == "spark":
        result, inputs = _mine_on_spark(args, src)
    else:
        result, inputs = _mine_here(args, src)
    model.write(result, args.out, inputs, rebuild=args.command_line)
    m = result.manifest
    print(f"{m['baskets']:,} baskets, {m['items']:,} items: {m['frequent_itemsets']:,} frequent itemsets, "
          f"{m['rules']:,} rules over {m['itemsets_with_rules']:,} itemsets, {m['items_with_rules']:,} items "
          f"with a rule of their own; wrote {args.out} in {m['seconds']['total']} s ({m['engine']} engine).")
    print(f"Shown next to items without a rule: {', '.join(result.default_recommendation)}")
    return result


def _thresholds(args) -> dict:
    return {"min_support": args.min_support, "min_confidence": args.min_confidence, "min_lift": args.min_lift,
            "max_length": args.max_length, "show": args.show}


def _mine_on_spark(args, src) -> tuple[model.BasketRules, dict]:
    """The baskets read and mined by Spark (recommend/rules/spark.py): files or folders, not a database."""
    from common.spark import is_remote, read_table, session, table_format
    from recommend.rules import spark as engine

    refuse_database(src)
    path = str(args.baskets)
    local_file = not is_remote(path) and Path(path).is_file()
    if not is_remote(path) and not Path(path).exists():
        raise InputError(f"Basket file {path} not found.")
    named = any(c is not None for c in (args.order_col, args.item_col, args.quantity_col))
    fmt = args.format or ("long" if named or table_format(path) == "parquet" else
                          guess_format(path) if local_file else None)
    if fmt is None:
        raise InputError(f"Say how {path} is laid out: --format wide (one basket per line) or --format long "
                         "(order lines with a header).")
    spark = session(args.spark_master, args.spark_conf)
    if fmt == "wide":
        if named:
            raise InputError("Column names only apply to long files; use --format long, or drop the column flags.")
        baskets = engine.wide_baskets(spark, path)
        columns = None
    else:
        table = read_table(spark, path, "Basket")
        columns = _columns(args, table)
        baskets = engine.long_baskets(table, columns)
    result = engine.build(baskets, **_thresholds(args))
    inputs = {"baskets": path, **({"sha256": file_sha256(path)} if local_file else {}), "format": fmt,
              "columns": _described(columns), "engine": "spark", "spark_master": spark.sparkContext.master}
    return result, inputs


def _mine_here(args, src) -> tuple[model.BasketRules, dict]:
    if src.is_sql:
        if args.format == "wide":
            raise InputError("A database table is read as order lines: drop --format wide.")
        fmt, columns = "long", _columns(args, src)
        table = src.read(columns.needed())
        baskets = long_baskets(table, columns, {"name": src.name})
        inputs = {**src.describe(len(table)), "format": fmt, "columns": _described(columns)}
    else:
        if not Path(args.baskets).is_file():
            raise InputError(f"Basket file {args.baskets} not found.")
        fmt, columns = _format_and_columns(args, src)
        baskets = read_baskets(args.baskets, fmt, columns)
        inputs = {"baskets": str(args.baskets), "sha256": file_sha256(args.baskets), "format": fmt,
                  "columns": _described(columns)}
    result = model.build(baskets, **_thresholds(args), progress=sys.stderr.isatty())
    return result, {**inputs, "engine": "local"}


def _format_and_columns(args, src) -> tuple[str, OrderColumns | None]:
    """Wide, or long with its order, item and quantity columns (those not named are guessed)."""
    named = any(c is not None for c in (args.order_col, args.item_col, args.quantity_col))
    fmt = args.format or ("long" if named else guess_format(args.baskets))
    if fmt == "wide":
        if named:
            raise InputError("Column names only apply to long files; use --format long, or drop the column flags.")
        return fmt, None
    return fmt, _columns(args, src)


def _columns(args, src) -> OrderColumns:
    """The order, item and quantity columns of order lines (those not named are guessed)."""
    given = given_columns(args)
    found = resolve(src, {"order": given["order"], "quantity": given["quantity"]}, needed=("order",))
    item = args.item_col or found.name or found.item  # rules read best in product names
    if not item:
        raise InputError(f"No column of {src.name} looks like the item; name it with --item-col.")
    return OrderColumns(order=found.order, item=item, quantity=found.quantity)


def _described(columns: OrderColumns | None) -> dict:
    """The manifest's record of the columns read: {"order", "item", "quantity"} ({} for a wide file)."""
    return {} if columns is None else {"order": columns.order, "item": columns.item, "quantity": columns.quantity}
