"""`python -m recommend build --engine spark`: the same workspace as the local build (the mapped
order lines, every part's files byte for byte), its checks the local ones, on a real local Spark."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import settings
from common import shop_tables, shop_tables_spark
from common.errors import InputError
from common.spark import read_table, to_pandas
from recommend import cli
from recommend.workspace import model
from tests.recommend.workspace.test_build import SHOP, _files

pytestmark = pytest.mark.spark


def _build(tmp_path: Path, name: str, *args: str) -> model.Workspace:
    assert cli.main(["build", "--name", name, "--artifacts", str(tmp_path), *args]) == 0
    return model.open_workspace(name, tmp_path)


def assert_same_workspace(local: model.Workspace, spark: model.Workspace) -> None:
    pd.testing.assert_frame_equal(local.orders(), spark.orders())  # dtypes too: whole quantities stay integers
    assert local.parts == spark.parts
    left, right = _files(local.folder), _files(spark.folder)
    assert sorted(left) == sorted(right) and "similar_customers/recommendations.csv" in left
    for name in left:
        if name != "/orders.parquet":  # the same lines (above), written by pandas or Arrow batches
            assert left[name] == right[name], name
    for key in ("order_lines", "orders", "products", "customers", "dropped", "mapping", "parts"):
        assert local.manifest[key] == spark.manifest[key], key
    assert local.manifest["engine"] == "local" and spark.manifest["engine"] == "spark"


def test_the_demo_orders_build_the_same_workspace_on_spark(spark, tmp_path):
    orders = str(settings.DEMO_ONLINE_RETAIL)
    local = _build(tmp_path, "here", "--orders", orders)
    on_spark = _build(tmp_path, "there", "--orders", orders, "--engine", "spark", "--spark-master", "local[2]")
    assert local.manifest["order_lines"] > 29_000 and local.manifest["parts"]["basket_rules"]["rules"] >= 20
    assert_same_workspace(local, on_spark)
    assert on_spark.manifest["source"]["sha256"] == local.manifest["source"]["sha256"]
    assert on_spark.manifest["source"]["spark_master"] == "local[2]" and on_spark.manifest["read"]["engine"] == "spark"


def test_a_parquet_export_without_names_takes_the_catalogues_on_spark(spark, tmp_path):
    """Parquet as a warehouse writes it (customer ids as floats, a missing one, Unix-second dates),
    no product names: they come from the catalogue, on both engines."""
    table = SHOP.drop(columns=["Item name"]).assign(
        Client=[float(c[1:]) if c else np.nan for c in SHOP["Client"]],
        **{"Order date": pd.to_datetime(SHOP["Order date"]).astype("datetime64[s]").astype("int64")})
    table.to_parquet(tmp_path / "shop.parquet", index=False)
    names = dict(zip(SHOP["SKU"], SHOP["Item name"]))
    pd.DataFrame({"id": list(names), "name": list(names.values())}).to_csv(tmp_path / "catalogue.csv", index=False)
    common = ["--orders", str(tmp_path / "shop.parquet"), "--catalogue", str(tmp_path / "catalogue.csv"),
              "--date-col", "Order date"]
    local = _build(tmp_path, "here", *common)
    on_spark = _build(tmp_path, "there", *common, "--engine", "spark")
    assert set(local.orders()["name"]) == set(names.values()) and set(local.orders()["customer"]) >= {"1", "6", ""}
    assert local.orders()["date"].min() == pd.Timestamp("2024-03-01")
    assert_same_workspace(local, on_spark)


def test_the_spark_mapping_reads_and_types_cells_as_the_local_one(spark, tmp_path):
    """Blanks and their spellings, spaces (Unicode too), decimal commas, returns, mixed date formats."""
    table = pd.DataFrame({"Order": ["1", " 2 ", "3", "", "5", "6"],
                          "Sku": ["a", "b\u00a0", "NULL", "d", "e", "f"],
                          "Qty": ["1", "2,5", " ", "nan", "-1", "3"],
                          "Price": ["1.5", "", "2", "3", "none", "1e2"],
                          "When": ["2024-01-02", "03/04/2024", "", "2024-05-06 07:08:09", "Jan 5 2024", "2024-12-31"]})
    path = tmp_path / "cells.csv"
    table.to_csv(path, index=False)
    mapping = {**shop_tables.guess(list(table.columns), shop_tables.ORDERS), "date": "When"}
    local = shop_tables.apply(shop_tables.read_table(path), shop_tables.ORDERS, mapping)
    mapped, cached = shop_tables_spark.apply(read_table(spark, path), shop_tables.ORDERS, mapping)
    on_spark = to_pandas(mapped)
    cached.unpersist()
    assert list(on_spark.columns) == list(local.columns) == ["order", "item", "quantity", "price", "date"]
    assert local["quantity"].tolist()[:2] == [1.0, 2.5] and local["item"][1] == "b" and local["date"].notna().sum() == 5
    pd.testing.assert_frame_equal(local, on_spark.assign(date=on_spark["date"].astype(local["date"].dtype)),
                                  check_dtype=False)


def test_bad_cells_stop_a_spark_build_with_the_local_message_and_keep_the_old_workspace(spark, tmp_path, capsys):
    good = tmp_path / "shop.csv"
    SHOP.to_csv(good, index=False)
    before = _build(tmp_path, "myshop", "--orders", str(good))
    bad = tmp_path / "bad.csv"
    SHOP.assign(Qty=["two" if i == 3 else q for i, q in enumerate(SHOP["Qty"])]).to_csv(bad, index=False)
    assert cli.main(["build", "--orders", str(bad), "--name", "myshop", "--artifacts", str(tmp_path),
                     "--engine", "spark"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == "error: Column 'Qty' (the quantity) has 1 value(s) that are not numbers, e.g. 'two'."
    after = model.open_workspace("myshop", tmp_path)
    assert after.manifest["created"] == before.manifest["created"] and after.parts == before.parts


def test_spark_reads_files_not_databases(capsys):
    assert cli.main(["build", "--name", "myshop", "--orders-sql", "sqlite:///shop.db", "--orders-table", "lines",
                     "--engine", "spark"]) == 2
    assert "--engine spark reads files and folders" in capsys.readouterr().err
    assert cli.main(["build", "--name", "myshop", "--orders", "x.csv", "--spark-master", "local[2]"]) == 2
    assert "only apply with --engine spark" in capsys.readouterr().err
