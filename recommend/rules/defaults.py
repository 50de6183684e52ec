"""Defaults for basket rules: the original notebook's thresholds, the lookup size, the explosion guard, demo data.

The `rules` CLI and the Basket rules tab read their defaults from here (settings.py holds the
project-wide paths this builds on; the demo data sets and their thresholds are in shop/demos.py).
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
