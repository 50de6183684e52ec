"""`python -m recommend build --engine spark`: a workspace whose orders are read, mapped, checked
and mined by Apache Spark, into the same folder the local build writes (recommend/workspace/model.py).

The orders are mapped by common/shop_tables_spark.py (the local checks and parsers, in Spark),
cleaned as model.mapped_orders cleans them (returns and lines without an order or a product
dropped, customer ids as text), and handed to model.build as a SparkOrders: the same shape as
model.LocalOrders, whose parts are the Spark engines of basket rules, similar products and
similar customers. The ratings and the catalogue (one row per product) stay local.

The mapped lines are kept as the workspace's orders.parquet, sorted as the local build sorts
them, written by the driver from Spark's Arrow batches one partition at a time (the artifacts
folder is the driver's), so the app and the API read a Spark workspace as they read any other.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Mapping

from common.errors import InputError
from common.shop_tables import ORDERS, OrderColumns
from common.shop_tables_spark import apply
from common.spark import SparkTable
from recommend.datasets.online_retail_spark import customer_id, positive
from recommend.similar_customers import model as customers_model
from recommend.similar_products import model as products_model
from recommend.workspace.model import as_mapping

CHUNK_BYTES = 32 << 20  # Arrow IPC bytes per chunk a partition sends the driver while orders.parquet is written


class SparkOrders:
    """Mapped order lines in Spark (cached) and the order parts built from them on Spark."""

    engine = "spark"

    def __init__(self, lines, attrs: dict, held: list):
        self.lines, self.attrs, self._held = lines, attrs, held

    @property
    def columns(self) -> list[str]:
        return list(self.lines.columns)

    def with_names(self, catalogue) -> "SparkOrders":
        """Orders without a product name (or category) take the catalogue's, by product id (as
        model._names_from does)."""
        from pyspark.sql import functions as F

        if catalogue is None:
            return self
        roles = [r for r in ("name", "category") if r not in self.lines.columns and r in catalogue]
        if not roles:
            return self
        spark = self.lines.sparkSession
        by_id = spark.createDataFrame(catalogue[["id", *roles]].astype(str).rename(columns={"id": "item"}))
        lines = (self.lines.join(F.broadcast(by_id), "item", "left")
                 .select(*self.lines.columns, *[F.coalesce(F.col(r), F.lit("")).alias(r) for r in roles]).cache())
        self._held.append(lines)  # one list: releasing either object lets both go
        return SparkOrders(lines, self.attrs, self._held)

    def save(self, path: Path) -> None:
        """The lines as one Parquet file on the driver, sorted as the local build sorts them (every
        mapped column, missing values last)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        chunks = self.sorted().mapInArrow(_ipc_chunks, "chunk binary")
        writer = None
        try:
            for row in chunks.toLocalIterator(prefetchPartitions=True):
                for batch in pa.ipc.open_stream(row["chunk"]):
                    if writer is None:
                        writer = pq.ParquetWriter(path, batch.schema)
                    writer.write_batch(batch)
        finally:
            if writer is not None:
                writer.close()

    def sorted(self):
        """The lines in the local build's order: by every mapped column, missing values last."""
        from pyspark.sql import functions as F

        return self.lines.orderBy(*[F.col(c).asc_nulls_last() for c in self.attrs["sort_columns"]])

    def all_named(self) -> bool:
        from pyspark.sql import functions as F

        return "name" in self.lines.columns and self.lines.where(F.col("name") == "").limit(1).count() == 0

    def rules(self, label: str, *, min_support: float | None, min_confidence: float, min_lift: float):
        from recommend.rules import model as rules_model
        from recommend.rules import spark as rules_spark

        read = rules_spark.long_baskets(SparkTable(self.lines, "the orders", "parquet"),
                                        OrderColumns(order="order", item=label))
        baskets = rules_spark.SparkBaskets(read.frame.cache(), read.info)
        try:
            if min_support is None:
                from pyspark.sql import functions as F

                count = baskets.frame.where(F.size("items") > 0).count()
                min_support, _ = rules_model.choose_support(count, lambda support: rules_spark.build(
                    baskets, min_support=support, min_confidence=min_confidence, min_lift=min_lift,
                    max_length=3).manifest["rules"])
            return rules_spark.build(baskets, min_support=min_support, min_confidence=min_confidence,
                                     min_lift=min_lift)
        finally:
            baskets.frame.unpersist()

    def similar_products(self, k: int, model: str = products_model.DEFAULT_SIMILARITY):
        from recommend.similar_products import spark as products_spark

        lines = products_spark.OrderLines(self.lines, "the orders", dict(self.attrs["read"]))
        return products_spark.build(lines, OrderColumns.mapped(self.lines.columns), k=k, similarity=model)

    def similar_customers(self, model: str = customers_model.DEFAULT_MODEL):
        from pyspark.sql import functions as F

        from recommend.similar_customers import spark as customers_spark

        if "customer" not in self.lines.columns:
            return None
        if self.lines.where(F.col("customer") != "").limit(1).count() == 0:
            return None
        # In the saved order: the engine names products from their first line, as the local one does.
        with_customer = self.sorted().where(F.col("customer") != "")
        cols = OrderColumns.mapped(self.lines.columns)
        purchases = customers_spark.read_purchases(SparkTable(with_customer, "the orders", "parquet"), cols,
                                                   clean=False)
        return customers_spark.build(purchases, cols, model=model)

    def facts(self) -> dict:
        from pyspark.sql import functions as F

        has_customer = "customer" in self.lines.columns
        row = self.lines.agg(F.count("*").alias("lines"), F.countDistinct("order").alias("orders"),
                             F.countDistinct("item").alias("products"),
                             *([F.countDistinct(F.when(F.col("customer") != "", F.col("customer"))).alias("customers")]
                               if has_customer else [])).first()
        return {"dropped": dict(self.attrs["dropped"]), "order_lines": int(row["lines"]), "orders": int(row["orders"]),
                "products": int(row["products"]), "customers": int(row["customers"]) if has_customer else 0}

    def release(self) -> None:
        for frame in self._held:
            frame.unpersist()


def _ipc_chunks(batches):
    """On the executors: a partition's Arrow batches as IPC streams of about CHUNK_BYTES each."""
    import pyarrow as pa

    sink = writer = None
    for batch in batches:
        if writer is None:
            sink = io.BytesIO()
            writer = pa.ipc.new_stream(sink, batch.schema)
        writer.write_batch(batch)
        if sink.tell() >= CHUNK_BYTES:
            writer.close()
            yield pa.RecordBatch.from_pydict({"chunk": [sink.getvalue()]}, schema=pa.schema([("chunk", pa.binary())]))
            sink = writer = None
    if writer is not None:
        writer.close()
        yield pa.RecordBatch.from_pydict({"chunk": [sink.getvalue()]}, schema=pa.schema([("chunk", pa.binary())]))


def mapped_orders(table: SparkTable, columns: OrderColumns | Mapping[str, str | None],
                  name: str = "the orders") -> SparkOrders:
    """model.mapped_orders on Spark: the lines with one column per mapped field (checked as the
    local build checks them), customer ids as text ("17850.0" is "17850"), and lines that are
    returns (quantity not positive) or lack an order or a product dropped and counted."""
    from pyspark.sql import functions as F

    mapping = as_mapping(columns)
    lines, cells = apply(table, ORDERS, mapping, name)
    try:
        if "customer" in lines.columns:
            lines = lines.withColumn("customer", customer_id(F.col("customer")))
        keep = (F.col("order") != "") & (F.col("item") != "")
        quantity = "quantity" in lines.columns
        counts = lines.agg(F.sum(F.when(~keep, 1).otherwise(0)).alias("blank"),
                           *([F.sum(F.when(keep & ~positive(F.col("quantity")), 1).otherwise(0)).alias("returns")]
                             if quantity else [])).first()
        dropped = {"no_order_or_product": int(counts["blank"] or 0)}
        if quantity:
            dropped["non_positive_quantity"] = int(counts["returns"] or 0)
            keep &= positive(F.col("quantity"))
        kept = lines.where(keep).cache()
        if kept.count() == 0:  # and cached whole, before the cells it was made from are let go
            kept.unpersist()
            raise InputError(f"{name} has no order line left with an order, a product and a positive quantity.")
    finally:
        cells.unpersist()
    read = {**table.read(), "spark_master": kept.sparkSession.sparkContext.master}
    attrs = {"mapping": {f.role: mapping.get(f.role) for f in ORDERS.fields}, "read": read, "dropped": dropped,
             "sort_columns": list(kept.columns)}
    return SparkOrders(kept, attrs, [kept])
