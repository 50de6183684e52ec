"""`python -m recommend build`: a shop's orders (a file or a database) into a workspace of every
recommender the data allows, artifacts/<name>/."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

import settings
from common.errors import InputError
from common.shop_tables import guess, read_table
from common.spark import add_engine_arguments, check_engine_arguments, refuse_database
from recommend.core.order_columns import (FLAGS, add_column_arguments, add_sql_arguments, described, given_columns,
                                          resolve, source)
from recommend.core.sources import TableSource
from recommend.workspace import model


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = ("Build a shop's workspace: basket rules, similar products and (with a customer column) "
                     "similar customers from one orders table, into ARTIFACTS/NAME, replaced whole. "
                     "Every page of the app then offers it in its data-set picker.")
    p.add_argument("--orders", default=None, metavar="FILE",
                   help="order lines: CSV (any delimiter and encoding), CSV.gz, .xlsx or Parquet; with --engine spark "
                        "CSV or Parquet, a folder of part files, or any URI Spark reads (s3a://, hdfs://...)")
    add_sql_arguments(p)
    add_column_arguments(p, FLAGS)
    p.add_argument("--ratings", type=Path, default=None, metavar="FILE",
                   help="ratings (user, item, rating[, time]) for similar items (the Similar movies page)")
    p.add_argument("--catalogue", "--catalog", type=Path, default=None, metavar="FILE",
                   help="the catalogue (id, name, category, image): names, categories and pictures of products")
    for table in ("ratings", "catalogue"):
        old = ["--catalog-map"] if table == "catalogue" else []  # the spelling before "catalogue"
        p.add_argument(f"--{table}-map", *old, nargs="+", default=[], metavar="FIELD=COL",
                       help=f"name columns of --{table} whose guess is wrong, e.g. "
                            + ("user=Reviewer item=ISBN rating=Stars" if table == "ratings" else "id=SKU image=Picture"))
    p.add_argument("--weights", default=None,
                   help="the image model's weights for the catalogue's pictures: imagenet, a local .h5 file, or none "
                        "(tests); default $VITRINE_WEIGHTS or imagenet")
    p.add_argument("--name", required=True, help="the workspace's name, e.g. myshop (letters, digits, - and _)")
    p.add_argument("--artifacts", type=Path, default=settings.ARTIFACTS_DIR,
                   help=f"where workspaces live (default {settings.ARTIFACTS_DIR})")
    p.add_argument("--min-support", type=float, default=None,
                   help="basket rules' min support (default: the highest step that finds 20 rules, as the app does)")
    p.add_argument("--min-confidence", type=float, default=None, help="basket rules' min confidence (default 0.2)")
    p.add_argument("--min-lift", type=float, default=None, help="basket rules' min lift (default 2)")
    p.add_argument("--model", action="append", default=[], metavar="PART=NAME",
                   help="a registered model for a part instead of its default, e.g. similar-products=jaccard "
                        "similar-customers=user-user similar-movies=item-knn (repeat for several parts)")
    add_engine_arguments(p, "local: this process (the default); spark: Apache Spark reads, maps and mines the orders "
                            "(the ratings, the catalogue and its pictures stay local); the same workspace")


def run(args) -> int:
    name = model.check_name(args.name)
    models = _models(args.model)  # before any reading: a wrong name costs nothing
    check_engine_arguments(args)
    ratings, catalogue, sources = read_extra("ratings", args.ratings, args.ratings_map), \
        read_extra("catalogue", args.catalogue, args.catalogue_map), {}
    orders = source_description = None
    if args.orders is not None or args.orders_sql is not None or ratings is None:
        given = given_columns(args)
        src = source(args, Path(args.orders) if args.orders is not None else None)
        if args.engine == "spark":
            refuse_database(src)
            orders, source_description = _orders_on_spark(args, given)
        else:
            mapping = resolve(src, given, needed=("order", "item"))
            print(f"Reading {src.name}: {described(mapping)}", file=sys.stderr)
            table = src.read(mapping.needed())
            orders = model.mapped_orders(table, mapping, src.name)
            source_description = src.describe(len(table))
        sources["orders"] = source_description
    for table_name, (table, path) in (("ratings", ratings or (None, None)), ("catalogue", catalogue or (None, None))):
        if table is not None:
            sources[table_name] = TableSource(path=path).describe(len(table))
    done = [0.0]

    def progress(what: str, share: float) -> None:
        if share > done[0]:
            done[0] = share
            print(f"[{share:4.0%}] {what}...", file=sys.stderr, flush=True)

    try:
        workspace = model.build(orders, name, source=source_description or sources.get("ratings"), sources=sources,
                                ratings=ratings[0] if ratings else None, catalogue=catalogue[0] if catalogue else None,
                                artifacts=args.artifacts, weights=args.weights, min_support=args.min_support,
                                min_confidence=args.min_confidence, min_lift=args.min_lift, progress=progress,
                                rebuild=args.command_line, models=models)
    finally:
        if args.engine == "spark" and orders is not None:
            orders.release()
    m = workspace.manifest
    facts = []
    if m["orders"]:
        dropped = sum(m["dropped"].values())
        facts.append(f"{m['order_lines']:,} order lines ({dropped:,} dropped: returns or blank ids), {m['orders']:,} "
                     f"orders, {m['products']:,} products, {m['customers']:,} customers")
    if m.get("ratings"):
        facts.append(f"{m['ratings']:,} ratings of {m['rated_items']:,} items")
    print(f"Workspace {name}: {'; '.join(facts)}; built {', '.join(workspace.parts)} in {m['seconds']['total']} s "
          f"into {workspace.folder}.")
    for part, why in m["parts_skipped"].items():
        print(f"  no {part.replace('_', ' ')}: {why}")
    return 0


def _models(given: list[str]) -> dict[str, str]:
    """--model PART=NAME, repeated, as {part: name} (checked against each part's registry by the build)."""
    models = {}
    for item in given:
        part, sep, name = item.partition("=")
        if not sep or not part or not name:
            raise InputError(f"--model takes PART=NAME, e.g. similar-products=jaccard; got {item!r}.")
        models[part.strip()] = name.strip()
    return model.check_models(models)


def _orders_on_spark(args, given: dict):
    """The orders read, mapped and checked by Spark (recommend/workspace/spark.py): files or
    folders, not a database; and what the manifest records of them."""
    from common.artifacts import file_sha256
    from common.spark import is_remote, read_table, session
    from recommend.workspace import spark as engine

    spark = session(args.spark_master, args.spark_conf)
    table = read_table(spark, args.orders, "Orders")
    mapping = resolve(table, given, needed=("order", "item"))
    print(f"Reading {table.name} on Spark ({spark.sparkContext.master}): {described(mapping)}", file=sys.stderr)
    orders = engine.mapped_orders(table, mapping, Path(table.name).name if not is_remote(table.name) else table.name)
    local_file = not is_remote(table.name) and Path(table.name).is_file()
    described_source = {"file": table.name, **({"sha256": file_sha256(table.name)} if local_file else {}),
                        "format": table.format, "engine": "spark", "spark_master": spark.sparkContext.master}
    return orders, described_source


def read_extra(what: str, path: Path | None, overrides: list[str]) -> tuple[pd.DataFrame, Path] | None:
    """The ratings or the catalogue file, mapped (guesses, then FIELD=COL overrides), or None."""
    if path is None:
        return None
    schema = model.RATINGS if what == "ratings" else model.CATALOGUE
    table = read_table(path, what=what.capitalize())
    mapping = guess(list(table.columns), schema)
    for item in overrides:
        role, sep, column = item.partition("=")
        if not sep or role not in mapping:
            flag = "--ratings-map" if what == "ratings" else "--catalogue-map"
            raise InputError(f"{flag} takes FIELD=COL with FIELD one of {', '.join(mapping)}; got {item!r}.")
        mapping[role] = column or None
    flag = "--ratings-map" if what == "ratings" else "--catalogue-map"
    for field in schema.fields:
        if field.required and not mapping[field.role]:
            raise InputError(f"No column of {Path(path).name} looks like {field.label}; name it with {flag} "
                             f"{field.role}=COL (its columns: {', '.join(map(str, table.columns))}).")
    if what == "ratings":
        mapped = model.mapped_ratings(table, mapping, Path(path).name)
    else:
        mapped = model.mapped_catalogue(table, mapping, Path(path).name, image_base=Path(path).parent)
    print(f"Reading {Path(path).name}: {described(mapping)}", file=sys.stderr)
    return mapped, Path(path)
