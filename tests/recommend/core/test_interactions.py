"""recommend.core.interactions: the sparse matrix equals a dense pivot of the same long table."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from common.errors import InputError
from recommend.core.interactions import interaction_matrix


def long_table(seed: int = 0, n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "order": rng.choice([f"o{i:02d}" for i in range(40)], n),
        "product": rng.choice([f"p{i}" for i in range(25)], n),
        "qty": rng.integers(1, 5, n),
    })


def test_binary_matrix_equals_a_dense_pivot_with_sorted_id_maps():
    table = long_table()
    inter = interaction_matrix(table, "order", "product")
    reference = pd.crosstab(table["order"], table["product"]).clip(upper=1)  # sorted rows and columns
    assert sp.isspmatrix_csr(inter.matrix) or isinstance(inter.matrix, sp.csr_array)
    assert list(inter.row_ids) == list(reference.index)
    assert list(inter.col_ids) == list(reference.columns)
    np.testing.assert_array_equal(inter.matrix.toarray(), reference.to_numpy())
    assert inter.matrix.has_sorted_indices and inter.dropped == 0


def test_weights_are_summed_over_repeated_pairs_unless_binary():
    table = long_table(1)
    weighted = interaction_matrix(table, "order", "product", "qty")
    reference = table.pivot_table(index="order", columns="product", values="qty", aggfunc="sum", fill_value=0)
    np.testing.assert_allclose(weighted.matrix.toarray(), reference.to_numpy())
    assert weighted.matrix.max() > 1  # repeated pairs really were summed
    binary = interaction_matrix(table, "order", "product", "qty", binary=True)
    assert set(np.unique(binary.matrix.data)) == {1.0}


def test_positions_items_and_counts():
    table = pd.DataFrame({"o": ["a", "a", "b", "b", "b", "c"], "p": ["x", "y", "x", "x", "z", "y"]})
    inter = interaction_matrix(table, "o", "p")
    assert inter.shape == (3, 3)
    np.testing.assert_array_equal(inter.col_positions(["z", "nope", "x"]), [2, -1, 0])
    np.testing.assert_array_equal(inter.row_positions(["c", "a"]), [2, 0])
    assert list(inter.row_items("b")) == ["x", "z"]
    np.testing.assert_array_equal(inter.col_counts(), [2, 2, 1])  # orders per product, not lines
    with pytest.raises(InputError, match="unknown row key"):
        inter.row_items("nope")


def test_a_fixed_vocabulary_drops_and_counts_unknown_keys_and_missing_ones_are_dropped():
    table = pd.DataFrame({"o": ["a", "a", "b", None, "c"], "p": ["x", "new", "y", "x", None]})
    inter = interaction_matrix(table, "o", "p", col_ids=["y", "x"])  # the order of the vocabulary is kept
    assert list(inter.col_ids) == ["y", "x"]
    assert inter.dropped == 3  # "new", a missing order, a missing product
    np.testing.assert_array_equal(inter.matrix.toarray(), [[0, 1], [1, 0]])
    with pytest.raises(ValueError, match="duplicate"):
        interaction_matrix(table, "o", "p", col_ids=["x", "x"])


def test_a_missing_column_is_a_clear_key_error():
    with pytest.raises(InputError, match="'basket' not in the table"):
        interaction_matrix(long_table(), "basket", "product")
