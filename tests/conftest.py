"""Shared fixtures: pictures made in the tests, and one random-weights embedder per session."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw


def product_picture(seed: int, size=(224, 224)) -> Image.Image:
    """A plain-background 'product': a coloured shape whose colour, kind and place vary by seed."""
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", size, (245, 245, 245))
    draw = ImageDraw.Draw(img)
    w, h = size
    colour = tuple(int(c) for c in rng.integers(0, 255, 3))
    x0, y0 = int(rng.integers(0, w // 3)), int(rng.integers(0, h // 3))
    x1, y1 = int(rng.integers(2 * w // 3, w)), int(rng.integers(2 * h // 3, h))
    (draw.ellipse if seed % 2 else draw.rectangle)([x0, y0, x1, y1], fill=colour)
    draw.line([0, h - 1 - seed % h, w, seed % h], fill=(0, 0, 0), width=3)
    return img


def encode(img: Image.Image, fmt: str = "JPEG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def write_catalogue(folder: Path, ids, fmt: str = "JPEG") -> Path:
    """Write one picture per id as <id>.jpg (or .png) into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".jpg" if fmt == "JPEG" else ".png"
    for i in ids:
        (folder / f"{i}{suffix}").write_bytes(encode(product_picture(int(i)), fmt))
    return folder


@pytest.fixture(scope="session")
def embedder():
    from embed.model import Embedder

    return Embedder("none", "fp32")


TINY_STYLES = [  # id, gender, masterCategory, articleType, baseColour, productDisplayName
    (1, "Men", "Apparel", "Shirts", "Blue", "Blue Check Shirt"),
    (2, "Women", "Apparel", "Tops", "Red", "Red Summer Top"),
    (3, "Men", "Footwear", "Casual Shoes", "White", "White Canvas Shoes"),
    (4, "Women", "Footwear", "Heels", "Black", "Black Heels"),
    (5, "Women", "Accessories", "Handbags", "Brown", "Brown Leather Handbag"),
    (6, "Men", "Accessories", "Watches", "Silver", "Silver Steel Watch"),
    (7, "Women", "Apparel", "Kurtas", "Green", "Green Cotton Kurta"),
    (8, "Men", "Apparel", "Tshirts", "Grey", "Grey Crew Tshirt"),
    (9, "Women", "Accessories", "Sunglasses", "Black", "Black Round Sunglasses"),
    (10, "Men", "Footwear", "Sports Shoes", "Blue", "Blue Running Shoes"),
]


def write_tiny_catalogue(folder: Path) -> tuple[Path, Path]:
    """Ten pictures with a styles.csv like the demo's: (images folder, catalogue path)."""
    import pandas as pd

    images = write_catalogue(folder / "images", [row[0] for row in TINY_STYLES])
    catalog = folder / "styles.csv"
    pd.DataFrame(TINY_STYLES, columns=["id", "gender", "masterCategory", "articleType", "baseColour",
                                       "productDisplayName"]).to_csv(catalog, index=False)
    return images, catalog


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
