"""The similar-customers evaluation: the time split and a run of every recommender."""
from __future__ import annotations

import pandas as pd

from recommend.similar_customers.evaluation import evaluate_customers, split_by_date
from tests.helpers import random_purchases


def two_periods() -> pd.DataFrame:
    before = random_purchases(customers=40, seed=7)
    after = random_purchases(customers=40, seed=8).assign(InvoiceDate="2011-10-02 09:00:00")
    after["InvoiceNo"] = after["InvoiceNo"].str.replace("536", "579", regex=False)
    return pd.concat([before, after], ignore_index=True)


def test_split_keeps_only_new_products_of_customers_seen_before():
    purchases = two_periods()
    train, relevant = split_by_date(purchases, "2011-09-01")
    assert (pd.to_datetime(train["InvoiceDate"]) < "2011-09-01").all()
    for customer, items in relevant.items():
        owned = set(train.loc[train["CustomerID"] == customer, "StockCode"])
        later = set(purchases.loc[(purchases["CustomerID"] == customer)
                                  & (purchases["InvoiceDate"] >= "2011-09-01"), "StockCode"])
        assert items == later - owned and items


def test_every_recommender_is_scored_on_the_same_customers():
    table = evaluate_customers(two_periods(), k=5, grid=[{"weighting": "binary", "k": 5},
                                                          {"weighting": "tfidf", "k": 5}])
    assert list(table.index) == ["popularity", "user-user binary k=5", "user-user tfidf k=5",
                                 "item-item cosine (50 neighbours)"]
    assert table["users"].nunique() == 1 and table["users"].iloc[0] > 0
    assert table["NDCG@5"].between(0, 1).all() and table["Coverage@5"].between(0, 1).all()
