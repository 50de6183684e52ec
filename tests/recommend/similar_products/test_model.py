"""Similar products: the sparse build against a dense reference computed here, the
validation by hand, the artifact, the CLI and the offline evaluation."""
from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import settings

import recommend.similar_products.similarity as spm
from common.errors import ArtifactError, InputError
from recommend.cli import main
from recommend.core.interactions import interaction_matrix
from recommend.similar_products.evaluation import basket_recommendations, evaluate_similar_products, leave_one_out
from common.shop_tables import OrderColumns
from recommend.datasets.online_retail import ORDER_COLUMNS as ONLINE_RETAIL
from recommend.similar_products.model import (
    answer, build, find_products, load, product_matcher, read_order_lines, write,
)
from recommend.similar_products.similarity import SIMILARITIES, top_similar

# ----------------------------------------------------------------------------- dense reference


def random_orders(seed: int, n_orders: int = 60, n_items: int = 14) -> np.ndarray:
    """A dense 0/1 orders x products matrix; popular products and a few empty columns."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.02, 0.4, n_items)
    x = (rng.random((n_orders, n_items)) < p).astype(np.int64)
    x[:, -1] = 0  # a product never bought
    x[:, -2] = 0
    x[0, -2] = 1  # a product bought once, alone or not
    return x


def dense_similarity(x: np.ndarray, similarity: str, min_count: int) -> tuple[np.ndarray, np.ndarray]:
    """(similarity, co-occurrence) by the textbook formulas, all dense: the reference."""
    c = x.T @ x
    n = np.diag(c).astype(float)
    p = c.astype(float)
    np.fill_diagonal(p, 0)
    p[p < min_count] = 0
    with np.errstate(divide="ignore", invalid="ignore"):
        if similarity == "cooccurrence-cosine":
            norms = np.linalg.norm(p, axis=1)
            s = (p @ p.T) / np.outer(norms, norms)
        elif similarity == "jaccard":
            s = p / (n[:, None] + n[None, :] - p)
        elif similarity == "lift":
            s = x.shape[0] * p / np.outer(n, n)
        else:
            s = p / np.sqrt(np.outer(n, n))
        if similarity != "cooccurrence-cosine":
            s[p == 0] = 0
    s = np.nan_to_num(s)
    np.fill_diagonal(s, 0)
    return s, c


def assert_same_top_k(idx: np.ndarray, score: np.ndarray, co: np.ndarray, s: np.ndarray, c: np.ndarray, k: int):
    """Each row's list is a correct top k of the dense scores (ties may go either way only if equal)."""
    for i in range(s.shape[0]):
        listed = idx[i][idx[i] >= 0]
        positive = np.flatnonzero(s[i] > 1e-12)
        assert len(listed) == min(k, positive.size), i
        assert i not in listed
        np.testing.assert_allclose(score[i, : len(listed)], s[i, listed], rtol=1e-9, atol=1e-12)
        assert np.all(np.diff(score[i, : len(listed)]) <= 1e-12)
        if len(listed):
            others = np.setdiff1d(positive, listed)
            assert np.all(s[i, others] <= score[i, len(listed) - 1] + 1e-9), i
        np.testing.assert_array_equal(co[i, : len(listed)], c[i, listed])
        assert np.all(np.isnan(score[i, len(listed):])) and np.all(idx[i, len(listed):] == -1)


@pytest.mark.parametrize("similarity", SIMILARITIES)
@pytest.mark.parametrize("min_count", [1, 2])
def test_sparse_build_equals_the_dense_reference(similarity, min_count):
    for seed in range(3):
        x = random_orders(seed)
        found, n_pairs = top_similar(sp.csr_matrix(x), similarity=similarity, k=4, min_count=min_count)
        s, c = dense_similarity(x, similarity, min_count)
        assert found.indices.shape == (x.shape[1], 4)
        assert_same_top_k(found.indices, found.scores, found.counts, s, c, 4)
        pairs = c.copy()
        np.fill_diagonal(pairs, 0)
        assert n_pairs == int((pairs >= min_count).sum() // 2)


@pytest.mark.parametrize("dense_tiles", [True, False])
def test_both_ways_of_computing_the_seed_similarity_agree_with_the_reference(monkeypatch, dense_tiles):
    # Tiny blocks force several row blocks and column tiles; the rates pick the path.
    monkeypatch.setattr(spm, "BLOCK_CELLS", 3 * 14 * 3)  # 3 rows per block
    monkeypatch.setattr(spm, "SPARSE_PRODUCT_RATE", 1e-9 if dense_tiles else 1e30)
    x = random_orders(7)
    found, n_pairs = top_similar(sp.csr_matrix(x), similarity="cooccurrence-cosine", k=5)
    s, c = dense_similarity(x, "cooccurrence-cosine", 1)
    assert_same_top_k(found.indices, found.scores, found.counts, s, c, 5)


def test_ties_go_to_the_lower_product_position_and_lone_products_get_nothing():
    # product 0 is bought once with each of 3, 1 and 2; 4 is only ever bought alone
    x = sp.csr_matrix(np.array([[1, 0, 0, 1, 0], [1, 1, 0, 0, 0], [1, 0, 1, 0, 0], [0, 0, 0, 0, 1]]))
    for similarity in ("jaccard", "lift", "cosine"):
        found, n_pairs = top_similar(x, similarity=similarity, k=3)
        assert list(found.indices[0]) == [1, 2, 3], similarity
        assert list(found.indices[4]) == [-1, -1, -1]
        assert list(found.counts[0]) == [1, 1, 1]
    # the original notebook's: 1, 2 and 3 are each bought with 0 only, so they are alike (cosine 1) but never
    # bought together (0 times), and 0 is like none of them (no product in common)
    found, n_pairs = top_similar(x, similarity="cooccurrence-cosine", k=3)
    assert list(found.indices[3]) == [1, 2, -1] and list(found.scores[3][:2]) == [1.0, 1.0]
    assert list(found.counts[3][:2]) == [0, 0]
    assert list(found.indices[0]) == [-1, -1, -1] and list(found.indices[4]) == [-1, -1, -1]


def test_a_large_sparse_catalogue_is_never_densified():
    # 20,000 products: a dense products x products float matrix would take 3.2 GB.
    rng = np.random.default_rng(0)
    orders = pd.DataFrame({"order": np.repeat(np.arange(6000), 3), "item": rng.integers(0, 20_000, 18_000)})
    x = interaction_matrix(orders, "order", "item").matrix
    for similarity in SIMILARITIES:
        tracemalloc.start()
        found, n_pairs = top_similar(x, similarity=similarity, k=5)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < 100e6, (similarity, peak)
        assert (found.indices[:, 0] >= 0).sum() > 10_000


def test_bad_parameters_are_input_errors():
    x = sp.csr_matrix(np.eye(3))
    with pytest.raises(InputError, match="--model for similar products must be one of .*ease, not 'pearson'"):
        top_similar(x, similarity="pearson")
    with pytest.raises(InputError, match="minimum co-occurrence"):
        top_similar(x, min_count=0)
    with pytest.raises(InputError, match="k must"):
        top_similar(x, k=0)


# ----------------------------------------------------------------------------- build by hand

# o1: A B | o2: A B C | o3: C D | o4: D E | o5: F.  Categories: A B C in x, D E F in y.
LINES = pd.DataFrame(
    [("o1", "A", "Apple", "x"), ("o1", "B", "Banana", "x"), ("o2", "A", "apple (old name)", "x"),
     ("o2", "B", "Banana", "x"), ("o2", "C", "Cherry", "x"), ("o3", "C", "Cherry", "x"), ("o3", "D", "Dill", "y"),
     ("o4", "D", "Dill", "y"), ("o4", "E", "Egg", "y"), ("o5", "F", "Fig", "y"), ("o1", "A", "Apple", "x")],
    columns=["order", "item", "name", "cat"],
)
COLS = OrderColumns(order="order", item="item", name="name", categories=("cat",))


def test_a_hand_computed_jaccard_build():
    result = build(LINES, COLS, similarity="jaccard", k=5)
    lists = result.as_json()
    assert lists == {"A": ["B", "C"], "B": ["A", "C"], "C": ["A", "B", "D"], "D": ["E", "C"], "E": ["D"]}
    table = result.neighbours.set_index(["item", "similar_item"])
    assert table.loc[("A", "B"), "score"] == 1.0 and table.loc[("A", "B"), "co_count"] == 2
    assert table.loc[("D", "E"), "score"] == 0.5 and table.loc[("C", "D"), "score"] == pytest.approx(1 / 3, abs=1e-6)
    assert list(result.neighbours.columns) == ["item", "rank", "similar_item", "score", "co_count"]
    products = result.products.set_index("item")
    assert products.loc["A", "name"] == "Apple" and products.loc["A", "orders"] == 2  # 3 lines, 2 orders
    m = result.manifest
    assert (m["orders"], m["products"], m["products_with_similar"], m["pairs_bought_together"]) == (5, 6, 5, 5)
    assert m["similarity"] == "jaccard" and m["k"] == 5 and m["orders_with_2_or_more_products"] == 4


def test_the_same_category_validation_by_hand():
    v = build(LINES, COLS, similarity="jaccard", k=5).validation.set_index("category")
    # best recommendation: always the same category; top 5: x (1 + 1 + 2/3)/3, y (1/2 + 1)/2
    assert v.loc["x", "top1_same"] == 1.0 and v.loc["y", "top1_same"] == 1.0
    assert v.loc["x", "topk_same"] == pytest.approx(8 / 9, abs=1e-4)
    assert v.loc["y", "topk_same"] == pytest.approx(0.75)
    # random: 2 others of the 5 other products share the category
    assert v.loc["x", "random_top1"] == pytest.approx(0.4) and v.loc["y", "random_topk"] == pytest.approx(0.4)
    # most popular (A B C D, 2 orders each, then E F): x's best is A or B (same), y's is A (not)
    assert v.loc["x", "popular_top1"] == 1.0 and v.loc["y", "popular_top1"] == 0.0
    assert v.loc["y", "popular_topk"] == pytest.approx(0.4)
    assert v.loc["y", "products"] == 3 and v.loc["y", "with_recommendations"] == 2  # F has none
    assert v.loc["(all)", "top1_same"] == 1.0


def test_min_count_removes_rare_pairs_for_every_similarity():
    for similarity in ("jaccard", "lift", "cosine"):
        result = build(LINES, COLS, similarity=similarity, min_count=2)
        assert result.as_json() == {"A": ["B"], "B": ["A"]}, similarity
    # Only A-B is left, and A and B have no third product in common: the seed's finds nothing.
    assert build(LINES, COLS, similarity="cooccurrence-cosine", min_count=2).as_json() == {}


def test_lookup_helpers():
    result = build(LINES, COLS, similarity="jaccard")  # its order is worked out by hand below
    assert list(find_products(result.products, "an")["item"]) == ["B"]  # Banana; "Apple" has no "an"
    assert list(find_products(result.products, "  ")["item"]) == []
    # "e" is the id of Egg (and starts its name): first since exact matches rank first; then the
    # names holding an "e", most ordered first, then by name (before: "A", "C", as "E" had 1 order)
    assert list(find_products(result.products, "e")["item"]) == ["E", "A", "C"]
    assert list(find_products(result.products, "chery")["item"]) == ["C"]  # a typo
    assert list(find_products(result.products, "qqqqzzzz")["item"]) == []
    similar = answer(result, "D")
    assert list(similar["id"]) == ["E", "C"] and list(similar["name"]) == ["Egg", "Cherry"]
    assert list(similar["cat"]) == ["y", "x"] and list(similar["co_count"]) == [1, 1]
    with pytest.raises(InputError, match="Unknown product"):
        answer(result, "Z")


# ----------------------------------------------------------------------------- artifact and CLI


@pytest.fixture(scope="module")
def retail_products() -> pd.DataFrame:
    return build(read_order_lines(settings.DEMO_ONLINE_RETAIL, ONLINE_RETAIL, "online-retail"), ONLINE_RETAIL).products


def test_demo_products_by_part_of_a_word_an_id_or_a_typo(retail_products):
    products = retail_products
    matcher = product_matcher(products)

    def items(query: str, limit: int = 50) -> list[str]:
        found = find_products(products, query, limit, matcher=matcher)
        assert list(found.columns) == list(products.columns)
        return list(found["item"])

    found = find_products(products, "lante", matcher=matcher)
    starts = found["name"].str.contains(r"\bLANTE")
    assert starts.sum() > 5 and found["name"].str.contains("LANTE").all()
    assert starts.iloc[:starts.sum()].all()  # LANTERN (word start) before PLANTER (inside a word)
    assert found["name"].iloc[0] == "LANTERN CREAM GAZEBO"  # the name starting with it wins a tie
    lanterns = found[starts]
    assert lanterns["orders"].is_monotonic_decreasing  # then the most ordered first
    assert items("85123A", 1) == items("85123a", 1) == ["85123A"]
    assert set(items("85123A")[1:]) == {"85183A", "85132A", "85163A"}  # then the ids one character off
    assert items("8512")[0] == "85123A"  # part of an id
    assert items("whte hart t-ligth")[0] == "85123A"  # WHITE HANGING HEART T-LIGHT HOLDER, three typos
    assert set(items("lantren")) == set(lanterns["item"])  # a typo finds the same lanterns
    assert items("qqqqzzzz") == [] and items("") == []
    assert items("lante", 3) == list(lanterns["item"][:3])
    with pytest.raises(ValueError, match="matcher built for"):
        find_products(products.head(3), "lante", matcher=matcher)
    # the matcher is optional: built from the table when not given
    assert list(find_products(products, "lante")["item"]) == list(found["item"])


def test_artifact_round_trip_keeps_ids_as_text(tmp_path):
    lines = LINES.assign(item=LINES["item"].map({c: f"00{i}" for i, c in enumerate("ABCDEF")}))
    result = build(lines, COLS)
    out = write(result, tmp_path / "sp", {"orders": "test"})
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "products.csv", "similar_products.csv",
                                                     "similar_products.json", "validation.csv"]
    lists = json.loads((out / "similar_products.json").read_text())
    assert lists["000"] == ["001", "002"]
    back = load(out)
    pd.testing.assert_frame_equal(back.neighbours, result.neighbours, check_dtype=False)
    assert back.products["item"].tolist()[0] == "000" and back.manifest["inputs"] == {"orders": "test"}
    assert back.validation is not None and len(back.validation) == 3
    assert not list(tmp_path.glob("*.tmp-*"))


def test_a_missing_or_foreign_artifact_is_an_artifact_error(tmp_path):
    with pytest.raises(ArtifactError, match="build it with `python -m recommend similar-products"):
        load(tmp_path)
    (tmp_path / "manifest.json").write_text('{"kind": "similar_movies"}')
    with pytest.raises(ArtifactError, match="similar_movies"):
        load(tmp_path)


def test_cli_writes_the_outputs_the_issue_names(tmp_path, capsys):
    LINES.to_csv(tmp_path / "orders.csv", index=False)
    code = main(["similar-products", "--orders", str(tmp_path / "orders.csv"), "--order-col", "order",
                 "--item-col", "item", "--name-col", "name", "--category-col", "cat", "--similarity",
                 "cooccurrence-cosine", "-k", "3", "--out", str(tmp_path / "out")])
    assert code == 0
    said = capsys.readouterr().out
    assert "of 5 of 6 products (cooccurrence-cosine, min count 1" in said and "same cat: best" in said
    table = pd.read_csv(tmp_path / "out" / "similar_products.csv")
    assert table.groupby("item").size().max() == 3
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["similarity"] == "cooccurrence-cosine" and manifest["k"] == 3


@pytest.mark.parametrize("args, message", [
    (["--order-col", "basket", "--item-col", "item"], "lacks column(s) 'basket'"),
    (["--order-col", "order", "--item-col", "item", "--min-count", "0"], "--min-count must be at least 1"),
    (["--order-col", "order", "--item-col", "item", "--clean", "online-retail"], "lacks column(s) 'Quantity'"),
])
def test_cli_user_mistakes_are_one_line(tmp_path, capsys, args, message):
    LINES.to_csv(tmp_path / "orders.csv", index=False)
    code = main(["similar-products", "--orders", str(tmp_path / "orders.csv"), *args, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_reading_online_retail_lines_cleans_them(tmp_path):
    raw = pd.DataFrame({
        "InvoiceNo": ["1", "1", "1", "C2", "3", "3"], "StockCode": ["010", "020", "POST", "010", "010", "030"],
        "Description": [" CUP", "MUG", "POSTAGE", "CUP", "CUP ", "JUG"], "Quantity": [1, 2, 1, -1, 1, 0],
        "UnitPrice": [1.0, 2.0, 5.0, 1.0, 1.0, 3.0],
    })
    raw.to_csv(tmp_path / "retail.csv", index=False)
    cols = OrderColumns(order="InvoiceNo", item="StockCode", name="Description")
    lines = read_order_lines(tmp_path / "retail.csv", cols, "online-retail")
    assert list(zip(lines["InvoiceNo"], lines["StockCode"], lines["Description"])) == [
        ("1", "010", "CUP"), ("1", "020", "MUG"), ("3", "010", "CUP")]
    assert build(lines, cols).as_json() == {"010": ["020"], "020": ["010"]}


# ----------------------------------------------------------------------------- evaluation


def test_leave_one_out_and_basket_scores():
    test = pd.DataFrame({"order": ["t1", "t1", "t1", "t2", "t2", "t3"], "item": ["A", "B", "new", "C", "C", "D"]})
    queries, hidden = leave_one_out(test, "order", "item", known=["A", "B", "C", "D"], seed=0)
    assert set(queries) == {"t1"}  # t2 has one distinct product, t3 one, "new" is unknown
    assert sorted(queries["t1"] + list(hidden["t1"])) == ["A", "B"]
    inter = interaction_matrix(LINES, "order", "item")
    found, n_pairs = top_similar(inter.matrix, similarity="jaccard", k=5)
    recs = basket_recommendations(found, inter.col_ids, {"q": ["A", "D"], "r": ["F"]}, k=3)
    # A: B 1, C 1/3; D: E 1/2, C 1/3 -> B 1, C 2/3, E 1/2
    assert recs == {"q": ["B", "C", "E"], "r": []}


def test_the_evaluation_finds_structure_that_popularity_misses():
    rng = np.random.default_rng(0)
    rows = []
    for o in range(600):  # products come in pairs (2i, 2i+1), bought together, plus a best seller
        pair = int(rng.integers(0, 20))
        items = [f"p{2 * pair}", f"p{2 * pair + 1}"] + (["best"] if rng.random() < 0.5 else [])
        rows += [(f"o{o}", it, f"2021-01-01 00:00:00+{o}min") for it in items]
    lines = pd.DataFrame(rows, columns=["order", "item", "date"])
    lines["date"] = pd.Timestamp("2021-01-01") + pd.to_timedelta(lines["order"].str[1:].astype(int), unit="min")
    table, facts = evaluate_similar_products(lines, OrderColumns(order="order", item="item", date="date"),
                                             similarities=("jaccard", "lift"), min_counts=(1,), ks=(1, 5))
    assert facts["test_orders"] == 120 and facts["train_orders"] == 480
    assert table.loc[("jaccard", 1), "HitRate@5"] > 0.9
    assert table.loc[("popularity", "-"), "HitRate@1"] < 0.6
    assert table.loc[("random", "-"), "HitRate@5"] < 0.5
    assert table.loc[("jaccard", 1), "HitRate@1"] > table.loc[("popularity", "-"), "HitRate@1"]
    assert {"Precision@5", "Recall@5", "NDCG@5", "MAP@5", "Coverage@5"} <= set(table.columns)


def test_ease_is_evaluated_with_lambda_chosen_on_training_orders_only():
    rng = np.random.default_rng(0)
    rows = []
    for o in range(600):  # the same pairs; EASE must find them too
        pair = int(rng.integers(0, 20))
        rows += [(f"o{o}", it) for it in [f"p{2 * pair}", f"p{2 * pair + 1}"] + (["best"] if rng.random() < 0.5 else [])]
    lines = pd.DataFrame(rows, columns=["order", "item"])
    lines["date"] = pd.Timestamp("2021-01-01") + pd.to_timedelta(lines["order"].str[1:].astype(int), unit="min")
    table, facts = evaluate_similar_products(lines, OrderColumns(order="order", item="item", date="date"),
                                             similarities=("jaccard",), min_counts=(1,), ks=(1, 5), with_ease=True)
    full = next(i for i in table.index if i[0] == "ease (full model)")
    assert full == ("ease (full model)", f"λ={facts['ease_lambda']:g}")
    assert facts["ease_lambda"] in facts["ease_validation_hitrate10"]
    for row in (full, ("ease", 1)):  # the full model, and its lists on the pairs bought together
        assert table.loc[row, "HitRate@5"] > 0.9 > table.loc[("popularity", "-"), "HitRate@5"]
    assert facts["ease_items"] == 41  # 40 paired products and the best seller


def test_the_ease_lists_are_its_positive_weights_on_pairs_bought_together(monkeypatch):
    from recommend.core import ease

    x = sp.csr_matrix(random_orders(3))
    found, _ = top_similar(x, similarity="ease", k=3, ease_lambda=10.0, facts=(facts := {}))
    model = ease.fit(x, 10.0)
    bought = (x.T @ x).toarray() > 0
    np.fill_diagonal(bought, False)
    weights = np.full(bought.shape, -np.inf)
    weights[np.ix_(model.kept, model.kept)] = model.weights
    weights[~bought | (weights <= 0)] = -np.inf
    for i in model.kept:
        expected = [j for j in np.argsort(-weights[i], kind="stable")[:3] if np.isfinite(weights[i, j])]
        assert [j for j in found.indices[i] if j >= 0] == expected, i
    assert facts["lambda"] == 10.0 and facts["products_past_the_guard"] == 0
    monkeypatch.setattr(ease, "MAX_ITEMS", 5)  # past the guard, products keep their jaccard lists
    guarded, _ = top_similar(x, similarity="ease", k=3, facts=(facts := {}))
    jaccard, _ = top_similar(x, similarity="jaccard", k=3)
    fitted = set(ease.fit(x, 25.0, max_items=5).kept)
    rest = [i for i in range(x.shape[1]) if i not in fitted]
    assert facts["products_fitted"] == 5 and rest
    np.testing.assert_array_equal(guarded.indices[rest], jaccard.indices[rest])
