"""Data the tests make for themselves (pictures, catalogues, purchases, ratings): one home, so
test modules never import each other."""
from __future__ import annotations

import io
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]  # the repository
APP = str(ROOT / "streamlit_app.py")


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


def png16_rgba(pixels: np.ndarray) -> bytes:
    """A 16-bit RGBA PNG (colour type 6, bit depth 16) of an (h, w, 4) uint16 array, written
    chunk by chunk: Pillow cannot write one, and pypng is not a dependency."""
    h, w, _ = pixels.shape

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in pixels)  # filter 0 each row
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 6, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def awkward_pictures() -> dict[str, bytes]:
    """Photos a phone or an editor makes that browsers or Pillow trip over, by file name:
    16-bit greyscale PNG, 16-bit RGBA PNG, HEIC (the iPhone's default) and AVIF; 300x200 each."""
    import pillow_heif

    pillow_heif.register_heif_opener()  # for writing; embed.images registers it for reading too
    grey = np.asarray(product_picture(11, (300, 200)).convert("L"), np.uint16) * 257
    rgba = np.asarray(product_picture(12, (300, 200)).convert("RGBA"), np.uint16) * 257
    rgba[..., 3] = np.linspace(65535, 20000, 300, dtype=np.uint16)  # alpha fades left to right
    return {
        "grey16.png": encode(Image.fromarray(grey), "PNG"),  # mode I;16
        "rgba16.png": png16_rgba(rgba),
        "photo.heic": encode(product_picture(13, (300, 200)), "HEIF", quality=90),
        "photo.avif": encode(product_picture(14, (300, 200)), "AVIF", quality=90),
    }


def not_pictures() -> dict[str, bytes]:
    """Files a shopper might pick that are no photo, by file name (a text file renamed .jpg)."""
    return {
        "logo.svg": b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40">'
                    b'<circle cx="20" cy="20" r="18" fill="red"/></svg>\n',
        "notes.jpg": b"Shopping list:\n- blue shirt, size M\n- white canvas shoes\n" * 4,
        "receipt.pdf": b"%PDF-1.4\n1 0 obj << /Type /Catalogue >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n",
        "page.html": b"<!DOCTYPE html>\n<html><head><title>Shop</title></head><body><img src=a.jpg></body></html>\n",
    }


def write_catalogue(folder: Path, ids, fmt: str = "JPEG") -> Path:
    """Write one picture per id as <id>.jpg (or .png) into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".jpg" if fmt == "JPEG" else ".png"
    for i in ids:
        (folder / f"{i}{suffix}").write_bytes(encode(product_picture(int(i)), fmt))
    return folder


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
    images = write_catalogue(folder / "images", [row[0] for row in TINY_STYLES])
    catalogue = folder / "styles.csv"
    pd.DataFrame(TINY_STYLES, columns=["id", "gender", "masterCategory", "articleType", "baseColour",
                                       "productDisplayName"]).to_csv(catalogue, index=False)
    return images, catalogue


def write_tiny_shop(folder: Path) -> tuple[Path, Path]:
    """One shop, one set of ids: the ten tiny products as a catalogue (id, name, category, image
    relative to the catalogue) and 80 orders of pairs of them by 12 customers: (orders, catalogue)."""
    write_catalogue(folder / "images", [row[0] for row in TINY_STYLES])
    catalogue = folder / "catalogue.csv"
    pd.DataFrame([(f"{r[0]}", r[5], r[2], f"images/{r[0]}.jpg") for r in TINY_STYLES],
                 columns=["sku", "title", "category", "image"]).to_csv(catalogue, index=False)
    rng = np.random.default_rng(7)
    rows = []
    for order in range(80):
        first = int(rng.integers(1, 11))
        for item in {first, 1 + first % 10, int(rng.integers(1, 11))}:  # neighbours are often bought together
            rows.append((f"O{order}", f"K{order % 12}", f"{item}", 1))
    orders = folder / "orders.csv"
    pd.DataFrame(rows, columns=["order_id", "customer_id", "sku", "quantity"]).to_csv(orders, index=False)
    return orders, catalogue


def random_purchases(customers=30, products=25, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(customers):
        for p in rng.choice(products, size=rng.integers(2, 9), replace=False):
            rows.append((f"{536000 + c}", f"P{p:03d}", f"Product {p}", int(rng.integers(1, 5)),
                         "2011-05-01 10:00:00", 1.5, f"{12000 + c}", "United Kingdom"))
    return pd.DataFrame(rows, columns=["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate",
                                       "UnitPrice", "CustomerID", "Country"])


def random_ratings(users=40, movies=25, density=0.4, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = [(u, m, float(rng.integers(1, 11)) / 2, 1_000_000 + i)
            for i, (u, m) in enumerate((u, m) for u in range(1, users + 1) for m in range(1, movies + 1))
            if rng.random() < density]
    return pd.DataFrame(rows, columns=["userId", "movieId", "rating", "timestamp"])


def movies_for(ratings: pd.DataFrame) -> pd.DataFrame:
    ids = sorted(ratings["movieId"].unique())
    return pd.DataFrame({"movieId": ids, "title": [f"Movie {i} ({1990 + i})" for i in ids],
                         "genres": ["Drama"] * len(ids)})


# ---- the app in a real browser -------------------------------------------------------------

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]


def chromium() -> str:
    path = os.environ.get("VITRINE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail("The browser test needs Chromium: `apt-get install chromium` (Debian/Ubuntu), or set "
                    "VITRINE_CHROMIUM to a Chromium binary.", pytrace=False)
    return path


@contextmanager
def http_server(handler):
    """A real ThreadingHTTPServer on a free port of 127.0.0.1 in a thread: yields its base URL."""
    from http.server import ThreadingHTTPServer
    import threading

    class Quiet(ThreadingHTTPServer):
        def handle_error(self, request, client_address):  # a client that gave up (a timeout test): expected
            if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
                super().handle_error(request, client_address)

    server = Quiet(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def uvicorn_server(app):
    """A real uvicorn serving `app` on a free port of 127.0.0.1, in this process: its base URL."""
    import httpx
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.05)
        if time.time() > deadline:
            raise AssertionError(f"uvicorn did not answer {url}/healthz within 60 s")
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(30)


def compose_interpolate(value: str, env: dict[str, str]) -> str:
    """compose's ${VAR}, ${VAR:-default} and ${VAR:?error}, from `env`."""
    def one(match):
        name, op, rest = match.group(1), match.group(2), match.group(3)
        if name in env:
            return env[name]
        assert op == ":-", f"compose.yaml needs ${name}: {rest}"
        return rest
    return re.sub(r"\$\{(\w+)(?:(:[-?])([^}]*))?\}", one, value)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        assert proc.poll() is None, "streamlit exited early"
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.read() == b"ok":
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError("streamlit did not become healthy")


@contextmanager
def streamlit_server(tiny_visual_index, **env_overrides):
    """`streamlit run` on a free port of 127.0.0.1, visual search on the tiny index (random
    weights, no network); yields its URL and stops it at the end."""
    index, images, catalogue = tiny_visual_index
    port = free_port()
    env = {**os.environ, "VITRINE_VISUAL_INDEX": str(index), "VITRINE_CATALOGUE_IMAGES": str(images),
           "VITRINE_CATALOGUE": str(catalogue), "VITRINE_WEIGHTS": "none", **env_overrides}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port),
         "--server.headless", "true", "--server.address", "127.0.0.1", "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
