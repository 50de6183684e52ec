"""The Similar products tab through AppTest, on the committed demo data, with artifacts in a temp folder."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import settings
from recommend.similar_products.model import build, write
from shop.registry import Registry
from tests.ui.pages import open_page

pytestmark = pytest.mark.slow  # runs the Streamlit app


def demo_folder(name: str):
    return Registry().get(name).folder("similar_products")


def tab_alone():
    """Only this tab, so each run takes a second rather than the whole app's ten."""
    from ui import similar_products

    similar_products.render()


@pytest.fixture
def artifacts(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "ARTIFACTS_DIR", tmp_path / "artifacts")
    return tmp_path / "artifacts"


def run_tab(**inputs) -> AppTest:
    at = AppTest.from_function(tab_alone, default_timeout=60)
    at.run()
    for key, value in inputs.items():
        widget = at.text_input(key=key) if key == "sp_query" else at.selectbox(key=key)
        widget.set_value(value).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_page_in_the_app_builds_the_demo_artifact_and_shows_five_similar_products(artifacts,
                                                                                     app_uses_tiny_index):
    at = open_page("similar_products")
    assert [s.value for s in at.subheader] == ["Similar products"]
    assert not at.error
    assert len(at.dataframe[0].value) == 5
    manifest = json.loads((artifacts / "similar_products" / "superstore" / "manifest.json").read_text())
    assert manifest["kind"] == "similar_products" and manifest["similarity"] == "ease"


def test_a_product_shows_its_five_similar_with_score_times_bought_together_and_category(artifacts):
    at = run_tab()
    item = at.selectbox(key="product").value
    table = at.dataframe[0].value
    assert list(table.columns) == ["rank", "name", "item", "score", "co_count", "category"]
    assert list(table["rank"]) == [1, 2, 3, 4, 5] and table["score"].is_monotonic_decreasing
    assert (table["co_count"] >= 1).all()  # EASE's lists hold only products really bought together
    # the answer is the artifact's, looked up, not recomputed
    saved = pd.read_csv(demo_folder("superstore") / "similar_products.csv", dtype=str)
    assert list(table["item"]) == list(saved.loc[saved["item"] == item, "similar_item"])
    products = pd.read_csv(demo_folder("superstore") / "products.csv", dtype=str).set_index("item")
    assert list(table["category"]) == list(products.loc[table["item"], "Sub-Category"])
    assert item in at.markdown[0].value


def test_an_existing_artifact_is_read_not_rebuilt(artifacts):
    result = build(*Registry().get("superstore").order_lines(), similarity="cosine", k=3)
    folder = write(result, demo_folder("superstore"))
    before = (folder / "manifest.json").stat().st_mtime_ns
    at = run_tab()
    assert len(at.dataframe[0].value) <= 3 and "**cosine**" in at.caption[0].value
    assert (folder / "manifest.json").stat().st_mtime_ns == before


def test_finding_a_product_by_part_of_its_name(artifacts):
    at = run_tab(dataset="online_retail", sp_query="lantern")
    options = at.selectbox(key="product").options  # the labels shown
    assert options and all("LANTERN" in o.upper() for o in options)
    assert len(at.dataframe[0].value) == 5
    assert "category" not in at.dataframe[0].value.columns  # Online Retail has none
    assert any("no product categories" in i.value for i in at.info)


def test_a_query_that_matches_nothing_is_one_error_line(artifacts):
    at = run_tab(sp_query="no such thing 123")
    assert len(at.error) == 1 and "\n" not in at.error[0].value and "no such thing 123" in at.error[0].value
    assert not at.dataframe


def test_the_validation_chart_per_category_and_level(artifacts):
    at = run_tab()
    assert at.radio(key="sp_level").options == ["Sub-Category", "Category"]
    charts = at.get("vega_lite_chart")
    assert len(charts) == 1 and "own sub-category" in charts[0].proto.spec
    def validation():
        return next(e for e in at.expander if e.label.startswith("Validation"))

    summary = validation().markdown[0].value
    assert "Best recommendation in the same sub-category" in summary and "random" in summary
    at.radio(key="sp_level").set_value("Category").run()
    assert "same category" in validation().markdown[0].value


def test_the_json_download_is_the_artifact_file(artifacts):
    at = run_tab()
    labels = [b.label for b in at.get("download_button")]
    assert labels == ["CSV", "JSON", "Parquet"] * 2 + ["Download all top-5 lists as the shop serves them (JSON)"]
    captions = [c.value for c in at.caption]
    assert "Download these similar products:" in captions and "Download every product's top 5:" in captions
    from ui.similar_products import _download, _result

    ds = Registry().get("superstore")
    served = _download(ds.folder("similar_products"), _result(ds))
    assert served == (demo_folder("superstore") / "similar_products.json").read_bytes()
    lists = json.loads(served)
    assert all(1 <= len(v) <= 5 for v in lists.values())


def test_a_broken_artifact_is_rebuilt(artifacts):
    folder = demo_folder("superstore")
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text('{"kind": "similar_products", "format_version": 1}')  # no tables
    at = run_tab()
    assert len(at.dataframe[0].value) == 5 and not at.error
    assert (folder / "similar_products.csv").is_file()


def test_unreadable_demo_data_is_one_error_line(artifacts, monkeypatch):
    monkeypatch.setattr(settings, "DEMO_SUPERSTORE", artifacts / "gone.csv")
    at = run_tab()
    assert len(at.error) == 1 and "gone.csv" in at.error[0].value and "\n" not in at.error[0].value
    assert not at.dataframe


def test_a_link_opens_that_data_set_and_product(artifacts, app_uses_tiny_index):
    lines, columns = Registry().get("online_retail").order_lines()
    item = str(lines[columns.item].value_counts().index[400])  # not among the 50 shown first
    at = open_page("similar_products", dataset="online_retail", product=item)
    assert at.selectbox(key="dataset").value == "online_retail"
    assert at.selectbox(key="product").value == item
    assert item in at.markdown[0].value and len(at.dataframe[0].value) == 5
    assert at.query_params["product"] == item


def test_a_shop_workspace_shows_product_pictures_from_its_catalogue(tiny_shop_workspace, monkeypatch,
                                                                    app_uses_tiny_index):
    from tests.ui.pages import open_page

    artifacts, ws = tiny_shop_workspace
    monkeypatch.setattr(settings, "ARTIFACTS_DIR", artifacts)
    at = open_page("similar_products", dataset="tiny", product="4")
    assert at.selectbox(key="dataset").value == "tiny" and at.selectbox(key="product").value == "4"
    captions = [c.value for c in at.caption]
    assert "Black Heels (this product)" in captions and sum(c[:3] in ("1. ", "2. ") for c in captions) == 2
    assert len(at.get("image")) == 6  # the product and its five similar ones
    at = open_page("basket_rules", dataset="tiny")
    assert len(at.get("image")) == 3  # the three items shown next to the chosen one
