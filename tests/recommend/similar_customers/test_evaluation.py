"""The similar-customers evaluation: the time split and a run of every recommender."""
from __future__ import annotations

import pandas as pd

from recommend.similar_customers.evaluation import evaluate_customers, split_by_date
from tests.helpers import random_purchases


def two_periods(earlier: bool = False) -> pd.DataFrame:
    """Purchases in May and October 2011 (and March, when `earlier`: room for a validation cut)."""
    before = random_purchases(customers=40, seed=7)
    after = random_purchases(customers=40, seed=8).assign(InvoiceDate="2011-10-02 09:00:00")
    after["InvoiceNo"] = after["InvoiceNo"].str.replace("536", "579", regex=False)
    first = random_purchases(customers=40, seed=9).assign(InvoiceDate="2011-03-02 09:00:00")
    first["InvoiceNo"] = first["InvoiceNo"].str.replace("536", "520", regex=False)
    return pd.concat([first] * earlier + [before, after], ignore_index=True)


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
    table, facts = evaluate_customers(two_periods(earlier=True), k=5, grid=[{"weighting": "binary", "k": 5},
                                                                 {"weighting": "tfidf", "k": 5}])
    lam = facts["ease_lambda"]
    assert list(table.index) == ["popularity", "user-user binary k=5", "user-user tfidf k=5",
                                 "item-item cosine (50 neighbours)", f"ease λ={lam:g}"]
    # λ was chosen on a validation cut inside the training months, before the test cut
    assert lam in facts["ease_validation_ndcg10"] and facts["ease_validation_ndcg10"][lam] == max(
        facts["ease_validation_ndcg10"].values())
    assert facts["cut"] == "2011-09-01" and table.loc[f"ease λ={lam:g}", "fit_s"] >= 0
    assert table["users"].nunique() == 1 and table["users"].iloc[0] > 0
    assert table["NDCG@5"].between(0, 1).all() and table["Coverage@5"].between(0, 1).all()


def test_without_room_for_a_validation_cut_ease_keeps_its_default_lambda():
    from recommend.similar_customers.model import EASE_LAMBDA

    table, facts = evaluate_customers(two_periods(), k=5)  # every training purchase is on one day
    assert facts["ease_lambda"] == EASE_LAMBDA and facts["ease_validation_ndcg10"] == {}
    assert table.loc[f"ease λ={EASE_LAMBDA:g}", "NDCG@5"] >= 0
