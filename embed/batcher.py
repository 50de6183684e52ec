"""Dynamic batching of visual queries: the photos that arrive together go through the model in
one forward pass (what Triton Inference Server's dynamic batcher, BentoML's adaptive batching and
TorchServe's batch inference do for their servers). A batch of 8 costs far less than 8 passes
of one (bench/embed_throughput.py), so a crowd of shoppers is served at the model's batch rate.

One Batcher per query engine, so one per process: the API's requests and all of the app's
sessions share their process's engine. A caller hands in one model input (224 x 224 x 3 uint8)
and blocks until its vector comes back, in the engine's own precision (fp32, bf16 or int8).
A worker thread takes what waits: a photo alone runs at once (a single query is never slower);
when more are coming, up to `max_batch` go together, the thread waiting at most `wait_ms` (from
the first one's arrival, or from the end of the last pass if that is later) for the batch to
fill. More are coming when photos wait beside the first, or when searches hold a slot whose
photos are still being read and decoded: without counting those, a crowd splits into small
cohorts that each reach the model just after the last pass started (16 searches at once on 2
cores, no health probe: 4.3 photos a pass, 5.9 with them counted). Admission is bounded:
`slot()`, taken before any work on a photo (the API takes it before reading the upload, the
app's Visual search before decoding), refuses with Busy once `max_queue` searches are in (the
API answers 503 with Retry-After: kept below its 40 worker threads, so a crowd never starves the
other routes);
`embed` refuses the same way past `max_queue` waiting. A caller that stops waiting (`timeout`)
is left out of the batch if its turn has not come, and every caller gets an answer or an error:
a failing pass, a short answer, anything. `max_batch=1` is one pass per photo, in arrival order.

The worker thread starts with the first photo and holds the batcher only weakly: `close()` (a
rebuilt index swapped in) ends it once what waits is done, and a dropped batcher's ends within
a second.
"""
from __future__ import annotations

import logging
import threading
import time
import weakref
from collections import deque
from contextlib import contextmanager
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

import settings

IDLE_CHECK_S = 1.0  # how often an idle worker checks whether its batcher is still wanted
SHAPE = (settings.IMAGE_SIZE, settings.IMAGE_SIZE, 3)  # one model input
log = logging.getLogger("vitrine.embed")


class Busy(Exception):
    """Too many photos are waiting for the model; try again after `retry_after` seconds."""

    def __init__(self, waiting: int, retry_after: int = 1):
        super().__init__(f"The image model has {waiting} photos waiting already; try again in {retry_after} s.")
        self.retry_after = retry_after


@dataclass
class _Job:
    image: np.ndarray
    arrived: float
    future: Future = field(default_factory=Future)


@dataclass
class Stats:
    """What the batcher has done: batches run and their sizes, photos left out (their caller gave
    up), photos refused (Busy), and batches that waited for more photos."""

    batches: int = 0
    photos: int = 0
    largest: int = 0
    waited: int = 0
    dropped: int = 0
    refused: int = 0
    observers: list = field(default_factory=list)  # callables(batch size, photos still waiting)


class Batcher:
    def __init__(self, forward: Callable[[np.ndarray], np.ndarray], *, max_batch: int | None = None,
                 wait_ms: float | None = None, max_queue: int | None = None):
        max_batch = settings.VISUAL_BATCH_MAX if max_batch is None else max_batch
        max_queue = settings.VISUAL_QUEUE_MAX if max_queue is None else max_queue
        if isinstance(max_batch, bool) or int(max_batch) != max_batch or max_batch < 1:
            raise ValueError(f"--visual-batch-max must be a whole number of at least 1, not {max_batch!r}.")
        if max_queue < 1:
            raise ValueError(f"VITRINE_VISUAL_QUEUE_MAX must be at least 1, not {max_queue!r}.")
        self.forward, self.max_batch, self.max_queue = forward, int(max_batch), int(max_queue)
        self.wait_s = max(0.0, settings.VISUAL_BATCH_WAIT_MS if wait_ms is None else wait_ms) / 1000
        self.stats = Stats()
        self._queue: deque[_Job] = deque()
        self._ready = threading.Condition()
        self._worker: threading.Thread | None = None
        self._admitted = 0
        self._closing = False
        self._free_since = 0.0  # when the last pass ended: a crowd's next photos are counted from it

    def waiting(self) -> int:
        return len(self._queue)

    @contextmanager
    def slot(self):
        """One search's place, taken before any work on its photo: Busy at once when
        `max_queue` searches are already in."""
        with self._ready:
            if self._admitted >= self.max_queue:
                self.stats.refused += 1
                raise Busy(self._admitted)
            self._admitted += 1
        try:
            yield
        finally:
            with self._ready:
                self._admitted -= 1

    def close(self, wait_s: float = 5.0) -> None:
        """No more batches once what waits is done; the worker ends (waited for up to `wait_s`),
        so a swapped-out model is not kept alive by its thread."""
        with self._ready:
            self._closing = True
            self._ready.notify_all()
            worker = self._worker
        if worker is not None and worker is not threading.current_thread():
            worker.join(wait_s)

    def embed(self, image: np.ndarray, timeout: float | None = None) -> np.ndarray:
        """The vector of one model input, from a batch shared with whatever waits beside it.
        Busy when the queue is full; TimeoutError after `timeout` seconds (default
        settings.VISUAL_TIMEOUT_S); the forward pass's own error if it fails."""
        image = np.asarray(image)
        if image.shape != SHAPE or image.dtype != np.uint8:
            raise ValueError(f"A model input is {SHAPE} uint8 (embed.images.model_input), not {image.shape} "
                             f"{image.dtype}.")
        job = _Job(image, time.monotonic())
        wait = settings.VISUAL_TIMEOUT_S if timeout is None else timeout
        with self._ready:
            if len(self._queue) >= self.max_queue:
                self.stats.refused += 1
                raise Busy(len(self._queue))
            self._queue.append(job)
            self._closing = False  # a search that fetched this engine before its swap is still served
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=_work, args=(weakref.ref(self),), daemon=True,
                                                name="vitrine-visual-batcher")
                self._worker.start()
            self._ready.notify()
        try:
            return job.future.result(wait)
        except FutureTimeout:
            if job.future.cancel():  # not started: it is left out of its batch
                raise TimeoutError(f"The image model did not take this photo within {wait:g} s.") from None
        try:  # its batch is running: the answer is one forward pass away, bounded all the same
            return job.future.result(wait)
        except FutureTimeout:
            raise TimeoutError(f"The image model took more than {wait:g} s over this photo's batch.") from None

    def _next(self) -> list[_Job] | None:
        """The next batch (None after IDLE_CHECK_S with nothing waiting)."""
        with self._ready:
            if not self._queue:
                self._ready.wait_for(lambda: self._queue or self._closing, IDLE_CHECK_S)
            if not self._queue:  # idle, or closing
                return None
            # Wait for more only when more are coming: photos already waiting beside the first,
            # or searches admitted (slot) whose photos are still being read and decoded.
            coming = min(self.max_batch, max(len(self._queue), self._admitted))
            if 1 < coming and len(self._queue) < coming and self.wait_s:
                deadline = max(self._queue[0].arrived, self._free_since) + self.wait_s
                if deadline > time.monotonic():
                    self.stats.waited += 1
                    self._ready.wait_for(lambda: len(self._queue) >= coming or self._closing,
                                         max(0.0, deadline - time.monotonic()))
            return [self._queue.popleft() for _ in range(min(self.max_batch, len(self._queue)))]

    def _run(self, batch: list[_Job]) -> None:
        live = [job for job in batch if job.future.set_running_or_notify_cancel()]
        self.stats.dropped += len(batch) - len(live)
        if not live:
            return
        try:
            vectors = np.asarray(self.forward(np.stack([job.image for job in live])))
            if len(vectors) != len(live):
                raise RuntimeError(f"The image model answered {len(vectors)} vectors for {len(live)} photos.")
            for job, vector in zip(live, vectors):
                job.future.set_result(vector)
        except Exception as exc:  # noqa: BLE001 - every caller of the batch gets it
            for job in live:
                if not job.future.done():
                    job.future.set_exception(exc)
            return
        finally:  # whatever happened (even an exit of the interpreter), no caller is left waiting
            self._free_since = time.monotonic()
            for job in live:
                if not job.future.done():
                    job.future.set_exception(RuntimeError("The image model stopped before answering."))
        self.stats.batches += 1
        self.stats.photos += len(live)
        self.stats.largest = max(self.stats.largest, len(live))
        for observe in self.stats.observers:
            try:
                observe(len(live), len(self._queue))
            except Exception:  # noqa: BLE001 - counting must never stop the batcher
                log.exception("A batch observer failed")


def _work(ref: "weakref.ref[Batcher]") -> None:
    """The worker: batches until its batcher is gone (a strong reference only while it works)."""
    while True:
        batcher = ref()
        if batcher is None:
            return
        batch = batcher._next()
        if batch:
            batcher._run(batch)
        elif batcher._closing:  # closed and nothing waits: a later photo starts a new worker
            return
        del batcher, batch
