"""The "How good is this?" section through AppTest: run the evaluation from the page, see its
table and charts, find them again on the next visit; a link picks the model."""
from __future__ import annotations

import pytest

import settings
from recommend.quality import evaluation
from tests.ui.pages import open_page

pytestmark = pytest.mark.slow  # runs the Streamlit app


def _section(at):
    return next(e for e in at.expander if e.label == "How good is this?")


def test_running_the_evaluation_from_the_page_shows_and_keeps_it(tmp_path, monkeypatch, app_uses_tiny_index):
    monkeypatch.setattr(settings, "ARTIFACTS_DIR", tmp_path)
    at = open_page("similar_movies")
    assert "has not been evaluated yet" in _section(at).info[0].value
    _section(at).button(key="quality_run_similar_movies").click().run()
    assert not at.exception and not at.error
    table = next(d.value for d in at.dataframe if "role" in d.value.columns)
    assert set(table["model"]) >= {"popularity", "item k-NN (cosine)"} and len(table) == 3
    assert list(table.loc[table["role"] == "used here", "model"].str.startswith("EASE")) == [True]
    charts = [c.proto.spec for c in at.get("vega_lite_chart")]
    assert sum('"HitRate@10"' in c or "HitRate@10" in c for c in charts) >= 1
    assert any("scores NDCG@10" in m.value and "x**" in m.value for m in _section(at).markdown)
    saved = evaluation.load(evaluation.folder_for("similar_movies", "movielens"))
    assert saved.table["model"].tolist() == table["model"].tolist()
    again = open_page("similar_movies")  # a new visitor reads the saved evaluation
    assert not _section(again).info and any("held out" in m.value for m in _section(again).markdown)


def test_a_link_picks_the_model(app_uses_tiny_index):
    at = open_page("similar_customers", model="user-user")
    assert at.selectbox(key="model").value == "user-user"
    recs = next(d.value for d in at.dataframe if "why" in d.value.columns)
    assert recs["why"].str.contains("nearest customers").all()
    movies = open_page("similar_movies", model="item-knn")
    assert movies.selectbox(key="model").value == "item-knn"
    from recommend.similar_movies.model import MODELS

    assert any(MODELS["item-knn"].about in c.value for c in movies.caption)  # what the model picked does
