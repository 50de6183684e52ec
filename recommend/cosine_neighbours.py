"""Each row's k most cosine-similar other rows of a sparse matrix, exact, without ever holding a
rows x rows matrix. Shared by similar customers (user-user) and similar movies (item k-NN)."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recommend.product_top_k import TopK, product_top_k

__all__ = ["cosine_neighbours", "cosine_top_k", "unit_rows"]


def unit_rows(matrix) -> sp.csr_matrix:
    """Rows scaled to unit length (float64, sorted indices); all-zero rows stay zero."""
    unit = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
    norms = np.sqrt(np.asarray(unit.multiply(unit).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    unit.data /= np.repeat(norms, np.diff(unit.indptr))
    unit.sort_indices()
    return unit


def cosine_top_k(matrix, k: int, *, progress: bool = False, desc: str = "Neighbours") -> TopK:
    """Top of unit @ unit.T per row, leaving each row itself out; `counts` = columns shared."""
    unit = unit_rows(matrix)  # NaN or infinity stays NaN here: product_top_k refuses it
    return product_top_k(unit, unit.T.tocsr(), k, skip_diagonal=True, progress=progress, desc=desc)


def cosine_neighbours(matrix, k: int, *, progress: bool = False, desc: str = "Neighbours"):
    """Each row's k most cosine-similar other rows (similarity > 0 only), best first, ties by
    ascending row. Returns (indices, similarities), each (rows, k), padded with -1 / NaN."""
    top = cosine_top_k(matrix, k, progress=progress, desc=desc)
    return top.indices, top.scores
