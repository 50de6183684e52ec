"""The app skeleton: it runs, shows its title and five tabs in order, and survives a broken tab."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import pytest
from streamlit.testing.v1 import AppTest

import ui.basket_rules
from tests.helpers import APP, ROOT

pytestmark = pytest.mark.slow  # runs the Streamlit app

TAB_LABELS = ["Visual search", "Basket rules", "Similar products", "Similar customers", "Similar movies"]


def test_app_runs_without_exception_or_error(app_run):
    at = app_run
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.error) == 0, [e.value for e in at.error]


def test_title_and_caption(app_run):
    at = app_run
    assert [t.value for t in at.title] == ["Vitrine"]
    caption = at.caption[0].value.lower()  # the first caption is the app's, above the tabs
    assert "visual search" in caption and "recommendations" in caption


def test_five_tabs_in_order(app_run):
    at = app_run
    assert [t.label for t in at.tabs] == TAB_LABELS


def test_every_tab_renders_its_heading_and_no_error(app_run):
    at = app_run
    for label, tab in zip(TAB_LABELS, at.tabs):
        assert [s.value for s in tab.subheader] == [label]
        assert not tab.error and not tab.exception


def test_a_broken_tab_shows_an_error_and_the_others_still_render(app_uses_tiny_index, monkeypatch):
    def broken():
        raise RuntimeError("rules artifact is corrupt\nsecond line that must not show")

    # The script imports the already-loaded ui.basket_rules module, so it gets the broken render.
    monkeypatch.setattr(ui.basket_rules, "render", broken)
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()

    assert not at.exception
    assert [t.label for t in at.tabs] == TAB_LABELS
    broken_tab = at.tabs[1]
    assert len(broken_tab.error) == 1
    message = broken_tab.error[0].value
    assert "Basket rules" in message and "rules artifact is corrupt" in message
    assert "\n" not in message
    assert [e.label for e in broken_tab.expander] == ["Details"]
    details = broken_tab.expander[0].code[0].value
    assert "Traceback" in details and "RuntimeError" in details
    for index in (0, 2, 3, 4):
        assert len(at.tabs[index].subheader) == 1
        assert len(at.tabs[index].error) == 0


def test_only_the_visual_search_page_loads_tensorflow_and_only_when_it_renders():
    # A fresh interpreter: this test session may already have TensorFlow loaded by other tests.
    probe = textwrap.dedent(
        """
        import sys
        import common.artifacts, common.tables, common.topk, recommend.cli, embed.index
        import ui.visual_search, ui.basket_rules, ui.similar_products, ui.similar_customers, ui.similar_movies
        import embed.images, embed.build, embed.catalog, embed.weights
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
