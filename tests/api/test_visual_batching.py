"""POST /v1/visual-search through the batcher (embed/batcher.py) on a real server: photos posted
together share forward passes and each gets the answer it gets alone; a full queue is a 503 with
Retry-After, counted in /metrics, and the searches that were let in still answer."""
from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from embed.batcher import Batcher
from tests.helpers import encode, product_picture, uvicorn_server


@pytest.fixture
def served(tmp_path, tiny_visual_index, monkeypatch):
    from api.app import create_app
    from api.keys import Keys
    from api.store import Store
    from tests.conftest import _use_tiny_index

    _use_tiny_index(monkeypatch, tiny_visual_index)
    store = Store(tmp_path / "artifacts")
    visual = store.get("visual")  # loaded, so the test can put its own gate in front of the model
    app = create_app(store, Keys({}), no_auth=True)
    with uvicorn_server(app) as url:
        yield url, visual.engine


def _search(url: str, photo: bytes) -> httpx.Response:
    return httpx.post(url + "/v1/visual-search", files={"image": ("p.jpg", photo, "image/jpeg")}, timeout=120)


def _ids(answer: httpx.Response) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [r["id"] for r in answer.json()["results"]]


def test_photos_posted_together_share_passes_and_get_their_own_answers(served):
    url, engine = served
    photos = [encode(product_picture(seed)) for seed in range(6)]
    alone = [_ids(_search(url, photo)) for photo in photos]
    sizes, go = [], threading.Event()

    def gated(images):  # the real model, held until every photo has arrived
        sizes.append(len(images))
        assert go.wait(60)
        return engine.embedder.embed_batch(images)

    engine.batcher = Batcher(gated, max_batch=8, wait_ms=0, max_queue=16)
    with ThreadPoolExecutor(6) as pool:
        answers = [pool.submit(_search, url, photo) for photo in photos]
        while engine.batcher.waiting() < 5:  # the first is in the model, five wait behind it
            threading.Event().wait(0.01)
        go.set()
        together = [_ids(a.result(120)) for a in answers]
    assert together == alone and sizes == [1, 5]


def test_a_full_queue_is_a_503_with_retry_after_and_the_admitted_still_answer(served):
    url, engine = served
    go, entered = threading.Event(), threading.Event()

    def gated(images):
        entered.set()
        assert go.wait(60)
        return engine.embedder.embed_batch(images)

    engine.batcher = Batcher(gated, max_batch=1, wait_ms=0, max_queue=2)  # two searches in at once
    photo = encode(product_picture(7))
    refused_before = _refused(url)
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(_search, url, photo)
        assert entered.wait(60)  # the first is in the model
        second = pool.submit(_search, url, photo)
        while engine.batcher.waiting() < 1:  # the second waits for the model: two searches are in
            threading.Event().wait(0.01)
        third = _search(url, photo)  # refused before its photo is decoded
        assert third.status_code == 503 and third.headers["Retry-After"] == "1"
        assert "photos waiting already" in third.json()["detail"]
        go.set()
        assert len(_ids(first.result(120))) == len(_ids(second.result(120))) == 5
    assert _refused(url) == refused_before + 1


def _refused(url: str) -> float:
    text = httpx.get(url + "/metrics", timeout=30).text
    found = re.search(r"^vitrine_visual_refused_total (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0
