"""Basket rules with --engine spark: the same itemsets, rules and lookup as the local engine, on a real local Spark."""
from __future__ import annotations

import pandas as pd
import pytest

from common.errors import InputError
from common.shop_tables import OrderColumns
from common.spark import read_table
from recommend.cli import main
from recommend.rules import model as br
from recommend.rules import spark as engine
from recommend.rules.baskets import baskets_from_lists, read_long, read_wide
from recommend.rules.mining import TooManyItemsets
from recommend.rules.spark import itemset_bound
from tests.helpers import ROOT

pytestmark = pytest.mark.spark

MBO = ROOT / "data" / "baskets" / "market_basket_optimisation.csv"
RETAIL = ROOT / "data" / "online_retail" / "online_retail_sample.csv.gz"
RETAIL_COLUMNS = OrderColumns(order="InvoiceNo", item="Description", quantity="Quantity")
SEED = dict(min_support=0.0045, min_confidence=0.2, min_lift=2.0, max_length=5)
RETAIL_SEED = dict(min_support=0.01, min_confidence=0.5, min_lift=5.0, max_length=4)


def assert_same(local: br.BasketRules, spark: br.BasketRules) -> None:
    """Every rule with the same metrics (to 1e-9), the same itemsets and the same lookup."""
    for name in ("rules", "itemsets"):
        a, b = getattr(local, name).reset_index(drop=True), getattr(spark, name).reset_index(drop=True)
        assert len(a) == len(b) > 0
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=0, atol=1e-9)
    pd.testing.assert_frame_equal(local.lookup.reset_index(drop=True), spark.lookup.reset_index(drop=True))
    assert local.default_recommendation == spark.default_recommendation
    for key in ("baskets", "items", "min_count", "frequent_itemsets_by_length", "rules", "items_with_rules"):
        assert local.manifest[key] == spark.manifest[key], key
    assert (local.manifest["engine"], spark.manifest["engine"]) == ("local", "spark")


def test_the_wide_demo_file_gives_the_local_engines_rules(spark):
    result = engine.build(engine.wide_baskets(spark, str(MBO)), **SEED)
    assert_same(br.build(read_wide(MBO), **SEED), result)
    assert result.manifest["rules"] == 217  # the original notebook's


def test_order_lines_in_csv_and_in_parquet_give_the_local_engines_rules(spark, tmp_path):
    local = br.build(read_long(RETAIL, RETAIL_COLUMNS), **RETAIL_SEED)
    table = read_table(spark, RETAIL)
    from_csv = engine.build(engine.long_baskets(table, RETAIL_COLUMNS), **RETAIL_SEED)
    assert_same(local, from_csv)
    folder = tmp_path / "lines.parquet"
    table.frame.repartition(3).write.parquet(str(folder))  # a folder of part files, as a data lake holds them
    from_parquet = engine.build(engine.long_baskets(read_table(spark, folder), RETAIL_COLUMNS),
                                **RETAIL_SEED)
    assert_same(local, from_parquet)


def test_max_length_holds_although_fpgrowth_finds_every_length(spark):
    result = engine.build(engine.wide_baskets(spark, str(MBO)), **{**SEED, "max_length": 2})
    assert result.itemsets["length"].max() == 2
    assert_same(br.build(read_wide(MBO), **{**SEED, "max_length": 2}), result)


def test_fpgrowth_mines_where_it_is_safe_and_long_baskets_go_level_by_level(spark):
    assert engine.build(engine.wide_baskets(spark, str(MBO)), **SEED).manifest["input"]["miner"] == "fpgrowth"
    items = [f"item{i:02d}" for i in range(14)]
    lists = [items] * 30 + [["other", "thing"]] * 10
    frame = spark.createDataFrame([(x,) for x in lists], "items array<string>")
    # FPGrowth would find all 2^14 - 1 subsets of the shared items, past the limit of 5,000;
    # up to 3 items there are 14 + 91 + 364, which both engines find.
    thresholds = dict(min_support=0.5, min_confidence=0.5, min_lift=1.0, max_length=3, max_itemsets=5_000)
    result = engine.build(engine.SparkBaskets(frame, {"name": "test"}), **thresholds)
    assert result.manifest["input"]["miner"] == "level-wise"
    assert result.manifest["frequent_itemsets"] == 14 + 91 + 364
    assert_same(br.build(baskets_from_lists(lists), **thresholds), result)


def test_the_explosion_guard_stops_both_engines_alike(spark):
    items = [f"item{i:02d}" for i in range(14)]
    lists = [items] * 30 + [["other", "thing"]] * 10
    frame = spark.createDataFrame([(x,) for x in lists], "items array<string>")
    thresholds = dict(min_support=0.5, min_confidence=0.5, min_lift=1.0, max_length=3, max_itemsets=200)
    with pytest.raises(TooManyItemsets, match="364 candidate itemsets of 3 items"):
        br.build(baskets_from_lists(lists), **thresholds)
    with pytest.raises(TooManyItemsets, match="364 candidate itemsets of 3 items"):
        engine.build(engine.SparkBaskets(frame, {"name": "test"}), **thresholds)


def test_the_itemset_bound_counts_every_clique_of_a_complete_graph_and_no_more():
    # K4 (items a-d) has 15 non-empty cliques; a lone item adds one; a path x-y-z adds 3 + 2.
    pairs = [("a", "b"), ("a", "c"), ("a", "d"), ("b", "c"), ("b", "d"), ("c", "d"), ("x", "y"), ("y", "z")]
    a, b = zip(*pairs)
    assert itemset_bound(["a", "b", "c", "d", "e", "x", "y", "z"], list(a), list(b)) == 15 + 1 + 5


def test_the_cli_writes_the_same_artifact_with_either_engine(spark, tmp_path, capsys):
    local, remote = tmp_path / "local", tmp_path / "spark"
    assert main(["rules", "--out", str(local)]) == 0
    assert main(["rules", "--engine", "spark", "--spark-master", "local[2]", "--out", str(remote)]) == 0
    assert "spark engine" in capsys.readouterr().out
    for name in ("rules.csv", "itemsets.csv", "lookup.json"):
        assert (local / name).read_bytes() == (remote / name).read_bytes(), name
    manifest = br.load(remote).manifest
    assert manifest["engine"] == "spark" and manifest["inputs"]["spark_master"].startswith("local")


def test_spark_flags_without_the_spark_engine_and_a_database_are_one_line_each(spark, tmp_path, capsys):
    assert main(["rules", "--spark-master", "local[2]", "--out", str(tmp_path / "x")]) == 2
    assert "only apply with --engine spark" in capsys.readouterr().err
    assert main(["rules", "--engine", "spark", "--orders-sql", "sqlite:///shop.db", "--orders-table", "lines",
                 "--out", str(tmp_path / "y")]) == 2
    err = capsys.readouterr().err
    assert "--engine spark reads files" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "y").exists()


def test_a_missing_column_names_the_columns_there_are(spark):
    with pytest.raises(InputError, match="lacks column.*'Basket'.*InvoiceNo"):
        engine.long_baskets(read_table(spark, RETAIL), OrderColumns(order="Basket", item="Description"))
