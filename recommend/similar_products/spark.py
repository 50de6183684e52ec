"""Similar products on Apache Spark (`python -m recommend similar-products --engine spark`): the
same artifact as the local engine, from order lines that never sit on one machine.

In Spark: the distinct (order, product) pairs, orders per product, the pair counts by a
self-join of the order lines on the order id (optionally capped per order: --max-order-items),
the similarity of every pair bought together, and the k best per product with a window, ties
broken as the local engine breaks them (higher score, then the smaller product id). The
original notebook's second-order similarity (cosine between rows of the co-occurrence) takes
the pair counts to the driver and runs the local code when they number at most DRIVER_PAIRS
(they grow with products², not with the order lines), else one more join in Spark, on the
product both are bought with. The driver receives the k best per
product, the product table (one row per product) and, for EASE, the pair counts among the
products it fits (at most ease.MAX_ITEMS, the most ordered: one dense inverse on the driver, as
the local engine does); past that the products keep Jaccard's lists, as they do locally.
The validation and the manifest are the local engine's own code (model.assemble).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from common.errors import InputError, require_columns
from common.shop_tables import OrderColumns
from common.spark import SparkTable, stripped, to_pandas
from common.topk import TopK, check_k
from recommend.similar_products import model
from recommend.similar_products.similarity import (DEFAULT_K, DEFAULT_MIN_COUNT, DEFAULT_SIMILARITY, EASE_LAMBDA, MODELS,
                                                  check_min_count, pair_formula)
from recommend.core.sparse_topk import TIE_DECIMALS
from recommend.datasets.online_retail import cleaned_columns
from recommend.datasets.online_retail_spark import as_pandas_reads, product_descriptions, product_sales

# Pair counts (both directions) the second-order similarity brings to the driver rather than
# join in Spark: 50M is about 1.2 GB there while it is computed.
DRIVER_PAIRS = 50_000_000


@dataclass(frozen=True)
class OrderLines:
    """Order lines in Spark, as order_lines read them: the twin of read_order_lines' table."""

    frame: object  # pyspark.sql.DataFrame
    name: str
    read: dict = field(default_factory=dict)  # how they were read (the manifest's "read")
    cleaning: str = "none"


def order_lines(table: SparkTable, columns: OrderColumns, clean: str = "none") -> OrderLines:
    """The needed columns of the order lines as text (a CSV's missing markers as pandas reads
    them), cleaned as `clean` says, ids stripped, rows without an order or a product dropped:
    recommend.similar_products.model.read_order_lines in Spark."""
    from pyspark.sql import functions as F

    if clean not in model.CLEANINGS:
        raise InputError(f"--clean must be one of {', '.join(model.CLEANINGS)}, not {clean!r}.")
    extra = model.cleaning_columns(columns, clean)
    wanted = [c for c in model.needed(columns) if c != columns.date] + extra
    require_columns(table.columns(), wanted, table.name)
    frame = table.frame.select(*[as_pandas_reads(F.col(c), table.format == "csv").alias(c) for c in wanted])
    if clean == "online-retail":
        read = cleaned_columns(columns)
        frame = frame.where(product_sales(F.col(columns.order), F.col(columns.item), F.col(read.quantity),
                                          F.col(read.price))).drop(*extra)
    for c in (columns.order, columns.item):
        frame = frame.withColumn(c, stripped(F.col(c)))
    frame = frame.where(F.col(columns.order).isNotNull() & (F.col(columns.order) != "")
                        & F.col(columns.item).isNotNull() & (F.col(columns.item) != ""))
    return OrderLines(frame, table.name, table.read(), clean)


def build(order_lines: OrderLines, columns: OrderColumns, *, similarity: str = DEFAULT_SIMILARITY,
          k: int = DEFAULT_K, min_count: int = DEFAULT_MIN_COUNT, ease_lambda: float = EASE_LAMBDA,
          max_order_items: int | None = None) -> model.SimilarProducts:
    """The k most similar products of every product, as model.build gives for the same lines."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    MODELS.on_spark(similarity)  # registered, and built on Spark too (InputError otherwise)
    k = check_k(k)
    min_count = check_min_count(min_count)
    started = time.perf_counter()
    lines = order_lines.frame
    spark = lines.sparkSession
    held = (lines.select(F.col(columns.order).alias("order"), F.col(columns.item).alias("item")).distinct())
    if max_order_items is not None:
        held = _cap_orders(held, model.check_order_cap(max_order_items))
    held = held.cache()
    per_item = all_pairs = both = None
    try:
        per_item = held.groupBy("item").agg(F.count("*").alias("n")).cache()
        sizes = held.groupBy("order").count()
        facts = sizes.agg(F.count("*").alias("orders"), F.sum(F.when(F.col("count") >= 2, 1).otherwise(0))
                          .alias("multi")).first()
        n_lines = lines.count()
        all_pairs = (held.alias("x").join(held.alias("y"), "order").where(F.col("x.item") < F.col("y.item"))
                     .groupBy(F.col("x.item").alias("a"), F.col("y.item").alias("b")).agg(F.count("*").alias("c")))
        all_pairs = all_pairs.cache()
        pairs = all_pairs.where(F.col("c") >= int(min_count))
        n_pairs = pairs.count()
        # Both directions, with each side's orders: what every similarity is made of.
        both = pairs.union(pairs.select(F.col("b").alias("a"), F.col("a").alias("b"), "c"))
        both = (both.join(per_item.select(F.col("item").alias("a"), F.col("n").alias("na")), "a")
                .join(per_item.select(F.col("item").alias("b"), F.col("n").alias("nb")), "b")).cache()
        ease_facts: dict = {}
        products = _products(lines, columns, per_item)
        items = products["item"].to_numpy(dtype=object)
        if similarity == "cooccurrence-cosine" and 2 * all_pairs.count() <= DRIVER_PAIRS:
            found_topk = _cooccurrence_cosine_on_driver(all_pairs, items, int(min_count), k)
        else:
            if similarity == "cooccurrence-cosine":
                scored = _cooccurrence_cosine(both)
            elif similarity == "ease":
                scored = _ease_scores(spark, both, all_pairs, per_item, ease_lambda, ease_facts)
            else:
                scored = both.select("a", "b", "c", _pair_similarity(similarity, facts["orders"]).alias("score"))
            best = Window.partitionBy("a").orderBy(F.col("score").desc(), F.col("b").asc())
            top = (scored.where(F.col("score") > 0).withColumn("rank", F.row_number().over(best))
                   .where(F.col("rank") <= k))
            if "c" not in scored.columns:  # second-order: a listed pair may have been bought together less often
                together = all_pairs.union(all_pairs.select(F.col("b").alias("a"), F.col("a").alias("b"), "c"))
                top = top.join(together, ["a", "b"], "left")
            found = to_pandas(top.select("a", "rank", "b", "score", F.coalesce("c", F.lit(0)).alias("c")))
            found_topk = _as_topk(found, items, k)
    finally:
        for frame in (held, per_item, all_pairs, both):
            if frame is not None:
                frame.unpersist()
    facts_dict = {"order_lines": int(n_lines), "orders": int(facts["orders"]),
                  "orders_with_2_or_more_products": int(facts["multi"] or 0), "pairs_bought_together": int(n_pairs)}
    extra = {"engine": "spark", **({"max_order_items": int(max_order_items)} if max_order_items is not None else {})}
    return model.assemble(found_topk, products, columns, similarity=similarity, k=k, min_count=min_count,
                          ease_facts=ease_facts, facts=facts_dict, read=dict(order_lines.read),
                          cleaning=order_lines.cleaning, started=started, extra=extra)


def _cooccurrence_cosine_on_driver(all_pairs, items: np.ndarray, min_count: int, k: int) -> TopK:
    """The second-order similarity by the local engine's own code (similarity.py: the sparse
    kernel, or dense tiles where the co-occurrence is nearly full), from the pair counts Spark
    made. Its join in Spark costs the sum over products of their partners squared (1.8e10 rows
    on full Online Retail, whose co-occurrence is a third full), where the driver needs only the
    pairs (DRIVER_PAIRS at most: products², not the order lines, bound them)."""
    import scipy.sparse as sp

    from recommend.similar_products.similarity import cooccurrence_cosine_top_k, lookup, pair_counts

    table = all_pairs.toArrow()
    position = pd.Index(items)
    a = position.get_indexer(table.column("a").to_pandas().astype(object))
    b = position.get_indexer(table.column("b").to_pandas().astype(object))
    c = np.asarray(table.column("c"), dtype=np.int64)
    n = len(items)
    counts = sp.csr_matrix((np.r_[c, c], (np.r_[a, b], np.r_[b, a])), shape=(n, n))
    counts.sort_indices()
    found = cooccurrence_cosine_top_k(pair_counts(counts, min_count), k)
    rows, ranks = found.entries()
    found.counts = np.zeros(found.indices.shape, dtype=np.int64)
    found.counts[rows, ranks] = lookup(counts, rows, found.indices[rows, ranks])
    return found


def _cap_orders(held, cap: int):
    """Only the first `cap` products (by id) of orders holding more: the quadratic blow-up of
    very large orders guarded (off by default; the local engine applies the same cap)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    first = Window.partitionBy("order").orderBy("item")
    return held.withColumn("i", F.row_number().over(first)).where(F.col("i") <= cap).drop("i")


def _pair_similarity(similarity: str, n_orders: int):
    """jaccard, lift or cosine of a pair from its count c and each side's orders (as similarity.py)."""
    from pyspark.sql import functions as F

    c, na, nb = (F.col(x).cast("double") for x in ("c", "na", "nb"))
    return pair_formula(similarity, c, na, nb, F.lit(float(n_orders)), sqrt=F.sqrt)


def _cooccurrence_cosine(both):
    """Cosine between rows of the pair counts (diagonal left out): the original notebook's,
    rounded as the local engine rounds it so that equal values tie."""
    from pyspark.sql import functions as F

    norms = both.groupBy("a").agg(F.sqrt(F.sum(F.col("c").cast("double") ** 2)).alias("norm"))
    unit = both.join(norms, "a").select("a", "b", (F.col("c") / F.col("norm")).alias("w"))
    x, y = unit.alias("x"), unit.alias("y")
    dots = (x.join(y, F.col("x.b") == F.col("y.b")).where(F.col("x.a") != F.col("y.a"))
            .groupBy(F.col("x.a").alias("a"), F.col("y.a").alias("b"))
            .agg(F.sum(F.col("x.w") * F.col("y.w")).alias("score")))
    return dots.select("a", "b", F.round("score", TIE_DECIMALS).alias("score"))


def _ease_scores(spark, both, all_pairs, per_item, lam: float, facts: dict):
    """EASE's weights where both products are among those it fits (fitted on the driver from the
    Spark-counted XᵀX), Jaccard's score elsewhere: similarity.ease_on_pairs in Spark."""
    from pyspark.sql import functions as F
    from recommend.core import ease

    counts = per_item.toArrow()
    items = np.asarray(counts.column("item").to_pylist(), dtype=object)
    order = np.argsort(items, kind="stable")  # column positions, as the local matrix numbers them
    items, n = items[order], np.asarray(counts.column("n"), dtype=np.int64)[order]
    kept_positions = ease.most_frequent(n, ease.MAX_ITEMS)
    kept_items = items[kept_positions]
    keep = spark.createDataFrame(pd.DataFrame({"item": kept_items}))
    inside = (all_pairs.join(F.broadcast(keep.select(F.col("item").alias("a"))), "a")
              .join(F.broadcast(keep.select(F.col("item").alias("b"))), "b").select("a", "b", "c").toArrow())
    where = {x: i for i, x in enumerate(kept_items)}
    a = np.fromiter((where[x] for x in inside.column("a").to_pylist()), dtype=np.int64, count=inside.num_rows)
    b = np.fromiter((where[x] for x in inside.column("b").to_pylist()), dtype=np.int64, count=inside.num_rows)
    c = np.asarray(inside.column("c"), dtype=np.float32)
    fitted = ease.fit_gram(a, b, c, n[kept_positions], lam, dropped=int((n > 0).sum() - len(kept_items)))
    facts.update({"lambda": fitted.lam, "products_fitted": int(len(fitted.kept)),
                  "products_past_the_guard": fitted.dropped, "fit_seconds": round(fitted.seconds, 2)})
    jaccard = both.select("a", "b", "c", _pair_similarity("jaccard", 0).alias("score"))
    kept_names = spark.createDataFrame(pd.DataFrame({"item": kept_items, "pos": np.arange(len(kept_items))}))
    pattern = (both.select("a", "b").join(F.broadcast(kept_names.select(F.col("item").alias("a"), F.col("pos").alias("pa"))), "a")
               .join(F.broadcast(kept_names.select(F.col("item").alias("b"), F.col("pos").alias("pb"))), "b")
               .toArrow())
    pa, pb = np.asarray(pattern.column("pa"), dtype=np.int64), np.asarray(pattern.column("pb"), dtype=np.int64)
    weights = pd.DataFrame({"a": pattern.column("a").to_pylist(), "b": pattern.column("b").to_pylist(),
                            "weight": fitted.weights[pa, pb].astype(np.float64)})
    learned = spark.createDataFrame(weights)
    return (jaccard.join(learned, ["a", "b"], "left")
            .select("a", "b", "c", F.when(F.col("weight").isNull(), F.col("score"))
                    .otherwise(F.greatest(F.col("weight"), F.lit(0.0))).alias("score")))


def _products(lines, columns: OrderColumns, per_item) -> pd.DataFrame:
    """One row per product, sorted by id: id, name (most frequent), categories, orders holding it."""
    from pyspark.sql import functions as F

    table = per_item.select("item", F.col("n").alias("orders"))
    if columns.name:
        table = table.join(product_descriptions(lines, columns.item, columns.name), "item", "left")
    for i, col in enumerate(columns.categories):
        table = table.join(product_descriptions(lines, columns.item, col, f"category_{i}"), "item", "left")
    frame = to_pandas(table)
    frame = frame.sort_values("item", kind="stable", key=lambda s: s.astype(object)).reset_index(drop=True)
    out = pd.DataFrame({"item": frame["item"].astype(object)})
    out["name"] = (frame["name"] if columns.name else pd.Series(pd.NA, index=frame.index))
    out["name"] = out["name"].astype(object).where(out["name"].notna(), out["item"]).astype(str)
    for i, col in enumerate(columns.categories):
        out[col] = frame[f"category_{i}"].astype(object).where(frame[f"category_{i}"].notna(), "(none)").astype(str)
    out["orders"] = frame["orders"].astype(np.int64)
    return out


def _as_topk(found: pd.DataFrame, items: np.ndarray, k: int) -> TopK:
    """The k best per product as TopK over the products' positions (sorted ids), -1 padding."""
    position = pd.Index(items)
    rows = position.get_indexer(found["a"].astype(object))
    cols = position.get_indexer(found["b"].astype(object))
    ranks = found["rank"].to_numpy(dtype=np.int64) - 1
    indices = np.full((len(items), k), -1, dtype=np.int64)
    scores = np.full((len(items), k), np.nan)
    counts = np.zeros((len(items), k), dtype=np.int64)
    indices[rows, ranks] = cols
    scores[rows, ranks] = found["score"].to_numpy(dtype=np.float64)
    counts[rows, ranks] = found["c"].to_numpy(dtype=np.int64)
    return TopK(indices, scores, counts)
