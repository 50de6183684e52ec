"""What the API is doing, in Prometheus's text format at GET /metrics (prometheus-client): the
requests and their latency by route and status, the garbage collector's pauses by generation,
the visual queries' batch sizes, queue and refusals, and the version of every loaded artifact. An admin key reads it (a scraper sends it as a
bearer token); like every path outside /v1/, it is closed to read keys.

Routes are labelled by their template (`/v1/similar-products`, never the id asked for), so a
caller cannot grow the label set; paths no route matches, and requests the guard refused before
routing (401, 403, 429), share the label "unmatched".

With `python -m api --workers N` every worker counts in files under PROMETHEUS_MULTIPROC_DIR
(the command sets it to a private temporary folder) and /metrics adds up all the workers, as
prometheus-client's multiprocess mode does; with one process the counts live in memory.
"""
from __future__ import annotations

import contextlib
import os
import re
import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import REGISTRY as PROCESS_REGISTRY

from common import heap

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
PAUSE_BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)

REQUESTS = Counter("vitrine_requests", "HTTP requests answered, by route template, method and status",
                   ["route", "method", "status"])
LATENCY = Histogram("vitrine_request_seconds", "Time from a request's arrival to its last byte sent, by route",
                    ["route"], buckets=LATENCY_BUCKETS)
GC_PAUSES = Histogram("vitrine_gc_pause_seconds", "Pauses of Python's cyclic garbage collector, by generation",
                      ["generation"], buckets=PAUSE_BUCKETS)
BATCH_SIZES = Histogram("vitrine_visual_batch_size", "Photos in each forward pass of the image model",
                        buckets=(1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64))
QUEUE_DEPTH = Gauge("vitrine_visual_queue_depth", "Photos waiting for the image model, as of the last pass",
                    multiprocess_mode="livesum")
REFUSED = Counter("vitrine_visual_refused", "Visual searches refused (503) because too many photos waited")
ARTIFACTS = Gauge("vitrine_artifact_loaded", "1 for each artifact version a worker serves (kind, data set, version)",
                  ["kind", "dataset", "version"], multiprocess_mode="livemax")


METHODS = frozenset({"GET", "POST", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"})


def start() -> None:
    """Count the collector's pauses in this process (once per process)."""
    heap.record_pauses()


def _publish_pauses() -> None:
    """The pauses since the last call into the histogram: never from inside a collection
    (prometheus-client takes a lock a collection may have interrupted: common/heap.py)."""
    for generation, seconds in heap.pauses.drain():
        GC_PAUSES.labels(str(generation)).observe(seconds)


def batching(batcher) -> None:
    """Count the batch sizes and the queue of a visual engine's batcher (embed/batcher.py)."""
    batcher.stats.observers.append(_observe_batch)


def _observe_batch(size: int, waiting: int) -> None:
    BATCH_SIZES.observe(size)
    QUEUE_DEPTH.set(waiting)


def loaded(kind: str, dataset: str, version: str, previous: str | None = None) -> None:
    """An artifact version now serves; the one it replaced no longer does: removed with one
    process; with workers it is 0 (the highest across live workers counts: 1 while any still
    serves it; a worker's series cannot be removed from the others' files)."""
    if previous is not None and previous != version:
        if os.environ.get(MULTIPROC_ENV):
            ARTIFACTS.labels(kind, dataset, previous).set(0)
        else:
            try:
                ARTIFACTS.remove(kind, dataset, previous)
            except KeyError:
                pass
    ARTIFACTS.labels(kind, dataset, version).set(1)


def exposition() -> tuple[bytes, str]:
    """(the text of every metric, its content type): all workers' in multiprocess mode."""
    _publish_pauses()
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        _forget_dead_workers(multiprocess, os.environ[MULTIPROC_ENV])
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(PROCESS_REGISTRY), CONTENT_TYPE_LATEST


def _forget_dead_workers(multiprocess, folder: str) -> None:
    """A worker that died (uvicorn starts another in its place) leaves its files: its counts
    still add up (they happened), but its gauges (queue depth, versions served) no longer hold."""
    for pid in {int(m.group(1)) for m in (re.search(r"_(\d+)\.db$", f) for f in os.listdir(folder)) if m}:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            with contextlib.suppress(FileNotFoundError):  # another scrape removed them first
                multiprocess.mark_process_dead(pid, folder)
        except PermissionError:  # alive, someone else's
            pass


class Measured:
    """ASGI middleware, outermost: every answer counted by its route's template and status, the
    refusals of the guard (401, 403, 413, 429) included."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = [500]

        async def watched(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            return await send(message)

        try:
            await self.app(scope, receive, watched)
        finally:
            route = scope.get("route")
            name = getattr(route, "path", None) or "unmatched"
            method = scope["method"] if scope["method"] in METHODS else "other"  # a parser may pass any token
            REQUESTS.labels(name, method, str(status[0])).inc()
            LATENCY.labels(name).observe(time.perf_counter() - started)
            _publish_pauses()
