"""The offline job: a catalogue of images -> a visual index folder (format: `embed.index`),
streamed, resumable and incremental.

- Streamed: images are decoded in worker threads ahead of the model (bounded prefetch), and
  vectors go to disk every `checkpoint_every` images, so memory does not grow with the catalogue.
- Resumable: finished chunks live in `<out>.partial/`; a killed job started again skips them. The
  chunks cover the same slices of the work list as before, so the batches the model sees, and
  hence the vectors, are the same as in an uninterrupted run.
- Incremental: vectors of the previous index are reused for every (id, file sha256) it holds,
  when it was built by the same model, weights, precision and preprocessing.
- Atomic: the final folder is written beside `out` and swapped in at the end.
- Never dark: `on_progress` hears once at the start, after every batch, and about every second
  while a batch or a decode is slow, independent of the checkpoint interval.
"""
from __future__ import annotations

import os
import shutil
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from tqdm import tqdm

import settings
from common.artifacts import library_versions, read_json, write_json_atomic
from common.errors import ArtifactError, InputError
from common.pool import ordered_map
from embed import index
from embed.catalog import CatalogError, CatalogItem, input_digest, read_catalog, scan_images, with_digests
from embed.images import ImageError, load_image
from embed.weights import Weights, check_precision, model_identity, parse_weights

ProgressCallback = Callable[[int, int, float], None]  # (done, total, images per second)
# While the model or a decode is slow, progress is reported again after this many seconds (the
# model runs in its own thread so the caller's thread, a Streamlit page's, can report).
HEARTBEAT_SECONDS = 1.0


class BuildError(InputError):
    """The job cannot produce an index from these inputs; the message says why and what to do."""


@dataclass
class BuildReport:
    out: Path
    count: int
    embedded: int
    reused: int
    skipped: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    embed_seconds: float = 0.0  # decoding + model time only, without start-up and hashing

    @property
    def images_per_second(self) -> float:
        return self.embedded / self.embed_seconds if self.embed_seconds > 0 else 0.0


def partial_dir(out: Path) -> Path:
    return Path(out).with_name(Path(out).name + ".partial")




def _decode(images_dir: Path, item: CatalogItem):
    try:
        return load_image(images_dir / item.file), ""
    except ImageError as exc:
        return None, str(exc)


# ---- what can be reused -------------------------------------------------------------------

@dataclass
class _Known:
    """Vectors already computed, by (id, sha256): in the previous index or in finished chunks."""
    where: dict[tuple[str, str], tuple[str, int]] = field(default_factory=dict)  # -> (file, row)
    skipped: dict[tuple[str, str], str] = field(default_factory=dict)  # -> reason
    chunks: int = 0


def _previous_index(out: Path, identity: dict, known: _Known) -> None:
    """Offer the vectors of a whole previous index at `out` built the same way; else nothing."""
    try:
        previous = index.load(out)
    except ArtifactError:
        return  # none, older or damaged: everything is embedded again
    if previous.manifest.get("identity") != identity or "sha256" not in previous.items.columns:
        return  # another model, weights or preprocessing: its vectors are not comparable
    name = str(out / index.VECTORS_FILE)
    for row, key in enumerate(zip(previous.ids, previous.items["sha256"])):
        known.where[key] = (name, row)


def _finished_chunks(work: Path, state: dict, known: _Known) -> None:
    state_file = work / "state.json"
    if work.exists() and (not state_file.is_file() or read_json(state_file) != state):
        shutil.rmtree(work)  # left by a job with other settings: not reusable
    work.mkdir(parents=True, exist_ok=True)
    if not state_file.is_file():
        write_json_atomic(state_file, state)
    for table in sorted(work.glob("chunk-*.csv")):  # the .csv is renamed in last: chunk complete
        rows = pd.read_csv(table, dtype=str, keep_default_na=False)
        vectors_file = str(table.with_suffix(".npy"))
        ok = rows[rows["status"] == "ok"]
        for row, key in enumerate(zip(ok["id"], ok["sha256"])):
            known.where[key] = (vectors_file, row)
        for key, reason in zip(zip(rows["id"], rows["sha256"]), rows["reason"]):
            if reason:
                known.skipped[key] = reason
        known.chunks += 1


def _save_chunk(work: Path, number: int, rows: list[tuple], vectors: list[np.ndarray], dims: int) -> None:
    stem = work / f"chunk-{number:05d}"
    matrix = np.concatenate(vectors) if vectors else np.zeros((0, dims), np.float32)
    tmp_npy = stem.with_name(stem.name + ".npy.tmp")
    with open(tmp_npy, "wb") as f:
        np.save(f, matrix.astype(np.float32, copy=False))
    os.replace(tmp_npy, stem.with_suffix(".npy"))
    tmp_csv = stem.with_name(stem.name + ".csv.tmp")
    pd.DataFrame(rows, columns=["id", "sha256", "status", "reason"]).to_csv(tmp_csv, index=False)
    os.replace(tmp_csv, stem.with_suffix(".csv"))


# ---- the job ------------------------------------------------------------------------------

def build_index(
    images_dir: Path,
    out: Path,
    *,
    catalog: Path | None = None,
    weights: str | Weights | None = None,
    precision: str | None = None,
    batch_size: int = settings.BATCH_SIZE,
    limit: int | None = None,
    checkpoint_every: int = settings.CHECKPOINT_EVERY,
    workers: int | None = None,
    progress: bool = True,
    on_progress: ProgressCallback | None = None,
    embedder=None,
    rebuild: str | None = None,
) -> BuildReport:
    """Embed every image under `images_dir` (restricted to `catalog` ids if given) into `out`."""
    started = time.perf_counter()
    images_dir, out = Path(images_dir), Path(out)
    if batch_size < 1 or checkpoint_every < 1:
        raise BuildError("--batch-size and the checkpoint interval must be at least 1.")
    # Whole batches per chunk keep batch composition the same across resumes.
    checkpoint_every = max(batch_size, checkpoint_every // batch_size * batch_size)
    workers = workers or min(4, os.cpu_count() or 1)
    weights = embedder.weights if embedder is not None else (
        weights if isinstance(weights, Weights) else parse_weights(weights))
    precision = embedder.precision if embedder is not None else check_precision(precision)
    identity = model_identity(weights, precision)
    _check_out(out)

    meta = read_catalog(catalog) if catalog else None
    items = scan_images(images_dir, set(meta["id"]) if meta is not None else None)
    without_image = len(meta) - len(items) if meta is not None else None
    items = items[:limit] if limit is not None else items
    if not items:
        where = f" with a row in {catalog}" if catalog else ""
        raise CatalogError(f"No images ({', '.join(['jpg', 'png', 'webp'])}...){where} found in {images_dir}.")
    if on_progress:
        on_progress(0, len(items), 0.0)  # a page can say "starting" while files are hashed and the model loads
    items = with_digests(images_dir, items, workers, progress)

    known = _Known()
    _previous_index(out, identity, known)
    work = partial_dir(out)
    _finished_chunks(work, {"identity": identity, "batch_size": batch_size,
                            "checkpoint_every": checkpoint_every}, known)
    todo = [it for it in items if (it.id, it.sha256) not in known.where
            and (it.id, it.sha256) not in known.skipped]

    embed_seconds = 0.0
    if todo:
        if embedder is None:
            from embed.model import Embedder  # TensorFlow loads only when there is work
            embedder = Embedder(weights, precision)
        embed_seconds = _embed_todo(images_dir, todo, work, known.chunks, embedder, batch_size, checkpoint_every,
                    workers, progress, on_progress, len(items) - len(todo), len(items))
        known = _Known()
        _previous_index(out, identity, known)
        _finished_chunks(work, {"identity": identity, "batch_size": batch_size,
                                "checkpoint_every": checkpoint_every}, known)
    elif on_progress:
        on_progress(len(items), len(items), 0.0)  # all reused: done at once

    report = _assemble(out, images_dir, catalog, meta, items, known, identity, weights, started,
                       embedded={(it.id, it.sha256) for it in todo}, without_image=without_image,
                       embed_seconds=embed_seconds, rebuild=rebuild)
    shutil.rmtree(work, ignore_errors=True)
    return report


def _check_out(out: Path) -> None:
    """Refuse to replace a folder that is not a visual index (an old or damaged one may go)."""
    if out.exists() and any(out.iterdir()) and not index.is_index(out):
        raise BuildError(f"{out} exists and is not a visual index; choose another --out "
                         "(nothing was changed).")


class _Progress:
    """Counts images done; tells tqdm and `on_progress` after every batch and, while waiting on
    a slow batch or decode, every HEARTBEAT_SECONDS, always from the caller's thread."""

    def __init__(self, on_progress: ProgressCallback | None, bar: tqdm, done_before: int, total: int):
        self.on_progress, self.bar, self.done_before, self.total = on_progress, bar, done_before, total
        self.t0 = time.perf_counter()
        self.due = self.t0 + HEARTBEAT_SECONDS
        self.done = 0

    def advance(self, done: int) -> None:
        """`done` images of this run are finished (embedded or skipped)."""
        if done != self.done:
            self.bar.update(done - self.done)
            self.done = done
            self._report()

    def wait(self, future: Future):
        """The future's result, reporting about every second until it comes."""
        while True:
            try:
                return future.result(timeout=max(0.0, self.due - time.perf_counter()))
            except TimeoutError:
                if future.done():  # the task itself raised TimeoutError
                    raise
                self.bar.refresh()
                self._report()

    def _report(self) -> None:
        now = time.perf_counter()
        self.due = now + HEARTBEAT_SECONDS
        if self.on_progress:
            self.on_progress(self.done_before + self.done, self.total, self.done / max(now - self.t0, 1e-9))


def _embed_todo(images_dir, todo, work, first_chunk, embedder, batch_size, checkpoint_every,
                workers, progress, on_progress, done_before, total) -> float:
    """Decode ahead in threads, embed in batches, save a chunk every `checkpoint_every`; seconds."""
    bar = tqdm(total=len(todo), desc="Embedding", unit="img", disable=not progress, smoothing=0.1)
    t0, done = time.perf_counter(), 0
    tracker = _Progress(on_progress, bar, done_before, total)
    with ThreadPoolExecutor(workers) as pool, ThreadPoolExecutor(1, thread_name_prefix="embed") as model:
        decoded = ordered_map(pool, lambda it: _decode(images_dir, it), todo, depth=batch_size * 3,
                            wait=tracker.wait)

        def embed(batch: list[np.ndarray]) -> np.ndarray:
            return tracker.wait(model.submit(embedder.embed_batch, np.stack(batch)))

        for number, start in enumerate(range(0, len(todo), checkpoint_every), start=first_chunk):
            chunk = todo[start:start + checkpoint_every]
            rows, vectors, batch = [], [], []
            for item in chunk:
                pixels, reason = next(decoded)
                rows.append((item.id, item.sha256, "ok" if pixels is not None else "skipped", reason))
                if pixels is not None:
                    batch.append(pixels)
                if len(batch) == batch_size:
                    vectors.append(embed(batch))
                    batch = []
                    tracker.advance(done + len(rows))
            if batch:
                vectors.append(embed(batch))
            _save_chunk(work, number, rows, vectors, embedder.dims)
            done += len(chunk)
            tracker.advance(done)
    bar.close()
    return time.perf_counter() - t0


def _assemble(out, images_dir, catalog, meta, items, known, identity, weights, started, *,
              embedded, without_image, embed_seconds, rebuild=None) -> BuildReport:
    kept = [it for it in items if (it.id, it.sha256) in known.where]
    skipped = [{"id": it.id, "file": it.file, "reason": known.skipped.get((it.id, it.sha256), "not embedded")}
               for it in items if (it.id, it.sha256) not in known.where]
    if not kept:
        raise BuildError(f"None of the {len(items)} images could be read; see the reasons above.")
    n_embedded = sum((it.id, it.sha256) in embedded for it in kept)
    reused = len(kept) - n_embedded
    table = pd.DataFrame([(it.id, it.file, it.sha256) for it in kept], columns=["id", "file", "sha256"])
    if meta is not None:
        table = table.merge(meta, on="id", how="left", validate="one_to_one")
    manifest = {
        "identity": identity,
        "model": identity["model"],
        "weights_source": weights.label,
        "precision": identity["precision"],
        "preprocessing": identity["preprocessing"],
        "skipped": skipped,
        "images_dir": str(images_dir.resolve()),
        "catalog": str(Path(catalog).resolve()) if catalog else None,
        "catalog_rows_without_image": without_image,
        "input_digest": input_digest(items),
        "library_versions": library_versions("tensorflow", "tensorflow-cpu", "keras", "numpy", "pillow",
                                             "pandas"),
    }
    with index.writing(out, table, identity["dims"], manifest, rebuild) as (matrix, draft):
        by_file: dict[str, tuple[list[int], list[int]]] = {}
        for pos, it in enumerate(kept):
            name, row = known.where[(it.id, it.sha256)]
            dest, src = by_file.setdefault(name, ([], []))
            dest.append(pos)
            src.append(row)
        for name, (dest, src) in by_file.items():  # one source file in memory at a time
            source = np.load(name, mmap_mode="r")
            matrix[np.asarray(dest)] = source[np.asarray(src)]
            del source
        seconds = time.perf_counter() - started
        draft.manifest["build"] = {
            "embedded": n_embedded, "reused": reused, "seconds": round(seconds, 2),
            "embedding_seconds": round(embed_seconds, 2),
            "images_per_second": round(n_embedded / embed_seconds, 2) if embed_seconds else None,
        }
    return BuildReport(out, len(kept), n_embedded, reused, skipped, seconds, embed_seconds)
