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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from common.errors import InputError, require_columns
from common.shop_tables import OrderColumns
from common.spark import SparkTable, is_remote, local_csv_options, stripped
from recommend.rules import defaults
from recommend.rules.mining import (FrequentItemsets, Level, TooManyItemsets, candidates, check_thresholds,
                                    levels_from_itemsets, min_count_for)
from recommend.rules.model import BasketRules, check_item_names, from_itemsets
from recommend.rules.rules import check_rule_thresholds


@dataclass(frozen=True)
class SparkBaskets:
    """Baskets in Spark: the twin of recommend.rules.baskets.Baskets, as the readers below give them."""

    frame: object  # pyspark.sql.DataFrame with one `items` array per basket
    info: dict  # the name, format and columns read (the manifest's "baskets")


def wide_baskets(spark, path: str) -> SparkBaskets:
    """Baskets from a file of one basket per line, items separated by the delimiter the local
    reader would sniff (no quoting: a wide basket file has none)."""
    from pyspark.sql import functions as F

    sep = "," if is_remote(path) or Path(path).is_dir() else local_csv_options(Path(path))["sep"]
    lines = spark.read.text(path)
    items = F.array_distinct(F.filter(F.transform(F.split("value", _regex_literal(sep)), stripped), lambda x: x != ""))
    frame = lines.select(items.alias("items"))
    return SparkBaskets(frame, {"name": str(path), "format": "wide", "delimiter": sep, "engine": "spark"})


def long_baskets(table: SparkTable, columns: OrderColumns) -> SparkBaskets:
    """Baskets from order lines: as recommend.rules.baskets.long_baskets
    (ids stripped, rows with an empty order or item dropped, and with a quantity column the rows
    whose quantity is not a positive number)."""
    from pyspark.sql import functions as F

    basket_col, item_col, quantity_col = columns.order, columns.item, columns.quantity
    require_columns(table.columns(), (basket_col, item_col, quantity_col), table.name)
    lines = table.frame.select(stripped(F.col(basket_col).cast("string")).alias("basket"),
                               stripped(F.col(item_col).cast("string")).alias("item"),
                               *([F.col(quantity_col).cast("double").alias("quantity")] if quantity_col else []))
    keep = (F.col("basket").isNotNull() & (F.col("basket") != "") & F.col("item").isNotNull() & (F.col("item") != ""))
    if quantity_col:
        keep &= F.col("quantity") > 0
    frame = lines.where(keep).groupBy("basket").agg(F.array_distinct(F.collect_list("item")).alias("items"))
    info = {"name": table.name, "format": "long", "basket_col": basket_col, "item_col": item_col,
            "quantity_col": quantity_col, "engine": "spark"}
    return SparkBaskets(frame.select("items"), info)


def _regex_literal(sep: str) -> str:
    return "\\" + sep if sep in "|.^$*+?()[]{}\\" else sep


def build(baskets: SparkBaskets, *, min_support: float = defaults.MIN_SUPPORT,
          min_confidence: float = defaults.MIN_CONFIDENCE, min_lift: float = defaults.MIN_LIFT,
          max_length: int = defaults.MAX_LENGTH, show: int = defaults.SHOW_NEXT_TO,
          max_itemsets: int | None = None, max_rules: int | None = None) -> BasketRules:
    """Frequent itemsets in Spark (FPGrowth where it is safe, else level by level), then the rules
    and the lookup as the local engine makes them."""
    from pyspark.sql import functions as F

    check_thresholds(min_support, max_length)
    check_rule_thresholds(min_confidence, min_lift)
    max_itemsets = defaults.MAX_ITEMSETS if max_itemsets is None else max_itemsets
    started = time.perf_counter()
    info = baskets.info
    # Numbered once and cached, so both sides of a self-join see the same basket ids.
    baskets = baskets.frame.where(F.size("items") > 0).withColumn("basket", F.monotonically_increasing_id()).cache()
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
        miner = _Miner(baskets, items, item_counts, n_baskets, min_support, min_count, max_length, max_itemsets)
        levels, how = miner.levels()
    finally:
        baskets.unpersist()
    found = FrequentItemsets(levels, n_baskets, len(items), int(min_count), float(min_support), int(max_length))
    if found.total > max_itemsets:
        raise TooManyItemsets(f"min_support {min_support:g} gives {found.total:,} frequent itemsets (the limit is "
                              f"{max_itemsets:,}); raise min_support (or lower max_length).")
    info = {**info, "baskets": n_baskets, "items": int(len(items)), "item_occurrences": int(item_counts.sum()),
            "miner": how}
    return from_itemsets(found, items, item_counts, info, min_confidence=min_confidence, min_lift=min_lift,
                         show=show, max_rules=max_rules, mining_seconds=time.perf_counter() - started, engine="spark")


class _Miner:
    """Frequent itemsets of cached, numbered baskets, with the local engine's explosion guard.

    Single items and pairs are counted first (a group-by, and a self-join of the baskets' frequent
    items), with the local limits on frequent items, pairs inside baskets and frequent pairs.
    Then, FPGrowth (MLlib) when it is safe: it has no length limit, so it runs only when an upper
    bound on every itemset it could find stays under the itemset limit (the smaller of: the
    subsets of each basket's frequent items, sum 2^m over baskets / min_count, as each frequent
    itemset lies in min_count baskets; and the cliques of the frequent-pair graph). Otherwise,
    as for long invoices, level by level up to max_length like the local engine: candidates from
    the level below on the driver (mining.candidates, the same guard), counted in Spark."""

    def __init__(self, baskets, items, item_counts, n_baskets, min_support, min_count, max_length, max_itemsets):
        self.baskets, self.items, self.item_counts = baskets, items, item_counts
        self.n_baskets, self.min_support, self.min_count = n_baskets, min_support, min_count
        self.max_length, self.max_itemsets = int(max_length), max_itemsets

    def explosion(self, what: str, fix: str = "raise min_support (or lower max_length)") -> TooManyItemsets:
        return TooManyItemsets(f"min_support {self.min_support:g} ({self.min_count:,} of {self.n_baskets:,} baskets) "
                               f"would give {what}; {fix}.")

    def levels(self) -> tuple[list[Level], str]:
        from pyspark.sql import functions as F

        frequent = np.flatnonzero(self.item_counts >= self.min_count).astype(np.int32)
        if len(frequent) > self.max_itemsets:
            raise self.explosion(f"{len(frequent):,} frequent items (the limit is {self.max_itemsets:,} itemsets)")
        levels = [Level(frequent[:, None], self.item_counts[frequent], frequent.astype(np.int64))]
        if self.max_length < 2 or len(frequent) < 2:
            return levels, "counts"
        spark = self.baskets.sparkSession
        keep = spark.createDataFrame(pd.DataFrame({"item": self.items[frequent].astype(str),
                                                   "pos": frequent.astype(np.int64)}))
        # (basket, item position) of frequent items only, cached: every later count reads it.
        self.lines = (self.baskets.select("basket", F.explode("items").alias("item"))
                      .join(F.broadcast(keep), "item").select("basket", "pos").cache())
        try:
            sizes = self.lines.groupBy("basket").count()
            stats = sizes.agg(F.sum(F.col("count") * (F.col("count") - 1) / 2).alias("pairs"),
                              F.sum(F.pow(F.lit(2.0), F.col("count"))).alias("subsets")).first()
            occurrences = int(stats["pairs"] or 0)
            if occurrences > defaults.MAX_PAIR_OCCURRENCES:
                raise self.explosion(f"{occurrences:,} pairs of frequent items inside baskets to count "
                                     f"(the limit is {defaults.MAX_PAIR_OCCURRENCES:,})")
            x, y = self.lines.alias("x"), self.lines.alias("y")
            pairs = (x.join(y, "basket").where(F.col("x.pos") < F.col("y.pos"))
                     .groupBy(F.col("x.pos").alias("a"), F.col("y.pos").alias("b")).count()
                     .where(F.col("count") >= self.min_count).toArrow())
            if len(frequent) + pairs.num_rows > self.max_itemsets:
                raise self.explosion(f"{pairs.num_rows:,} frequent pairs (the limit is {self.max_itemsets:,} itemsets)")
            a, b = np.asarray(pairs.column("a"), dtype=np.int32), np.asarray(pairs.column("b"), dtype=np.int32)
            two = levels_from_itemsets([np.array([i]) for i in frequent] + list(np.column_stack([a, b])),
                                       np.r_[self.item_counts[frequent], np.asarray(pairs.column("count"))],
                                       len(self.items))
            levels = two[:2] if len(two) > 1 else levels
            if self.max_length == 2 or len(levels) < 2:
                return levels, "counts"
            bound = min(float(stats["subsets"] or 0) / self.min_count, float(itemset_bound(frequent, a, b)))
            if bound <= self.max_itemsets:
                return self.fpgrowth(), "fpgrowth"
            return self.level_by_level(levels), "level-wise"
        finally:
            self.lines.unpersist()

    def fpgrowth(self) -> list[Level]:
        from pyspark.ml.fpm import FPGrowth
        from pyspark.sql import functions as F

        # Spark keeps itemsets with freq >= ceil(minSupport * baskets): this minSupport gives min_count exactly.
        model = FPGrowth(itemsCol="items", minSupport=(self.min_count - 0.5) / self.n_baskets)
        found = (model.fit(self.baskets.select("items")).freqItemsets
                 .where((F.size("items") <= self.max_length) & (F.col("freq") >= self.min_count)).toArrow())
        position = {name: i for i, name in enumerate(self.items)}
        itemsets = [np.fromiter((position[x] for x in row), dtype=np.int32) for row in found.column("items").to_pylist()]
        return levels_from_itemsets(itemsets, np.asarray(found.column("freq"), dtype=np.int64), len(self.items))

    def level_by_level(self, levels: list[Level]) -> list[Level]:
        from pyspark.sql import functions as F

        spark, n_items = self.baskets.sparkSession, len(self.items)
        for size in range(3, self.max_length + 1):
            if len(levels[-1].counts) < 2:
                break
            found = sum(len(level.counts) for level in levels)

            def too_many(n: int, k: int, baskets: int | None = None) -> TooManyItemsets:
                return self.explosion(f"{n:,} candidate itemsets of {k} items on top of the {found:,} found "
                                      f"(the limit is {self.max_itemsets:,} itemsets)")

            cand, prefix_rows = candidates(levels, n_items, self.max_itemsets - found, too_many)
            if not len(cand):
                break
            members = spark.createDataFrame(pd.DataFrame({
                "cand": np.repeat(np.arange(len(cand), dtype=np.int64), size),
                "pos": cand.ravel().astype(np.int64)}))
            # A basket holds a candidate when all `size` of its items meet the basket's items.
            held = (self.lines.join(F.broadcast(members) if len(cand) <= 1_000_000 else members, "pos")
                    .groupBy("basket", "cand").count().where(F.col("count") == size)
                    .groupBy("cand").count().where(F.col("count") >= self.min_count).toArrow())
            rows = np.array(held.column("cand"), dtype=np.int64)
            if not len(rows):
                break
            order = np.argsort(rows)  # candidates come in the level's order: keep it
            rows, counts = rows[order], np.array(held.column("count"), dtype=np.int64)[order]
            items = cand[rows]
            levels.append(Level(items, counts, prefix_rows[rows].astype(np.int64) * n_items + items[:, -1]))
        return levels


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
