"""The compiled kernel of recommend.core.sparse_topk.product_top_k for products too large to hold:
one fused pass per row (see that module). Its own module so numba is imported only by the jobs
that need it, never by the app answering from small demo matrices.
"""
from __future__ import annotations

from numba import njit

from recommend.core.sparse_topk import TIE_DECIMALS


@njit(cache=True, inline="always")
def _worse(a_val, a_idx, b_val, b_idx):
    """Is candidate a ranked below b? A lower score, or an equal score and a higher column."""
    return a_val < b_val or (a_val == b_val and a_idx > b_idx)


@njit(cache=True, inline="always")
def _swap(hv, hi, hc, a, b):
    hv[a], hv[b] = hv[b], hv[a]
    hi[a], hi[b] = hi[b], hi[a]
    hc[a], hc[b] = hc[b], hc[a]


@njit(cache=True)
def _sift_down(hv, hi, hc, size, pos):
    """Restore the heap (root = worst kept candidate) below `pos`."""
    while True:
        child = 2 * pos + 1
        if child >= size:
            return
        if child + 1 < size and _worse(hv[child + 1], hi[child + 1], hv[child], hi[child]):
            child += 1
        if not _worse(hv[child], hi[child], hv[pos], hi[pos]):
            return
        _swap(hv, hi, hc, pos, child)
        pos = child


@njit(cache=True, nogil=True)
def _rows_top_k(start, stop, a_ptr, a_idx, a_val, b_ptr, b_idx, b_val, x_ptr, x_idx, skip_diagonal,
                k, out_idx, out_val, out_cnt, acc, cnt, banned, touched, hv, hi, hc):
    """Rows start..stop of the answer. Scratch: acc and cnt all zero (left so), banned all -1
    (it holds the last row that banned a column), touched, hv, hi, hc any."""
    for r in range(start, stop):
        for p in range(x_ptr[r], x_ptr[r + 1]):
            banned[x_idx[p]] = r
        t = 0
        for p in range(a_ptr[r], a_ptr[r + 1]):
            v = a_val[p]
            j = a_idx[p]
            for q in range(b_ptr[j], b_ptr[j + 1]):
                c = b_idx[q]
                if cnt[c] == 0:  # first time this row meets c (a running sum can pass through 0)
                    touched[t] = c
                    t += 1
                acc[c] += v * b_val[q]
                cnt[c] += 1
        size = 0
        for i in range(t):
            c = touched[i]
            s = round(acc[c], TIE_DECIMALS)
            n_terms = cnt[c]
            acc[c] = 0.0
            cnt[c] = 0
            if not s > 0.0 or banned[c] == r or (skip_diagonal and c == r):
                continue
            if size < k:  # heap not full: add, sift up
                pos = size
                hv[pos], hi[pos], hc[pos] = s, c, n_terms
                size += 1
                while pos > 0:
                    parent = (pos - 1) // 2
                    if not _worse(hv[pos], hi[pos], hv[parent], hi[parent]):
                        break
                    _swap(hv, hi, hc, pos, parent)
                    pos = parent
            elif _worse(hv[0], hi[0], s, c):  # better than the worst kept: replace it
                hv[0], hi[0], hc[0] = s, c, n_terms
                _sift_down(hv, hi, hc, size, 0)
        # pop the worst first, filling the row from its end: best first, ties by column
        while size > 0:
            size -= 1
            out_val[r, size], out_idx[r, size], out_cnt[r, size] = hv[0], hi[0], hc[0]
            hv[0], hi[0], hc[0] = hv[size], hi[size], hc[size]
            _sift_down(hv, hi, hc, size, 0)
