"""A workspace whose orders have only an order, a customer and a product (no date, no quantity, no
names), with ratings that have no time and a catalogue of pictures only: every page of the app and
every endpoint of the API answers from it, with no error (the columns are asked of the data)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recommend.workspace import model
from tests.helpers import TINY_STYLES, encode, product_picture, uvicorn_server, write_tiny_shop

pytestmark = pytest.mark.slow  # builds a workspace with a visual index, runs the app


@pytest.fixture(scope="module")
def bare(tmp_path_factory):
    root = tmp_path_factory.mktemp("bare")
    orders_file, catalogue_file = write_tiny_shop(root / "shop")
    orders = pd.read_csv(orders_file, dtype=str)[["order_id", "customer_id", "sku"]]
    catalogue = pd.read_csv(catalogue_file, dtype=str)[["sku", "image"]]
    rng = np.random.default_rng(3)
    ratings = pd.DataFrame([(f"U{u}", str(r[0]), str(int(rng.integers(1, 6)))) for u in range(40) for r in TINY_STYLES],
                           columns=["who", "sku", "stars"])
    ws = model.build(
        model.mapped_orders(orders, {"order": "order_id", "customer": "customer_id", "item": "sku"}), "bare",
        source={"file": "orders.csv"},
        ratings=model.mapped_ratings(ratings, {"user": "who", "item": "sku", "rating": "stars"}),
        catalogue=model.mapped_catalogue(catalogue, {"id": "sku", "image": "image"}, image_base=catalogue_file.parent),
        artifacts=root / "artifacts", weights="none")
    assert set(ws.parts) == {"basket_rules", "similar_products", "similar_customers", "similar_movies",
                             "visual_index"}, ws.manifest["parts_skipped"]
    lines = ws.orders()
    assert not {"date", "quantity", "name", "price"} & set(lines.columns)
    return root / "artifacts", ws


@pytest.fixture
def app_on_bare(bare, app_uses_tiny_index, monkeypatch):
    import settings

    monkeypatch.setattr(settings, "ARTIFACTS_DIR", bare[0])
    return bare


@pytest.mark.parametrize("page", ["basket_rules", "similar_products", "similar_customers", "similar_movies"])
def test_every_recommender_page_answers_with_no_error(app_on_bare, page):
    from tests.ui.pages import open_page

    at = open_page(page, dataset="bare")
    assert at.selectbox(key="dataset").value == "bare"
    assert not at.exception and not at.error, [e.value for e in at.error]
    tables = [t.value for t in at.dataframe]
    assert tables and all(len(t) for t in tables), page


def test_visual_search_and_your_data_answer_with_no_error(app_on_bare):
    from tests.ui.pages import open_page

    at = open_page("visual_search", dataset="bare", product=str(TINY_STYLES[0][0]))
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert [b.label for b in at.button].count("More like this") == 5
    assert "Often bought with" in [c.value for c in at.caption]
    at = open_page("your_data")
    assert not at.exception and not at.error
    assert "bare" in set(at.dataframe[0].value["name"])  # listed among the workspaces


def test_every_endpoint_answers(bare, tiny_visual_index, tmp_path, monkeypatch):
    import httpx

    from api.app import create_app
    from api.keys import Keys, add_key, read_keys
    from api.store import Store

    artifacts, ws = bare
    monkeypatch.setattr("settings.WEIGHTS", "none")
    keys_file = tmp_path / "keys.toml"
    headers = {"Authorization": f"Bearer {add_key(keys_file, 'reader', 'read', 0)}"}
    app = create_app(Store(artifacts, weights="none"), Keys(read_keys(keys_file)))
    product, customer = str(TINY_STYLES[0][0]), ws.orders()["customer"].iloc[0]
    with uvicorn_server(app) as url:
        def get(path, **params):
            answer = httpx.get(url + path, params={"dataset": "bare", **params}, headers=headers, timeout=60)
            assert answer.status_code == 200, (path, answer.text)
            return answer.json()

        assert get("/v1/next-to", item=product)["recommendations"]
        assert get("/v1/similar-products", id=product)["similar"]
        assert get("/v1/customers/similar", id=customer)["similar"]
        assert get("/v1/customers/recommendations", id=customer)["recommendations"]
        assert get("/v1/similar-items", id=product)["similar"]
        photo = encode(product_picture(int(product)))
        found = httpx.post(url + "/v1/visual-search", data={"dataset": "bare"}, files={"image": ("p.jpg", photo)},
                           headers=headers, timeout=120)
        assert found.status_code == 200, found.text
        results = found.json()["results"]
        assert len(results) == 5 and all("bought_with" in r and "next_to" in r for r in results)
        assert any(r["bought_with"] for r in results)


PAGES = {"basket-rules": "What to show next to an item", "similar-products": "Product (",
         "similar-customers": "most similar customers", "similar-movies": "matching title",
         "": "More like this"}


@pytest.mark.browser
def test_every_page_renders_in_a_real_browser(bare, tiny_visual_index, tmp_path):
    from playwright.sync_api import sync_playwright

    from tests.helpers import CHROMIUM_ARGS, chromium, streamlit_server

    artifacts, _ws = bare
    with streamlit_server(tiny_visual_index, VITRINE_ARTIFACTS=str(artifacts)) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        for path, shown in PAGES.items():
            query = "?dataset=bare" + ("&product=1" if not path else "")
            page.goto(f"{url}/{path}{query}", wait_until="domcontentloaded")
            page.get_by_text(shown).first.wait_for(timeout=120_000)
            page.wait_for_timeout(1500)  # the rest of the page after the first element
            page.screenshot(path=str(tmp_path / f"bare-{path or 'visual-search'}.png"), full_page=True)
            assert page.locator("[data-testid=stException]").count() == 0, path
            assert page.locator("[data-testid=stAlertContentError]").count() == 0, path
            if path:
                assert page.locator("[data-testid=stDataFrame]").count() >= 1, path
        browser.close()
