"""Similar customers with --engine spark: the local engine's neighbours and recommendations on the
committed demo data, on a real local Spark (one session for the module)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

import settings
from common.errors import InputError
from common.spark import read_table, to_pandas
from recommend.cli import main
from recommend.datasets.online_retail import ORDER_COLUMNS as ONLINE_RETAIL
from recommend.similar_customers import model
from recommend.similar_customers import spark as engine

DEMO = settings.DEMO_ONLINE_RETAIL  # the CLI's default
COLS = ONLINE_RETAIL

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def purchases() -> pd.DataFrame:
    return model.read_purchases(DEMO)


@pytest.fixture(scope="module")
def user_user(spark) -> model.SimilarCustomers:
    """The Spark engine's user-user result from the demo CSV."""
    return engine.build(engine.read_purchases(read_table(spark, DEMO), COLS), COLS, model="user-user")


def assert_same_lists(local: pd.DataFrame, spark: pd.DataFrame, key: str, value: str) -> None:
    """The same rows per customer and rank with values to 1e-9, and the same ids: among rows whose
    values tie, the same set (with no ties: the same id at every rank), except in each customer's
    last tie, which the list may cut (only its size then); the other columns the same per id."""
    a = local.sort_values(["customer", "rank"], ignore_index=True)
    b = spark.sort_values(["customer", "rank"], ignore_index=True)
    assert list(a.columns) == list(b.columns)
    assert len(a) == len(b) > 0
    assert a["customer"].tolist() == b["customer"].tolist() and a["rank"].tolist() == b["rank"].tolist()
    np.testing.assert_allclose(b[value].to_numpy(np.float64), a[value].to_numpy(np.float64), rtol=0, atol=1e-9)

    def ties(t: pd.DataFrame) -> pd.DataFrame:
        return t.assign(tie=t[value].astype(np.float64).round(9),
                        last=lambda x: x["tie"] == x.groupby("customer")["tie"].transform("min"))

    ta, tb = ties(a), ties(b)
    inside = [t[~t["last"]].groupby(["customer", "tie"])[key].agg(frozenset) for t in (ta, tb)]
    assert inside[0].to_dict() == inside[1].to_dict()
    rest = [c for c in a.columns if c not in ("rank", value)]
    merged = ta[rest + ["last"]].merge(tb[rest], on=["customer", key])
    assert len(merged) >= (~ta["last"]).sum()  # every id before the last tie is in both
    for column in rest:
        if column not in ("customer", key):
            x, y = merged[f"{column}_x"], merged[f"{column}_y"]
            assert ((x == y) | (x.isna() & y.isna())).all(), column


def assert_same(local: model.SimilarCustomers, spark: model.SimilarCustomers) -> None:
    assert_same_lists(local.neighbours, spark.neighbours, "neighbour", "similarity")
    assert_same_lists(local.recommendations, spark.recommendations, "item", "score")
    for key in ("k", "recommendations", "weighting", "model", "customers", "products", "purchase_lines", "columns"):
        assert local.manifest[key] == spark.manifest[key], key


def test_user_user_neighbours_and_recommendations_equal_the_local_engines(user_user, purchases):
    local = model.build(purchases, COLS, model="user-user")
    assert_same(local, user_user)
    assert (local.manifest["engine"], user_user.manifest["engine"]) == ("local", "spark")
    # one name per product (Online Retail's most frequent description), listed in the same order
    assert user_user.names.index.tolist() == local.names.index.tolist()
    assert user_user.names.fillna("").tolist() == local.names.fillna("").tolist()
    assert user_user.recommendations["because"].eq("[]").all()
    assert user_user.manifest["spark"]["skip_popular"] is None  # off by default: every pair sharing a product
    assert user_user.manifest["spark"]["products_not_generating_candidates"] == 0


def test_ease_through_the_cli_is_the_local_engines_artifact(spark, purchases, tmp_path, capsys, monkeypatch):
    from recommend.core import ease

    # A guard below the demo's 2,805 products: the cut falls among products bought by 13 customers
    # each (ties to the smaller id), and 13 customers with only rarer products get user-user's.
    monkeypatch.setattr(ease, "MAX_ITEMS", 500)
    out = tmp_path / "spark"
    assert main(["similar-customers", "--engine", "spark", "--spark-master", "local[2]", "--orders", str(DEMO),
                 "--out", str(out)]) == 0
    assert "(spark engine)" in capsys.readouterr().out
    got = model.load(out)
    model.write(model.build(purchases, COLS), tmp_path / "local")  # EASE: the default of both
    want = model.load(tmp_path / "local")
    assert_same(want, got)
    assert got.recommendations["because"].ne("[]").any()  # EASE names the products behind its picks
    ease_facts = {k: v for k, v in got.manifest["ease"].items() if k != "fit_seconds"}
    assert ease_facts == {k: v for k, v in want.manifest["ease"].items() if k != "fit_seconds"}
    assert ease_facts["products_fitted"] == 500 and ease_facts["fallback_customers"] == 13
    fallback = got.recommendations[got.recommendations["because"] == "[]"]["customer"].nunique()
    assert 0 < fallback <= 13  # their lists are user-user's (naming no product; one of them has none)
    assert got.manifest["engine"] == "spark" and got.manifest["inputs"]["engine"] == "spark"
    assert got.manifest["inputs"]["sha256"] and got.manifest["spark"]["skip_popular"] is None
    products = [pd.read_csv(folder / "products.csv", dtype=str) for folder in (out, tmp_path / "local")]
    pd.testing.assert_frame_equal(*products)


def test_parquet_gives_what_the_csv_gives(spark, user_user, tmp_path):
    raw = pd.read_csv(DEMO, dtype={"InvoiceNo": str, "StockCode": str})
    raw["CustomerID"] = raw["CustomerID"].astype(np.float64)  # ids as 17850.0, as a float column holds them
    assert raw["Quantity"].dtype == np.int64  # typed columns, not text
    path = tmp_path / "lines.parquet"
    raw.to_parquet(path, index=False)
    table = read_table(spark, path)
    assert table.format == "parquet"
    # The same lines and names reach the same code: the same neighbours (the rest follows from them).
    from_parquet, from_csv = (engine.read_purchases(t, COLS) for t in (table, read_table(spark, DEMO)))
    key = ["customer", "item", "quantity"]
    lines = [to_pandas(p.lines.select(*key)).sort_values(key, ignore_index=True) for p in (from_parquet, from_csv)]
    pd.testing.assert_frame_equal(*lines)
    assert len(lines[0]) == user_user.manifest["purchase_lines"]
    pd.testing.assert_series_equal(engine.product_names(from_parquet, COLS), user_user.names)
    near, _, _ = engine.nearest_customers(engine.customer_matrix(from_parquet, COLS, "binary"), 30)
    found = to_pandas(near)
    found["similarity"] = found["similarity"].round(6)
    assert_same_lists(user_user.neighbours, found[user_user.neighbours.columns], "neighbour", "similarity")


# Every rule of the cleaning once, ids as "17850.0" and padded with spaces or U+00A0 (Python's
# strip removes it, Spark's trim would not), a description's spellings counted, one missing.
EDGES = """InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
536365,85123A,WHITE HANGING HEART ,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom
536366,85123A,WHITE  HANGING HEART,2,2010-12-01 08:28:00,2.55,17850,United Kingdom
536367,85123A,WHITE HANGING HEART,1,2010-12-01 08:29:00,2.55,17851,United Kingdom
C536379,85123A,WHITE HANGING HEART,1,2010-12-01 09:41:00,2.55,17851,United Kingdom
c536380,22423,REGENCY CAKESTAND,1,2010-12-01 09:41:00,12.75,17851,United Kingdom
536381,POST,POSTAGE,1,2010-12-01 09:45:00,18.00,17851,France
536382,post,POSTAGE,1,2010-12-01 09:45:00,18.00,17851,France
536383,gift_0001_10,VOUCHER,1,2010-12-01 09:45:00,10.00,17851,France
536384,22423,REGENCY CAKESTAND,0,2010-12-01 10:00:00,12.75,17852,United Kingdom
536385,22423,REGENCY CAKESTAND,-2,2010-12-01 10:00:00,12.75,17852,United Kingdom
536386,22423,REGENCY CAKESTAND,abc,2010-12-01 10:00:00,12.75,17852,United Kingdom
536387,22423,REGENCY CAKESTAND,1,2010-12-01 10:00:00,0,17852,United Kingdom
536388,22423,REGENCY CAKESTAND,1,2010-12-01 10:00:00,12.75,NA,United Kingdom
536389,22423,REGENCY CAKESTAND,1,2010-12-01 10:00:00,12.75,,United Kingdom
536390, 22424 ,ROUND CAKE TIN,3,2010-12-01 10:05:00,7.95, 12345 ,United Kingdom
536391,\u00a022425\u00a0,JUMBO BAG,1,2010-12-01 10:06:00,1.95,12346,United Kingdom
536392,22426,,1,2010-12-01 10:07:00,1.95,12347,United Kingdom
536393,22423,REGENCY CAKESTAND,1,2010-12-01 10:08:00,12.75,17853,United Kingdom
536394,22423,Regency Cakestand,2,2010-12-01 10:09:00,12.75,17854,United Kingdom
536395,22423,Regency Cakestand,2,2010-12-01 10:09:00,12.75,17855,United Kingdom
"""


@pytest.mark.parametrize("clean", [True, False])
def test_the_lines_read_are_the_local_readers_whatever_the_mess(spark, tmp_path, clean):
    path = tmp_path / "orders.csv"
    path.write_text(EDGES, encoding="utf-8")
    want = model.read_purchases(path, COLS, clean=clean)
    assert len(want) == (9 if clean else 18)  # the edge rows do reach the cleaning
    got = engine.read_purchases(read_table(spark, path), COLS, clean=clean)
    lines = to_pandas(got.lines.select("customer", "item", "quantity")).astype(object)
    key = ["customer", "item", "quantity"]
    expected = want.rename(columns={"CustomerID": "customer", "StockCode": "item", "Quantity": "quantity"})[key]
    expected = expected.assign(quantity=pd.to_numeric(expected["quantity"], errors="coerce")).astype(object)
    sort = lambda t: t.sort_values(key, ignore_index=True)  # noqa: E731
    pd.testing.assert_frame_equal(sort(lines), sort(expected), check_dtype=False)
    names = engine.product_names(got, COLS)
    assert names.index.tolist() == model.product_names(want, COLS).index.tolist()
    assert names.fillna("").tolist() == model.product_names(want, COLS).fillna("").tolist()


@pytest.mark.parametrize("weighting", ["log-quantity", "tfidf"])
def test_weightings_give_the_local_engines_neighbours(spark, purchases, weighting):
    local = model.build(purchases, COLS, model="user-user", weighting=weighting, k=10)
    binary = model.build(purchases, COLS, model="user-user", k=10)
    assert not local.neighbours.equals(binary.neighbours)  # the weighting matters on this data
    lines = engine.read_purchases(read_table(spark, DEMO), COLS)
    matrix = engine.customer_matrix(lines, COLS, weighting)
    near, _, _ = engine.nearest_customers(matrix, 10)
    found = to_pandas(near)
    found["similarity"] = found["similarity"].round(6)
    assert_same_lists(local.neighbours, found[local.neighbours.columns], "neighbour", "similarity")
    assert (matrix.customers, matrix.products) == (local.manifest["customers"], local.manifest["products"])


def test_skip_popular_compares_fewer_pairs_each_by_its_exact_cosine(spark, user_user, purchases):
    result = engine.build(engine.read_purchases(read_table(spark, DEMO), COLS), COLS, model="user-user",
                          skip_popular=0.1, k=10, n=1)
    facts = result.manifest["spark"]
    assert facts["skip_popular"] == 0.1 and facts["products_not_generating_candidates"] == 25
    table = pd.crosstab(purchases["CustomerID"], purchases["StockCode"]).clip(upper=1)
    x = table.to_numpy(dtype=np.float64)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    row = {c: i for i, c in enumerate(table.index)}
    a = result.neighbours["customer"].map(row).to_numpy()
    b = result.neighbours["neighbour"].map(row).to_numpy()
    exact = np.einsum("ij,ij->i", unit[a], unit[b])
    np.testing.assert_allclose(result.neighbours["similarity"], exact, rtol=0, atol=1e-6)
    assert (result.neighbours["shared_items"].to_numpy() == np.einsum("ij,ij->i", x[a], x[b])).all()
    # pairs sharing only the 25 popular products are no longer compared: some lists change
    pairs = set(zip(result.neighbours["customer"], result.neighbours["neighbour"]))
    exact_top = user_user.neighbours[user_user.neighbours["rank"] <= 10]
    assert pairs != set(zip(exact_top["customer"], exact_top["neighbour"]))


def test_bad_input_is_one_clear_line(spark, tmp_path, capsys):
    table = read_table(spark, DEMO)
    with pytest.raises(InputError, match=r"lacks column\(s\) 'Client'; found InvoiceNo.*--customer-col") as bad:
        engine.read_purchases(table, replace(COLS, customer="Client"))
    assert "\n" not in str(bad.value)
    with pytest.raises(InputError, match="--skip-popular is a share"):
        engine.build(engine.read_purchases(table, COLS), COLS, skip_popular=1.5)
    runs = {
        "column": ["--customer-col", "Client"],
        "database": ["--orders-sql", f"sqlite:///{tmp_path / 'shop.db'}", "--orders-table", "lines"],
        "local": ["--engine", "local", "--skip-popular", "0.2"],
        "missing": ["--orders", str(tmp_path / "none.parquet")],
    }
    said = {}
    for case, flags in runs.items():
        engine_flags = [] if case == "local" else ["--engine", "spark", "--spark-master", "local[2]"]
        assert main(["similar-customers", *engine_flags, *flags, "--out", str(tmp_path / case)]) == 2, case
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
        said[case] = err
        assert not (tmp_path / case).exists()
    assert "Client" in said["column"] and "--customer-col" in said["column"]
    assert "--engine spark reads files" in said["database"] and "--engine local" in said["database"]
    assert "--skip-popular only applies with --engine spark" in said["local"]
    assert "not found" in said["missing"]

