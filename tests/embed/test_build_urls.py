"""A catalogue whose `image` column gives files and http(s) URLs, served by a real HTTP server on
127.0.0.1: what is embedded, what is skipped and why, what a re-run fetches again, and the same
catalogue searched through the approximate index with a filter and "More like this"."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler

import numpy as np
import pandas as pd
import pytest

from embed import index
from embed.build import build_index
from embed.fetch import Fetcher
from embed.images import load_image
from tests.helpers import encode, http_server, product_picture

pytestmark = pytest.mark.slow  # runs the model with TensorFlow

PRODUCTS = 24  # served as /p/<i>.jpg with validators, and product 0 also as a file


class CDN(BaseHTTPRequestHandler):
    pictures: dict[str, bytes] = {}  # path -> body; a test may change one between builds
    versions: dict[str, int] = {}
    downloads: dict[str, int] = {}  # 200s sent per path
    lock = threading.Lock()

    def log_message(self, *args):
        pass

    def _send(self, status: int, body: bytes = b"", **headers) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path, cls = self.path, type(self)
        if path in cls.pictures:
            etag = f'"{cls.versions.get(path, 1)}"'
            if path.startswith("/p/") and self.headers.get("If-None-Match") == etag:
                return self._send(304)
            with cls.lock:
                cls.downloads[path] = cls.downloads.get(path, 0) + 1
            validators = {"ETag": etag, "Last_Modified": "Tue, 01 Dec 2026 10:00:00 GMT"} if path.startswith("/p/") else {}
            return self._send(200, cls.pictures[path], Content_Type="image/jpeg", **validators)
        if path == "/missing.jpg":
            return self._send(404, b"gone")
        if path == "/page.jpg":
            return self._send(200, b"<!doctype html><html>sold out</html>", Content_Type="text/html")
        if path == "/huge.jpg":
            return self._send(200, b"\xff" * 300_000)
        if path == "/loop.jpg":
            return self._send(302, Location="/loop.jpg")
        if path == "/slow.jpg":
            threading.Event().wait(1.5)
            return self._send(200, cls.pictures["/p/0.jpg"])
        return self._send(500)


@pytest.fixture()
def cdn():
    CDN.pictures = {f"/p/{i}.jpg": encode(product_picture(i)) for i in range(PRODUCTS)}
    CDN.pictures["/plain/0.jpg"] = encode(product_picture(100))  # no ETag / Last-Modified
    CDN.versions, CDN.downloads = {}, {}
    with http_server(CDN) as url:
        yield url


BROKEN = {"missing": "HTTP 404", "page": "web page", "huge": "larger than", "loop": "redirects",
          "slow": "no answer within", "ftp": "not an http or https URL"}


def write_catalogue(folder, base) -> tuple:
    folder.mkdir(parents=True, exist_ok=True)
    product_picture(500).save(folder / "local.jpg")
    rows = [(f"u{i}", f"{base}/p/{i}.jpg", "Shirts" if i % 3 else "Watches") for i in range(PRODUCTS)]
    rows += [("plain", f"{base}/plain/0.jpg", "Shirts"), ("file", "local.jpg", "Watches"), ("blank", "", "Shirts")]
    rows += [(name, f"{base}/{name}.jpg" if name != "ftp" else "ftp://127.0.0.1/x.jpg", "Shirts") for name in BROKEN]
    catalogue = folder / "catalogue.csv"
    pd.DataFrame(rows, columns=["id", "image", "articleType"]).to_csv(catalogue, index=False)
    return catalogue


def fetcher() -> Fetcher:
    return Fetcher(workers=4, timeout=1.0, retries=1, max_bytes=200_000, sleep=lambda s: None,
                   allow="127.0.0.1")  # the test server is on loopback: allowed explicitly


def test_a_url_catalogue_embeds_what_it_can_and_lists_the_rest(tmp_path, cdn, embedder):
    catalogue = write_catalogue(tmp_path / "shop", cdn)
    out = tmp_path / "index"
    with fetcher() as f:
        report = build_index(None, out, catalogue=catalogue, embedder=embedder, fetcher=f, progress=False,
                             batch_size=4, checkpoint_every=8)
    built = index.load(out)
    assert report.count == PRODUCTS + 2 and report.embedded == PRODUCTS + 2
    assert set(built.ids) == {f"u{i}" for i in range(PRODUCTS)} | {"plain", "file"}
    reasons = {s["id"]: s["reason"] for s in built.manifest["skipped"]}
    assert set(reasons) == set(BROKEN)
    for name, words in BROKEN.items():
        assert words in reasons[name], (name, reasons[name])
    assert built.manifest["catalog_rows_without_image"] == 1  # the blank row
    assert built.manifest["vector_storage"]["index_type"] == "exact"  # a small catalogue
    row = built.items.iloc[built.position("u5")]
    assert row["url"] == f"{cdn}/p/5.jpg" and row["etag"] == '"1"' and row["articleType"] == "Shirts"
    assert "image" not in built.items.columns  # file / url say where each picture is
    # each vector is its own picture's, fetched or read from the file beside the catalogue
    for pid, picture in (("u5", CDN.pictures["/p/5.jpg"]), ("file", (tmp_path / "shop" / "local.jpg").read_bytes())):
        alone = embedder.embed_batch(load_image(picture)[None])[0]
        np.testing.assert_allclose(built.vectors[built.position(pid)], alone, atol=1e-4)


def test_a_rerun_asks_conditionally_and_embeds_only_what_changed(tmp_path, cdn, embedder):
    catalogue = write_catalogue(tmp_path / "shop", cdn)
    out = tmp_path / "index"
    with fetcher() as f:
        build_index(None, out, catalogue=catalogue, embedder=embedder, fetcher=f, progress=False)
        first = dict(CDN.downloads)
        again = build_index(None, out, catalogue=catalogue, embedder=embedder, fetcher=f, progress=False)
        assert again.embedded == 0 and again.reused == PRODUCTS + 2
        assert all(CDN.downloads[f"/p/{i}.jpg"] == first[f"/p/{i}.jpg"] == 1 for i in range(PRODUCTS))  # 304s
        assert CDN.downloads["/plain/0.jpg"] == 2  # no validators: downloaded, but its digest is known
        CDN.pictures["/p/3.jpg"], CDN.versions["/p/3.jpg"] = encode(product_picture(300)), 2
        changed = build_index(None, out, catalogue=catalogue, embedder=embedder, fetcher=f, progress=False)
    assert changed.embedded == 1 and changed.reused == PRODUCTS + 1
    built = index.load(out)
    alone = embedder.embed_batch(load_image(CDN.pictures["/p/3.jpg"])[None])[0]
    np.testing.assert_allclose(built.vectors[built.position("u3")], alone, atol=1e-4)
    assert built.items.iloc[built.position("u3")]["etag"] == '"2"'


def test_the_approximate_index_searches_a_url_catalogue_with_filters_and_more_like_this(tmp_path, cdn, embedder):
    """A catalogue of 26 is far below the threshold: --index-type approximate forces the index."""
    catalogue = write_catalogue(tmp_path / "shop", cdn)
    exact_dir, approx_dir = tmp_path / "exact", tmp_path / "approx"
    with fetcher() as f:
        build_index(None, exact_dir, catalogue=catalogue, embedder=embedder, fetcher=f, progress=False)
        report = build_index(None, approx_dir, catalogue=catalogue, embedder=embedder, fetcher=f, progress=False,
                             index_type="approximate")
    assert report.count == PRODUCTS + 2
    exact, approx = index.load(exact_dir), index.load(approx_dir)
    storage = approx.manifest["vector_storage"]
    assert storage["index_type"] == "approximate" and storage["approximate"]["library"] == "faiss"
    assert approx.approximate is not None and (approx_dir / "approximate.faiss").is_file()
    assert json.loads((approx_dir / "manifest.json").read_text())["files"]["approximate"] == "approximate.faiss"

    watches = index.filter_mask(approx.items, articleType="Watches")
    assert 5 <= watches.sum() < len(approx) / 2
    for product in ("u0", "u7", "file"):
        got = index.answer(approx, product, k=5, mask=watches)  # "More like this" with a filter
        want = index.answer(exact, product, k=5, mask=watches)
        assert len(got) == 5 and product not in set(got["id"])
        assert set(got["articleType"]) == {"Watches"}
        assert list(got["id"]) == list(want["id"])  # every candidate re-ranked exactly: a small catalogue
        np.testing.assert_allclose(got["score"], want["score"], atol=1e-5)
    trained = (approx_dir / "approximate.faiss").read_bytes()
    with fetcher() as f:  # nothing changed: the vectors are reused and the trained index copied
        again = build_index(None, approx_dir, catalogue=catalogue, embedder=embedder, fetcher=f, progress=False,
                            index_type="approximate")
    assert again.embedded == 0 and (approx_dir / "approximate.faiss").read_bytes() == trained
    assert "build_seconds" not in index.load(approx_dir).manifest["vector_storage"]["approximate"]
    whole = index.search(approx, approx.vector(approx.position("u2")), k=5, exclude_ids=["u2"])
    assert list(whole["id"]) == list(index.search(exact, exact.vectors[exact.position("u2")], k=5,
                                                  exclude_ids=["u2"])["id"])
