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
