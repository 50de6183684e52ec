"""Catalogue images by URL against a real HTTP server on 127.0.0.1: what comes back, what is
refused and why (404, a slow server, an oversize body, a redirect loop or to another scheme),
retries of what may pass, conditional requests, and order and bounds when fetching many."""
from __future__ import annotations

import io
import threading
import time
from http.server import BaseHTTPRequestHandler

import pytest
from PIL import Image

from common.errors import InputError
from embed.fetch import Fetcher, check_url, is_url
from embed.images import load_image
from tests.helpers import http_server


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(out, "JPEG")
    return out.getvalue()


PICTURE = _jpeg()


class Shop(BaseHTTPRequestHandler):
    hits: dict[str, int] = {}
    in_flight = 0
    most_in_flight = 0
    lock = threading.Lock()

    def log_message(self, *args):  # quiet
        pass

    def _send(self, status: int, body: bytes = b"", **headers) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        if "Content_Length" not in headers:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        cls = type(self)
        with cls.lock:
            cls.hits[self.path] = cls.hits.get(self.path, 0) + 1
            cls.in_flight += 1
            cls.most_in_flight = max(cls.most_in_flight, cls.in_flight)
        try:
            self._route(cls.hits[self.path])
        finally:
            with cls.lock:
                cls.in_flight -= 1

    def _route(self, hit: int) -> None:
        path = self.path
        if path.startswith("/ok"):
            if self.headers.get("If-None-Match") == '"v1"':
                return self._send(304)
            time.sleep(0.05)  # long enough for several to overlap
            return self._send(200, PICTURE, Content_Type="image/jpeg", ETag='"v1"',
                              Last_Modified="Tue, 01 Dec 2026 10:00:00 GMT")
        if path == "/missing":
            return self._send(404, b"no")
        if path == "/slow":
            time.sleep(2)
            return self._send(200, PICTURE)
        if path == "/page":
            return self._send(200, b"<html><body>not a picture</body></html>", Content_Type="text/html")
        if path == "/huge":  # says nothing of its size, then sends too much
            self.send_response(200)
            self.end_headers()
            for _ in range(40):
                self.wfile.write(b"\xff" * 65536)
            return None
        if path == "/loop":
            return self._send(302, Location="/loop")
        if path == "/to-ftp":
            return self._send(301, Location="ftp://127.0.0.1/picture.jpg")
        if path == "/moved":
            return self._send(302, Location="/ok-moved")
        if path == "/flaky":  # fails twice, then works
            return self._send(503, b"busy") if hit <= 2 else self._send(200, PICTURE)
        return self._send(500, b"?")


@pytest.fixture()
def shop():
    Shop.hits, Shop.in_flight, Shop.most_in_flight = {}, 0, 0
    with http_server(Shop) as url:
        yield url


def fetcher(**kw) -> Fetcher:
    return Fetcher(**{"timeout": 1.0, "retries": 2, "max_bytes": 1_000_000, "sleep": lambda s: None,
                      "allow": "127.0.0.1", **kw})  # the test server is on loopback: allowed explicitly


def test_a_picture_comes_back_with_its_validators_and_decodes(shop):
    with fetcher() as f:
        got = f.fetch(f"{shop}/ok.jpg")
    assert got.ok and got.data == PICTURE and got.etag == '"v1"' and got.last_modified.endswith("GMT")
    assert load_image(got.data).shape == (224, 224, 3)


def test_every_failure_is_an_answer_with_its_reason(shop):
    with fetcher() as f:
        reasons = {path: f.fetch(f"{shop}{path}").reason for path in ("/missing", "/slow", "/huge", "/loop", "/to-ftp")}
    assert reasons["/missing"] == "HTTP 404 Not Found"
    assert reasons["/slow"] == "no answer within 1 s"
    assert reasons["/huge"] == "larger than 1 MB"  # counted while streaming: no Content-Length
    assert reasons["/loop"] == "more than 5 redirects"
    assert reasons["/to-ftp"].startswith("redirected to a ftp URL")
    assert Shop.hits["/slow"] == 3 and Shop.hits["/missing"] == 1  # a timeout is retried, a 404 is not


def test_a_web_page_is_fetched_but_refused_by_the_image_checks(shop):
    with fetcher() as f:
        got = f.fetch(f"{shop}/page")
    assert got.ok and got.data.startswith(b"<html>")
    with pytest.raises(InputError, match="web page"):
        load_image(got.data)


def test_retries_with_back_off_then_success_and_redirects_followed(shop):
    waits = []
    with fetcher(sleep=waits.append, backoff=0.25) as f:
        got = f.fetch(f"{shop}/flaky")
        moved = f.fetch(f"{shop}/moved")
    assert got.ok and got.data == PICTURE and Shop.hits["/flaky"] == 3 and waits == [0.25, 0.5]
    assert moved.ok and moved.data == PICTURE and moved.url == f"{shop}/moved"
    Shop.hits.pop("/flaky")
    with fetcher(retries=1) as f:  # two tries, both busy
        assert f.fetch(f"{shop}/flaky").reason == "HTTP 503 Service Unavailable"


def test_a_conditional_request_answered_304_reads_nothing(shop):
    with fetcher() as f:
        again = f.fetch(f"{shop}/ok.jpg", etag='"v1"')
    assert again.ok and again.not_modified and again.data is None


def test_many_are_fetched_in_order_a_bounded_number_at_once(shop):
    urls = [(f"{shop}/ok-{i}.jpg", "", "") for i in range(24)] + [(f"{shop}/missing", "", "")]
    with fetcher(workers=4) as f:
        got = list(f.fetch_all(urls))
    assert [g.url for g in got] == [u for u, _, _ in urls]
    assert all(g.ok for g in got[:-1]) and got[-1].reason == "HTTP 404 Not Found"
    assert 2 <= Shop.most_in_flight <= 4


def test_only_http_and_https_urls_are_fetched():
    assert is_url("https://cdn.example.com/a.jpg") and not is_url("images/a.jpg") and not is_url("ftp://x/a.jpg")
    for bad in ("ftp://example.com/a.jpg", "file:///etc/passwd", "http://", "images/a.jpg"):
        with pytest.raises(InputError, match="http"):
            check_url(bad)
    with fetcher() as f:
        assert "not an http or https URL" in f.fetch("file:///etc/passwd").reason
