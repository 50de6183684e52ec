"""Basket rules on Apache Spark (`python -m recommend rules --engine spark`): the same artifact
as the local engine, from baskets that never sit on one machine.

Spark does the work that grows with the data: baskets from the order lines (or lines of a wide
file), basket counts per item, the explosion guard's counts, and the frequent itemsets by
MLlib's FPGrowth. The driver receives only the frequent itemsets (at most MAX_ITEMSETS: the
guard) and the item counts, and splits them into rules and the lookup with the local engine's
own code (model.from_itemsets), so both engines write the same rules.csv to the last digit.
Spark's `associationRules` is not used: it only makes rules with one item on the right, where
the local engine (like mlxtend) splits every itemset every way.

FPGrowth has no length limit, so `--max-length` is applied to what it finds, and the guard is
checked before it runs: too many frequent items, too many item pairs inside baskets (as the
local engine), and, as FPGrowth also finds every longer itemset, an upper bound on how many
itemsets it can find at all (each frequent itemset is a clique of the graph of frequent pairs;
counted from that graph's degeneracy order), which must stay under the itemset limit.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from common.errors import InputError
from common.spark import SparkTable, is_remote, local_csv_options, stripped
from recommend.rules import defaults
from recommend.rules.mining import (FrequentItemsets, TooManyItemsets, check_thresholds, levels_from_itemsets,
                                    min_count_for)
from recommend.rules.model import BasketRules, check_item_names, from_itemsets
from recommend.rules.rules import check_rule_thresholds


def wide_baskets(spark, path: str):
    """(DataFrame of `items` arrays, info) from a file of one basket per line, items separated by
    the delimiter the local reader would sniff (no quoting: a wide basket file has none)."""
    from pyspark.sql import functions as F

    sep = "," if is_remote(path) or Path(path).is_dir() else local_csv_options(Path(path))["sep"]
    lines = spark.read.text(path)
    items = F.array_distinct(F.filter(F.transform(F.split("value", _regex_literal(sep)), stripped), lambda x: x != ""))
    frame = lines.select(items.alias("items"))
    return frame, {"name": str(path), "format": "wide", "delimiter": sep, "engine": "spark"}


def long_baskets(table: SparkTable, basket_col: str, item_col: str, quantity_col: str | None):
    """(DataFrame of `items` arrays, info) from order lines: as recommend.rules.baskets.long_baskets
    (ids stripped, rows with an empty order or item dropped, and with a quantity column the rows
    whose quantity is not a positive number)."""
    from pyspark.sql import functions as F

    missing = [c for c in (basket_col, item_col, quantity_col) if c and c not in table.columns()]
    if missing:
        raise InputError(f"{table.name} lacks column(s) {', '.join(map(repr, missing))}; found: "
                         f"{', '.join(table.columns()[:12])}.")
    lines = table.frame.select(stripped(F.col(basket_col).cast("string")).alias("basket"),
                               stripped(F.col(item_col).cast("string")).alias("item"),
                               *([F.col(quantity_col).cast("double").alias("quantity")] if quantity_col else []))
    keep = (F.col("basket").isNotNull() & (F.col("basket") != "") & F.col("item").isNotNull() & (F.col("item") != ""))
    if quantity_col:
        keep &= F.col("quantity") > 0
    frame = lines.where(keep).groupBy("basket").agg(F.array_distinct(F.collect_list("item")).alias("items"))
    info = {"name": table.name, "format": "long", "basket_col": basket_col, "item_col": item_col,
            "quantity_col": quantity_col, "engine": "spark"}
    return frame.select("items"), info


def _regex_literal(sep: str) -> str:
    return "\\" + sep if sep in "|.^$*+?()[]{}\\" else sep


def build(baskets_frame, info: dict, *, min_support: float = defaults.MIN_SUPPORT,
          min_confidence: float = defaults.MIN_CONFIDENCE, min_lift: float = defaults.MIN_LIFT,
          max_length: int = defaults.MAX_LENGTH, show: int = defaults.SHOW_NEXT_TO,
          max_itemsets: int | None = None, max_rules: int | None = None) -> BasketRules:
    """Frequent itemsets by FPGrowth, then the rules and the lookup as the local engine makes them."""
    from pyspark.ml.fpm import FPGrowth
    from pyspark.sql import functions as F

    check_thresholds(min_support, max_length)
    check_rule_thresholds(min_confidence, min_lift)
    max_itemsets = defaults.MAX_ITEMSETS if max_itemsets is None else max_itemsets
    started = time.perf_counter()
    baskets = baskets_frame.where(F.size("items") > 0).cache()
    try:
        counted = baskets.select(F.explode("items").alias("item")).groupBy("item").count().toArrow()
        items = np.asarray(counted.column("item").to_pylist(), dtype=object)
        if not len(items):
            raise InputError(f"{info.get('name', 'The baskets')} hold no items to mine.")
        order = np.argsort(items, kind="stable")  # columns numbered in name order, as the local reader does
        items, item_counts = items[order], np.asarray(counted.column("count"), dtype=np.int64)[order]
        check_item_names(items)
        n_baskets = int(baskets.count())
        min_count = min_count_for(min_support, n_baskets)
        frequent = items[item_counts >= min_count]
        _check_guard(baskets, frequent, n_baskets, min_support, min_count, max_length, max_itemsets)
        # Spark keeps itemsets with freq >= ceil(minSupport * baskets): this minSupport gives min_count exactly.
        model = FPGrowth(itemsCol="items", minSupport=(min_count - 0.5) / n_baskets).fit(baskets)
        found = (model.freqItemsets.where((F.size("items") <= max_length) & (F.col("freq") >= min_count))
                 .toArrow())
    finally:
        baskets.unpersist()
    position = {name: i for i, name in enumerate(items)}
    itemsets = [np.fromiter((position[x] for x in row), dtype=np.int32) for row in found.column("items").to_pylist()]
    if len(itemsets) > max_itemsets:
        raise TooManyItemsets(f"min_support {min_support:g} gives {len(itemsets):,} frequent itemsets (the limit is "
                              f"{max_itemsets:,}); raise min_support (or lower max_length).")
    levels = levels_from_itemsets(itemsets, np.asarray(found.column("freq"), dtype=np.int64), len(items))
    frequent_sets = FrequentItemsets(levels, n_baskets, len(items), int(min_count), float(min_support), int(max_length))
    info = {**info, "baskets": n_baskets, "items": int(len(items)), "item_occurrences": int(item_counts.sum())}
    return from_itemsets(frequent_sets, items, item_counts, info, min_confidence=min_confidence, min_lift=min_lift,
                         show=show, max_rules=max_rules, mining_seconds=time.perf_counter() - started, engine="spark")


def _check_guard(baskets, frequent: np.ndarray, n_baskets: int, min_support: float, min_count: int,
                 max_length: int, max_itemsets: int) -> None:
    """The local engine's limits on frequent items and on pairs inside baskets, and a bound on
    every itemset FPGrowth could find (it has no length limit); TooManyItemsets past any of them."""
    from pyspark.sql import functions as F

    def explosion(what: str) -> TooManyItemsets:
        return TooManyItemsets(f"min_support {min_support:g} ({min_count:,} of {n_baskets:,} baskets) would give "
                               f"{what}; raise min_support (or lower max_length).")

    if len(frequent) > max_itemsets:
        raise explosion(f"{len(frequent):,} frequent items (the limit is {max_itemsets:,} itemsets)")
    if len(frequent) < 2:
        return
    spark = baskets.sparkSession
    keep = spark.createDataFrame([(str(x),) for x in frequent], "item string")
    lines = (baskets.select(F.monotonically_increasing_id().alias("basket"), F.explode("items").alias("item"))
             .join(F.broadcast(keep), "item"))
    lengths = lines.groupBy("basket").count()
    occurrences = lengths.select(F.sum(F.col("count") * (F.col("count") - 1) / 2)).first()[0] or 0
    if occurrences > defaults.MAX_PAIR_OCCURRENCES:
        raise explosion(f"{int(occurrences):,} pairs of frequent items inside baskets to count "
                        f"(the limit is {defaults.MAX_PAIR_OCCURRENCES:,})")
    pairs = (lines.alias("a").join(lines.alias("b"), "basket").where(F.col("a.item") < F.col("b.item"))
             .groupBy(F.col("a.item").alias("a"), F.col("b.item").alias("b")).count()
             .where(F.col("count") >= min_count).select("a", "b").toArrow())
    if len(frequent) + pairs.num_rows > max_itemsets:
        raise explosion(f"{pairs.num_rows:,} frequent pairs (the limit is {max_itemsets:,} itemsets)")
    bound = itemset_bound(frequent, pairs.column("a").to_pylist(), pairs.column("b").to_pylist())
    if bound > max_itemsets:
        raise explosion(f"up to {bound:,} frequent itemsets for Spark's FPGrowth, which finds every length, not only "
                        f"up to max_length {max_length} (the limit is {max_itemsets:,} itemsets; --engine local "
                        "stops at max_length)")


def itemset_bound(items, a: list, b: list, cap: int = 1 << 62) -> int:
    """At most how many itemsets can be frequent given the frequent items and pairs: every frequent
    itemset is a clique of the pair graph, and each clique is counted once from its first vertex
    in a degeneracy order, among that vertex's later neighbours (sum over v of 2^later(v))."""
    index = {x: i for i, x in enumerate(items)}
    n = len(index)
    neighbours: list[set[int]] = [set() for _ in range(n)]
    for x, y in zip(a, b):
        i, j = index[x], index[y]
        neighbours[i].add(j)
        neighbours[j].add(i)
    degree = np.array([len(s) for s in neighbours], dtype=np.int64)
    removed = np.zeros(n, dtype=bool)
    total = 0
    # Degeneracy order: repeatedly take a vertex of least remaining degree (n is the frequent
    # items, a few thousand at most under the guard: a simple O(n^2) scan is enough).
    for _ in range(n):
        v = int(np.argmin(np.where(removed, np.iinfo(np.int64).max, degree)))
        later = int(degree[v])
        total = min(cap, total + (1 << min(later, 62)))
        removed[v] = True
        for u in neighbours[v]:
            if not removed[u]:
                degree[u] -= 1
    return int(total)
