"""unit_rows, by hand, against scikit-learn's normalize (the reference): the same float64 bits
for rows of every length, empty rows, explicit zeros and unsorted indices."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from recommend.core.sparse_topk import unit_rows


@pytest.mark.parametrize("seed", range(8))
def test_unit_rows_are_sklearns_bit_for_bit(seed):
    rng = np.random.default_rng(seed)
    a = sp.random(400, 700, density=rng.uniform(0.001, 0.3), format="csr", random_state=seed)
    a.data = np.log1p(rng.uniform(0, 60, a.nnz)).astype(np.float32)  # the log-quantity weights
    a.data[: seed * 3] = 0.0  # explicit zeros; a row of them stays zero
    if seed % 2:  # unsorted column indices within rows, as a built matrix may hold them
        a = sp.csr_matrix((a.data[::-1], a.indices[::-1], a.indptr[-1] - a.indptr[::-1]), shape=a.shape)
    got = unit_rows(a)
    want = normalize(sp.csr_matrix(a, dtype=np.float64, copy=True), norm="l2")
    want.sort_indices()
    np.testing.assert_array_equal(got.indptr, want.indptr)
    np.testing.assert_array_equal(got.indices, want.indices)
    assert got.data.tobytes() == want.data.tobytes()
    lengths = np.sqrt(np.asarray(got.multiply(got).sum(axis=1)).ravel())
    assert np.allclose(lengths[lengths > 0], 1.0) and (lengths > 0).sum() > 300


def test_a_matrix_without_entries_stays_empty():
    assert unit_rows(sp.csr_matrix((3, 5))).nnz == 0 and unit_rows(sp.csr_matrix((0, 5))).shape == (0, 5)
