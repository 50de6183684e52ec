"""Defaults for basket rules: the original notebook's thresholds, the lookup size, the explosion guard, demo data.

The `rules` CLI and the Basket rules tab read their defaults from here (settings.py holds the
project-wide paths this builds on).
"""
from __future__ import annotations

import settings

# The original notebook's thresholds. max_length counts every item of a rule (antecedent + consequent).
MIN_SUPPORT = 0.0045
MIN_CONFIDENCE = 0.2
MIN_LIFT = 2.0
MAX_LENGTH = 5

# How many items the lookup lists next to each item, and for items with no rule.
SHOW_NEXT_TO = 3

# Explosion guard: mining stops before counting once the frequent itemsets found plus the
# candidates of the next size would pass this, with a message to raise min_support. Two
# million itemsets of five items already take a few hundred MB as rules.
MAX_ITEMSETS = 2_000_000
# Pair counting is one sparse product whose cost is the number of item pairs inside baskets
# (sum of len^2 / 2 over baskets, frequent items only); above this it would run out of memory.
MAX_PAIR_OCCURRENCES = 400_000_000
# Counting larger itemsets ANDs one 64-bit word per 64 baskets per item of each candidate;
# 2e10 word operations is a few minutes on one core.
MAX_WORD_OPS = 20_000_000_000

# More rules than this stop too (a table that size is no use to read and slow to write).
MAX_RULES = 2_000_000

# Items of a rule side are joined with this in rules.csv and itemsets.csv.
ITEM_SEPARATOR = " | "

DEFAULT_OUT = settings.ARTIFACTS_DIR / "basket_rules"
DEMO_BASKETS = settings.DATA_DIR / "baskets" / "market_basket_optimisation.csv"

# The demo data sets the page offers, by the name its links use (`?dataset=groceries`): how to
# read each, and thresholds that suit its size.
DEMO_DATASETS: dict[str, dict] = {
    "groceries": {
        "label": "Market Basket Optimisation (7,501 grocery baskets)", "path": DEMO_BASKETS, "format": "wide",
        "min_support": MIN_SUPPORT, "min_confidence": MIN_CONFIDENCE, "min_lift": MIN_LIFT,
    },
    "online_retail": {
        "label": "Online Retail sample (invoices, products)", "path": settings.DATA_DIR / "online_retail" / "online_retail_sample.csv.gz", "format": "long",
        "basket_col": "InvoiceNo", "item_col": "Description", "quantity_col": "Quantity",
        "min_support": 0.01, "min_confidence": 0.5, "min_lift": 5.0,
    },
    "superstore": {
        "label": "Superstore sample (orders, sub-categories)", "path": settings.DATA_DIR / "superstore" / "superstore_sample.csv", "format": "long",
        "basket_col": "Order ID", "item_col": "Sub-Category", "quantity_col": "Quantity",
        "min_support": 0.005, "min_confidence": 0.05, "min_lift": 1.2,
    },
}
