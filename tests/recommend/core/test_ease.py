"""EASE: the closed form, its guard on the item count, and λ chosen by a validation score."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from common.errors import InputError
from recommend.core import ease


def _orders(seed=0, orders=300, items=40) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    dense = (rng.random((orders, items)) < rng.random(items) * 0.3).astype(np.float64)
    return sp.csr_matrix(dense)


def test_the_weights_are_steck_s_closed_form_with_a_zero_diagonal():
    x = _orders()
    x = x[:, np.flatnonzero(np.asarray(x.sum(axis=0)).ravel())]  # items nobody bought are never fitted
    model = ease.fit(x, 25.0)
    gram = (x.T @ x).toarray() + 25.0 * np.eye(x.shape[1])
    p = np.linalg.inv(gram)
    expected = np.eye(x.shape[1]) - p / np.diag(p)
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(model.weights, expected, atol=2e-5)
    assert np.all(np.diag(model.weights) == 0) and model.dropped == 0 and model.lam == 25.0
    rows = x[:5]
    np.testing.assert_allclose(ease.scores(model, rows), rows.toarray() @ expected, atol=1e-4)


def test_only_the_most_frequent_items_are_fitted_past_the_guard():
    x = _orders(items=30)
    counts = np.asarray(x.sum(axis=0)).ravel()
    model = ease.fit(x, 10.0, max_items=12)
    assert model.dropped == int((counts > 0).sum()) - 12 and len(model.kept) == 12
    assert set(model.kept) == set(np.argsort(-counts, kind="stable")[:12])
    assert model.weights.shape == (12, 12)


def test_planted_pairs_are_found_and_lambda_is_chosen_by_validation():
    rng = np.random.default_rng(1)
    pairs = 20  # item 2i is always bought with 2i+1
    rows = []
    for _ in range(400):
        chosen = rng.choice(pairs, size=3, replace=False)
        rows.append([j for i in chosen for j in (2 * i, 2 * i + 1)])
    x = sp.csr_matrix((np.ones(sum(map(len, rows))), ([r for r, row in enumerate(rows) for _ in row],
                                                       [j for row in rows for j in row])), shape=(400, 2 * pairs))
    train, valid = x[:300], x[300:]

    def hit_rate(model) -> float:  # hide each validation order's first item, recommend it back
        hits = 0
        for row in valid:
            items = row.indices
            query = row.copy()
            query.data[query.indices == items[0]] = 0
            query.eliminate_zeros()
            s = ease.scores(model, query)[0]
            s[query.indices] = -np.inf
            hits += int(np.argmax(s) == items[0])
        return hits / valid.shape[0]

    best, found = ease.tune_lambda(train, hit_rate, lambdas=(1.0, 10.0, 100000.0))
    assert found[best] == max(found.values()) and found[best] >= 0.95
    assert found[100000.0] < found[best] or best == 100000.0
    with pytest.raises(InputError, match="positive"):
        ease.fit(train, 0)


def test_recommendations_are_the_best_unheld_items_explained_by_the_largest_contributions():
    x = _orders(seed=3, orders=200, items=25)
    model = ease.fit(x, 5.0)
    rows = x[:30]
    found = ease.recommend(model, rows, 4, explain=2, block=7)  # several blocks
    full = np.zeros((x.shape[1], x.shape[1]))
    full[np.ix_(model.kept, model.kept)] = model.weights
    for r in range(rows.shape[0]):
        held = set(rows[r].indices)
        scores = rows[r].toarray().ravel() @ full
        ranked = [j for j in np.argsort(-scores, kind="stable") if j not in held and scores[j] > 0][:4]
        got = [j for j in found.top.indices[r] if j >= 0]
        assert not held & set(got)
        np.testing.assert_allclose(scores[got], scores[ranked], rtol=1e-5)
        for rank, item in enumerate(got):
            contributions = {h: full[h, item] for h in held}
            best = sorted((h for h in held if contributions[h] > 0), key=lambda h: -contributions[h])[:2]
            because = [b for b in found.because[r, rank] if b >= 0]
            np.testing.assert_allclose([contributions[b] for b in because], [contributions[b] for b in best], rtol=1e-6)
            assert found.top.counts[r, rank] == sum(1 for h in held if contributions[h] > 0)
