"""The one forgiving matcher: accents, case, punctuation, word starts, parts of words and ids,
typos within a per-word budget, ranking (exact, prefix, word starts, popularity), and nothing
for nonsense or an empty query."""
from __future__ import annotations

import numpy as np
import pytest

from common.text_match import Matcher, fold, typo_budget

NAMES = ["Amélie", "The Matrix", "The Matrix Reloaded", "The Animatrix", "Toy Story", "Toy Story 2",
         "WHITE HANGING HEART T-LIGHT HOLDER", "RED RETROSPOT LANTERN", "Godfather, The", "Lantern Festival"]
POPULARITY = [120, 278, 90, 5, 215, 97, 900, 40, 192, 3]


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(NAMES, POPULARITY)


def found(m: Matcher, query: str, limit: int | None = None) -> list[str]:
    return [NAMES[i] for i in m.search(query, limit)]


def test_fold_ignores_case_accents_and_punctuation():
    assert fold("Amélie") == "amelie"
    assert fold("  T-LIGHT,  Holder ") == "t light holder"
    assert fold("Ærø Straße") == "ærø strasse"  # letters without a decomposition stay (casefolded)


@pytest.mark.parametrize("query", ["amelie", "AMÉLIE", "Amelie!", "amél"])
def test_accents_case_and_punctuation(matcher, query):
    assert found(matcher, query) == ["Amélie"]


def test_word_prefixes_in_any_order(matcher):
    assert found(matcher, "toy sto") == ["Toy Story", "Toy Story 2"]
    assert found(matcher, "matrix the")[:2] == ["The Matrix", "The Matrix Reloaded"]
    assert found(matcher, "t light")[0] == "WHITE HANGING HEART T-LIGHT HOLDER"


def test_part_of_a_word_matches_after_word_starts(matcher):
    assert found(matcher, "ante") == ["RED RETROSPOT LANTERN", "Lantern Festival"]  # inside, by popularity
    # "lante": "Lantern Festival" starts with it, so it ranks first despite fewer buyers
    assert found(matcher, "lante") == ["Lantern Festival", "RED RETROSPOT LANTERN"]
    # the word start "matrix" before "Animatrix", which holds it inside
    assert found(matcher, "matrix") == ["The Matrix", "The Matrix Reloaded", "The Animatrix"]


def test_exact_name_then_prefix_then_popularity(matcher):
    # "Toy Story 2" is exact here, "Toy Story" is not even a match (no word "2")
    assert found(matcher, "toy story 2") == ["Toy Story 2"]
    assert found(matcher, "toy story") == ["Toy Story", "Toy Story 2"]
    m = Matcher(["Story of a toy", "A toy story", "Toy story"], [100, 50, 1])
    assert [m.names[i] for i in m.search("toy story")] == ["toy story", "story of a toy", "a toy story"]
    assert list(m.search("toy")) == [2, 0, 1]  # prefix first, then the rest by popularity


def test_popularity_then_name_breaks_ties():
    m = Matcher(["Blue mug", "Red mug", "Green mug", "Pink mug"], [5, 9, 5, 0])
    assert list(m.search("mug")) == [1, 0, 2, 3]  # 9, then the two 5s by name, then 0
    assert list(m.search("mug", limit=2)) == [1, 0]
    assert list(Matcher(["b mug", "a mug"]).search("mug")) == [1, 0]  # no popularity: by name


@pytest.mark.parametrize("query, first", [
    ("matrx", "The Matrix"),  # a letter missing
    ("amelei", "Amélie"),  # two letters swapped: one error
    ("godfathr", "Godfather, The"),
    ("godfahtre", "Godfather, The"),  # two errors in a 9-letter word
    ("toy stroy", "Toy Story"),
    ("lanturn", "RED RETROSPOT LANTERN"),  # one error from both lanterns: the more popular
    ("matrx relo", "The Matrix Reloaded"),  # a typo and an unfinished word
    ("godfaht", "Godfather, The"),  # a typo in an unfinished last word
])
def test_typos_within_the_budget_match(matcher, query, first):
    assert found(matcher, query)[0] == first


def test_typos_are_ranked_by_errors_then_popularity(matcher):
    # all three are one error from "matrx": the most popular first; Animatrix is too far
    assert found(matcher, "matrx") == ["The Matrix", "The Matrix Reloaded"]
    m = Matcher(["colour", "color", "collar"], [1, 1, 100])
    assert list(m.search("colur")) == [1, 0]  # equal: by name; "collar" is two errors, over a 5-letter word's one
    # "elephnts" (8 letters, two errors allowed): one from "elephants", two from "elephant"
    assert list(Matcher(["elephant mug", "elephants mug"], [100, 1]).search("elephnts mug")) == [1, 0]


def test_typos_only_fill_up_after_exact_hits(matcher):
    m = Matcher(["Lantern", "Lanterm", "Lantern red", "Pantern"], [1, 50, 2, 99])
    assert list(m.search("lantern")) == [0, 2, 3, 1]  # exact, then prefix, then typos by popularity
    assert list(m.search("lantern", limit=2)) == [0, 2]
    assert list(Matcher(["Red lantern", "Lanterm"], [1, 50]).search("lantern")) == [0, 1]  # exact word beats a typo


def test_word_starts_before_inside_words_whatever_the_popularity():
    assert list(Matcher(["History of mugs", "Toy Story"], [1000, 1]).search("story")) == [1, 0]


def test_an_exact_id_before_a_name_starting_with_it():
    m = Matcher(["22 piece tea set", "Jumbo bag"], [100, 1], aliases=[["P7", "22"]])
    assert list(m.search("22")) == [1, 0]


def test_budget_grows_with_the_word():
    assert [typo_budget(w) for w in ("tea", "matr", "lantern", "godfathr")] == [0, 1, 1, 2]
    m = Matcher(["tea", "pea", "matrix"])
    assert list(m.search("tea")) == [0]  # 3 letters: no typo allowed, "pea" is no match
    assert list(m.search("mtrx")) == []  # two errors in a 4-letter word: too many


def test_ids_match_in_part_and_with_one_digit_off():
    m = Matcher(["WHITE HEART HOLDER", "RED LANTERN", "JUMBO BAG"], [3, 1, 2], aliases=[["85123A", "71053", "85099B"]])
    assert list(m.search("85123a")) == [0]
    assert list(m.search("8512")) == [0]
    assert list(m.search("85")) == [0, 2]  # part of two ids: by popularity
    assert list(m.search("85124A")) == [0]  # one character off
    assert list(m.search("lantern 71053")) == [1]  # name and id words together
    ids = Matcher(["17850", "13047", "12583", "17851"], [10, 50, 20, 1])
    assert list(ids.search("1785")) == [0, 3]
    assert list(ids.search("17805")) == [0]  # a swap: one error; 17851 is two off
    assert list(ids.search("17852")) == [0, 3]  # one digit off both: the more popular first
    assert list(ids.search("99999")) == []


@pytest.mark.parametrize("query", ["qqqqzzzz", "zzzz qqq", "xylophone", "toy qqqq"])
def test_nonsense_matches_nothing(matcher, query):
    assert found(matcher, query) == []


@pytest.mark.parametrize("query", ["", "   ", "?!", "-"])
def test_empty_query_matches_nothing(matcher, query):
    assert matcher.search(query).dtype == np.int64
    assert found(matcher, query) == [] and list(matcher.suggest(query)) == []


def test_suggest_allows_one_more_error():
    m = Matcher(["The Godfather", "Zoolander", "Go"], [1, 1, 1])
    assert list(m.search("gotfadder")) == []  # three errors in a 9-letter word
    assert list(m.suggest("gotfadder")) == [0]
    assert list(m.suggest("qqqqzzzz")) == []


def test_aliases_are_searched_and_checked():
    m = Matcher(["The Matrix"], [1], aliases=[["Matrix, The (1999)"]])
    assert list(m.search("1999")) == [0] and list(m.search("matrix, the (1999)")) == [0]
    with pytest.raises(ValueError, match="aliases"):
        Matcher(["a", "b"], aliases=[["x"]])
    with pytest.raises(ValueError, match="popularity"):
        Matcher(["a", "b"], [1])
    assert list(Matcher([]).search("a")) == [] and len(Matcher(["a", ""])) == 2
    assert list(Matcher(["a", ""]).search("a")) == [0]
