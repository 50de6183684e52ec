"""Similar products with --engine spark: the same lists, product table and validation as the local engine, on a real local Spark."""
from __future__ import annotations

import pandas as pd
import pytest

import settings

from common.errors import InputError
from common.shop_tables import OrderColumns
from common.spark import read_table
from recommend.cli import main
from recommend.similar_products import model
from recommend.similar_products import spark as engine
from recommend.similar_products.similarity import MODELS

pytestmark = pytest.mark.spark

COLUMNS = OrderColumns(order="Order ID", item="Product ID", name="Product Name", categories=("Sub-Category", "Category"))


@pytest.fixture(scope="module")
def local_lines():
    return model.read_order_lines(settings.DEMO_SUPERSTORE, COLUMNS)


@pytest.fixture(scope="module")
def spark_lines(spark):
    return engine.order_lines(read_table(spark, settings.DEMO_SUPERSTORE), COLUMNS)


def assert_same(local: model.SimilarProducts, spark: model.SimilarProducts, categories: bool = True) -> None:
    """The same k best per product (scores to 1e-9, in the same order), products and validation."""
    assert len(local.neighbours) > 1000
    pd.testing.assert_frame_equal(local.neighbours, spark.neighbours, check_exact=False, rtol=0, atol=1e-9,
                                  check_dtype=False)
    pd.testing.assert_frame_equal(local.products, spark.products, check_dtype=False)  # str or object: same text
    if categories:
        pd.testing.assert_frame_equal(local.validation, spark.validation, check_exact=False, rtol=0, atol=1e-12)
    else:
        assert local.validation is None and spark.validation is None
    for key in ("orders", "order_lines", "orders_with_2_or_more_products", "products", "products_with_similar",
                "pairs_bought_together"):
        assert local.manifest[key] == spark.manifest[key], key
    assert (local.manifest["engine"], spark.manifest["engine"]) == ("local", "spark")


@pytest.mark.parametrize("similarity", MODELS)
def test_every_similarity_gives_the_local_engines_lists(similarity, local_lines, spark_lines):
    local = model.build(local_lines, COLUMNS, similarity=similarity, k=5)
    spark = engine.build(spark_lines, COLUMNS, similarity=similarity, k=5)
    assert_same(local, spark)
    if similarity == "ease":
        assert spark.manifest["ease"]["products_fitted"] == local.manifest["ease"]["products_fitted"] > 1000


def test_parquet_part_files_give_what_the_csv_gives(spark, tmp_path, local_lines):
    folder = tmp_path / "orders"
    read_table(spark, settings.DEMO_SUPERSTORE).frame.repartition(4).write.parquet(str(folder))
    lines = engine.order_lines(read_table(spark, folder), COLUMNS)
    assert_same(model.build(local_lines, COLUMNS, similarity="jaccard"),
                engine.build(lines, COLUMNS, similarity="jaccard"))


def test_the_large_order_cap_is_the_same_in_both_engines_and_in_the_manifest(local_lines, spark_lines):
    local = model.build(local_lines, COLUMNS, similarity="jaccard", max_order_items=3)
    spark = engine.build(spark_lines, COLUMNS, similarity="jaccard", max_order_items=3)
    assert_same(local, spark)
    assert local.manifest["max_order_items"] == spark.manifest["max_order_items"] == 3
    uncapped = model.build(local_lines, COLUMNS, similarity="jaccard")
    assert "max_order_items" not in uncapped.manifest
    assert uncapped.manifest["pairs_bought_together"] > local.manifest["pairs_bought_together"]
    with pytest.raises(InputError, match="--max-order-items"):
        engine.build(spark_lines, COLUMNS, max_order_items=1)


def test_the_cli_builds_with_spark_what_load_reads(spark, tmp_path, capsys):
    out = tmp_path / "similar"
    assert main(["similar-products", "--orders", str(settings.DEMO_SUPERSTORE), "--similarity", "jaccard", "--engine", "spark",
                 "--spark-master", "local[2]", "--out", str(out), "--item", "TEC-PH-10002923"]) == 0
    printed = capsys.readouterr().out
    assert "spark engine" in printed and "Similar to Logitech B530 USB Headset" in printed
    built = model.load(out)
    assert built.manifest["engine"] == "spark" and built.manifest["inputs"]["format"] == "csv"
    assert (built.neighbours["item"] == "TEC-PH-10002923").sum() == 5


def test_online_retails_cleaning_keeps_the_lines_the_local_cleaning_keeps(spark):
    columns = OrderColumns(order="InvoiceNo", item="StockCode", name="Description")
    local = model.build(model.read_order_lines(settings.DEMO_ONLINE_RETAIL, columns, "online-retail"), columns,
                        similarity="jaccard")
    remote = engine.build(engine.order_lines(read_table(spark, settings.DEMO_ONLINE_RETAIL), columns, "online-retail"),
                          columns, similarity="jaccard")
    assert remote.manifest["cleaning"] == local.manifest["cleaning"] == "online-retail"
    assert_same(local, remote, categories=False)
    assert local.manifest["order_lines"] < 30_000  # the sample's 30,547 lines less what the cleaning drops


def test_a_missing_column_is_one_line(spark):
    table = read_table(spark, settings.DEMO_SUPERSTORE)
    with pytest.raises(InputError, match="lacks column.*'Basket'.*Order ID"):
        engine.order_lines(table, OrderColumns(order="Basket", item="Product ID"))
    with pytest.raises(InputError, match="lacks column.*'UnitPrice'"):  # the cleaning needs Online Retail's columns
        engine.order_lines(table, OrderColumns(order="Order ID", item="Product ID"), "online-retail")
