"""Basket rules: frequent itemsets, association rules (support, confidence, lift) and the
"3 items to show next to X" lookup, topped up with the best sellers.

    baskets = read_baskets(path)                 # wide (one basket per line) or long (order lines)
    result = build(baskets, min_support=0.0045)  # itemsets, rules, lookup, manifest
    write(result, folder); result = load(folder)
    answer(result, "pasta")                      # what to show next to one item
"""
from recommend.rules.baskets import Baskets, read_baskets
from recommend.rules.model import FORMAT_VERSION, KIND, BasketRules, answer, build, load, write

__all__ = ["FORMAT_VERSION", "KIND", "BasketRules", "Baskets", "answer", "build", "load", "read_baskets", "write"]
