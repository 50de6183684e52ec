"""recommend.core.evaluate: metrics by hand and against scikit-learn, the popularity baseline, the time split."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import ndcg_score

from recommend.core.evaluate import (
    coverage_at_k, evaluate, evaluation_table, hit_rate_at_k, map_at_k, ndcg_at_k, popular_recommendations,
    popularity_ranking, precision_at_k, random_recommendations, recall_at_k, relevant_sets, time_split,
)

RECOMMENDED = {"u1": ["a", "b", "c", "d"], "u2": ["e", "f", "g", "h"], "u3": ["a", "x"]}
RELEVANT = {"u1": {"b", "d", "z"}, "u2": {"q"}, "u3": {"x"}}


def test_metrics_match_a_hand_computation():
    # u1: hits at ranks 2 and 4 of 3 relevant; u2: none; u3: hit at rank 2 of 1 relevant.
    k = 4
    assert hit_rate_at_k(RECOMMENDED, RELEVANT, k) == pytest.approx(2 / 3)
    assert precision_at_k(RECOMMENDED, RELEVANT, k) == pytest.approx((2 / 4 + 0 + 1 / 4) / 3)
    assert recall_at_k(RECOMMENDED, RELEVANT, k) == pytest.approx((2 / 3 + 0 + 1) / 3)
    d = [1 / math.log2(r + 1) for r in range(1, 5)]
    ndcg_u1 = (d[1] + d[3]) / (d[0] + d[1] + d[2])
    ndcg_u3 = d[1] / d[0]
    assert ndcg_at_k(RECOMMENDED, RELEVANT, k) == pytest.approx((ndcg_u1 + ndcg_u3) / 3)
    ap_u1 = (1 / 2 + 2 / 4) / 3
    ap_u3 = (1 / 2) / 1
    assert map_at_k(RECOMMENDED, RELEVANT, k) == pytest.approx((ap_u1 + ap_u3) / 3)
    # at k=1 nobody has a hit
    assert hit_rate_at_k(RECOMMENDED, RELEVANT, 1) == 0


def test_ndcg_agrees_with_scikit_learn():
    rng = np.random.default_rng(0)
    items = [f"i{j}" for j in range(30)]
    recommended, relevant, y_true, y_score = {}, {}, [], []
    for u in range(50):
        ranking = list(rng.permutation(items))
        rel = set(rng.choice(items, int(rng.integers(1, 6)), replace=False))
        recommended[u], relevant[u] = ranking, rel
        y_true.append([1.0 if it in rel else 0.0 for it in items])
        y_score.append([len(items) - ranking.index(it) for it in items])  # higher score = earlier rank
    for k in (1, 5, 10):
        assert ndcg_at_k(recommended, relevant, k) == pytest.approx(ndcg_score(y_true, y_score, k=k))


def test_missing_recommendations_score_zero_and_empty_relevant_sets_are_not_scored():
    relevant = {**RELEVANT, "u4": {"a"}, "u5": set()}
    result = evaluate(RECOMMENDED, relevant, 4)
    assert result["users"] == 4  # u5 has nothing to find
    assert result["HitRate@4"] == pytest.approx(2 / 4)


def test_aligned_lists_give_the_same_numbers_as_mappings():
    keys = sorted(RELEVANT)
    by_key = evaluate(RECOMMENDED, RELEVANT, (2, 4))
    by_position = evaluate([RECOMMENDED[u] for u in keys], [RELEVANT[u] for u in keys], (2, 4))
    assert by_key == by_position
    assert set(by_key) == {"users"} | {f"{m}@{k}" for m in ("HitRate", "Precision", "Recall", "NDCG", "MAP")
                                       for k in (2, 4)}
    with pytest.raises(ValueError, match="2 recommendation lists for 3"):
        evaluate([["a"], ["b"]], [{"a"}, {"b"}, {"c"}], 2)


def test_duplicates_in_a_list_and_bad_k_are_refused():
    with pytest.raises(ValueError, match="repeats"):
        hit_rate_at_k({"u": ["a", "a"]}, {"u": {"a"}}, 2)
    with pytest.raises(ValueError, match="k must be"):
        precision_at_k(RECOMMENDED, RELEVANT, 0)


def test_coverage_counts_distinct_items_in_the_top_k_of_scored_users():
    assert coverage_at_k(RECOMMENDED, 20, 2) == pytest.approx(len({"a", "b", "e", "f", "x"}) / 20)
    assert coverage_at_k(RECOMMENDED, ["a", "b", "c", "d"], 1) == pytest.approx(2 / 4)
    result = evaluate(RECOMMENDED, {"u3": {"x"}}, 2, items=10)
    assert result["Coverage@2"] == pytest.approx(2 / 10)  # only u3's list counts
    table = evaluation_table({"mine": result, "other": {**result, "HitRate@2": 0.123456}})
    assert list(table.index) == ["mine", "other"] and table.loc["other", "HitRate@2"] == 0.1235


def test_popularity_ranking_and_baseline_leave_out_what_was_seen():
    ranking = popularity_ranking(["b", "a", "c", "a", "b", "d", "a"])
    assert list(ranking) == ["a", "b", "c", "d"]  # a:3, b:2, then c and d tied at 1: by id
    recs = popular_recommendations(ranking, {"u": {"a", "c"}, "v": set(), "w": ["a", "b", "c", "d"]}, 2)
    assert recs == {"u": ["b", "d"], "v": ["a", "b"], "w": []}


def test_random_baseline_is_seeded_and_leaves_out_what_was_seen():
    catalogue = [f"i{j}" for j in range(50)]
    seen = {"u": {"i1", "i2", "i3"}, "v": set(catalogue[:48])}
    first = random_recommendations(catalogue, seen, 5, seed=3)
    assert first == random_recommendations(catalogue, seen, 5, seed=3)
    assert first != random_recommendations(catalogue, seen, 5, seed=4)
    assert len(first["u"]) == len(set(first["u"])) == 5 and not set(first["u"]) & seen["u"]
    assert sorted(first["v"]) == ["i48", "i49"]  # only two were left to draw


def test_relevant_sets_group_a_long_table():
    table = pd.DataFrame({"user": [1, 1, 2, 1], "item": ["a", "b", "a", "a"]})
    assert relevant_sets(table, "user", "item") == {1: {"a", "b"}, 2: {"a"}}


def test_time_split_keeps_whole_orders_together_and_puts_the_latest_in_test():
    lines = pd.DataFrame({
        "order": ["o1", "o1", "o2", "o3", "o3", "o4", "o5"],
        "date": ["2020-01-05", "2020-02-01", "2020-01-02", "2020-03-01", "2020-03-01", "2020-01-20", "2020-02-10"],
    })
    train, test = time_split(lines, "date", test_share=0.4, group_col="order")
    # first dates: o2 01-02, o1 01-05, o4 01-20, o5 02-10, o3 03-01 -> the last 2 of 5 orders
    assert set(test["order"]) == {"o5", "o3"} and len(test) == 3
    assert set(train["order"]) == {"o1", "o2", "o4"} and len(train) + len(test) == len(lines)
    rows_train, rows_test = time_split(lines, "date", test_share=0.3)
    assert list(rows_test.index) == [3, 4]  # the two latest rows (tied dates, both kept in order)
    with pytest.raises(ValueError, match="no readable"):
        time_split(lines.assign(date=["bad"] * 7), "date")
    with pytest.raises(ValueError, match="between 0 and 1"):
        time_split(lines, "date", test_share=1.5)
