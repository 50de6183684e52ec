"""A shop's orders from a SQL database (a real PostgreSQL server, and SQLite), read-only, in
chunks, building exactly what the same orders build from their CSV."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from common.errors import InputError
from recommend import cli
from recommend.core import sources
from recommend.core.sources import SQL_PASSWORD_ENV, TableSource
from tests import postgres as pg

from tests.postgres import SAMPLE, typed_sample as _typed_sample


def _data_files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(Path(folder).iterdir()) if p.name != "manifest.json"}


def _manifest(folder: Path) -> dict:
    return json.loads((Path(folder) / "manifest.json").read_text())


@pytest.mark.parametrize("command, flags", [
    ("similar-products", ["--order-col", "InvoiceNo", "--item-col", "StockCode", "--name-col", "Description"]),
    ("similar-customers", []),
    ("rules", ["--min-support", "0.02", "--min-confidence", "0.3", "--min-lift", "3"]),
])
def test_postgres_builds_the_same_artifact_as_the_csv(shop_db, command, flags, tmp_path, capsys):
    from_csv, from_sql = tmp_path / "csv", tmp_path / "sql"
    assert cli.main([command, "--orders", str(SAMPLE), *flags, "--out", str(from_csv)]) == 0
    assert cli.main([command, "--orders-sql", shop_db, "--orders-table", "order_lines", *flags,
                     "--out", str(from_sql)]) == 0
    assert _data_files(from_sql) == _data_files(from_csv)
    assert len(_data_files(from_csv)) >= 2
    manifest = _manifest(from_sql)
    assert manifest["inputs"]["table"] == "order_lines" and manifest["inputs"]["rows"] == 30547
    assert pg.PASSWORD not in json.dumps(manifest) and pg.PASSWORD not in capsys.readouterr().out


@pytest.fixture
def shop_db_psycopg2(shop_db):
    """The same database through psycopg2 (postgresql+psycopg2://), which keeps working."""
    return shop_db.replace("postgresql://", "postgresql+psycopg2://", 1)


@pytest.fixture
def sqlite_db(tmp_path):
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    engine = sa.create_engine(url)
    _typed_sample().to_sql("order_lines", engine, index=False)
    engine.dispose()
    return url


# PostgreSQL's COPY through psycopg 3 and psycopg2; rows through a cursor
@pytest.mark.parametrize("database", ["shop_db", "shop_db_psycopg2", "sqlite_db"])
def test_a_query_reads_what_it_selects_as_text_with_progress(database, request, monkeypatch):
    url = request.getfixturevalue(database)
    monkeypatch.setattr(sources, "CHUNK_ROWS", 777)
    seen = []
    query = ('SELECT "InvoiceNo", "StockCode", "Quantity", "CustomerID" FROM order_lines -- the French ones\n'
             'WHERE "Country" = \'France\' AND "Description" NOT LIKE \'%:x %%\';')  # a comment, % and : stay SQL
    table = TableSource(url=url, query=query).read(progress=lambda rows, total: seen.append((rows, total)))
    expected = _typed_sample().query("Country == 'France'")
    assert list(table.columns) == ["InvoiceNo", "StockCode", "Quantity", "CustomerID"]
    # numbers as a CSV holds them ("6", not "6.0"; a float column's 12731.0 as "12731")
    assert sorted(zip(table["InvoiceNo"], table["StockCode"], table["Quantity"], table["CustomerID"])) == \
        sorted(zip(expected["InvoiceNo"], expected["StockCode"], expected["Quantity"].astype(str),
                   expected["CustomerID"].map(lambda c: "" if pd.isna(c) else str(int(c)))))
    assert len(seen) > 1 and seen[-1] == (len(table), len(table))  # progress as it went, to the end


def test_columns_come_without_reading_rows_and_missing_ones_are_named(shop_db):
    src = TableSource(url=shop_db, table="order_lines")
    assert src.columns()[:3] == ["InvoiceNo", "StockCode", "Description"]
    with pytest.raises(InputError, match="lacks column.*'Basket'.*found InvoiceNo"):
        src.read(["Basket"])


def test_vitrine_cannot_write_to_the_shop_database(shop_db, postgres):
    engine = sa.create_engine(postgres.url(pg.SUPERUSER, with_password=True))
    with engine.begin() as conn:  # a query can write through a function: the server must refuse it
        conn.exec_driver_sql("CREATE OR REPLACE FUNCTION wipe() RETURNS int AS "
                             "$$ DELETE FROM order_lines; SELECT 1 $$ LANGUAGE sql")
    with pytest.raises(InputError, match="cannot execute DELETE in a read-only transaction"):
        TableSource(url=shop_db, query="SELECT wipe() AS n").read(progress=False)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM order_lines")).scalar() == 30547
    engine.dispose()


def test_a_refused_connection_is_one_line_without_the_password(shop_db, monkeypatch, capsys):
    monkeypatch.setenv(SQL_PASSWORD_ENV, "not-the-password")
    monkeypatch.setattr(sources, "_ENGINES", {})
    assert cli.main(["similar-customers", "--orders-sql", shop_db, "--orders-table", "order_lines",
                     "--customer", "12347"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "password authentication failed" in err and "127.0.0.1" in err and "not-the-password" not in err


def test_the_url_may_come_from_a_file(shop_db, tmp_path):
    secret = tmp_path / "db_url"
    secret.write_text(pg.Server(int(shop_db.rsplit(":", 1)[1].split("/")[0]), tmp_path).url(with_password=True) + "\n")
    table = TableSource(url=f"@{secret}", table="order_lines").read(["StockCode"], progress=False)
    assert len(table) == 30547
    assert pg.PASSWORD not in json.dumps(TableSource(url=f"@{secret}", table="order_lines").describe())


@pytest.mark.parametrize("flags, message", [
    (["--orders-sql", "postgresql://x@127.0.0.1:1/shop"], "one of --orders-query"),
    (["--orders-table", "t"], "give its URL with --orders-sql"),
    (["--orders-sql", "not a url", "--orders-table", "t"], "not a database URL"),
    (["--orders-sql", "sqlite:///no/such.db", "--orders-table", "t"], "not found"),
])
def test_bad_database_flags_are_one_line(flags, message, tmp_path, capsys):
    assert cli.main(["similar-products", *flags, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_sqlite_builds_the_same_artifact_as_the_csv(tmp_path):
    db = tmp_path / "shop.db"
    engine = sa.create_engine(f"sqlite:///{db}")
    _typed_sample().to_sql("lines", engine, index=False)
    engine.dispose()
    flags = ["--order-col", "InvoiceNo", "--item-col", "StockCode", "--name-col", "Description"]
    assert cli.main(["similar-products", "--orders", str(SAMPLE), *flags, "--out", str(tmp_path / "csv")]) == 0
    assert cli.main(["similar-products", "--orders-sql", f"sqlite:///{db}", "--orders-query",
                     "SELECT * FROM lines", *flags, "--out", str(tmp_path / "sql")]) == 0
    assert _data_files(tmp_path / "sql") == _data_files(tmp_path / "csv")
    with pytest.raises(InputError, match="is a DELETE statement, not a SELECT"):
        TableSource(url=f"sqlite:///{db}", query="DELETE FROM lines RETURNING *").read(progress=False)
    # and with the parser bypassed, the session is read-only (PRAGMA query_only)
    with pytest.raises(InputError, match="readonly|read-only|query_only|attempt to write"):
        with sources._reading(TableSource(url=f"sqlite:///{db}", table="lines")) as reading:
            sources._run(reading.conn, "DELETE FROM lines")


@pytest.mark.parametrize("database", ["shop_db", "shop_db_psycopg2"])
def test_a_quoted_schema_and_table_are_read_by_copy_and_by_rows(database, request, postgres):
    url = request.getfixturevalue(database)
    engine = sa.create_engine(postgres.url(pg.SUPERUSER, with_password=True))
    with engine.begin() as conn:
        conn.exec_driver_sql('CREATE SCHEMA IF NOT EXISTS "Shop Two"')
        conn.exec_driver_sql('CREATE TABLE IF NOT EXISTS "Shop Two"."Order Lines" AS '
                             'SELECT "InvoiceNo" AS "Order", "StockCode" AS "select" FROM order_lines LIMIT 100')
        conn.exec_driver_sql(f'GRANT USAGE ON SCHEMA "Shop Two" TO {pg.READER}')
        conn.exec_driver_sql(f'GRANT SELECT ON "Shop Two"."Order Lines" TO {pg.READER}')
    engine.dispose()
    source = TableSource(url=url, table="Shop Two.Order Lines")
    assert source.columns() == ["Order", "select"]
    assert len(source.read(["select"], progress=lambda rows, total: None)) == 100  # counted, then COPY
    assert len(TableSource(url=url, query='SELECT "select" FROM "Shop Two"."Order Lines"').read(progress=False)) == 100
    assert "Shop Two.Order Lines" not in sources.readable_tables(url)  # not on the search_path
    assert {"Shop Two.Order Lines", "order_lines"} <= set(sources.readable_tables(url, schemas=["Shop Two", "public"]))


def test_readable_tables_lists_what_the_role_may_select_and_never_the_system_catalog(shop_db, postgres, tmp_path):
    reader = sources.readable_tables(shop_db)
    assert "order_lines" in reader and not [t for t in reader if t.startswith(("pg_", "information_schema"))]
    assert sources.readable_tables(shop_db, schemas=["pg_catalog", "information_schema"]) == []
    engine = sa.create_engine(postgres.url(pg.SUPERUSER, with_password=True))
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS private_notes (a int)")
        conn.exec_driver_sql(f"REVOKE ALL ON private_notes FROM {pg.READER}")
    engine.dispose()
    assert "private_notes" not in sources.readable_tables(shop_db)
    assert "private_notes" in sources.readable_tables(postgres.url(pg.SUPERUSER))
    exporter = sources.readable_tables(postgres.url(pg.EXPORTER))  # its own exported lists, if any, only
    assert not set(exporter) & set(reader) and "order_lines" not in exporter  # none of the shop's tables
    db = tmp_path / "shop.db"
    lite = sa.create_engine(f"sqlite:///{db}")
    _typed_sample().head(3).to_sql("lines", lite, index=False)
    assert sources.readable_tables(lite) == ["lines"]
    lite.dispose()


def test_statements_are_rendered_from_the_parsed_tree_in_the_dialect():
    pg_dialect = sa.create_engine("postgresql://u@h/db").dialect
    query = TableSource(url="postgresql://u@h/db", query="select a, b from t -- why\n where c like 'x%'")
    assert sources._statement(query, pg_dialect, ["b"]) == \
        "SELECT b FROM (SELECT a, b FROM t WHERE c LIKE 'x%') AS vitrine_source"
    assert sources._statement(query, pg_dialect, None, count=True) == \
        "SELECT COUNT(*) FROM (SELECT a, b FROM t WHERE c LIKE 'x%') AS vitrine_source"
    table = TableSource(url="postgresql://u@h/db", table='shop.Orders; DROP TABLE x')
    assert sources._copy_statement(table, pg_dialect, ["Qty"]) == \
        'COPY (SELECT "Qty" FROM shop."Orders; DROP TABLE x") TO STDOUT WITH (FORMAT csv, HEADER TRUE, ENCODING \'UTF8\')'
    lite = sa.create_engine("sqlite://").dialect
    assert sources._statement(TableSource(url="sqlite://", table="lines"), lite, ["Order"]) == 'SELECT "Order" FROM lines'
