"""Basket rules, the recommender: build from baskets, write, load, answer "what next to X".

Build: baskets -> frequent itemsets (mining.py) -> rules and the lookup (rules.py). The artifact
folder holds rules.csv, itemsets.csv, lookup.json ({"default_recommendation": [...],
"recommendations": {item: [...]}}: a shop shows recommendations[X], else the default, which is
the best sellers for items added later) and manifest.json.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from common.artifacts import library_versions, loading, read_json, utc_now, write_artifact, write_json_atomic
from common.errors import InputError
from common.topk import check_k
from recommend.rules import defaults
from recommend.rules.baskets import Baskets
from recommend.rules.mining import FrequentItemsets, check_thresholds, frequent_itemsets
from recommend.rules.rules import (
    ITEMSET_COLUMNS, LOOKUP_COLUMNS, LOOKUP_ORDER, RULE_COLUMNS, SEP, association_rules, best_sellers,
    check_rule_thresholds, itemset_table, level_names, rules_itemset_count, show_next_to,
)

KIND = "basket_rules"
FORMAT_VERSION = 1
REBUILD = "python -m recommend rules --baskets BASKETS --out {folder}"


@dataclass
class BasketRules:
    itemsets: pd.DataFrame  # ITEMSET_COLUMNS
    rules: pd.DataFrame  # RULE_COLUMNS, strongest first
    lookup: pd.DataFrame  # LOOKUP_COLUMNS: for every item, the items to show next to it, in order
    default_recommendation: list[str]  # the best sellers, for items with no entry
    manifest: dict

    def lookup_json(self) -> dict:
        """The lookup as a web shop loads it: {"default_recommendation": [...], "recommendations": {item: [...]}}."""
        table = self.lookup.sort_values(["item", "rank"], kind="stable")
        recs: dict[str, list[str]] = {}
        for item, show in zip(table["item"].tolist(), table["show"].tolist()):  # 10x a groupby over items
            recs.setdefault(item, []).append(show)
        return {"default_recommendation": list(self.default_recommendation), "recommendations": recs}


def build(baskets: Baskets, *, min_support: float = defaults.MIN_SUPPORT,
          min_confidence: float = defaults.MIN_CONFIDENCE, min_lift: float = defaults.MIN_LIFT,
          max_length: int = defaults.MAX_LENGTH, show: int = defaults.SHOW_NEXT_TO,
          max_itemsets: int | None = None, max_rules: int | None = None, progress: bool = False) -> BasketRules:
    """Frequent itemsets, rules and the lookup for these baskets and thresholds."""
    check_thresholds(min_support, max_length)
    check_rule_thresholds(min_confidence, min_lift)
    check_item_names(baskets.items)
    started = time.perf_counter()
    found = frequent_itemsets(baskets.matrix, min_support, max_length, max_itemsets=max_itemsets,
                              progress=progress)
    return from_itemsets(found, baskets.items, baskets.item_counts(), baskets.info, min_confidence=min_confidence,
                         min_lift=min_lift, show=show, max_rules=max_rules,
                         mining_seconds=time.perf_counter() - started)


def check_item_names(items) -> None:
    bad = [x for x in items if SEP in x]
    if bad:
        raise InputError(f"Item names must not contain {SEP!r} (it separates items in rules.csv): {bad[0]!r}.")


def from_itemsets(found: FrequentItemsets, items: np.ndarray, item_counts: np.ndarray, info: dict, *,
                  min_confidence: float, min_lift: float, show: int, max_rules: int | None = None,
                  mining_seconds: float, engine: str = "local") -> BasketRules:
    """Rules, the lookup and the manifest from frequent itemsets however they were mined (this
    process, or Spark's FPGrowth: recommend/rules/spark.py), so both engines write the same."""
    started = time.perf_counter()
    names = level_names(found, items)
    itemsets = itemset_table(found, items, names)
    rules = association_rules(found, items, min_confidence, min_lift, max_rules=max_rules, names=names)
    sellers = best_sellers(items, item_counts)
    lookup, default = show_next_to(rules, sellers, show)
    by_length = {str(i + 1): int(len(level.counts)) for i, level in enumerate(found.levels)}
    manifest = {
        "kind": KIND, "format_version": FORMAT_VERSION,
        "thresholds": {"min_support": found.min_support, "min_confidence": min_confidence, "min_lift": min_lift,
                       "max_length": int(found.max_length)},
        "max_length_counts": "all items of a rule (antecedent and consequent)",
        "min_count": found.min_count,
        "baskets": found.n_baskets, "items": int(len(items)),
        "frequent_itemsets": int(len(itemsets)), "frequent_itemsets_by_length": by_length,
        "rules": int(len(rules)),
        "itemsets_with_rules": int(rules_itemset_count(rules)),
        "items_with_rules": int(lookup.loc[lookup["source"] == "rule", "item"].nunique()),
        "show_next_to": int(show), "lookup_order": LOOKUP_ORDER,
        "default_recommendation": list(default),
        "input": dict(info), "engine": engine,
        "seconds": {"mining": round(mining_seconds, 3),
                    "total": round(mining_seconds + time.perf_counter() - started, 3)},
        "library_versions": dict(_versions()), "created": utc_now(),
    }
    return BasketRules(itemsets, rules, lookup, list(default), manifest)


# Min support steps, highest first, tried by `starting_support`; the tab's slider offers the same.
SUPPORT_STEPS = (0.2, 0.15, 0.1, 0.075, 0.05, 0.03, 0.02, 0.015, 0.01, 0.0075, 0.005, 0.0045, 0.003, 0.002,
                 0.001, 0.0005)
WANTED_RULES = 20


def starting_support(baskets: Baskets, *, min_confidence: float = defaults.MIN_CONFIDENCE,
                     min_lift: float = defaults.MIN_LIFT, max_length: int = 3,
                     wanted: int = WANTED_RULES) -> tuple[float, int]:
    """A min support to open a new file on: the highest step that gives at least `wanted` rules
    at these confidence and lift thresholds (rules of up to `max_length` items, which is quick
    to mine), else the lowest step that mines without hitting the explosion guard; with the rules
    counted there. The notebook's 0.0045 suits 7,501 baskets; a 200-basket upload needs 0.03."""
    return choose_support(baskets.n_baskets, lambda support: build(
        baskets, min_support=support, min_confidence=min_confidence, min_lift=min_lift,
        max_length=max_length).manifest["rules"], wanted)


def choose_support(n_baskets: int, rules_at: Callable[[float], int], wanted: int = WANTED_RULES) -> tuple[float, int]:
    """starting_support's search over SUPPORT_STEPS, for any engine: `rules_at(support)` mines
    (max length 3) and counts the rules, raising InputError at the explosion guard."""
    best: tuple[float, int] | None = None
    for support in SUPPORT_STEPS:
        if support * n_baskets < 2:  # an itemset in one basket is no pattern
            break
        try:
            rules = rules_at(support)
        except InputError:  # the explosion guard: lower steps only explode more
            break
        best = (support, rules)
        if rules >= wanted:
            break
    return best if best is not None else (SUPPORT_STEPS[0], 0)


@lru_cache(maxsize=1)
def _versions() -> dict:
    return library_versions("numpy", "scipy", "pandas")


def lookup_json_text(result: BasketRules) -> str:
    return json.dumps(result.lookup_json(), indent=2, ensure_ascii=False) + "\n"


def write(result: BasketRules, out: Path, inputs: dict | None = None, rebuild: str | None = None) -> Path:
    """Write rules.csv, itemsets.csv, lookup.json and manifest.json into `out`, atomically."""
    files = {"rules": "rules.csv", "itemsets": "itemsets.csv", "lookup": "lookup.json"}
    with write_artifact(out, KIND, FORMAT_VERSION, {**result.manifest, "files": files, "inputs": inputs or {}},
                        rebuild or REBUILD) as draft:
        result.rules[RULE_COLUMNS].to_csv(draft.path / "rules.csv", index=False)
        result.itemsets[ITEMSET_COLUMNS].to_csv(draft.path / "itemsets.csv", index=False)
        write_json_atomic(draft.path / "lookup.json", result.lookup_json())
    return Path(out)


def load(folder: Path) -> BasketRules:
    """Read an artifact written by `write` (the lookup keeps names only, no sources)."""
    with loading(folder, KIND, FORMAT_VERSION, REBUILD) as art:
        rules = art.table("rules.csv", keep_default_na=False, na_values=[],
                          dtype={"antecedents": str, "consequents": str})
        itemsets = art.table("itemsets.csv", keep_default_na=False, na_values=[], dtype={"itemsets": str})
        lookup = read_json(art.path / "lookup.json")
        rows = [(item, r + 1, show, "", np.nan, np.nan)
                for item, shows in lookup["recommendations"].items() for r, show in enumerate(shows)]
        default = list(lookup["default_recommendation"])
    return BasketRules(itemsets, rules, pd.DataFrame(rows, columns=LOOKUP_COLUMNS), default, art.manifest)


def answer(result: BasketRules, query: str, k: int | None = None) -> pd.DataFrame:
    """What to show next to item `query`, best first: rank, id (the item to show), score (the
    rule's lift; empty for a best seller topping the list up), source ("rule" or "popular") and
    confidence. InputError for an item the baskets never held (a shop shows `default_recommendation`)."""
    k = None if k is None else check_k(k)
    rows = result.lookup[result.lookup["item"] == str(query)]
    if rows.empty:
        raise InputError(f"No item {str(query)!r} in the baskets; names are matched exactly.")
    rows = rows.sort_values("rank").reset_index(drop=True)
    rows = rows.head(k) if k else rows
    return pd.DataFrame({"rank": rows["rank"].to_numpy(), "id": rows["show"].to_numpy(),
                         "score": rows["lift"].to_numpy(dtype=float), "source": rows["source"].to_numpy(),
                         "confidence": rows["confidence"].to_numpy(dtype=float)})
