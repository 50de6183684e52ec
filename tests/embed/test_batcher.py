"""Visual queries batched (embed/batcher.py): photos waiting together share one forward pass of
the real model and get the vectors a pass of their own gives; a photo alone never waits for
company; a full queue refuses at once; a caller that gave up is left out; a failing pass fails
every caller of its batch, and the batcher goes on."""
from __future__ import annotations

import threading
import weakref
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import settings
from embed.batcher import Batcher, Busy


@pytest.fixture(scope="module")
def embedder():
    from embed.model import Embedder

    model = Embedder("none", "fp32")  # random weights: the real network, no download
    model.warm_up()
    return model


def pictures(n: int, seed: int = 0) -> np.ndarray:
    size = settings.IMAGE_SIZE
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


class Gate:
    """A forward pass that waits until the test opens it, recording each batch's size."""

    def __init__(self, forward):
        self.forward, self.sizes, self.open, self.entered = forward, [], threading.Event(), threading.Event()

    def __call__(self, images):
        self.sizes.append(len(images))
        self.entered.set()
        assert self.open.wait(60)
        return self.forward(images)


def test_photos_waiting_together_share_one_pass_and_get_their_own_vectors(embedder):
    images = pictures(9)
    alone = embedder.embed_batch(images)
    gate = Gate(embedder.embed_batch)
    batcher = Batcher(gate, max_batch=8, wait_ms=50, max_queue=64)
    with ThreadPoolExecutor(9) as pool:
        first = pool.submit(batcher.embed, images[0])  # runs alone while the others queue behind it
        assert gate.entered.wait(60)
        rest = [pool.submit(batcher.embed, image) for image in images[1:]]
        while batcher.waiting() < 8:
            threading.Event().wait(0.01)
        gate.open.set()
        got = np.stack([first.result(60)] + [f.result(60) for f in rest])
    assert gate.sizes == [1, 8]  # one pass for the lone first photo, one for the eight that waited
    np.testing.assert_allclose(got, alone, atol=2e-5)  # batched or not, the same vector per photo
    assert batcher.stats.batches == 2 and batcher.stats.largest == 8 and batcher.stats.photos == 9


def test_a_photo_alone_does_not_wait_for_company(embedder):
    batcher = Batcher(embedder.embed_batch, max_batch=8, wait_ms=10_000, max_queue=8)
    for image in pictures(3, seed=1):
        batcher.embed(image, timeout=60)  # a 10 s wait would time out here, were it taken
    assert batcher.stats.batches == 3 and batcher.stats.waited == 0 and batcher.stats.largest == 1


def test_searches_admitted_but_still_decoding_are_waited_for(embedder):
    """A crowd's photos reach the model a few milliseconds apart (each is read and decoded first):
    a search that holds a slot is counted as coming, so the pass waits (up to wait_ms) and takes
    them together instead of running the first alone; a lone search with its slot never waits."""
    gate = Gate(embedder.embed_batch)
    gate.open.set()
    batcher = Batcher(gate, max_batch=8, wait_ms=10_000, max_queue=8)
    with batcher.slot():
        batcher.embed(pictures(1, seed=5)[0], timeout=60)  # alone with its slot: at once
    assert gate.sizes == [1] and batcher.stats.waited == 0
    admitted, late = threading.Barrier(3), threading.Event()

    def search(image, delay):
        with batcher.slot():
            admitted.wait(60)
            if delay:
                late.wait(0.3)  # still "decoding" when the first photo is already queued
            return batcher.embed(image, timeout=60)

    images = pictures(3, seed=6)
    with ThreadPoolExecutor(3) as pool:
        got = list(pool.map(search, images, [0, 1, 1]))
    assert gate.sizes == [1, 3]  # the three admitted searches in one pass, not the first alone
    assert batcher.stats.waited == 1
    np.testing.assert_allclose(np.stack(got), embedder.embed_batch(images), atol=2e-5)


def test_batch_max_1_is_one_pass_per_photo_in_arrival_order(embedder):
    gate = Gate(embedder.embed_batch)
    batcher = Batcher(gate, max_batch=1, wait_ms=50, max_queue=8)
    gate.open.set()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda image: batcher.embed(image, timeout=60), pictures(4, seed=2)))
    assert gate.sizes == [1, 1, 1, 1]


def test_a_full_queue_refuses_at_once_and_a_caller_that_gave_up_is_left_out(embedder):
    gate = Gate(embedder.embed_batch)
    batcher = Batcher(gate, max_batch=2, wait_ms=0, max_queue=2)
    images = pictures(4, seed=3)
    with ThreadPoolExecutor(4) as pool:
        running = pool.submit(batcher.embed, images[0], 60)
        assert gate.entered.wait(60)  # the model is busy with the first photo
        waiting = pool.submit(batcher.embed, images[1], 60)
        impatient = pool.submit(batcher.embed, images[2], 0.2)  # gives up before its turn
        while batcher.waiting() < 2:
            threading.Event().wait(0.01)
        with pytest.raises(Busy) as busy:
            batcher.embed(images[3])
        assert busy.value.retry_after >= 1 and "2 photos waiting" in str(busy.value)
        with pytest.raises(TimeoutError, match="did not take this photo"):
            impatient.result(60)
        gate.open.set()
        assert running.result(60).shape == waiting.result(60).shape == (embedder.dims,)
    assert gate.sizes == [1, 1]  # the impatient photo never reached the model
    assert batcher.stats.dropped == 1 and batcher.stats.refused == 1


def test_a_failing_pass_fails_its_callers_and_the_next_batch_runs(embedder):
    calls = []

    def forward(images):
        calls.append(len(images))
        if len(calls) == 1:
            raise RuntimeError("out of memory")
        return embedder.embed_batch(images)

    batcher = Batcher(forward, max_batch=4, wait_ms=0, max_queue=8)
    with pytest.raises(RuntimeError, match="out of memory"):
        batcher.embed(pictures(1)[0], timeout=60)
    assert batcher.embed(pictures(1, seed=4)[0], timeout=60).shape == (embedder.dims,)


def test_the_worker_ends_when_its_batcher_is_dropped(embedder, monkeypatch):
    import embed.batcher as module

    monkeypatch.setattr(module, "IDLE_CHECK_S", 0.05)
    batcher = Batcher(embedder.embed_batch, max_batch=2, wait_ms=0, max_queue=2)
    batcher.embed(pictures(1)[0], timeout=60)
    worker, gone = batcher._worker, weakref.ref(batcher)
    del batcher
    worker.join(10)
    assert gone() is None and not worker.is_alive()  # a swapped-out engine takes its thread with it


def test_a_bad_batch_size_is_one_line():
    with pytest.raises(ValueError, match="--visual-batch-max must be a whole number of at least 1, not 0"):
        Batcher(lambda images: images, max_batch=0)


def test_every_caller_gets_an_answer_whatever_goes_wrong_after_the_pass(embedder):
    batcher = Batcher(embedder.embed_batch, max_batch=4, wait_ms=0, max_queue=8)
    batcher.stats.observers.append(lambda size, waiting: 1 / 0)  # a broken counter
    assert batcher.embed(pictures(1)[0], timeout=60).shape == (embedder.dims,)
    assert batcher.embed(pictures(1, seed=5)[0], timeout=60).shape == (embedder.dims,)  # the worker lives on
    short = Batcher(lambda images: embedder.embed_batch(images[:1]), max_batch=4, wait_ms=0, max_queue=8)
    gate = Gate(short.forward)
    short.forward = gate
    with ThreadPoolExecutor(3) as pool:
        first = pool.submit(short.embed, pictures(1)[0], 60)
        assert gate.entered.wait(60)
        rest = [pool.submit(short.embed, image, 60) for image in pictures(2, seed=6)]
        while short.waiting() < 2:
            threading.Event().wait(0.01)
        gate.open.set()
        first.result(60)
        for answer in rest:  # a pass answering one vector for two photos: both told, none left waiting
            with pytest.raises(RuntimeError, match="answered 1 vectors for 2 photos"):
                answer.result(60)


def test_a_slot_is_taken_before_any_work_and_a_wrong_input_is_refused_alone(embedder):
    batcher = Batcher(embedder.embed_batch, max_batch=2, wait_ms=0, max_queue=1)
    with batcher.slot():
        with pytest.raises(Busy):
            with batcher.slot():
                pass
    with batcher.slot():  # given back
        pass
    with pytest.raises(ValueError, match=r"A model input is \(224, 224, 3\) uint8"):
        batcher.embed(np.zeros((5, 5, 3), np.uint8))


def test_close_ends_the_worker_once_what_waits_is_done(embedder):
    batcher = Batcher(embedder.embed_batch, max_batch=2, wait_ms=0, max_queue=4)
    batcher.embed(pictures(1)[0], timeout=60)
    worker = batcher._worker
    batcher.close()
    assert not worker.is_alive()  # a swapped-out model is not held by its thread
    assert batcher.embed(pictures(1, seed=7)[0], timeout=60).shape == (embedder.dims,)  # a late search still served
