"""Similar customers on Apache Spark (`python -m recommend similar-customers --engine spark`): the
same artifact as the local engine, from purchase lines that never sit on one machine.

In Spark (what grows with the data): reading the lines (CSV, .csv.gz, Parquet file or folder, any
URI Spark reads), Online Retail's cleaning rule for rule (recommend/datasets/online_retail.py) and
one description per product, the customer x product entries and their weights, each customer's
norm, the candidate pairs by a self-join of the entries on the product, the exact cosine of every
candidate, and the k nearest per customer with a window; for user-user the neighbour-weighted
sums leaving out what the customer has and the n best with a window; for EASE the products'
counts and XᵀX over the products it fits.

On the driver (small results only): the distinct values the weights map through (quantity totals
for log-quantity, product counts for TF-IDF), mapped by numpy's own float32 functions as the local
engine maps them (Spark's log is not numpy's float32 log to the last bit); for EASE the fitted
products (at most ease.MAX_ITEMS, the most bought), their pair counts and the dense inverse (the
local engine's: ease.fit_gram; MAX_ITEMS² float32 = 0.4 GB at 10,000 products; past that the rarer
products are left out and their customers get user-user's, as locally), then every customer's
scores by the local code (ease.recommend) a block of customers at a time streamed from Spark
(toLocalIterator: one partition at a time on the driver, never the whole matrix; the time is the
local engine's scoring time); the neighbours and recommendations themselves (the artifact: customers
x (k + n) rows) and one name per product. model.assemble makes the result and manifest, as for
the local engine.

Candidates: every pair of customers sharing a product, so the neighbours are exact (the work is
the sum over products of their buyers squared, as in the local kernel). `skip_popular` (a share,
off by default) keeps products bought by more than that share of the customers from generating
pairs; the pairs found through other products still get their exact cosine over every product,
but pairs sharing only popular products are no longer compared.

Ties: scores rounded as numpy rounds to TIE_DECIMALS (rint(x * 10^12) / 10^12), then the best
first, ties by the smaller id, which is the local engine's ascending column (ids are numbered
in sorted order, and Spark orders strings by code point as Python does).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from common.errors import InputError, require_columns
from common.shop_tables import OrderColumns
from common.spark import SparkTable, stripped, to_pandas
from common.spark import column as spark_column
from common.topk import check_k
from recommend.core import ease
from recommend.core.sparse_topk import TIE_DECIMALS
from recommend.datasets.online_retail_spark import (as_pandas_reads, customer_id, number, product_descriptions,
                                                   product_sales)
from recommend.datasets.online_retail import ORDER_COLUMNS as ONLINE_RETAIL, cleaned_columns
from recommend.similar_customers import model as local

MAX_WEIGHT_VALUES = 1_000_000  # distinct quantity totals mapped on the driver (log-quantity)
SCORE_BLOCK = 4 * ease.BLOCK_ROWS  # customers scored by EASE at once on the driver


@dataclass
class Purchases:
    """Purchase lines in Spark: line (the order Spark reads them in), customer, item, name and
    quantity (double) when those columns are used."""

    lines: object  # pyspark.sql.DataFrame, cached
    name: str
    read: dict
    cleaned: bool  # Online Retail's cleaning applied: one description per product, its most frequent


def read_purchases(table: SparkTable, cols: OrderColumns = ONLINE_RETAIL, clean: bool = True) -> Purchases:
    """model.read_purchases in Spark: the lines with the same columns, Online Retail's cleaning when
    `clean` (and the table has the invoice column), rows without a customer or product dropped."""
    from pyspark.sql import functions as F

    columns = table.columns()
    wanted = [c for c in (cols.customer, cols.item, cols.name, cols.quantity) if c]
    require_columns(columns, wanted, f"Purchases file {table.name}", local.NAME_THEM, shown=len(columns))
    cleaning = bool(clean and cols.order and cols.order in columns)
    read = cleaned_columns(cols)  # an unnamed quantity or price under Online Retail's names, as the local cleaning
    quantity_col = read.quantity if cleaning else cols.quantity
    price_col = read.price
    if cleaning:
        require_columns(columns, (cols.order, cols.item, quantity_col, cols.customer), "Online Retail data",
                        shown=len(columns))

    def text(name: str):
        return as_pandas_reads(spark_column(name), table.format == "csv")

    raw = {"customer": cols.customer, "item": cols.item, "name": cols.name, "quantity": quantity_col,
           "invoice": cols.order if cleaning else None, "price": price_col if cleaning and price_col in columns else None}
    lines = table.frame.select(F.monotonically_increasing_id().alias("line"),
                               *[text(column).alias(role) for role, column in raw.items() if column])
    if cleaning:
        item, quantity = stripped(F.col("item")), number(F.col("quantity"))
        keep = product_sales(F.col("invoice"), F.col("item"), F.col("quantity"),
                             F.col("price") if raw["price"] else None, F.col("customer"))
        # `name` stays the line's own text: product_names picks each code's most frequent one.
        lines = lines.where(keep).select("line", customer_id(F.col("customer")).alias("customer"), item.alias("item"),
                                         *(["name"] if cols.name else []),
                                         *([quantity.alias("quantity")] if cols.quantity else []))
    elif cols.quantity:
        lines = lines.withColumn("quantity", number(F.col("quantity")))
    lines = (lines.where(F.col("customer").isNotNull() & F.col("item").isNotNull())
             .withColumn("customer", customer_id(F.col("customer"))))
    return Purchases(lines.cache(), table.name, table.read(), cleaning)


@dataclass
class Matrix:
    """The stored cells of the customer x product matrix (customer, item, w: the local engine's
    float32 weight, as a double), and how many rows and columns the local matrix has."""

    entries: object  # pyspark.sql.DataFrame, cached
    customers: int
    products: int
    bought: int  # products with a stored cell (fewer than `products` only where quantities total zero)


def customer_matrix(purchases: Purchases, cols: OrderColumns, weighting: str) -> Matrix:
    """model.customer_matrix in Spark (see WEIGHTINGS there)."""
    from pyspark.sql import functions as F

    if weighting not in local.WEIGHTINGS:
        raise InputError(f"weighting must be one of {', '.join(local.WEIGHTINGS)}, not {weighting!r}.")
    spark = purchases.lines.sparkSession
    lines = purchases.lines
    if weighting == "log-quantity" and cols.quantity:
        # As interaction_matrix: lines without a number left out, totals summed, zero totals not stored.
        lines = lines.where(F.col("quantity").isNotNull() & ~F.isnan("quantity"))
        totals = (lines.groupBy("customer", "item").agg(F.sum("quantity").alias("total")).where(F.col("total") != 0)
                  .select("customer", "item", F.greatest(F.col("total").cast("float"), F.lit(0.0).cast("float")).alias("key")))
        keys = totals.select("key").distinct()
        if keys.count() > MAX_WEIGHT_VALUES:
            raise InputError(f"--weighting log-quantity with --engine spark maps at most {MAX_WEIGHT_VALUES:,} distinct "
                             "quantity totals; use --engine local, or --weighting binary.")
        values = np.asarray(keys.toArrow().column("key"), dtype=np.float32)
        weights = np.log1p(values).astype(np.float32)  # numpy's float32 log1p, as the local engine
        table = spark.createDataFrame(pd.DataFrame({"key": values, "w": weights.astype(np.float64)}), "key float, w double")
        entries = totals.join(F.broadcast(table), "key").select("customer", "item", "w")
    else:
        entries = lines.select("customer", "item").distinct().withColumn("w", F.lit(1.0))
    entries = entries.cache()
    customers, products = lines.agg(F.count_distinct("customer"), F.count_distinct("item")).first()
    bought = entries.select(F.count_distinct("item")).first()[0] if weighting == "log-quantity" else products
    if weighting == "tfidf":
        entries = _tfidf(entries, customers)
    return Matrix(entries, int(customers), int(products), int(bought))


def _tfidf(entries, customers: int):
    """Binary cells times each product's smooth idf, computed as scikit-learn's TfidfTransformer
    computes it for a float32 matrix (float32 throughout), on the driver per distinct count."""
    from pyspark.sql import functions as F

    spark = entries.sparkSession
    df = entries.groupBy("item").agg(F.count(F.lit(1)).alias("df"))
    counts = np.asarray(df.select("df").distinct().toArrow().column("df"), dtype=np.int64)
    smooth = counts.astype(np.float32) + np.float32(1.0)
    idf = np.full_like(smooth, fill_value=customers + 1, dtype=np.float32)
    idf /= smooth
    np.log(idf, out=idf)
    idf += np.float32(1.0)
    table = spark.createDataFrame(pd.DataFrame({"df": counts, "w": idf.astype(np.float64)}), "df long, w double")
    weighted = (entries.drop("w").join(df, "item").join(F.broadcast(table), "df").select("customer", "item", "w")
                .cache())
    entries.unpersist()
    return weighted


def _rounded(column):
    """Rounded to TIE_DECIMALS as numpy.round does (so equal sums reached in another order tie)."""
    from pyspark.sql import functions as F

    scale = float(10 ** TIE_DECIMALS)
    return F.rint(column * F.lit(scale)) / F.lit(scale)


def nearest_customers(matrix: Matrix, k: int, skip_popular: float | None = None):
    """(DataFrame customer, rank, neighbour, similarity, shared_items: each customer's k most
    cosine-similar others, positive only; facts for the manifest)."""
    from pyspark.sql import functions as F
    from pyspark.sql.window import Window

    entries = matrix.entries
    norms = entries.groupBy("customer").agg(F.sum(F.col("w") * F.col("w")).alias("n2"))
    # As scikit-learn's normalize: a row of zeros stays zeros.
    unit = (entries.join(norms, "customer")
            .select("customer", "item", F.when(F.col("n2") > 0, F.col("w") / F.sqrt("n2")).otherwise(F.col("w")).alias("u")))
    popular_count = 0
    generating = unit
    popular = None
    if skip_popular is not None:
        buyers = entries.groupBy("item").agg(F.count(F.lit(1)).alias("buyers"))
        popular = buyers.where(F.col("buyers") > F.lit(float(skip_popular) * matrix.customers)).select("item").cache()
        popular_count = popular.count()
        if popular_count:
            generating = unit.join(F.broadcast(popular), "item", "left_anti")
    x = generating.select(F.col("customer").alias("a"), "item", F.col("u").alias("ua"))
    y = generating.select(F.col("customer").alias("b"), "item", F.col("u").alias("ub"))
    pairs = (x.join(y, "item").where(F.col("a") < F.col("b")).groupBy("a", "b")
             .agg(F.sum(F.col("ua") * F.col("ub")).alias("dot"), F.count(F.lit(1)).alias("shared")))
    if popular_count:
        # The candidates' products that generated nothing still count in their cosine: each
        # customer's popular products as a map, the shared ones multiplied and summed.
        held = (unit.join(F.broadcast(popular), "item").groupBy("customer")
                .agg(F.map_from_entries(F.collect_list(F.struct("item", "u"))).alias("m")))
        pairs = (pairs.join(held.select(F.col("customer").alias("a"), F.col("m").alias("ma")), "a", "left")
                 .join(held.select(F.col("customer").alias("b"), F.col("m").alias("mb")), "b", "left"))
        both = F.map_filter(F.map_zip_with("ma", "mb", lambda _, p, q: p * q), lambda _, v: v.isNotNull())
        present = F.col("ma").isNotNull() & F.col("mb").isNotNull()
        extra = F.when(present, F.aggregate(F.map_values(both), F.lit(0.0), lambda acc, v: acc + v)).otherwise(0.0)
        pairs = pairs.select("a", "b", (F.col("dot") + extra).alias("dot"),
                             (F.col("shared") + F.when(present, F.size(both)).otherwise(0)).alias("shared"))
    scored = pairs.select("a", "b", _rounded(F.col("dot")).alias("similarity"), "shared").where(F.col("similarity") > 0)
    # Each pair both ways, from one pass over the pairs (a union would compute them twice).
    ways = F.array(F.struct(F.col("a").alias("customer"), F.col("b").alias("neighbour")),
                   F.struct(F.col("b").alias("customer"), F.col("a").alias("neighbour")))
    both_ways = (scored.select(F.explode(ways).alias("way"), "similarity", "shared")
                 .select("way.customer", "way.neighbour", "similarity", "shared"))
    order = Window.partitionBy("customer").orderBy(F.desc("similarity"), F.asc("neighbour"))
    top = (both_ways.withColumn("rank", F.row_number().over(order)).where(F.col("rank") <= k)
           .select("customer", "rank", "neighbour", "similarity", F.col("shared").alias("shared_items")))
    facts = {"skip_popular": skip_popular, "products_not_generating_candidates": int(popular_count)}
    return top, facts, popular


def recommend_from_neighbours(entries, near, n: int, customers=None):
    """model.recommend_from_neighbours in Spark: sum over the customer's neighbours of similarity x
    bought, what the customer has left out, the n best (positive); `customers` (a DataFrame of
    `customer`) limits it to those. Columns customer, rank, item, score, support_count."""
    from pyspark.sql import functions as F
    from pyspark.sql.window import Window

    weights = near.select("customer", "neighbour", "similarity")
    if customers is not None:
        weights = weights.join(F.broadcast(customers), "customer", "left_semi")
    bought = entries.select("customer", "item")
    reached = (weights.join(bought.select(F.col("customer").alias("neighbour"), "item"), "neighbour")
               .join(bought, ["customer", "item"], "left_anti")
               .groupBy("customer", "item")
               .agg(_rounded(F.sum("similarity")).alias("score"), F.count(F.lit(1)).alias("support_count"))
               .where(F.col("score") > 0))
    order = Window.partitionBy("customer").orderBy(F.desc("score"), F.asc("item"))
    return (reached.withColumn("rank", F.row_number().over(order)).where(F.col("rank") <= n)
            .select("customer", "rank", "item", "score", "support_count"))


def recommend_from_ease(matrix: Matrix, near, n: int, lam: float, *, progress: bool = False) -> tuple[pd.DataFrame, dict]:
    """EASE fitted on the driver from the Spark-counted XᵀX of the most bought products, each
    customer scored on the driver by ease.recommend (a block at a time from Spark), customers with
    nothing found given user-user's. (recommendations, manifest facts)"""
    import scipy.sparse as sp
    from pyspark.sql import functions as F
    from tqdm import tqdm

    ease.check_lambda(lam)
    started = time.perf_counter()
    entries = matrix.entries
    spark = entries.sparkSession
    bought = entries.select("customer", "item")
    per_item = bought.groupBy("item").agg(F.count(F.lit(1)).alias("n"))
    # ease.most_frequent over columns numbered by id: the largest counts, ties to the smaller id
    kept = per_item.orderBy(F.desc("n"), F.asc("item")).limit(ease.MAX_ITEMS).toArrow()
    items = np.asarray(kept.column("item").to_pylist(), dtype=object)
    order = np.argsort(items, kind="stable")  # column order, as in the local matrix
    items, counts = items[order], np.asarray(kept.column("n"), dtype=np.int64)[order]
    positions = spark.createDataFrame(pd.DataFrame({"item": items, "pos": np.arange(len(items), dtype=np.int64)}),
                                      "item string, pos long")
    held = bought.join(F.broadcast(positions), "item").select("customer", "pos")
    pairs = (held.alias("x").join(held.alias("y"), "customer").where(F.col("x.pos") < F.col("y.pos"))
             .groupBy(F.col("x.pos").alias("a"), F.col("y.pos").alias("b")).agg(F.count(F.lit(1)).alias("c"))
             .toArrow())
    fitted = ease.fit_gram(np.asarray(pairs.column("a")), np.asarray(pairs.column("b")), np.asarray(pairs.column("c")),
                           counts, lam, dropped=int(matrix.bought - len(items)), started=started)
    rows = (bought.join(F.broadcast(positions), "item", "left").groupBy("customer")
            .agg(F.array_sort(F.collect_list("pos")).alias("pos")))
    parts, empty = [], []
    block: list = []

    def score(block: list) -> None:
        ids = np.asarray([r[0] for r in block], dtype=object)
        lengths = np.fromiter((len(r[1]) for r in block), dtype=np.int64, count=len(block))
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        indices = np.fromiter((p for r in block for p in r[1]), dtype=np.int32, count=int(indptr[-1]))
        x = sp.csr_matrix((np.ones(len(indices), dtype=np.float32), indices, indptr), shape=(len(block), len(items)))
        found = ease.recommend(fitted, x, n, explain=local.EXPLAIN)
        r, c = found.top.entries()
        parts.append(pd.DataFrame({
            "customer": ids[r], "rank": c + 1, "item": items[found.top.indices[r, c]],
            "score": found.top.scores[r, c], "support_count": found.top.counts[r, c],
            "because": [[str(items[j]) for j in row if j >= 0] for row in found.because[r, c]]}))
        empty.extend(ids[~found.top.found.any(axis=1)])

    with tqdm(total=matrix.customers, desc="Recommendations", unit="customer", disable=not progress) as bar:
        for row in rows.toLocalIterator(prefetchPartitions=True):
            block.append((row["customer"], row["pos"]))
            if len(block) == SCORE_BLOCK:
                score(block)
                bar.update(len(block))
                block = []
        if block:
            score(block)
            bar.update(len(block))
    if empty:
        # Customers whose products are all past EASE's guard get their neighbours' recommendations.
        wanted = spark.createDataFrame(pd.DataFrame({"customer": np.asarray(empty, dtype=object)}), "customer string")
        fallback = to_pandas(recommend_from_neighbours(entries, near, n, customers=wanted))
        fallback["score"] = fallback["score"].astype(np.float32)  # as the local engine stores it among EASE's
        fallback["support_count"] = fallback["support_count"].astype(np.int32)
        fallback["because"] = [[] for _ in range(len(fallback))]
        parts.append(fallback)
    recommendations = pd.concat(parts, ignore_index=True) if parts else _no_recommendations()
    return recommendations, local.ease_facts(fitted, len(empty))


def _no_recommendations() -> pd.DataFrame:
    return pd.DataFrame({"customer": np.array([], dtype=object), "rank": np.array([], dtype=np.int64),
                         "item": np.array([], dtype=object), "score": np.array([], dtype=np.float32),
                         "support_count": np.array([], dtype=np.int32), "because": []})


def product_names(purchases: Purchases, cols: OrderColumns) -> pd.Series:
    """model.product_names in Spark: item -> name, in the order the products first appear; the name
    on the first line, or once cleaned each code's most frequent description (stripped, single
    spaces; ties to the alphabetically first), as clean_online_retail names every line."""
    from pyspark.sql import functions as F

    if not cols.name:
        return pd.Series(dtype=object)
    lines = purchases.lines
    if purchases.cleaned:
        best = product_descriptions(lines, "item", "name")
        first = lines.groupBy("item").agg(F.min("line").alias("first")).join(best, "item", "left")
    else:
        first = (lines.groupBy("item")
                 .agg(F.min("line").alias("first"), F.min_by(F.struct("name"), "line").alias("named"))
                 .select("item", "first", F.col("named.name").alias("name")))
    found = to_pandas(first).sort_values("first", kind="stable")
    return pd.Series(found["name"].to_numpy(), index=pd.Index(found["item"].to_numpy(), name=cols.item), name=cols.name)


def build(purchases: Purchases, cols: OrderColumns = ONLINE_RETAIL, *, k: int = local.DEFAULT_NEIGHBOURS,
          n: int = local.DEFAULT_RECOMMENDATIONS, weighting: str = local.DEFAULT_WEIGHTING,
          model: str = local.DEFAULT_MODEL, ease_lambda: float = local.EASE_LAMBDA,
          skip_popular: float | None = None, progress: bool = False) -> local.SimilarCustomers:
    """model.build on Spark, from read_purchases' lines: the same neighbours and recommendations.
    The lines' cache is let go once built (or refused)."""
    started = time.perf_counter()
    cached = [purchases.lines]
    try:
        k, n = check_k(k), check_k(n)
        local.MODELS.on_spark(model)  # registered, and built on Spark too (InputError otherwise)
        if skip_popular is not None and not 0 < skip_popular <= 1:
            raise InputError(f"--skip-popular is a share of the customers, above 0 and at most 1, not {skip_popular}.")
        lines = purchases.lines.count()
        if not lines:
            raise InputError(f"No purchases left in {purchases.name} after dropping rows without a customer or "
                             "product.")
        matrix = customer_matrix(purchases, cols, weighting)
        cached.append(matrix.entries)
        near, facts, popular = nearest_customers(matrix, k, skip_popular)
        if popular is not None:
            cached.append(popular)
        near = near.cache()
        cached.append(near)
        neighbours = to_pandas(near)
        if model == "ease":
            recommendations, ease_facts = recommend_from_ease(matrix, near, n, ease_lambda, progress=progress)
            model_facts = {"ease": ease_facts}
        else:
            recommendations = to_pandas(recommend_from_neighbours(matrix.entries, near, n))
            recommendations["because"] = [[] for _ in range(len(recommendations))]
            model_facts = {}
        names = product_names(purchases, cols)
        master = purchases.lines.sparkSession.sparkContext.master
    finally:
        for frame in cached:
            frame.unpersist()
    return local.assemble(neighbours, recommendations, names, cols, k=k, n=n, weighting=weighting, model=model,
                          facts=model_facts, customers=matrix.customers, products=matrix.products, purchase_lines=lines,
                          read=purchases.read, started=started, engine="spark",
                          extra={"spark": {"master": master, **facts}}, versions=("pyspark",))
