"""Shared fixtures: one random-weights embedder and one tiny visual index per session (data makers: helpers.py)."""
from __future__ import annotations

import pytest

from tests.helpers import TINY_STYLES, encode, product_picture, write_catalogue, write_tiny_catalogue  # noqa: F401


@pytest.fixture(scope="session")
def embedder():
    from embed.model import Embedder

    return Embedder("none", "fp32")


@pytest.fixture(scope="session")
def tiny_visual_index(tmp_path_factory, embedder):
    """A visual index of the ten-product catalogue, built once with random weights."""
    from embed.build import build_index

    root = tmp_path_factory.mktemp("tiny_shop")
    images, catalog = write_tiny_catalogue(root)
    build_index(images, root / "index", catalog=catalog, embedder=embedder, progress=False)
    return root / "index", images, catalog


@pytest.fixture
def app_uses_tiny_index(tiny_visual_index, monkeypatch):
    """Point the app's visual search at the tiny index with random weights (no network)."""
    import settings

    index, images, catalog = tiny_visual_index
    monkeypatch.setattr(settings, "DEMO_VISUAL_INDEX", index)
    monkeypatch.setattr(settings, "DEMO_FASHION_IMAGES", images)
    monkeypatch.setattr(settings, "DEMO_FASHION_CATALOG", catalog)
    monkeypatch.setattr(settings, "WEIGHTS", "none")
    return tiny_visual_index
