"""End to end in a real browser: `streamlit run`, headless Chromium uploads a shop's orders CSV
(made here, in the shop's own column names), keeps the guessed mapping, builds the workspace and
sees its similar products, a customer's similar customers and its basket rules."""
from __future__ import annotations

import pytest
from playwright.sync_api import sync_playwright

from recommend.workspace import model
from tests.helpers import CHROMIUM_ARGS, chromium, streamlit_server
from tests.recommend.workspace.test_build import SHOP

pytestmark = pytest.mark.browser


def test_upload_map_build_and_browse_a_workspace(tiny_visual_index, tmp_path):
    orders = tmp_path / "Shop Export.csv"
    SHOP.to_csv(orders, index=False, sep=";")
    artifacts = tmp_path / "artifacts"
    with streamlit_server(tiny_visual_index, VITRINE_ARTIFACTS=str(artifacts)) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url + "/your-data", wait_until="domcontentloaded")
        page.locator("input[type=file]").first.set_input_files(str(orders), timeout=120_000)
        page.get_by_text("120 rows, 6 columns.").wait_for(timeout=120_000)
        page.get_by_role("button", name="Build the workspace").click()
        page.get_by_text("Workspace shop-export is ready").wait_for(timeout=120_000)
        page.screenshot(path=str(tmp_path / "built.png"))

        page.get_by_role("link", name="Similar products of shop-export").click()
        page.get_by_text("from 59 orders and 7 products").wait_for(timeout=60_000)
        assert "dataset=shop-export" in page.url

        page.goto(url + "/similar-customers?dataset=shop-export&customer=C3", wait_until="domcontentloaded")
        page.get_by_text("most similar customers").wait_for(timeout=60_000)
        assert page.get_by_text("Most bought:").count() == 1

        page.goto(url + "/basket-rules?dataset=shop-export", wait_until="domcontentloaded")
        page.get_by_text("What to show next to an item").wait_for(timeout=60_000)
        assert page.get_by_text("Workspace shop-export").count() == 1
        browser.close()
    ws = model.open_workspace("shop-export", artifacts)
    assert ws.manifest["source"]["upload"] == "Shop Export.csv"
    assert ws.parts == ["basket_rules", "similar_products", "similar_customers"]
    assert (tmp_path / "built.png").stat().st_size > 10_000
