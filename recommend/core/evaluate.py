"""Offline evaluation shared by every recommender: top-k metrics, a popularity baseline, a time split.

Inputs are plain: `recommended` maps a user (or order, or query) to a ranked list of item ids,
`relevant` maps the same keys to the set of ids that count as right (two aligned lists work
too). Every key of `relevant` with at least one relevant item is scored; a key with no
recommendations scores zero, so a recommender cannot look better by answering less.

Definitions (binary relevance, the ones Microsoft Recommenders and most papers use):
  HitRate@k   share of users with at least one relevant item in their top k
  Precision@k hits in the top k / k (k, not the list length: a short list is not rewarded)
  Recall@k    hits in the top k / number of relevant items
  NDCG@k      sum over hits of 1/log2(rank+1), over the same for a perfect list of min(|rel|, k) hits
  MAP@k       mean over users of sum over hits of Precision@rank / min(|rel|, k)
  Coverage@k  distinct items in all top-k lists / catalogue size
"""
from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Iterable

import numpy as np
import pandas as pd

from common.errors import InputError
from common.topk import check_k

__all__ = [
    "METRICS", "evaluate", "hit_rate_at_k", "precision_at_k", "recall_at_k", "ndcg_at_k", "map_at_k",
    "coverage_at_k", "popularity_ranking", "popular_recommendations", "random_recommendations", "relevant_sets",
    "time_split", "evaluation_table",
]

METRICS = ("HitRate", "Precision", "Recall", "NDCG", "MAP")


def _pairs(recommended, relevant) -> list[tuple[Sequence, set]]:
    """(ranked list, relevant set) per scored user: by key for mappings, by position for lists."""
    if isinstance(relevant, Mapping):
        if not isinstance(recommended, Mapping):
            raise TypeError("relevant is a mapping, so recommended must map the same keys to lists.")
        pairs = [(recommended.get(key, ()), rel) for key, rel in relevant.items()]
    else:
        recommended, relevant = list(recommended), list(relevant)
        if len(recommended) != len(relevant):
            raise ValueError(f"{len(recommended)} recommendation lists for {len(relevant)} relevant sets.")
        pairs = list(zip(recommended, relevant))
    out = []
    for rec, rel in pairs:
        rel = rel if isinstance(rel, (set, frozenset)) else set(rel)
        if rel:
            out.append((list(rec), rel))
    return out


def _hits(rec: list, rel: set, k: int) -> np.ndarray:
    """Boolean hit per rank in the top k; a repeated item is a recommender bug, so it is refused."""
    top = rec[:k]
    if len(set(top)) != len(top):
        repeated = [item for item, n in Counter(top).items() if n > 1][:3]
        raise ValueError(f"A recommendation list repeats items {repeated}; lists must not hold duplicates.")
    return np.fromiter((item in rel for item in top), dtype=bool, count=len(top))


def _per_user(recommended, relevant, k: int) -> dict[str, np.ndarray]:
    """Each metric's value for every scored user (arrays aligned over users)."""
    k = check_k(k)
    pairs = _pairs(recommended, relevant)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    values = {name: np.zeros(len(pairs)) for name in METRICS}
    for u, (rec, rel) in enumerate(pairs):
        hits = _hits(rec, rel, k)
        n_hits = int(hits.sum())
        if not n_hits:
            continue
        n_ideal = min(len(rel), k)
        values["HitRate"][u] = 1.0
        values["Precision"][u] = n_hits / k
        values["Recall"][u] = n_hits / len(rel)
        values["NDCG"][u] = discounts[: hits.size][hits].sum() / discounts[:n_ideal].sum()
        ranks = np.flatnonzero(hits) + 1
        values["MAP"][u] = (np.arange(1, n_hits + 1) / ranks).sum() / n_ideal
    return values


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else float("nan")


def hit_rate_at_k(recommended, relevant, k: int) -> float:
    return _mean(_per_user(recommended, relevant, k)["HitRate"])


def precision_at_k(recommended, relevant, k: int) -> float:
    return _mean(_per_user(recommended, relevant, k)["Precision"])


def recall_at_k(recommended, relevant, k: int) -> float:
    return _mean(_per_user(recommended, relevant, k)["Recall"])


def ndcg_at_k(recommended, relevant, k: int) -> float:
    return _mean(_per_user(recommended, relevant, k)["NDCG"])


def map_at_k(recommended, relevant, k: int) -> float:
    return _mean(_per_user(recommended, relevant, k)["MAP"])


def coverage_at_k(recommended, items, k: int) -> float:
    """Share of the items that could be recommended (a collection of ids, or how many) that
    appears in some top-k list."""
    k = check_k(k)
    lists = recommended.values() if isinstance(recommended, Mapping) else recommended
    shown = set()
    for rec in lists:
        shown.update(list(rec)[:k])
    size = items if isinstance(items, (int, np.integer)) else len(set(items))
    if size <= 0:
        raise ValueError("There are no items to cover.")
    return len(shown) / size


def evaluate(recommended, relevant, k: int | Iterable[int] = 10, items=None) -> dict[str, float]:
    """Every metric at each k, as {"users": n, "HitRate@10": ..., ..., "Coverage@10": ...}.

    `items` (the ids that could be recommended, or their count) adds Coverage@k; without it coverage is left out.
    """
    ks = [k] if isinstance(k, (int, np.integer)) else list(k)
    result: dict[str, float] = {"users": len(_pairs(recommended, relevant))}
    for kk in ks:
        per_user = _per_user(recommended, relevant, kk)
        result.update({f"{name}@{kk}": _mean(per_user[name]) for name in METRICS})
        if items is not None:
            scored = relevant.keys() if isinstance(relevant, Mapping) else None
            recs = ({key: recommended.get(key, ()) for key in scored} if scored is not None else recommended)
            result[f"Coverage@{kk}"] = coverage_at_k(recs, items, kk)
    return result


def evaluation_table(results: Mapping[str, Mapping[str, float]], digits: int = 4) -> pd.DataFrame:
    """One row per recommender (the mapping's keys), one column per metric, rounded for printing."""
    table = pd.DataFrame.from_dict({name: dict(r) for name, r in results.items()}, orient="index")
    table.index.name = "recommender"
    if "users" in table.columns:
        table["users"] = table["users"].astype(int)
    return table.round(digits)


def popularity_ranking(items: Iterable) -> np.ndarray:
    """Item ids, most frequent first (ties by ascending id): pass one id per interaction."""
    counts = pd.Series(items).value_counts()
    frame = pd.DataFrame({"item": counts.index, "n": counts.to_numpy()})
    return frame.sort_values(["n", "item"], ascending=[False, True], kind="stable")["item"].to_numpy()


def popular_recommendations(ranking: Sequence, seen: Mapping, k: int) -> dict:
    """The popularity baseline: for each key, the k most popular items it has not seen.

    `ranking` is from `popularity_ranking` (on the training data only); `seen` maps each key to
    the items to leave out (its history, or the rest of its basket).
    """
    k = check_k(k)
    ranking = list(ranking)
    result = {}
    for key, had in seen.items():
        had = had if isinstance(had, (set, frozenset)) else set(had)
        # Only the first k + |seen| of the ranking can be needed; no full scan per key.
        head = ranking[: k + len(had)]
        result[key] = [item for item in head if item not in had][:k]
    return result


def random_recommendations(items: Sequence, seen: Mapping, k: int, seed: int = 0) -> dict:
    """The chance baseline: for each key, k items drawn at random (seeded) from those it has not seen."""
    k = check_k(k)
    pool = np.asarray(list(items), dtype=object)
    rng = np.random.default_rng(seed)
    result = {}
    for key, had in seen.items():
        had = had if isinstance(had, (set, frozenset)) else set(had)
        # Draw a few more than needed, then drop what was seen (cheaper than masking every item).
        draw = pool[rng.choice(len(pool), size=min(len(pool), k + len(had)), replace=False)]
        result[key] = [item for item in draw if item not in had][:k]
    return result


def relevant_sets(table: pd.DataFrame, key: str, item: str) -> dict:
    """{key: set of items} from a long table, e.g. each test user's purchases."""
    return {k: set(v) for k, v in table.groupby(key, sort=True)[item]}


def time_split(table: pd.DataFrame, time_col: str, *, test_share: float = 0.2,
               group_col: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test): the latest `test_share` of the rows go to test.

    With `group_col` (e.g. the order id), whole groups move together, ordered by their first
    time: the last `test_share` of the groups are the test. Ties in time are broken by the key,
    so the split is the same on every run. Times are parsed with pandas if they are text.
    """
    if not 0 < test_share < 1:
        raise InputError(f"test_share must be between 0 and 1, got {test_share}.")
    for name in (time_col,) + ((group_col,) if group_col else ()):
        if name not in table.columns:
            raise InputError(f"column {name!r} not in the table")
    times = table[time_col]
    if not pd.api.types.is_datetime64_any_dtype(times):
        with warnings.catch_warnings():  # "could not infer format": unreadable dates are reported below
            warnings.simplefilter("ignore", UserWarning)
            times = pd.to_datetime(times, errors="coerce")
    if times.isna().any():
        raise InputError(f"{int(times.isna().sum())} row(s) have no readable {time_col!r}; fix or drop them first.")
    if group_col is None:
        order = np.lexsort((np.arange(len(table)), times.to_numpy()))
        n_test = int(round(len(table) * test_share))
        is_test = np.zeros(len(table), dtype=bool)
        is_test[order[len(table) - n_test:]] = True
    else:
        first = times.groupby(table[group_col].to_numpy()).min()
        frame = pd.DataFrame({"group": first.index, "time": first.to_numpy()})
        frame = frame.sort_values(["time", "group"], kind="stable")
        n_test = int(round(len(frame) * test_share))
        test_groups = set(frame["group"].iloc[len(frame) - n_test:])
        is_test = table[group_col].isin(test_groups).to_numpy()
    return table[~is_test], table[is_test]
