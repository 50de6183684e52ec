"""Interaction matrices: a long table of (row key, column key[, weight]) -> sparse CSR + id maps.

The one builder of these matrices for every tabular recommender: orders x products (similar products), customers x
products (similar customers), users x movies (similar movies). Rows and columns are numbered
by their sorted keys, so the same input always gives the same matrix; the keys of each
position are kept in `row_ids` / `col_ids` (pandas Index, so key -> position is one
`get_indexer` call). Never dense: memory is O(number of distinct pairs).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np
import pandas as pd
import scipy.sparse as sp

from common.errors import InputError

__all__ = ["Interactions", "binary_matrix", "interaction_matrix"]


@dataclass(frozen=True)
class Interactions:
    """A sparse rows x columns matrix and the key of each row and column."""

    matrix: sp.csr_matrix
    row_ids: pd.Index  # position -> row key (e.g. order id)
    col_ids: pd.Index  # position -> column key (e.g. product id)
    dropped: int = 0  # input lines left out: missing keys, or keys outside a given vocabulary

    @property
    def shape(self) -> tuple[int, int]:
        return self.matrix.shape

    def row_positions(self, keys: Iterable) -> np.ndarray:
        """Positions of these row keys; -1 for keys not in the matrix."""
        return self.row_ids.get_indexer(pd.Index(keys))

    def col_positions(self, keys: Iterable) -> np.ndarray:
        """Positions of these column keys; -1 for keys not in the matrix."""
        return self.col_ids.get_indexer(pd.Index(keys))

    def row_items(self, key) -> np.ndarray:
        """The column keys present in one row (e.g. the products of one order)."""
        pos = self.row_ids.get_indexer([key])[0]
        if pos < 0:
            raise InputError(f"unknown row key {key!r}")
        start, stop = self.matrix.indptr[pos], self.matrix.indptr[pos + 1]
        return np.asarray(self.col_ids[self.matrix.indices[start:stop]])

    def col_counts(self) -> np.ndarray:
        """Number of rows each column appears in (e.g. orders per product), whatever the weights."""
        return np.bincount(self.matrix.indices, minlength=self.matrix.shape[1])


def binary_matrix(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int], dtype=np.float32) -> sp.csr_matrix:
    """0/1 CSR from parallel (row, column) numbers: a pair listed twice counts once. Canonical
    (sorted indices, no repeats), int32 column numbers; used for orders, baskets and purchases alike."""
    counts = sp.coo_matrix((np.ones(len(rows), dtype=np.int32), (rows, cols)), shape=shape).tocsr()
    counts.sum_duplicates()  # int32 sums: a pair repeated thousands of times still counts once below
    matrix = sp.csr_matrix((np.ones(counts.nnz, dtype=dtype), counts.indices.astype(np.int32),
                            counts.indptr.astype(np.int64)), shape=shape)
    matrix.has_sorted_indices = True
    return matrix


def _codes(keys: pd.Series, vocabulary) -> tuple[np.ndarray, pd.Index | None]:
    """Positions of `keys` in a given vocabulary (-1 if absent), or None when it is to be found."""
    if vocabulary is None:
        return np.where(keys.isna().to_numpy(), -1, 0), None
    index = pd.Index(vocabulary)
    if not index.is_unique:
        raise InputError("A given id vocabulary holds duplicate keys.")
    return index.get_indexer(keys), index


def interaction_matrix(table: pd.DataFrame, row: str, col: str, weight: str | None = None, *,
                       binary: bool | None = None, row_ids: Iterable | None = None,
                       col_ids: Iterable | None = None, dtype=np.float32) -> Interactions:
    """Sparse CSR matrix of `table`: one row per distinct `row` key, one column per `col` key.

    Without `weight` (or with binary=True) a cell is 1 if the pair occurs at all; with a
    `weight` column, repeated pairs are summed (e.g. quantities of one product over an
    order's lines). `row_ids` / `col_ids` fix the vocabulary (e.g. the products seen in
    training): lines with other keys are dropped and counted in `dropped`. Lines with a
    missing key are always dropped. Cells that sum to zero are not stored.
    """
    for name in (row, col) + ((weight,) if weight else ()):
        if name not in table.columns:
            raise InputError(f"column {name!r} not in the table (it has {', '.join(map(str, table.columns))})")
    if binary is None:
        binary = weight is None
    r, r_index = _codes(table[row], row_ids)
    c, c_index = _codes(table[col], col_ids)
    keep = (r >= 0) & (c >= 0)
    if weight is not None:
        values = pd.to_numeric(table[weight], errors="coerce").to_numpy(dtype=np.float64)
        keep &= ~np.isnan(values)
        values = values[keep]
    dropped = int((~keep).sum())
    # Keys are numbered after dropping, so a row or column with no kept line does not exist.
    if r_index is None:
        r, r_index = pd.factorize(table[row][keep], sort=True)
        r_index = pd.Index(r_index)
    else:
        r = r[keep]
    if c_index is None:
        c, c_index = pd.factorize(table[col][keep], sort=True)
        c_index = pd.Index(c_index)
    else:
        c = c[keep]
    shape = (len(r_index), len(c_index))
    if binary:
        return Interactions(binary_matrix(r, c, shape, dtype), r_index, c_index, dropped)
    # COO -> CSR sums repeated (row, col) pairs, which is exactly the aggregation wanted.
    matrix = sp.csr_matrix((values.astype(np.float64, copy=False), (r, c)), shape=shape)
    matrix.eliminate_zeros()
    matrix.sum_duplicates()  # canonical: sorted column indices within each row, no repeats
    return Interactions(matrix.astype(dtype, copy=False), r_index, c_index, dropped)
