"""Association rules from frequent itemsets, and the "what to show next to X" lookup: the maths.

Every rule A -> C split from an itemset of at most max_length items (max_length counts the items
of both sides, as in the original notebook) gets support, confidence, lift, leverage and
conviction, and is kept when confidence and lift reach their minimums. The lookup, for an item
X: the consequents of the rules whose antecedent is X alone, strongest first (lift, then
confidence, then support), then the best sellers (most baskets) not already listed, until there
are SHOW_NEXT_TO. Rules with more items on the left need those items in the cart too, so they are
not used for a product page.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from common.errors import InputError
from common.topk import check_k
from recommend.rules import defaults
from recommend.rules.mining import FrequentItemsets, TooManyItemsets, find_rows

SEP = defaults.ITEM_SEPARATOR
RULE_COLUMNS = ["antecedents", "consequents", "support", "confidence", "lift", "leverage", "conviction"]
ITEMSET_COLUMNS = ["itemsets", "length", "count", "support"]
LOOKUP_COLUMNS = ["item", "rank", "show", "source", "lift", "confidence"]
LOOKUP_ORDER = ("consequents of the rules whose antecedent is the item alone, by lift, then confidence, "
                "then support (descending); then the best sellers (most baskets) not already listed")
# A rule that meets a threshold up to float rounding meets it: confidence 1/5 is "at least 0.2".
TOLERANCE = 1e-12


def check_rule_thresholds(min_confidence: float, min_lift: float) -> None:
    if not 0 <= min_confidence <= 1:
        raise InputError(f"min_confidence must be between 0 and 1, got {min_confidence}.")
    if min_lift < 0:
        raise InputError(f"min_lift must be 0 or more, got {min_lift}.")


def best_sellers(items: np.ndarray, counts: np.ndarray) -> pd.Series:
    """Basket count per item (names sorted, counts in their order), most first (ties by name)."""
    counts = pd.Series(np.asarray(counts, dtype=np.int64), index=pd.Index(items, name="item"), name="baskets")
    order = np.lexsort((np.arange(len(counts)), -counts.to_numpy()))  # names are sorted already
    return counts.iloc[order]


def level_names(found: FrequentItemsets, items: np.ndarray) -> list[np.ndarray]:
    """Per level, the name of each frequent itemset: its item names joined with SEP.

    Columns are numbered in name order, so the names within each are sorted."""
    names = []
    for level in found.levels:
        joined = items[level.items[:, 0]].astype(object)
        for j in range(1, level.items.shape[1]):
            joined = joined + SEP + items[level.items[:, j]]
        names.append(np.asarray(joined, dtype=object))
    return names


def itemset_table(found: FrequentItemsets, items: np.ndarray, names: list[np.ndarray] | None = None) -> pd.DataFrame:
    names = names if names is not None else level_names(found, items)
    parts = [pd.DataFrame({"itemsets": names[i], "length": i + 1, "count": level.counts,
                           "support": level.counts / found.n_baskets})
             for i, level in enumerate(found.levels) if len(level.counts)]
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=ITEMSET_COLUMNS)
    # levels are in name order within a length; sort by support, stable, keeps names ascending in ties
    order = np.lexsort((-table["support"].to_numpy(dtype=float), table["length"].to_numpy(dtype=int)))
    return table.iloc[order].reset_index(drop=True)[ITEMSET_COLUMNS]


def association_rules(found: FrequentItemsets, items: np.ndarray, min_confidence: float = defaults.MIN_CONFIDENCE,
                      min_lift: float = defaults.MIN_LIFT, *, max_rules: int | None = None,
                      names: list[np.ndarray] | None = None) -> pd.DataFrame:
    """Every rule A -> C (A, C non-empty, A + C a frequent itemset) meeting both minimums, strongest first.

    Metrics as mlxtend computes them: confidence = s(AC) / s(A), lift = confidence / s(C),
    leverage = s(AC) - s(A) s(C), conviction = (1 - s(C)) / (1 - confidence) (inf at confidence 1).
    More than `max_rules` rules stop with TooManyItemsets (raise the thresholds)."""
    check_rule_thresholds(min_confidence, min_lift)
    max_rules = defaults.MAX_RULES if max_rules is None else max_rules
    levels, n, n_items = found.levels, found.n_baskets, found.n_items
    names = names if names is not None else level_names(found, items)
    # Each side of a rule is itself a frequent itemset: (its size, its row) names it and ranks it.
    offsets = np.cumsum([0] + [len(level.counts) for level in levels])
    parts: list[tuple] = []
    total = 0
    for level in levels[1:]:
        m, k = level.items.shape
        if not m:
            continue
        s_ac = level.counts / n
        for mask in range(1, 2 ** k - 1):
            a_cols = [j for j in range(k) if mask >> j & 1]
            c_cols = [j for j in range(k) if not mask >> j & 1]
            a_rows = find_rows(levels, n_items, level.items[:, a_cols])
            c_rows = find_rows(levels, n_items, level.items[:, c_cols])
            s_a = levels[len(a_cols) - 1].counts[a_rows] / n
            s_c = levels[len(c_cols) - 1].counts[c_rows] / n
            confidence = s_ac / s_a
            lift = confidence / s_c
            keep = (confidence >= min_confidence - TOLERANCE) & (lift >= min_lift - TOLERANCE)
            kept = int(keep.sum())
            if not kept:
                continue
            total += kept
            if total > max_rules:
                raise TooManyItemsets(
                    f"min_support {found.min_support:g} with min_confidence {min_confidence:g} and min_lift "
                    f"{min_lift:g} would give more than {max_rules:,} rules; raise min_support (or "
                    f"min_confidence, min_lift, or lower max_length).")
            parts.append((s_ac[keep], s_a[keep], s_c[keep], offsets[len(a_cols) - 1] + a_rows[keep],
                          offsets[len(c_cols) - 1] + c_rows[keep]))
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object if c in ("antecedents", "consequents") else float)
                             for c in RULE_COLUMNS})
    s_ac, s_a, s_c, ante, cons = (np.concatenate(x) for x in zip(*parts))
    confidence = s_ac / s_a
    lift = confidence / s_c
    conviction = np.full(len(confidence), np.inf)
    below = confidence < 1.0
    conviction[below] = (1.0 - s_c[below]) / (1.0 - confidence[below])
    all_names = np.concatenate(names)
    # Strongest first: lift, confidence, support (descending), then antecedent and consequent names.
    rank = np.empty(len(all_names), dtype=np.int64)
    rank[np.argsort(all_names, kind="stable")] = np.arange(len(all_names))
    order = np.lexsort((rank[cons], rank[ante], -s_ac, -confidence, -lift))
    return pd.DataFrame({
        "antecedents": all_names[ante[order]], "consequents": all_names[cons[order]],
        "support": s_ac[order], "confidence": confidence[order], "lift": lift[order],
        "leverage": (s_ac - s_a * s_c)[order], "conviction": conviction[order]})


def split_items(side: str) -> list[str]:
    """The items of one side of a rule as written in rules.csv."""
    return side.split(SEP) if side else []


def rules_with_item(rules: pd.DataFrame, item: str, side: str = "either") -> pd.DataFrame:
    """The rules holding `item` in their antecedents, consequents, or either."""
    if side not in ("either", "antecedents", "consequents"):
        raise ValueError(f"side must be either, antecedents or consequents, not {side!r}.")
    cols = ["antecedents", "consequents"] if side == "either" else [side]
    hit = np.zeros(len(rules), dtype=bool)
    for col in cols:
        hit |= np.fromiter((item in split_items(s) for s in rules[col]), dtype=bool, count=len(rules))
    return rules[hit]


def show_next_to(rules: pd.DataFrame, sellers: pd.Series, k: int = defaults.SHOW_NEXT_TO):
    """For every item of `sellers` (basket counts, best first), the k items to show next to it.

    Returns (table with LOOKUP_COLUMNS, default_recommendation). Order: see LOOKUP_ORDER."""
    k = check_k(k)
    ranking = list(sellers.index)
    default = ranking[:k]
    single = rules[~rules["antecedents"].str.contains(SEP, regex=False)] if len(rules) else rules
    single = single.sort_values(["lift", "confidence", "support"], ascending=False, kind="stable")
    from_rules: dict[str, list[tuple[str, float, float]]] = {}
    # Strongest first (stable: ties keep the rules' order), so each item's list comes out in order.
    position = {item: i for i, item in enumerate(ranking)}
    for ante, cons, lift, conf in zip(single["antecedents"], single["consequents"], single["lift"],
                                      single["confidence"]):
        listed = from_rules.setdefault(ante, [])
        if len(listed) >= k:
            continue
        for item in sorted(split_items(cons), key=lambda x: position.get(x, len(position))):
            if item != ante and all(item != x[0] for x in listed) and len(listed) < k:
                listed.append((item, float(lift), float(conf)))
    rows = []
    for item in sorted(ranking):
        listed = list(from_rules.get(item, []))
        rows += [(item, r + 1, show, "rule", lift, conf) for r, (show, lift, conf) in enumerate(listed)]
        chosen = {x[0] for x in listed} | {item}
        rank = len(listed)
        for seller in ranking:
            if rank >= k:
                break
            if seller not in chosen:
                rank += 1
                rows.append((item, rank, seller, "best seller", np.nan, np.nan))
    table = pd.DataFrame(rows, columns=LOOKUP_COLUMNS)
    table["rank"] = table["rank"].astype(int)
    return table, default


def rules_itemset_count(rules: pd.DataFrame) -> int:
    """How many distinct itemsets (antecedent + consequent) the rules come from."""
    return len({frozenset(split_items(a) + split_items(c)) for a, c in zip(rules["antecedents"], rules["consequents"])})
