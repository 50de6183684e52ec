"""The app skeleton: it runs, shows its title and six pages in order, each at its own URL; a
click reruns only the open page, and a broken page leaves the others working."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import ui.basket_rules
import ui.similar_movies
from tests.helpers import ROOT
from tests.ui.pages import open_page
from ui.pages import PAGES

pytestmark = pytest.mark.slow  # runs the Streamlit app

PAGE_TITLES = ["Visual search", "Basket rules", "Similar products", "Similar customers", "Similar movies",
               "Your data"]


def test_app_runs_without_exception_or_error(app_run):
    at = app_run
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.error) == 0, [e.value for e in at.error]


def test_title_and_caption(app_run):
    at = app_run
    assert [t.value for t in at.title] == ["Vitrine"]
    caption = at.caption[0].value.lower()  # the first caption is the app's, above the page
    assert "visual search" in caption and "recommendations" in caption


def test_six_pages_in_order_each_with_its_own_url():
    assert [p.title for p in PAGES] == PAGE_TITLES
    assert [p.url_path for p in PAGES] == [None, "basket-rules", "similar-products", "similar-customers",
                                           "similar-movies", "your-data"]  # the home page is the app's root URL
    assert all((ROOT / "ui" / "pages" / f"{p.name}.py").is_file() for p in PAGES)


def test_the_home_page_is_visual_search_alone(app_run):
    assert [s.value for s in app_run.subheader] == ["Visual search"]


@pytest.mark.parametrize("page", PAGES[1:], ids=lambda p: p.name)
def test_every_page_renders_its_heading_and_no_error(app_uses_tiny_index, page):
    at = open_page(page.name)
    assert [s.value for s in at.subheader] == [page.title]
    assert not at.error


def test_a_click_runs_only_the_open_page(app_uses_tiny_index, monkeypatch):
    at = open_page("basket_rules")
    calls = []
    monkeypatch.setattr(ui.similar_movies, "render", lambda: calls.append("similar movies"))
    at.slider(key=at.slider[0].key).set_value(0.5).run()  # a basket rules threshold
    assert not at.exception and [s.value for s in at.subheader] == ["Basket rules"]
    assert calls == []  # st.tabs ran every tab's code on each click; pages do not


def test_a_broken_page_shows_one_line_and_the_others_still_render(app_uses_tiny_index, monkeypatch):
    def broken():
        raise RuntimeError("rules artifact is corrupt\nsecond line that must not show")

    # The page script imports the already-loaded ui.basket_rules module, so it gets the broken render.
    monkeypatch.setattr(ui.basket_rules, "render", broken)
    at = open_page("basket_rules")
    assert len(at.error) == 1
    message = at.error[0].value
    assert "Basket rules page failed" in message and "rules artifact is corrupt" in message
    assert "\n" not in message
    assert [e.label for e in at.expander] == ["Details"]
    details = at.expander[0].code[0].value
    assert "Traceback" in details and "RuntimeError" in details
    at.switch_page("ui/pages/similar_movies.py").run()
    assert [s.value for s in at.subheader] == ["Similar movies"] and not at.error


def test_only_the_visual_search_page_loads_tensorflow_and_only_when_it_renders():
    # A fresh interpreter: this test session may already have TensorFlow loaded by other tests.
    probe = textwrap.dedent(
        """
        import sys
        import common.artifacts, common.tables, common.topk, recommend.cli, embed.index
        import ui.visual_search, ui.basket_rules, ui.similar_products, ui.similar_customers, ui.similar_movies
        import embed.images, embed.build, embed.catalogue, embed.weights
        loaded = sorted(m for m in sys.modules if m == "tensorflow" or m.startswith(("tensorflow.", "keras")))
        assert not loaded, loaded[:5]
        import embed.model
        assert "tensorflow" in sys.modules  # the probe itself can fail
        print("OK")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("OK")
