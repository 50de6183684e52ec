"""Six visitors open the app at the same moment on a fresh artifacts folder (nothing built yet):
every one of them sees the similar products, none sees an error, and the artifact is built once."""
from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import async_playwright

from tests.helpers import CHROMIUM_ARGS, chromium, streamlit_server

pytestmark = pytest.mark.browser
SESSIONS = 6
ERRORS = "[data-testid='stException'], [data-testid='stAlertContentError']"


async def visit_together(url: str) -> list[tuple[int, int]]:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        pages = [await browser.new_page(viewport={"width": 1200, "height": 900}) for _ in range(SESSIONS)]
        # the barrier: every page exists before any asks for the app, then all open the Similar
        # products page by its URL at once
        await asyncio.gather(*(page.goto(url + "/similar-products", wait_until="domcontentloaded")
                               for page in pages))
        shown = "text=most similar per product by"
        await asyncio.gather(*(page.locator(shown).first.wait_for(timeout=180_000) for page in pages))
        await asyncio.sleep(2)  # let any late error render
        counts = [(await page.locator(shown).count(), await page.locator(ERRORS).count()) for page in pages]
        await browser.close()
        return counts


def test_six_sessions_opening_at_once_all_get_the_answer(tiny_visual_index, tmp_path):
    artifacts = tmp_path / "artifacts"
    with streamlit_server(tiny_visual_index, VITRINE_ARTIFACTS=str(artifacts)) as url:
        counts = asyncio.run(visit_together(url))
    assert counts == [(1, 0)] * SESSIONS, counts  # each sees the answer, none an error
    versions = sorted(p.name for p in (artifacts / "similar_products").glob("superstore.v*"))
    assert versions == ["superstore.v1"]  # one visitor built it, the others waited and reused it
