"""Opening one page of the app in AppTest, as a visitor following a link would."""
from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.helpers import APP


def open_page(name: str, timeout: float = 120, **query: str) -> AppTest:
    """The app at ui/pages/<name>.py with these query parameters (`?movie=2571`), run once.

    AppTest resolves a page by the registry of a first run, so the home page runs first (its
    model and index are cached per process: cheap after the first test)."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    at.query_params.clear()
    at.query_params.update(query)
    at.switch_page(f"ui/pages/{name}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at
