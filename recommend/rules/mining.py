"""Frequent itemsets from a sparse baskets x items matrix, level by level, with numpy and scipy only.

Written by hand because bench/rules.py measures it many times faster than mlxtend's fpgrowth
and apriori, efficient-apriori and apyori on the same baskets with the same output (mlxtend
stays the reference in the tests):

- single items: a bincount over the matrix's column indices;
- pairs: one sparse product X^T X over the frequent items (its cost is the item pairs inside
  baskets, not items^2);
- three items and more: Apriori candidates (two frequent itemsets that share all but their last
  item, kept only if every subset is frequent), counted by AND-ing the bitmaps of the baskets
  that hold each item (one bit per basket) and counting the bits, in chunks of bounded memory.

Thresholds that would explode stop before the counting with `TooManyItemsets`, whose message
says to raise min_support.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from tqdm import tqdm

from recommend.rules import defaults as defaults
from common.errors import InputError

CHUNK_WORDS = 1 << 22  # 64-bit words per temporary bitmap block (32 MB)
# Joined candidates before the subset check may outnumber the itemset limit by this factor
# (about 30 bytes each while they are checked).
JOIN_FACTOR = 5


class TooManyItemsets(InputError):
    """The thresholds would produce more itemsets than fit; the message names the threshold to raise."""


@dataclass
class Level:
    """Frequent itemsets of one size k, rows in lexicographic order of their item numbers."""

    items: np.ndarray  # (m, k) int32 column numbers, ascending within a row
    counts: np.ndarray  # (m,) int64: baskets holding every item of the row
    keys: np.ndarray  # (m,) int64, ascending: (row of the first k-1 items in level k-1) * n_items + last item


@dataclass
class FrequentItemsets:
    levels: list[Level]  # levels[k - 1] holds the itemsets of k items
    n_baskets: int
    n_items: int
    min_count: int
    min_support: float
    max_length: int

    @property
    def total(self) -> int:
        return int(sum(len(level.counts) for level in self.levels))


def min_count_for(min_support: float, n_baskets: int) -> int:
    """The smallest basket count whose support (count / n_baskets) is at least min_support."""
    count = max(int(np.ceil(min_support * n_baskets)), 1)
    while count > 1 and (count - 1) / n_baskets >= min_support:
        count -= 1
    while count / n_baskets < min_support:
        count += 1
    return count


def check_thresholds(min_support: float, max_length: int) -> None:
    if not 0 < min_support <= 1:
        raise InputError(f"min_support must be above 0 and at most 1, got {min_support}.")
    if isinstance(max_length, bool) or int(max_length) != max_length or max_length < 1:
        raise InputError(f"max_length must be a whole number of items, at least 1, got {max_length}.")


def find_rows(levels: list[Level], n_items: int, queries: np.ndarray) -> np.ndarray:
    """Row numbers in levels[k - 1] of the k-itemsets in `queries` (q, k), -1 where not frequent."""
    queries = np.asarray(queries, dtype=np.int64)
    q, k = queries.shape
    if k > len(levels):
        return np.full(q, -1, dtype=np.int64)
    rows = np.zeros(q, dtype=np.int64)  # level 1's key is the item itself: no prefix row
    for j in range(k):
        level = levels[j]
        if not len(level.keys):
            return np.full(q, -1, dtype=np.int64)
        keys = queries[:, 0] if j == 0 else rows * n_items + queries[:, j]
        pos = np.minimum(np.searchsorted(level.keys, keys), len(level.keys) - 1)
        found = (rows >= 0) & (level.keys[pos] == keys)
        rows = np.where(found, pos, -1)
    return rows


def levels_from_itemsets(itemsets: list[np.ndarray], counts: np.ndarray, n_items: int) -> list[Level]:
    """Levels from itemsets found elsewhere (Spark's FPGrowth): each itemset an array of column
    numbers, with its basket count. Every subset of a frequent itemset must be listed too (it is
    frequent as well), as any complete miner gives them."""
    counts = np.asarray(counts, dtype=np.int64)
    lengths = np.fromiter(map(len, itemsets), dtype=np.int64, count=len(itemsets))
    levels: list[Level] = []
    for k in range(1, int(lengths.max(initial=0)) + 1):
        chosen = np.flatnonzero(lengths == k)
        items = (np.sort(np.array([itemsets[i] for i in chosen], dtype=np.int32).reshape(len(chosen), k), axis=1)
                 if len(chosen) else np.empty((0, k), dtype=np.int32))
        order = np.lexsort(items.T[::-1]) if len(chosen) else np.empty(0, dtype=np.int64)
        items, level_counts = items[order], counts[chosen][order]
        if k == 1:
            keys = items[:, 0].astype(np.int64)
        else:
            prefix = find_rows(levels, n_items, items[:, :-1])
            if (prefix < 0).any():
                raise ValueError(f"an itemset of {k} items is listed without its first {k - 1} items")
            keys = prefix * n_items + items[:, -1]
        levels.append(Level(items, level_counts, keys))
    return levels


def _explosion(min_support: float, min_count: int, n_baskets: int, what: str) -> TooManyItemsets:
    return TooManyItemsets(
        f"min_support {min_support:g} ({min_count:,} of {n_baskets:,} baskets) would give {what}; "
        f"raise min_support (or lower max_length).")


def _popcount_rows(words: np.ndarray) -> np.ndarray:
    """Set bits per row of a (rows, words) uint64 array."""
    if hasattr(np, "bitwise_count"):  # numpy >= 2.0
        return np.bitwise_count(words).sum(axis=1, dtype=np.int64)
    table = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)
    return table[words.view(np.uint8)].sum(axis=1, dtype=np.int64)


def _bitmaps(matrix: sp.spmatrix) -> np.ndarray:
    """(items, words) uint64: bit t of row i is set when basket t holds item i."""
    sub = sp.csc_matrix(matrix)
    sub.sort_indices()
    n, n_columns = sub.shape
    words = max((n + 63) // 64, 1)
    col_of = np.repeat(np.arange(sub.shape[1], dtype=np.int64), np.diff(sub.indptr))
    rows = sub.indices.astype(np.int64)
    flat = col_of * words + (rows >> 6)
    bits = np.left_shift(np.uint64(1), (rows & 63).astype(np.uint64))
    out = np.zeros(n_columns * words, dtype=np.uint64)
    if flat.size:
        # Entries come column by column with rows ascending, so equal `flat` values are adjacent
        # and their bits are distinct: OR-reducing each run sets the word.
        starts = np.flatnonzero(np.r_[True, flat[1:] != flat[:-1]])
        out[flat[starts]] = np.bitwise_or.reduceat(bits, starts)
    return out.reshape(n_columns, words)


def _pairs(matrix: sp.csr_matrix, frequent: np.ndarray, min_count: int):
    """Frequent 2-itemsets (rows ascending) and their counts, from X^T X over the frequent items."""
    sub = matrix[:, frequent].astype(np.int32)
    sub = sub[np.diff(sub.indptr) >= 2]
    gram = sp.triu(sub.T.tocsr() @ sub, k=1, format="coo")
    keep = gram.data >= min_count
    a, b, counts = frequent[gram.row[keep]], frequent[gram.col[keep]], gram.data[keep].astype(np.int64)
    order = np.lexsort((b, a))
    return np.column_stack([a[order], b[order]]).astype(np.int32), counts[order]


def candidates(levels: list[Level], n_items: int, limit: int, too_many) -> tuple[np.ndarray, np.ndarray]:
    """Candidates of size k+1 from level k (k >= 2): join rows sharing their first k-1 items, keep
    those whose every k-subset is frequent. Returns (items (c, k+1), row of the first k items)."""
    level = levels[-1]
    m, k = level.items.shape
    group = level.keys // n_items  # row of the first k-1 items in level k-1: equal within a group
    ends = np.searchsorted(group, group, side="right")
    partners = ends - np.arange(m) - 1
    total = int(partners.sum())
    if total > JOIN_FACTOR * limit:  # the join alone would take too much memory
        raise too_many(total, k + 1)
    left = np.repeat(np.arange(m), partners)
    offset = np.arange(total) - np.repeat(np.cumsum(partners) - partners, partners)
    right = left + 1 + offset
    cand = np.empty((total, k + 1), dtype=np.int32)
    cand[:, :k] = level.items[left]
    cand[:, k] = level.items[right, k - 1]
    keep = np.ones(total, dtype=bool)
    for drop in range(k - 1):  # dropping item k-1 or k gives the two joined rows: frequent already
        subset = np.delete(cand, drop, axis=1)
        keep &= find_rows(levels, n_items, subset) >= 0
    if int(keep.sum()) > limit:
        raise too_many(int(keep.sum()), k + 1)
    return cand[keep], left[keep]


def _count(matrix: sp.csr_matrix, cand: np.ndarray, max_word_ops: int, too_many) -> np.ndarray:
    """Baskets holding every item of each candidate row, by bitmap AND and popcount."""
    k = cand.shape[1]
    columns, local = np.unique(cand, return_inverse=True)
    local = local.reshape(cand.shape)
    sub = matrix[:, columns]
    sub = sub[np.diff(sub.indptr) >= k]  # a basket with fewer of these items holds no candidate
    words = max((sub.shape[0] + 63) // 64, 1)
    if len(cand) * words * k > max_word_ops:
        raise too_many(len(cand), k, sub.shape[0])
    bitmaps = _bitmaps(sub)
    step = max(CHUNK_WORDS // words, 1)
    counts = np.empty(len(cand), dtype=np.int64)
    for start in range(0, len(cand), step):
        idx = local[start:start + step]
        acc = bitmaps[idx[:, 0]]
        for j in range(1, k):
            np.bitwise_and(acc, bitmaps[idx[:, j]], out=acc)
        counts[start:start + step] = _popcount_rows(acc)
    return counts


def frequent_itemsets(matrix: sp.csr_matrix, min_support: float, max_length: int = defaults.MAX_LENGTH, *,
                      max_itemsets: int | None = None, max_pair_occurrences: int | None = None,
                      max_word_ops: int | None = None, progress: bool = False) -> FrequentItemsets:
    """Every itemset of at most `max_length` items held by at least min_support of the baskets.

    Raises TooManyItemsets before the work when the itemsets found plus the next size's
    candidates would pass `max_itemsets`, or counting them would pass the work limits."""
    check_thresholds(min_support, max_length)
    # Limits default to recommend.rules.defaults at call time, so one place changes them.
    max_itemsets = defaults.MAX_ITEMSETS if max_itemsets is None else max_itemsets
    max_pair_occurrences = defaults.MAX_PAIR_OCCURRENCES if max_pair_occurrences is None else max_pair_occurrences
    max_word_ops = defaults.MAX_WORD_OPS if max_word_ops is None else max_word_ops
    matrix = sp.csr_matrix(matrix, dtype=bool)
    n_baskets, n_items = matrix.shape
    if n_baskets == 0:
        raise InputError("There are no baskets to mine.")
    min_count = min_count_for(min_support, n_baskets)

    def explosion(what: str) -> TooManyItemsets:
        return _explosion(min_support, min_count, n_baskets, what)

    bar = tqdm(total=int(max_length), desc="Itemsets", unit="size", disable=not progress)
    try:
        counts1 = np.bincount(matrix.indices, minlength=n_items).astype(np.int64)
        frequent = np.flatnonzero(counts1 >= min_count).astype(np.int32)
        if len(frequent) > max_itemsets:
            raise explosion(f"{len(frequent):,} frequent items (the limit is {max_itemsets:,} itemsets)")
        levels = [Level(frequent[:, None], counts1[frequent], frequent.astype(np.int64))]
        bar.update(1)
        if max_length >= 2 and len(frequent) >= 2:
            lengths = np.diff(matrix[:, frequent].indptr).astype(np.int64)
            occurrences = int((lengths * (lengths - 1) // 2).sum())
            if occurrences > max_pair_occurrences:
                raise explosion(f"{occurrences:,} pairs of frequent items inside baskets to count "
                                f"(the limit is {max_pair_occurrences:,})")
            pairs, counts = _pairs(matrix, frequent, min_count)
            if len(pairs) + len(frequent) > max_itemsets:
                raise explosion(f"{len(pairs):,} frequent pairs (the limit is {max_itemsets:,} itemsets)")
            first = find_rows(levels, n_items, pairs[:, :1])
            levels.append(Level(pairs, counts, first * n_items + pairs[:, 1]))
            bar.update(1)
        for size in range(3, int(max_length) + 1):
            if len(levels) < size - 1 or len(levels[-1].counts) < 2:
                break
            found = sum(len(level.counts) for level in levels)

            def too_many(n: int, k: int, baskets: int | None = None) -> TooManyItemsets:
                if baskets is None:
                    return explosion(f"{n:,} candidate itemsets of {k} items on top of the {found:,} found "
                                     f"(the limit is {max_itemsets:,} itemsets)")
                return explosion(f"{n:,} candidate itemsets of {k} items to count over {baskets:,} baskets "
                                 f"(over the work limit)")

            cand, prefix_rows = candidates(levels, n_items, max_itemsets - found, too_many)
            if not len(cand):
                break
            counts = _count(matrix, cand, max_word_ops, too_many)
            keep = counts >= min_count
            if not keep.any():
                break
            items = cand[keep]
            levels.append(Level(items, counts[keep], prefix_rows[keep].astype(np.int64) * n_items + items[:, -1]))
            bar.update(1)
    finally:
        bar.close()
    return FrequentItemsets(levels, int(n_baskets), int(n_items), int(min_count), float(min_support), int(max_length))
