"""common/spark.py: the engine flags, the table formats and reading a CSV as the local readers read it."""
from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from common.errors import InputError
from common.spark import (add_engine_arguments, check_engine_arguments, local_cores, read_table, runs_here, session,
                          stripped, table_format, to_pandas)
from common.tables import read_csv


def test_a_job_runs_here_on_a_local_master_or_none_outside_spark_submit(monkeypatch):
    monkeypatch.delenv("PYSPARK_GATEWAY_PORT", raising=False)
    assert runs_here("local[2]") and runs_here("local[*]") and runs_here(None)
    assert not runs_here("spark://head:7077") and not runs_here("yarn")
    monkeypatch.setenv("PYSPARK_GATEWAY_PORT", "40000")  # spark-submit chose the master
    assert not runs_here(None) and runs_here("local[1]")


def parsed(*argv: str):
    p = argparse.ArgumentParser()
    add_engine_arguments(p)
    return p.parse_args(list(argv))


def test_spark_flags_need_the_spark_engine():
    assert parsed().engine == "local"
    check_engine_arguments(parsed("--engine", "spark", "--spark-master", "local[2]"))
    with pytest.raises(InputError, match="only apply with --engine spark"):
        check_engine_arguments(parsed("--spark-conf", "spark.driver.memory=2g"))


def test_a_spark_setting_must_be_key_equals_value():
    with pytest.raises(InputError, match="NAME=VALUE"):
        session("local[1]", ["spark.driver.memory"])


def test_table_formats_come_from_the_name_or_the_part_files(tmp_path):
    assert table_format("s3a://lake/orders/") == "parquet"
    assert table_format("hdfs://nn/orders.csv.gz") == "csv"
    (tmp_path / "parts").mkdir()
    (tmp_path / "parts" / "_SUCCESS").write_text("")
    (tmp_path / "parts" / "part-0000.snappy.parquet").write_bytes(b"")
    assert table_format(tmp_path / "parts") == "parquet"
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no .parquet or .csv"):
        table_format(tmp_path / "empty")


def test_local_cores_of_a_master():
    assert local_cores("local[3]") == 3
    assert local_cores("local[*]") >= 1
    assert local_cores("local") == 1


@pytest.mark.spark
def test_a_csv_reads_in_spark_as_the_local_reader_reads_it(tmp_path):
    """Semicolons, Windows-1252, doubled quotes and a header with spaces: the same text in both."""
    path = tmp_path / "orders.csv"
    path.write_bytes(' Order ;Item;Qty\n1;"Caf\xe9 ""crème"" cup";2\n2;\xa0Teapot ;1\n'.encode("cp1252"))
    spark = session("local[1]")
    try:
        table = read_table(spark, path)
        assert table.columns() == ["Order", "Item", "Qty"] and table.format == "csv"
        got = to_pandas(table.frame.select("Order", stripped(table.frame["Item"]).alias("Item")))
    finally:
        spark.stop()
    local = read_csv(path, what="Orders", dtype=str)
    local.columns = [c.strip() for c in local.columns]  # as the order-line readers strip them
    assert got["Item"].tolist() == local["Item"].str.strip().tolist() == ['Café "crème" cup', "Teapot"]
    assert got["Order"].tolist() == local["Order"].tolist()
    with pytest.raises(InputError, match="not found"):
        read_table(None, tmp_path / "missing.csv")


@pytest.mark.spark
def test_a_spark_job_starts_without_spark_chatter():
    """Only the JVM's own line about its incubator module (Spark's launcher adds it) reaches stderr:
    no log-level notice, no INFO or WARN lines."""
    import subprocess
    import sys

    code = "from common.spark import session; s = session('local[1]'); print(s.range(5).count()); s.stop()"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         cwd=Path(__file__).resolve().parents[2])
    assert run.returncode == 0 and run.stdout.strip() == "5", run.stderr
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert [line for line in lines if "incubator modules" not in line] == [], run.stderr
