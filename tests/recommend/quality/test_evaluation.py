"""`python -m recommend evaluate`: one table per part (models, roles, metrics at 10), the split in a
sentence, the artifact the pages read, and one-line errors for data that cannot be evaluated."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import settings
from common.errors import InputError
from recommend import cli
from recommend.quality import evaluation
from shop import evaluation as dataset_evaluation
from tests.helpers import random_ratings

SAMPLE = settings.DEMO_ONLINE_RETAIL


@pytest.fixture(scope="module")
def retail_workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("quality")
    assert cli.main(["build", "--orders", str(SAMPLE), "--name", "retail", "--artifacts", str(root)]) == 0
    return root


def test_every_part_of_a_workspace_is_evaluated_and_written_where_the_pages_read_it(retail_workspace, capsys):
    assert cli.main(["evaluate", "--dataset", "retail", "--artifacts", str(retail_workspace)]) == 0
    out = capsys.readouterr()
    assert "== similar products on retail ==" in out.out and "== similar customers on retail ==" in out.out
    assert "[100%]" in out.err  # progress, on stderr
    for part in ("similar_products", "similar_customers"):
        folder = retail_workspace / "retail" / "evaluation" / part
        result = evaluation.load(folder)
        table = result.table
        assert list(table.columns) == ["model", "role", "users", *evaluation.METRICS, "fit_s"]
        assert table["role"].value_counts().to_dict().keys() >= {"default", "earlier default", "baseline"}
        assert (table["role"] == "default").sum() == 1 and table["model"].is_unique
        assert table[evaluation.METRICS].apply(lambda c: c.between(0, 1)).all().all()
        assert table["users"].nunique() == 1 and table["users"].iloc[0] > 20  # the same held-out users
        # the models beat popularity on real orders, and the printed ratio is the table's
        by_role = table.set_index("model")
        popularity = by_role.loc["popularity", "NDCG@10"]
        assert table.loc[table["role"] == "default", "NDCG@10"].iloc[0] > popularity
        assert f"{result.ratio():.2f}x" in out.out
        assert result.manifest["facts"]["ease_lambda"] > 0 and "EASE's λ=" in result.split
    products = evaluation.load(retail_workspace / "retail" / "evaluation" / "similar_products")
    assert products.split.startswith("Orders before 2011-") and "one product was hidden" in products.split


def test_movies_from_ratings_held_out_per_user(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "ARTIFACTS_DIR", tmp_path)
    steps = []
    result, folder = dataset_evaluation.evaluate_dataset("similar_movies", "movielens", step=lambda w, s: steps.append((w, s)))
    assert folder == tmp_path / "evaluation" / "movielens" / "similar_movies"
    again = evaluation.load(folder)
    pd.testing.assert_frame_equal(again.table, result.table, check_dtype=False)
    assert set(result.table["model"]) >= {"popularity", "item k-NN (cosine)"}
    assert result.split.startswith("Each user's latest 20% of ratings were held out")
    assert [s for _, s in steps] == sorted(s for _, s in steps) and steps[-1] == ("done", 1.0)


def test_data_that_cannot_be_split_by_time_gets_a_one_line_error(tiny_shop_workspace):
    artifacts, _ws = tiny_shop_workspace  # orders without dates
    for part in ("similar_products", "similar_customers"):
        with pytest.raises(InputError) as caught:
            dataset_evaluation.evaluate_dataset(part, "tiny", artifacts=artifacts)
        assert "date" in str(caught.value) and "\n" not in str(caught.value)
    assert not (artifacts / "tiny" / "evaluation").exists()  # nothing half-written
    ratings = random_ratings(seed=3).drop(columns="timestamp")
    with pytest.raises(InputError, match="time"):
        evaluation.run("similar_movies", ratings)
    with pytest.raises(InputError, match="part must be one of"):
        evaluation.folder_for("rules", "tiny")


def test_a_ratings_only_workspace_evaluates_its_similar_items_only(tmp_path):
    ratings = tmp_path / "ratings.csv"
    random_ratings(seed=1).to_csv(ratings, index=False)
    assert cli.main(["build", "--ratings", str(ratings), "--name", "rated", "--artifacts", str(tmp_path)]) == 0
    assert cli.main(["evaluate", "--dataset", "rated", "--artifacts", str(tmp_path)]) == 0
    table = evaluation.load(tmp_path / "rated" / "evaluation" / "similar_movies").table
    assert np.isfinite(table["NDCG@10"]).all() and len(table) == 3
    assert not (tmp_path / "rated" / "evaluation" / "similar_products").exists()


def test_files_are_evaluated_without_a_workspace(tmp_path, capsys):
    ratings = tmp_path / "stars.csv"
    random_ratings(seed=2).rename(columns={"timestamp": "when"}).to_csv(ratings, index=False)
    assert cli.main(["evaluate", "--orders", str(SAMPLE), "--ratings", str(ratings), "--ratings-map", "time=when",
                     "--out", str(tmp_path / "eval")]) == 0
    written = sorted(p.name for p in (tmp_path / "eval").iterdir() if ".v" not in p.name)  # folders are links to versions
    assert written == ["similar_customers", "similar_movies", "similar_products"]
    customers = evaluation.load(tmp_path / "eval" / "similar_customers")
    assert customers.manifest["data"]["columns"]["customer"] == "CustomerID"  # guessed from the header
    assert "== similar movies on stars.csv ==" in capsys.readouterr().out
    assert cli.main(["evaluate", "--dataset", "retail", "--orders", str(SAMPLE)]) == 2  # one or the other
    assert "Say what to evaluate" in capsys.readouterr().err


def test_a_role_without_its_row_is_an_error_not_a_ratio_of_nan(monkeypatch):
    """Rows are matched to roles by the model each names: a default or earlier default that the
    table lacks (a model renamed, say) stops the evaluation instead of leaving the headline empty."""
    from recommend.similar_movies import model as movies_model

    ratings = random_ratings(seed=3)
    assert evaluation.run("similar_movies", ratings).ratio() > 0  # every role present
    monkeypatch.setattr(movies_model, "EARLIER_DEFAULT", "renamed-knn")
    with pytest.raises(ValueError, match="no row for the earlier default"):
        evaluation.run("similar_movies", ratings)
