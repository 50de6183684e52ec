"""Exporting a workspace's lists into a shop's database: the rows of the artifacts, in one
transaction (a failure leaves the old tables), the password never on the command line."""
from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa

from recommend import cli
from recommend.rules import model as rules_model
from recommend.similar_products import model as products_model
from recommend.workspace import model
from tests.recommend.workspace.test_build import SHOP


@pytest.fixture
def workspace(tmp_path):
    orders = tmp_path / "shop.csv"
    SHOP.to_csv(orders, index=False)
    assert cli.main(["build", "--orders", str(orders), "--name", "myshop", "--artifacts", str(tmp_path)]) == 0
    return model.open_workspace("myshop", tmp_path)


def _read(engine, table: str) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql_table(table, conn)


def test_export_writes_every_list_and_a_failure_keeps_the_old_tables(workspace, shop_db, postgres, capsys):
    from tests import postgres as pg

    # as the export role of deploy/postgres/roles.sql: its tables land in its own schema
    args = ["export", "--name", "myshop", "--artifacts", str(workspace.folder.parent), "--export-sql",
            postgres.url(pg.EXPORTER), "--table-prefix", "shop_"]
    assert cli.main(args) == 0
    assert "shop_similar_products" in capsys.readouterr().out
    assert postgres.psql("SELECT to_regclass('vitrine_export.shop_similar_products') IS NOT NULL") == "t"
    engine = sa.create_engine(postgres.url(pg.EXPORTER, with_password=True))
    similar = _read(engine, "shop_similar_products")
    built = products_model.load(workspace.part("similar_products")).neighbours
    assert similar.sort_values(["item", "rank"]).reset_index(drop=True)[["item", "rank", "similar_item"]].equals(
        built.sort_values(["item", "rank"]).reset_index(drop=True)[["item", "rank", "similar_item"]])
    lookup = rules_model.load(workspace.part("basket_rules"))
    assert _read(engine, "shop_next_to_default")["show"].tolist() == lookup.default_recommendation
    recs = _read(engine, "shop_recommendations")
    assert set(recs["customer"]) <= {f"C{c}" for c in range(7)} and recs["reason"].str.contains("nearest").all()

    # a view on one table makes replacing it fail half way: nothing may change
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE VIEW shop_next_to_view AS SELECT * FROM shop_next_to")
        conn.exec_driver_sql("DELETE FROM shop_similar_products WHERE rank > 1")
    kept = len(_read(engine, "shop_similar_products"))
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert "Nothing was exported" in err and "depend" in err and "s3cret" not in err
    assert len(_read(engine, "shop_similar_products")) == kept < len(similar)
    engine.dispose()


def test_append_adds_rows_and_bad_flags_are_one_line(workspace, tmp_path, capsys):
    db = tmp_path / "serve.db"
    args = ["export", "--name", "myshop", "--artifacts", str(workspace.folder.parent), "--export-sql", f"sqlite:///{db}"]
    assert cli.main(args) == 0 and cli.main([*args, "--mode", "append"]) == 0
    engine = sa.create_engine(f"sqlite:///{db}")
    once = len(products_model.load(workspace.part("similar_products")).neighbours)
    assert len(_read(engine, "vitrine_similar_products")) == 2 * once
    engine.dispose()
    assert cli.main([*args, "--table-prefix", "x; drop table y"]) == 2
    assert "--table-prefix" in capsys.readouterr().err
    assert cli.main(["export", "--name", "nosuch", "--artifacts", str(tmp_path), "--export-sql", f"sqlite:///{db}"]) == 2
    assert "nosuch" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["json", "parquet"])
def test_lists_as_files_at_an_fsspec_url(workspace, tmp_path, fmt, capsys):
    import fsspec

    out = tmp_path / "served"
    assert cli.main(["export", "--name", "myshop", "--artifacts", str(workspace.folder.parent),
                     "--export-url", f"file://{out}", "--format", fmt]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"vitrine_{n}.{fmt}" for n in ("similar_products", "recommendations", "next_to", "next_to_default"))
    similar = (pd.read_json(out / f"vitrine_similar_products.{fmt}", dtype={"item": str, "similar_item": str})
               if fmt == "json" else pd.read_parquet(out / f"vitrine_similar_products.{fmt}"))
    built = products_model.load(workspace.part("similar_products")).neighbours
    assert similar[["item", "rank", "similar_item"]].values.tolist() == built[["item", "rank", "similar_item"]].values.tolist()
    assert cli.main(["export", "--name", "myshop", "--artifacts", str(workspace.folder.parent),
                     "--export-url", "memory://vitrine/lists"]) == 0
    assert fsspec.filesystem("memory").exists("/vitrine/lists/vitrine_next_to.json")
    assert cli.main(["export", "--name", "myshop", "--artifacts", str(workspace.folder.parent)]) == 2
    assert "--export-sql URL" in capsys.readouterr().err
