"""The sparse-product top-k against dense brute force: values, ties, exclusions, counts,
negative entries, threads, padding and bad input. Every test runs on both ways of computing it:
the whole product (small inputs) and the fused numba kernel (large inputs)."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommend.core import sparse_topk as module
from recommend.core.sparse_topk import cosine_top_k, product_top_k, top_k_sparse_rows, unit_rows


@pytest.fixture(autouse=True, params=["whole product", "fused kernel"])
def way(request, monkeypatch):
    if request.param == "fused kernel":
        monkeypatch.setattr(module, "SMALL_PRODUCT_CELLS", 0)
    return request.param


@pytest.mark.parametrize("seed", range(6))
def test_both_ways_give_the_same_answer(seed, monkeypatch, way):
    rng = np.random.default_rng(seed)
    a = sp.random(300, 80, density=0.05, random_state=seed, format="csr",
                  data_rvs=lambda n: rng.integers(1, 4, n).astype(float))  # whole counts: many ties
    x = sp.random(300, 300, density=0.05, random_state=seed + 1, format="csr")
    unit = unit_rows(a)
    monkeypatch.setattr(module, "BLOCK_CELLS", 1000)  # blocks of three rows
    whole = product_top_k(unit, unit.T.tocsr(), 7, exclude=x, skip_diagonal=True)
    monkeypatch.setattr(module, "SMALL_PRODUCT_CELLS", 0)
    kernel = product_top_k(unit, unit.T.tocsr(), 7, exclude=x, skip_diagonal=True)
    np.testing.assert_array_equal(whole.indices, kernel.indices)
    np.testing.assert_array_equal(whole.counts, kernel.counts)
    np.testing.assert_array_equal(np.isnan(whole.scores), np.isnan(kernel.scores))
    np.testing.assert_allclose(np.nan_to_num(whole.scores), np.nan_to_num(kernel.scores), rtol=0, atol=1e-12)


def dense_top_k(dense: np.ndarray, k: int, banned: np.ndarray | None = None):
    """Reference: per row, positive entries by (score desc, column asc), scores rounded like the kernel."""
    rounded = np.round(dense, 9)
    out = []
    for r in range(dense.shape[0]):
        cols = [c for c in np.lexsort((np.arange(dense.shape[1]), -rounded[r]))
                if rounded[r, c] > 0 and (banned is None or not banned[r, c])]
        out.append(cols[:k])
    return out


def as_lists(indices: np.ndarray):
    return [[int(c) for c in row if c >= 0] for row in indices]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equals_dense_product_top_k(seed):
    a = sp.random(60, 30, density=0.2, random_state=seed, format="csr")
    b = sp.random(30, 45, density=0.2, random_state=seed + 10, format="csr")
    top = product_top_k(a, b, 6)
    dense = (a @ b).toarray()
    assert as_lists(top.indices) == dense_top_k(dense, 6)
    got = top.scores[top.indices >= 0]
    np.testing.assert_allclose(got, dense[np.nonzero(top.indices >= 0)[0], top.indices[top.indices >= 0]], atol=1e-12)
    assert np.isnan(top.scores[top.indices < 0]).all()


def test_ties_of_small_whole_counts_follow_column_order_as_in_exact_arithmetic():
    # purchase counts 1..3: many pairs share a cosine (e.g. 1/sqrt(5) as 2/sqrt(20)) that floating
    # point reaches by different sums, off in the last bit; they must still tie, lower row first
    m = sp.random(300, 80, density=0.05, random_state=1, format="csr")
    m.data = np.ceil(m.data * 3)
    unit = m.toarray() / np.maximum(np.linalg.norm(m.toarray(), axis=1, keepdims=True), 1e-300)
    dense = unit @ unit.T
    np.fill_diagonal(dense, 0)
    found = cosine_top_k(m, 7)
    idx, _ = found.indices, found.scores
    assert as_lists(idx) == dense_top_k(dense, 7)


def test_ties_go_to_the_lower_column_even_when_sums_differ_in_the_last_bit():
    # rows 1..4 are the same direction as row 0 reached by different sums (scaled copies): they
    # all tie at cosine 1 and must come back in column order, not in float-noise order
    base = np.array([1.0, 2.0, 3.0, 0.0])
    rows = [base, base * 3, base * 0.1, base * 7, base * 1e-3, np.array([0, 0, 1.0, 1.0])]
    found = cosine_top_k(sp.csr_matrix(np.array(rows)), 4)
    idx, sims = found.indices, found.scores
    assert idx[0].tolist() == [1, 2, 3, 4]
    np.testing.assert_allclose(sims[0], 1.0)


def test_diagonal_and_excluded_entries_are_never_returned_and_counts_count_terms():
    a = sp.csr_matrix(np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=float))
    b = sp.csr_matrix(np.array([[1, 0, 1, 1], [1, 1, 0, 1], [0, 1, 1, 1]], dtype=float))
    exclude = sp.csr_matrix(np.array([[0, 0, 0, 1], [1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1]], dtype=float))
    top = product_top_k(a, b, 4, exclude=exclude, skip_diagonal=True)
    dense = (a @ b).toarray()
    banned = exclude.toarray() > 0
    banned[np.arange(4), np.arange(4)] = True
    assert as_lists(top.indices) == dense_top_k(dense, 4, banned)
    # counts: how many of the row's columns in a meet a stored entry in b's column
    pattern = ((a > 0).astype(int) @ (b > 0).astype(int)).toarray()
    r, c = np.nonzero(top.indices >= 0)
    np.testing.assert_array_equal(top.counts[r, c], pattern[r, top.indices[r, c]])
    assert (top.counts[top.indices < 0] == 0).all()


def test_negative_entries_and_sums_that_cross_zero():
    # centred ratings: partial sums pass through zero; only positive totals are neighbours
    a = sp.csr_matrix(np.array([[1.0, -1.0, 1.0, -1.0], [1.0, 1.0, 0, 0], [-1.0, 1.0, -1.0, 1.0],
                                [0.5, -0.5, 0.5, 0.0], [1.0, 1.0, 1.0, 1.0]]))
    found = cosine_top_k(a, 4)
    idx, sims = found.indices, found.scores
    unit = a.toarray() / np.linalg.norm(a.toarray(), axis=1, keepdims=True)
    dense = unit @ unit.T
    np.fill_diagonal(dense, 0)
    assert as_lists(idx) == dense_top_k(dense, 4)
    assert 2 not in idx[0]  # exactly opposite: similarity -1, never a neighbour
    assert 4 not in idx[0]  # orthogonal: similarity 0, never a neighbour


def test_threads_and_chunks_give_the_same_answer_as_one_thread(monkeypatch):
    a = sp.random(700, 50, density=0.1, random_state=5, format="csr")
    one = cosine_top_k(a, 5)
    monkeypatch.setattr(module, "CHUNK_ROWS", 37)
    unit = unit_rows(a)
    many = product_top_k(unit, unit.T.tocsr(), 5, skip_diagonal=True, workers=3)
    np.testing.assert_array_equal(one.indices, many.indices)
    np.testing.assert_array_equal(one.counts, many.counts)
    np.testing.assert_allclose(np.nan_to_num(one.scores), np.nan_to_num(many.scores))


def test_progress_bar_counts_every_row(capsys):
    a = sp.random(1200, 20, density=0.2, random_state=1, format="csr")
    cosine_top_k(a, 3, progress=True, desc="Testing rows")
    err = capsys.readouterr().err
    assert "Testing rows" in err and "1200/1200" in err


def test_rows_with_nothing_in_common_are_padded_and_empty_input_is_fine():
    a = sp.csr_matrix(np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 0], [1.0, 0, 0]]))
    found = cosine_top_k(a, 2)
    idx, sims = found.indices, found.scores
    assert idx.tolist() == [[3, -1], [-1, -1], [-1, -1], [0, -1]]
    assert np.isnan(sims[1]).all() and sims[0, 0] == pytest.approx(1.0)
    empty = cosine_top_k(sp.csr_matrix((0, 5)), 3)
    assert empty.indices.shape == (0, 3)


@pytest.mark.parametrize("k", [0, -1, 2.5, True, "3"])
def test_k_must_be_a_positive_whole_number(k):
    with pytest.raises(ValueError, match="k must be"):
        product_top_k(sp.eye(3, format="csr"), sp.eye(3, format="csr"), k)


def test_bad_shapes_and_missing_values_are_refused():
    with pytest.raises(ValueError, match="Cannot multiply"):
        product_top_k(sp.eye(3, format="csr"), sp.eye(4, format="csr"), 2)
    with pytest.raises(ValueError, match="exclude has shape"):
        product_top_k(sp.eye(3, format="csr"), sp.eye(3, format="csr"), 2, exclude=sp.eye(2, format="csr"))
    bad = sp.csr_matrix(np.array([[1.0, np.nan], [1.0, 1.0]]))
    with pytest.raises(ValueError, match="NaN"):
        cosine_top_k(bad, 1)


@pytest.mark.parametrize("dense_share", [0.0, 2.0])
def test_sparse_row_top_k_is_the_same_row_by_row_or_densely(monkeypatch, dense_share):
    monkeypatch.setattr(module, "DENSE_BLOCK_SHARE", dense_share)
    m = sp.random(30, 40, density=0.3, random_state=1, format="csr")
    m.data = np.round(m.data * 4) / 4 + 0.25  # few distinct values: many ties
    found = top_k_sparse_rows(m, 6, offset=3)
    idx, val = found.indices, found.scores  # rows of a block starting at product 3
    dense = m.toarray()
    dense[np.arange(30), np.arange(30) + 3] = 0  # so a product is not its own neighbour
    assert (m.toarray()[np.arange(30), np.arange(30) + 3] > 0).any()  # the exclusion matters here
    for r in range(30):
        order = np.lexsort((np.arange(40), -dense[r]))  # score desc, column asc
        order = order[dense[r, order] > 0][:6]
        np.testing.assert_array_equal(idx[r, : order.size], order)
        np.testing.assert_array_equal(val[r, : order.size], dense[r, order])
