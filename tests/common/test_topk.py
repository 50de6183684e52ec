"""common.topk: the O(n) top-k shared by every recommender, checked against a full sort."""
from __future__ import annotations

import numpy as np
import pytest

from common.topk import top_k, top_k_rows


def full_sort(scores: np.ndarray, k: int) -> np.ndarray:
    """Reference: a stable full sort by descending score breaks ties by ascending index."""
    order = np.argsort(-scores, kind="stable")
    order = order[scores[order] > -np.inf]
    return order[:k]


@pytest.mark.parametrize("k", [1, 3, 10, 99, 100, 250])
def test_top_k_equals_full_argsort_on_random_scores(k):
    scores = np.random.default_rng(0).standard_normal(100).astype(np.float32)
    idx, val = top_k(scores, k)
    expected = full_sort(scores, k)
    np.testing.assert_array_equal(idx, expected)
    np.testing.assert_array_equal(val, scores[expected])
    assert len(idx) == min(k, 100)


@pytest.mark.parametrize("k", [1, 2, 5, 17, 40])
def test_ties_are_broken_by_ascending_index(k):
    # Few distinct values, so ties straddle the k-th place and argpartition alone would be arbitrary.
    scores = np.random.default_rng(1).integers(0, 4, 200).astype(float)
    idx, val = top_k(scores, k)
    np.testing.assert_array_equal(idx, full_sort(scores, k))
    assert np.all(np.diff(val) <= 0)


def test_all_equal_scores_give_first_k_positions():
    idx, val = top_k(np.zeros(1000), 5)
    np.testing.assert_array_equal(idx, [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(val, np.zeros(5))


def test_integer_scores_are_accepted():
    idx, val = top_k(np.array([3, 9, 1, 9]), 2)
    np.testing.assert_array_equal(idx, [1, 3])
    np.testing.assert_array_equal(val, [9, 9])


def test_exclude_by_positions_and_by_mask():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    idx, _ = top_k(scores, 3, exclude=np.array([0, 2]))
    np.testing.assert_array_equal(idx, [1, 3, 4])
    idx, _ = top_k(scores, 3, exclude=np.array([True, True, False, False, False]))
    np.testing.assert_array_equal(idx, [2, 3, 4])
    idx, _ = top_k(scores, 3, exclude=np.array([], dtype=int))
    np.testing.assert_array_equal(idx, [0, 1, 2])


def test_exclude_does_not_modify_the_callers_scores():
    scores = np.array([0.9, 0.8, 0.7])
    top_k(scores, 2, exclude=np.array([0]))
    np.testing.assert_array_equal(scores, [0.9, 0.8, 0.7])


def test_exclude_rejects_bad_input():
    with pytest.raises(ValueError, match="shape"):
        top_k(np.zeros(3), 1, exclude=np.array([True, False]))
    with pytest.raises(ValueError, match="outside"):
        top_k(np.zeros(3), 1, exclude=np.array([3]))
    with pytest.raises(ValueError, match="integer positions"):
        top_k(np.zeros(3), 1, exclude=np.array([0.5]))


def test_minus_inf_is_never_returned():
    scores = np.full(50, -np.inf)
    scores[[7, 3, 40]] = [0.1, 0.5, -3.0]
    idx, val = top_k(scores, 10)
    np.testing.assert_array_equal(idx, [3, 7, 40])
    assert np.isfinite(val).all()
    # Excluding valid candidates also shrinks the answer instead of back-filling with -inf.
    idx, _ = top_k(scores, 10, exclude=np.array([3]))
    np.testing.assert_array_equal(idx, [7, 40])
    assert top_k(np.full(5, -np.inf), 3)[0].size == 0


def test_k_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        top_k(np.zeros(3), 0)
    with pytest.raises(ValueError, match="at least 1"):
        top_k(np.zeros(3), -2)
    with pytest.raises(ValueError, match="whole number"):
        top_k(np.zeros(3), 2.5)


def test_nan_and_wrong_dimensions_are_rejected():
    with pytest.raises(ValueError, match="NaN"):
        top_k(np.array([0.1, np.nan]), 1)
    with pytest.raises(ValueError, match="1-D"):
        top_k(np.zeros((2, 2)), 1)


def test_empty_scores_give_empty_answer():
    idx, val = top_k(np.array([]), 3)
    assert idx.shape == (0,) and val.shape == (0,)


@pytest.mark.parametrize("k", [1, 4, 30, 31, 64])
def test_rows_variant_equals_per_row_top_k(k):
    rng = np.random.default_rng(2)
    block = rng.standard_normal((25, 31)).astype(np.float32)
    block[3] = rng.integers(0, 3, 31)  # a row full of ties
    block[5, :] = 1.0
    found = top_k_rows(block, k)
    idx, val = found.indices, found.scores
    assert idx.shape == val.shape == (25, min(k, 31))
    for r in range(25):
        ridx, rval = top_k(block[r], k)
        np.testing.assert_array_equal(idx[r], ridx)
        np.testing.assert_array_equal(val[r], rval)


@pytest.mark.parametrize("k", [1, 5, 17, 40])
def test_rows_variant_breaks_ties_by_ascending_column(k):
    # Few distinct values per row, so ties straddle the k-th place in most rows.
    block = np.random.default_rng(4).integers(0, 4, (30, 200)).astype(float)
    found = top_k_rows(block, k)
    idx, val = found.indices, found.scores
    for r in range(30):
        np.testing.assert_array_equal(idx[r], full_sort(block[r], k))
        np.testing.assert_array_equal(val[r], block[r, full_sort(block[r], k)])


def test_rows_variant_never_returns_minus_inf_and_pads_short_rows():
    block = np.array([
        [0.3, -np.inf, 0.9, 0.1],
        [-np.inf, 0.2, -np.inf, -np.inf],
        [0.5, 0.5, 0.5, -np.inf],
    ])
    found = top_k_rows(block, 3)
    idx, val = found.indices, found.scores
    np.testing.assert_array_equal(idx, [[2, 0, 3], [1, -1, -1], [0, 1, 2]])
    np.testing.assert_array_equal(val[0], [0.9, 0.3, 0.1])
    assert val[1, 0] == 0.2 and np.isnan(val[1, 1:]).all()
    assert not np.isneginf(val).any()
    # Width shrinks to the fullest row when no row has k valid candidates.
    found = top_k_rows(block[:2], 4)
    idx, val = found.indices, found.scores
    assert idx.shape == (2, 3)
    np.testing.assert_array_equal(idx[1], [1, -1, -1])


def test_rows_variant_matches_per_row_with_masked_entries():
    rng = np.random.default_rng(3)
    block = rng.standard_normal((40, 60))
    block[rng.random(block.shape) < 0.7] = -np.inf
    found = top_k_rows(block, 8)
    idx, val = found.indices, found.scores
    for r in range(40):
        ridx, rval = top_k(block[r], 8)
        np.testing.assert_array_equal(idx[r, : ridx.size], ridx)
        np.testing.assert_array_equal(val[r, : ridx.size], rval)
        assert (idx[r, ridx.size :] == -1).all()


def test_rows_variant_rejects_bad_input():
    with pytest.raises(ValueError, match="2-D"):
        top_k_rows(np.zeros(4), 2)
    with pytest.raises(ValueError, match="at least 1"):
        top_k_rows(np.zeros((2, 4)), 0)
    with pytest.raises(ValueError, match="NaN"):
        top_k_rows(np.array([[0.0, np.nan]]), 1)
