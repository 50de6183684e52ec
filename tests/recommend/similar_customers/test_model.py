"""Similar customers: neighbours equal a dense cosine reference, recommendations are scored and
explained as documented, cleaning and errors, the CLI end to end."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import settings
from common.errors import InputError
from common.text_match import Matcher
from recommend.datasets.online_retail import ORDER_COLUMNS as ONLINE_RETAIL
from recommend.similar_customers.model import (
    answer, build, find_customers, load, nearest_customers, neighbours, read_purchases, write,
)
from tests.helpers import ROOT, random_purchases

COLS = ONLINE_RETAIL


def dense(purchases: pd.DataFrame):
    table = pd.crosstab(purchases["CustomerID"], purchases["StockCode"]).clip(upper=1)
    return table.index.to_numpy(), table.columns.to_numpy(), table.to_numpy(dtype=float)


def test_neighbours_equal_dense_cosine():
    purchases = random_purchases()
    _, _, x = dense(purchases)
    from recommend.similar_customers.model import customer_matrix

    near = nearest_customers(customer_matrix(purchases, COLS, "binary").matrix, 5)
    idx, sims = near.indices, near.scores
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    ref = unit @ unit.T
    np.fill_diagonal(ref, -np.inf)
    for row in range(len(x)):
        expected = np.sort(ref[row][ref[row] > 0])[::-1][:5]
        got = sims[row][idx[row] >= 0]
        np.testing.assert_allclose(got, expected, atol=1e-6)
        assert row not in set(idx[row])


def test_recommendations_are_neighbour_weighted_and_exclude_owned_products():
    purchases = random_purchases(seed=1)
    result = build(purchases, COLS, k=5, n=4, weighting="binary", model="user-user")
    customers, products, x = dense(purchases)
    for c in customers[:10]:
        near, recs = neighbours(result, c), answer(result, c)
        owned = set(purchases.loc[purchases["CustomerID"] == c, "StockCode"])
        assert not set(recs["id"]) & owned
        rows = {cust: i for i, cust in enumerate(customers)}
        score = np.zeros(len(products))
        support = np.zeros(len(products), dtype=int)
        for nb in near.itertuples():
            score += nb.score * x[rows[nb.id]]
            support += x[rows[nb.id]].astype(int)
        score[[list(products).index(p) for p in owned]] = 0
        for rec in recs.itertuples():
            j = list(products).index(rec.id)
            assert rec.score == pytest.approx(score[j], abs=1e-5)
            assert rec.support_count == support[j]
            assert rec.why == f"bought by {support[j]} of your 5 nearest customers"
            assert rec.name == f"Product {int(rec.id[1:])}"
        assert list(recs["score"]) == sorted(recs["score"], reverse=True)
        # shared_items counts the products two customers both bought
        for nb in near.itertuples():
            assert nb.shared_items == int((x[rows[c]] * x[rows[nb.id]]).sum())


def test_ease_recommendations_are_the_history_times_its_weights_and_name_the_products_behind_them():
    from recommend.core import ease

    purchases = random_purchases(seed=4, customers=40)
    result = build(purchases, COLS, k=5, n=3, ease_lambda=20.0)  # EASE is the default
    assert result.manifest["model"] == "ease" and result.manifest["ease"]["lambda"] == 20.0
    customers, products, x = dense(purchases)
    fitted = ease.fit(x, 20.0)
    weights = np.zeros((len(products), len(products)))
    weights[np.ix_(fitted.kept, fitted.kept)] = fitted.weights
    names = dict(zip(purchases["StockCode"], purchases["Description"]))
    for c in customers[:12]:
        row = list(customers).index(c)
        owned = np.flatnonzero(x[row])
        score = x[row] @ weights
        score[owned] = -np.inf
        recs = answer(result, c)
        expected = np.sort(score[score > 0])[::-1][:3]
        np.testing.assert_allclose(recs["score"], expected, atol=1e-5)
        for rec in recs.itertuples():
            j = list(products).index(rec.id)
            top = sorted((h for h in owned if weights[h, j] > 0), key=lambda h: -weights[h, j])[:3]
            assert [weights[list(products).index(b), j] for b in rec.because] == pytest.approx(
                [weights[h, j] for h in top], abs=1e-6)
            assert rec.why == "because you bought " + ", ".join(names[b] for b in rec.because)
            assert set(rec.because) <= set(products[owned])


def test_customers_whose_products_are_all_past_the_guard_get_their_neighbours_recommendations(monkeypatch):
    from recommend.core import ease

    purchases = random_purchases(seed=5, customers=30)
    rare = pd.DataFrame({"InvoiceNo": ["599999"] * 2, "StockCode": ["RARE1", "RARE2"], "Description": ["r1", "r2"],
                         "Quantity": [1, 1], "InvoiceDate": ["2011-05-01 10:00:00"] * 2, "UnitPrice": [1.0, 1.0],
                         "CustomerID": ["99999"] * 2, "Country": ["United Kingdom"] * 2})
    # 99999 bought only the two rare products; 99998 bought them and P000 too
    other = pd.concat([rare, rare.iloc[:1].assign(StockCode="P000", Description="Product 0")]).assign(
        CustomerID="99998", InvoiceNo="599998")
    both = pd.concat([purchases, rare, other], ignore_index=True)
    monkeypatch.setattr(ease, "MAX_ITEMS", 25)  # the random products are P000..P024: the rare ones are past it
    result = build(both, COLS, k=3, n=3)
    guard = result.manifest["ease"]
    assert guard["products_fitted"] == 25 and guard["products_past_guard"] == 2 and guard["fallback_customers"] == 1
    near, recs = neighbours(result, "99999"), answer(result, "99999")
    assert near["id"].iloc[0] == "99998"
    assert recs["id"].tolist() == ["P000"] and recs["why"].tolist() == ["bought by 1 of your 3 nearest customers"]
    assert answer(result, "99998")["why"].str.startswith("because you bought").all()


def test_round_trip_and_unknown_customer(tmp_path):
    result = build(random_purchases(seed=2), COLS, k=3, n=3)
    write(result, tmp_path / "sc")
    again = load(tmp_path / "sc")
    pd.testing.assert_frame_equal(again.recommendations, result.recommendations.astype({"customer": str}),
                                  check_dtype=False)
    assert list(pd.read_csv(tmp_path / "sc" / "neighbours.csv").columns) == \
        ["customer", "rank", "neighbour", "similarity", "shared_items"]
    assert list(pd.read_csv(tmp_path / "sc" / "recommendations.csv").columns) == \
        ["customer", "rank", "item", "name", "score", "support_count", "because"]
    with pytest.raises(InputError, match="unknown customer '424242'"):
        answer(again, "424242")


def test_online_retail_cleaning_applies_to_the_demo_sample():
    purchases = read_purchases(settings.DEMO_ONLINE_RETAIL)
    assert not purchases["InvoiceNo"].str.startswith("C").any()
    assert (purchases["Quantity"] > 0).all()
    assert not purchases["StockCode"].isin(["POST", "DOT", "M", "BANK CHARGES"]).any()
    assert purchases["CustomerID"].notna().all()
    assert purchases.groupby("StockCode")["Description"].nunique().max() == 1


def test_find_customers_by_part_of_an_id_or_a_digit_off():
    ids = ["17850", "13047", "12583", "17851", "13748"]
    invoices = [3, 34, 12, 30, 1]
    assert find_customers(ids, "1785", popularity=invoices) == ["17851", "17850"]  # most invoices first
    assert find_customers(ids, "1785") == ["17850", "17851"]  # no popularity: by id
    assert find_customers(ids, "13047", popularity=invoices) == ["13047"]
    assert find_customers(ids, "13074") == ["13047"]  # two digits swapped
    assert find_customers(ids, "17852", popularity=invoices) == ["17851", "17850"]  # one digit off both
    assert find_customers(ids, "748") == ["13748"]  # inside an id
    assert find_customers(ids, "99999") == [] and find_customers(ids, " ") == []
    assert find_customers(ids, "1", limit=2, popularity=invoices) == ["13047", "17851"]
    matcher = Matcher(ids, invoices)  # built once (the UI caches it), then reused
    assert find_customers(ids, "1785", matcher=matcher) == ["17851", "17850"]
    with pytest.raises(ValueError, match="matcher built for"):
        find_customers(ids[:2], "1785", matcher=matcher)


def test_find_customers_on_the_demo_sample():
    purchases = read_purchases(settings.DEMO_ONLINE_RETAIL)
    invoices = purchases.groupby("CustomerID")["InvoiceNo"].nunique()
    ids = list(invoices.index)
    assert find_customers(ids, "13047", popularity=invoices.to_numpy())[0] == "13047"
    near = find_customers(ids, "13074", popularity=invoices.to_numpy())  # no such id: those one digit off
    assert "13047" in near and "13078" in near and "13074" not in ids
    assert invoices[near].is_monotonic_decreasing
    partial = find_customers(ids, "130", limit=None, popularity=invoices.to_numpy())
    inside = [c for c in ids if "130" in c]
    assert set(partial) == set(inside) and len(inside) > 3  # no typos added when 3 digits are typed
    assert invoices[partial].is_monotonic_decreasing


def test_wrong_columns_name_the_flags(tmp_path):
    path = tmp_path / "p.csv"
    pd.DataFrame({"client": [1], "sku": ["a"]}).to_csv(path, index=False)
    with pytest.raises(InputError, match="--customer-col"):
        read_purchases(path)


def test_cli_writes_files_and_prints_one_customer(tmp_path):
    path = tmp_path / "p.csv"
    random_purchases(seed=3).to_csv(path, index=False)
    done = subprocess.run([sys.executable, "-m", "recommend", "similar-customers", "--purchases", str(path),
                           "-k", "4", "--out", str(tmp_path / "out"), "--customer", "12003"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "manifest.json").is_file()
    assert "Customer 12003: most similar customers" in done.stdout
    assert "(because you bought Product " in done.stdout  # EASE, the default, names the products behind it
    old = subprocess.run([sys.executable, "-m", "recommend", "similar-customers", "--purchases", str(path),
                          "-k", "4", "--model", "user-user", "--customer", "12003"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert old.returncode == 0 and "of your 4 nearest customers" in old.stdout
    bad = subprocess.run([sys.executable, "-m", "recommend", "similar-customers", "--purchases", str(path),
                          "--customer", "nobody"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "unknown customer" in bad.stderr and "Traceback" not in bad.stderr
