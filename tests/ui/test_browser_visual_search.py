"""End to end in a real browser: `streamlit run`, headless Chromium uploads a photo and sees
five result images. Needs a Chromium: Debian's /usr/bin/chromium (`.ci/run` installs it),
or one named by $VITRINE_CHROMIUM."""
from __future__ import annotations

import pytest
from playwright.sync_api import sync_playwright

from tests.helpers import CHROMIUM_ARGS, chromium, streamlit_server

pytestmark = pytest.mark.browser


def test_upload_in_chromium_shows_five_results(tiny_visual_index, tmp_path):
    _, images, _ = tiny_visual_index
    with streamlit_server(tiny_visual_index) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url, wait_until="domcontentloaded")
        page.locator("input[type=file]").first.set_input_files(str(images / "4.jpg"), timeout=120_000)
        buttons = page.get_by_role("button", name="More like this")
        buttons.nth(4).wait_for(timeout=120_000)
        assert buttons.count() == 5
        results = page.locator("[data-testid='stImage'] img")
        assert results.count() == 6  # the shopper's photo and five products
        assert page.get_by_text("Black Heels", exact=True).count() == 0  # not its own neighbour
        shot = tmp_path / "visual_search.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
        browser.close()
