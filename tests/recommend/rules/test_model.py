"""Basket rules: the miner against mlxtend, the original notebook's 217 rules, the lookup's order, the artifact, the CLI."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from mlxtend.frequent_patterns import apriori, association_rules as mlxtend_rules, fpgrowth

from common.errors import InputError
from recommend.cli import main
from recommend.rules import model as br
from recommend.rules.baskets import baskets_from_lists, read_wide
from recommend.rules.mining import TooManyItemsets, frequent_itemsets, min_count_for
from recommend.rules.model import answer, build, load, write
from recommend.rules.rules import RULE_COLUMNS, best_sellers, rules_with_item, show_next_to, split_items
from tests.helpers import ROOT

MBO = ROOT / "data" / "baskets" / "market_basket_optimisation.csv"
SEED = dict(min_support=0.0045, min_confidence=0.2, min_lift=2.0, max_length=5)


@pytest.fixture(scope="module")
def mbo():
    return read_wide(MBO)


@pytest.fixture(scope="module")
def mbo_rules(mbo):
    return build(mbo, **SEED)


def mlxtend_reference(baskets, min_support, min_confidence, min_lift, max_length, miner=fpgrowth):
    """Frequent itemsets {frozenset: support} and rules {(A, C): metrics} as mlxtend finds them."""
    onehot = pd.DataFrame.sparse.from_spmatrix(baskets.matrix, columns=list(baskets.items))
    if miner is apriori:
        onehot = pd.DataFrame(baskets.matrix.toarray(), columns=list(baskets.items))
    found = miner(onehot, min_support=min_support, use_colnames=True, max_len=max_length)
    itemsets = dict(zip(found["itemsets"], found["support"]))
    if found.empty or found["itemsets"].map(len).max() < 2:
        return itemsets, {}
    rules = mlxtend_rules(found, num_itemsets=baskets.n_baskets, metric="confidence", min_threshold=min_confidence)
    rules = rules[rules["lift"] >= min_lift]
    metrics = rules[["support", "confidence", "lift", "leverage", "conviction"]].to_numpy()
    return itemsets, {(a, c): m for a, c, m in zip(rules["antecedents"], rules["consequents"], metrics)}


def ours(result):
    itemsets = {frozenset(split_items(s)): v for s, v in zip(result.itemsets["itemsets"], result.itemsets["support"])}
    metrics = result.rules[["support", "confidence", "lift", "leverage", "conviction"]].to_numpy()
    rules = {(frozenset(split_items(a)), frozenset(split_items(c))): m
             for a, c, m in zip(result.rules["antecedents"], result.rules["consequents"], metrics)}
    return itemsets, rules


def assert_same(result, reference):
    our_sets, our_rules = ours(result)
    ref_sets, ref_rules = reference
    assert our_sets.keys() == ref_sets.keys()
    np.testing.assert_allclose([our_sets[k] for k in ref_sets], list(ref_sets.values()), rtol=1e-12)
    assert our_rules.keys() == ref_rules.keys()
    if ref_rules:
        np.testing.assert_allclose(np.array([our_rules[k] for k in ref_rules]), np.array(list(ref_rules.values())),
                                   rtol=1e-9, atol=1e-15)


def test_the_seed_gives_217_rules_over_142_itemsets_as_mlxtend_does(mbo, mbo_rules):
    assert len(mbo_rules.rules) == 217
    assert mbo_rules.manifest["rules"] == 217
    assert mbo_rules.manifest["itemsets_with_rules"] == 142
    assert mbo_rules.manifest["frequent_itemsets"] == 842
    assert_same(mbo_rules, mlxtend_reference(mbo, **SEED))


def test_rules_are_strongest_first_and_meet_the_thresholds(mbo_rules):
    rules = mbo_rules.rules
    assert list(rules.columns) == RULE_COLUMNS
    keys = list(zip(-rules["lift"], -rules["confidence"], -rules["support"]))
    assert keys == sorted(keys)
    assert (rules["support"] >= 0.0045).all() and (rules["confidence"] >= 0.2).all() and (rules["lift"] >= 2).all()
    first = rules.iloc[0]
    assert (first["antecedents"], first["consequents"]) == ("light cream", "chicken")
    assert first["lift"] == pytest.approx(4.843951, abs=1e-6)


def random_baskets(seed: int, n: int = 400, n_items: int = 18, long_basket: bool = False):
    rng = np.random.default_rng(seed)
    weights = 1 / np.arange(1, n_items + 1)
    weights /= weights.sum()
    baskets = [list(rng.choice(n_items, size=rng.integers(1, 7), p=weights)) for _ in range(n)]
    if long_basket:
        baskets.append(list(range(n_items)))
    return baskets_from_lists([[f"item {i:02d}" for i in b] for b in baskets])


@pytest.mark.parametrize("seed, min_support, min_confidence, min_lift, max_length", [
    (0, 0.01, 0.2, 1.0, 5),
    (1, 0.005, 0.0, 0.0, 4),
    (2, 0.02, 0.5, 1.5, 3),
    (3, 0.003, 0.3, 2.0, 2),
    (4, 0.0025, 0.1, 1.2, 6),
])
def test_random_baskets_match_mlxtend_fpgrowth(seed, min_support, min_confidence, min_lift, max_length):
    baskets = random_baskets(seed, long_basket=seed % 2 == 1)
    result = build(baskets, min_support=min_support, min_confidence=min_confidence,
                                min_lift=min_lift, max_length=max_length)
    assert len(result.rules) > 0
    assert_same(result, mlxtend_reference(baskets, min_support, min_confidence, min_lift, max_length))


def test_frequent_itemsets_match_mlxtend_apriori():
    baskets = random_baskets(7)
    found = frequent_itemsets(baskets.matrix, 0.01, 4)
    reference = mlxtend_reference(baskets, 0.01, 0.0, 0.0, 4, miner=apriori)[0]
    got = {frozenset(baskets.items[row].tolist()): count / baskets.n_baskets
           for level in found.levels for row, count in zip(level.items, level.counts)}
    assert got.keys() == reference.keys()
    assert max(len(k) for k in got) == 4


def test_max_length_counts_every_item_of_a_rule(mbo):
    for max_length in (2, 3):
        result = build(mbo, **{**SEED, "max_length": max_length})
        sizes = [len(split_items(a)) + len(split_items(c)) for a, c in zip(result.rules["antecedents"],
                                                                             result.rules["consequents"])]
        assert max(sizes) == max_length
        assert result.itemsets["length"].max() == max_length
    assert build(mbo, **{**SEED, "max_length": 1}).rules.empty


def test_a_rule_exactly_at_the_confidence_threshold_is_kept():
    # a in 5 of 12 baskets, {a, c} in 1: confidence 1/5, which float division puts a hair under 0.2.
    assert (1 / 12) / (5 / 12) < 0.2
    baskets = baskets_from_lists([["a", "c"], ["a"], ["a"], ["a"], ["a"], ["c"]] + [["d"]] * 6)
    result = build(baskets, min_support=0.05, min_confidence=0.2, min_lift=0, max_length=2)
    rule = result.rules[(result.rules["antecedents"] == "a") & (result.rules["consequents"] == "c")]
    assert len(rule) == 1 and rule["confidence"].iloc[0] == pytest.approx(0.2)


def test_min_count_is_the_smallest_count_reaching_the_support():
    assert min_count_for(0.0045, 7501) == 34  # 33.75 baskets
    assert min_count_for(0.2, 10) == 2
    assert min_count_for(0.5, 3) == 2
    assert min_count_for(1.0, 7) == 7
    assert min_count_for(1e-9, 7) == 1


def test_thresholds_that_would_explode_stop_early_and_say_what_to_raise():
    everything = baskets_from_lists([[f"i{j}" for j in range(30)]] * 20 + [["x"]])
    with pytest.raises(TooManyItemsets) as err:
        build(everything, min_support=0.01, max_length=8, max_itemsets=5_000)
    message = str(err.value)
    assert "min_support 0.01" in message and "raise min_support" in message
    assert "candidate itemsets of 4 items" in message  # 30 + 435 + 4,060 found; 27,405 candidates of 4
    assert "\n" not in message
    assert isinstance(err.value, InputError)  # so the CLI prints it as one line
    with pytest.raises(TooManyItemsets, match="more than 100 rules; raise min_support"):
        build(everything, min_support=0.01, max_length=3, min_confidence=0, min_lift=0, max_rules=100)
    with pytest.raises(TooManyItemsets, match="pairs of frequent items inside baskets"):
        frequent_itemsets(everything.matrix, 0.01, 3, max_pair_occurrences=1000)


@pytest.mark.parametrize("kwargs, expected", [
    ({"min_support": 0}, "min_support must be above 0"),
    ({"min_support": 1.5}, "min_support must be above 0"),
    ({"max_length": 0}, "max_length must be a whole number"),
    ({"min_confidence": 1.2}, "min_confidence must be between 0 and 1"),
    ({"min_lift": -1}, "min_lift must be 0 or more"),
    ({"show": 0}, "at least 1"),
])
def test_bad_thresholds_are_refused(kwargs, expected):
    with pytest.raises(InputError, match=expected):
        build(random_baskets(0, n=20), **kwargs)


def lookup_rules(rows) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["antecedents", "consequents", "lift", "confidence"])
    frame["support"] = 0.1
    frame["leverage"] = frame["conviction"] = 0.0
    return frame[RULE_COLUMNS].sample(frac=1, random_state=0)  # the lookup must not rely on the order given


def test_lookup_takes_the_items_own_rules_by_lift_then_confidence_then_best_sellers():
    rules = lookup_rules([
        ("x", "a", 3.0, 0.2),
        ("x", "b", 5.0, 0.1),
        ("x", "c", 3.0, 0.6),
        ("x | y", "d", 9.0, 0.9),  # needs y in the cart too: not for x's page
        ("x", "b | e", 2.5, 0.5),  # b is listed already; e comes next
        ("y", "x", 5.0, 0.5),
    ])
    sellers = pd.Series({"m": 50, "x": 40, "n": 30, "a": 20, "b": 10, "c": 9, "d": 8, "e": 7, "y": 6})
    table, default = show_next_to(rules, sellers, k=3)
    assert default == ["m", "x", "n"]
    shown = {item: list(g["show"]) for item, g in table.groupby("item")}
    assert shown["x"] == ["b", "c", "a"]  # lift 5; lift 3 with confidence 0.6 before 0.2
    assert shown["y"] == ["x", "m", "n"]  # one rule, topped up with best sellers
    assert shown["m"] == ["x", "n", "a"]  # no rule: best sellers other than itself
    assert shown["e"] == default
    assert list(table.loc[table["item"] == "y", "source"]) == ["rule", "best seller", "best seller"]
    table4, _ = show_next_to(rules, sellers, k=4)
    assert list(table4.loc[table4["item"] == "x", "show"]) == ["b", "c", "a", "e"]


def test_best_sellers_break_ties_by_name():
    baskets = baskets_from_lists([["b", "a"], ["c"], ["b"], ["a"], ["d"]])
    assert list(best_sellers(baskets.items, baskets.item_counts()).index) == ["a", "b", "c", "d"]
    assert list(best_sellers(baskets.items, baskets.item_counts())) == [2, 2, 1, 1]


def test_the_seed_lookup_covers_every_item(mbo, mbo_rules):
    lookup = mbo_rules.lookup_json()
    assert lookup["default_recommendation"] == ["mineral water", "eggs", "spaghetti"]
    recs = lookup["recommendations"]
    assert set(recs) == set(mbo.items)
    for item, shown in recs.items():
        assert len(shown) == 3 and item not in shown and len(set(shown)) == 3
    assert recs["pasta"] == ["escalope", "shrimp", "mineral water"]
    assert recs["mineral water"] == ["eggs", "spaghetti", "french fries"]  # 2nd to 4th best sellers
    assert mbo_rules.manifest["items_with_rules"] == 25
    assert list(answer(mbo_rules, "pasta")["id"]) == recs["pasta"]
    with pytest.raises(InputError, match="No item 'a brand new product'"):
        answer(mbo_rules, "a brand new product")


def test_rules_with_an_item_on_either_side(mbo_rules):
    rules = mbo_rules.rules
    either = rules_with_item(rules, "ground beef")
    left = rules_with_item(rules, "ground beef", "antecedents")
    right = rules_with_item(rules, "ground beef", "consequents")
    assert len(left) > 0 and len(right) > 0
    assert len(either) == len(left.index.union(right.index))
    assert all("ground beef" in split_items(a) for a in left["antecedents"])
    assert rules_with_item(rules, "beef").empty  # whole item names, not substrings


def test_artifact_files_columns_and_round_trip(mbo_rules, tmp_path):
    out = write(mbo_rules, tmp_path / "rules", {"baskets": "mbo.csv"})
    assert sorted(p.name for p in out.iterdir()) == ["itemsets.csv", "lookup.json", "manifest.json", "rules.csv"]
    header = (out / "rules.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == "antecedents,consequents,support,confidence,lift,leverage,conviction"
    assert (out / "itemsets.csv").read_text(encoding="utf-8").splitlines()[0] == "itemsets,length,count,support"
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["kind"] == "basket_rules" and manifest["rules"] == 217
    assert manifest["thresholds"] == SEED and manifest["inputs"] == {"baskets": "mbo.csv"}
    loaded = load(out)
    pd.testing.assert_frame_equal(loaded.rules, mbo_rules.rules, check_exact=False, rtol=1e-15)
    assert loaded.lookup_json() == mbo_rules.lookup_json()
    assert json.loads((out / "lookup.json").read_text(encoding="utf-8")) == mbo_rules.lookup_json()


def test_conviction_is_infinite_at_confidence_one_and_survives_the_csv(tmp_path):
    baskets = baskets_from_lists([["a", "b"], ["a", "b"], ["c"], ["c", "d"]])
    result = build(baskets, min_support=0.25, min_confidence=0.5, min_lift=1.5)
    rule = result.rules[(result.rules["antecedents"] == "a") & (result.rules["consequents"] == "b")].iloc[0]
    assert rule["confidence"] == 1.0 and np.isinf(rule["conviction"])
    loaded = load(write(result, tmp_path / "r"))
    assert np.isinf(loaded.rules["conviction"]).sum() == np.isinf(result.rules["conviction"]).sum() > 0


def test_a_failed_write_leaves_the_previous_artifact(mbo_rules, tmp_path, monkeypatch):
    out = write(mbo_rules, tmp_path / "rules")
    before = (out / "rules.csv").read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(br, "write_json_atomic", broken)
    with pytest.raises(OSError, match="disk full"):
        write(mbo_rules, out)
    assert (out / "rules.csv").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rules", "rules.v1"]  # the link and its one version


def test_item_names_holding_the_separator_are_refused():
    with pytest.raises(InputError, match="must not contain ' \\| '"):
        build(baskets_from_lists([["a | b", "c"]] * 3))


def test_cli_writes_the_four_files(tmp_path, capsys):
    code = main(["rules", "--baskets", str(MBO), "--out", str(tmp_path / "out"), "--item", "pasta"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "217 rules over 142 itemsets" in printed
    assert "Next to pasta: escalope, shrimp, mineral water" in printed
    rules = pd.read_csv(tmp_path / "out" / "rules.csv")
    assert list(rules.columns) == RULE_COLUMNS and len(rules) == 217
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert len(manifest["inputs"]["sha256"]) == 64


def test_cli_long_file_with_flags(tmp_path, capsys):
    path = tmp_path / "orders.csv"
    rows = ["order,item,qty"] + [f"{o},{i},1" for o in range(40) for i in (["tea", "cake"] if o % 2 else ["jam"])]
    rows += ["99,tea,-2", "99,cake,-1"]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    code = main(["rules", "--baskets", str(path), "--basket-col", "order", "--item-col", "item", "--quantity-col",
                 "qty", "--min-support", "0.1", "--min-lift", "1", "--out", str(tmp_path / "out")])
    assert code == 0
    assert "40 baskets, 3 items" in capsys.readouterr().out
    lookup = json.loads((tmp_path / "out" / "lookup.json").read_text(encoding="utf-8"))
    assert lookup["recommendations"]["tea"][0] == "cake"


@pytest.mark.parametrize("args, expected", [
    (["--baskets", "nope.csv"], "not found"),
    (["--basket-col", "InvoiceNo", "--item-col", "Description"], "lacks column(s) 'InvoiceNo'"),
    (["--min-support", "0.00001", "--max-length", "5"], "raise min_support"),
    (["--item", "caviar"], "No item 'caviar'"),
])
def test_cli_errors_are_one_line(args, expected, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("recommend.rules.defaults.MAX_ITEMSETS", 20_000)  # stop the explosion sooner
    if args[0] != "--baskets":
        args = ["--baskets", str(MBO)] + args
    code = main(["rules", *args, "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and expected in err
    assert err.count("\n") == 1


def test_counting_without_numpy_bitwise_count_gives_the_same_itemsets(monkeypatch):
    baskets = random_baskets(5, n=300, long_basket=True)
    expected = frequent_itemsets(baskets.matrix, 0.01, 4)
    monkeypatch.delattr(np, "bitwise_count", raising=False)  # numpy < 2 has none
    found = frequent_itemsets(baskets.matrix, 0.01, 4)
    assert len(found.levels) == len(expected.levels) >= 3
    for a, b in zip(found.levels, expected.levels):
        np.testing.assert_array_equal(a.items, b.items)
        np.testing.assert_array_equal(a.counts, b.counts)
