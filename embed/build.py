"""The offline job: a catalogue of images -> a visual index folder (format: `embed.index`),
streamed, resumable and incremental.

- Streamed: images are decoded in worker threads ahead of the model (bounded prefetch), and
  vectors go to disk every `checkpoint_every` images, so memory does not grow with the catalogue.
- Resumable: finished chunks live in `<out>.partial/`; a killed job started again skips them. The
  chunks cover the same slices of the work list as before, so the batches the model sees, and
  hence the vectors, are the same as in an uninterrupted run.
- Incremental: vectors of the previous index are reused for every (id, file sha256) it holds,
  when it was built by the same model, weights, precision and preprocessing. A picture by URL
  is asked for again conditionally (the ETag / Last-Modified its server gave last time): a 304
  reuses its vector without a download; a download whose digest is already known reuses it too.
- Images by URL (a catalogue's `image` column) are fetched in the decoding threads
  (`embed.fetch`: bounded, deadlines, retries); a failure is listed in the manifest's
  `skipped`, with its reason, and the job goes on.
- Atomic: the final folder is written beside `out` and swapped in at the end.
- Never dark: `on_progress` hears once at the start, after every batch, and about every second
  while a batch or a decode is slow, independent of the checkpoint interval.
- Two engines, one index: `build_index` embeds in this process; `embed.spark` in Spark tasks, one
  a shard written in this job's chunk format. Both plan (`plan_build`) and assemble
  (`finish_build`) the same way.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from tqdm import tqdm

import settings
from common.artifacts import library_versions, read_json, write_json_atomic
from common.errors import ArtifactError, InputError
from common.pool import ordered_map
from embed import ann, index
from embed.catalogue import (IMAGE_COLUMN, CatalogueError, CatalogueItem, from_image_column, input_digest, outside,
                           read_catalogue, scan_images, with_digests)
from embed.fetch import Fetcher
from embed.images import ImageError, load_image
from embed.precision import Choice, choose as choose_precision
from embed.weights import MODEL_PRECISIONS, Weights, check_precision, model_identity, parse_weights

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




@dataclass(frozen=True)
class _Read:
    item: CatalogueItem  # with the sha256 (and ETag / Last-Modified) of what was read
    pixels: np.ndarray | None = None  # the model's input; None when skipped or reused
    reason: str = ""  # why it was skipped
    reused: bool = False  # its vector is already known (unchanged picture behind a URL)


def _read(images_dir: Path, item: CatalogueItem, fetcher: Fetcher | None, prior: dict, known) -> _Read:
    """Fetch (a URL) and decode one picture, in a worker thread."""
    data = images_dir / item.file
    if item.url:
        before = prior.get(item.key)  # the last build's copy: (sha256, etag, last_modified)
        got = fetcher.fetch(item.url, *(before[1:] if before else ("", "")))
        if got.not_modified and before:
            return _Read(replace(item, sha256=before[0], etag=got.etag or before[1],
                                 last_modified=got.last_modified or before[2]), reused=True)
        if not got.ok or got.data is None:
            return _Read(item, reason=got.reason or "the server sent no picture")
        item = replace(item, sha256=hashlib.sha256(got.data).hexdigest(), etag=got.etag,
                       last_modified=got.last_modified)
        if (item.id, item.sha256) in known:
            return _Read(item, reused=True)
        data = got.data
    try:
        return _Read(item, load_image(data))
    except ImageError as exc:
        return _Read(item, reason=str(exc))


# ---- what can be reused -------------------------------------------------------------------

@dataclass
class Known:
    """Vectors already computed, by (id, sha256): in the previous index or in finished chunks."""
    where: dict[tuple[str, str], tuple[str, int]] = field(default_factory=dict)  # -> (file, row)
    skipped: dict[tuple[str, str], str] = field(default_factory=dict)  # CatalogueItem.key -> reason
    resolved: dict[tuple[str, str], CatalogueItem] = field(default_factory=dict)  # (id, url) -> as read
    prior: dict[tuple[str, str], tuple[str, str, str]] = field(default_factory=dict)  # (id, url) ->
    chunks: int = 0  # ... the previous index's (sha256, etag, last_modified)


def _text(table: pd.DataFrame, column: str) -> list[str]:
    if column not in table.columns:
        return [""] * len(table)
    values = table[column]  # an all-empty column is read as float NaN: "" here, not "nan"
    return values.astype(object).where(values.notna(), "").astype(str).tolist()


def _previous_index(out: Path, identity: dict, known: Known) -> None:
    """Offer the vectors of a whole previous index at `out` built the same way; else nothing."""
    try:
        previous = index.load(out, with_approximate=False)
    except ArtifactError:
        return  # none, older or damaged: everything is embedded again
    if previous.manifest.get("identity") != identity or "sha256" not in previous.items.columns:
        return  # another model, weights or preprocessing: its vectors are not comparable
    name = str(out / index.VECTORS_FILE)
    items = previous.items
    for row, (pid, sha, url, etag, modified) in enumerate(zip(
            previous.ids, _text(items, "sha256"), _text(items, "url"), _text(items, "etag"),
            _text(items, "last_modified"))):
        known.where[(pid, sha)] = (name, row)
        if url:
            known.prior[(pid, url)] = (sha, etag, modified)


SHARDS_DIR = "spark"  # in the work folder: one folder of one chunk per shard the Spark engine wrote


def _finished_chunks(work: Path, state: dict, known: Known) -> None:
    state_file = work / "state.json"
    if work.exists() and (not state_file.is_file() or read_json(state_file) != state):
        shutil.rmtree(work)  # left by a job with other settings: not reusable
    work.mkdir(parents=True, exist_ok=True)
    if not state_file.is_file():
        write_json_atomic(state_file, state)
    for table in sorted(work.glob("chunk-*.csv")):  # the .csv is renamed in last: chunk complete
        _add_chunk(table, known)
        known.chunks += 1
    # Shards of `--engine spark` (embed.spark), each renamed into place whole; their vectors are
    # equal to a local run's to float rounding, so either engine resumes from the other's work.
    for table in sorted(work.glob(f"{SHARDS_DIR}/shard-*/chunk-*.csv")):
        _add_chunk(table, known)


def _add_chunk(table: Path, known: Known) -> None:
    """Offer one finished chunk's vectors, skipped pictures and fetched URLs."""
    rows = pd.read_csv(table, dtype=str, keep_default_na=False)
    vectors_file = str(table.with_suffix(".npy"))
    ok = rows[rows["status"] == "ok"]
    for row, key in enumerate(zip(ok["id"], ok["sha256"])):
        known.where[key] = (vectors_file, row)
    for pid, sha, status, reason, url, etag, modified in zip(*(rows[c] for c in CHUNK_COLUMNS)):
        item = CatalogueItem(pid, sha256=sha, url=url, etag=etag, last_modified=modified)
        if status == "skipped":
            known.skipped[item.key] = reason
        elif url:
            known.resolved[item.key] = item  # its vector: in this chunk, or reused from the last build


CHUNK_COLUMNS = ["id", "sha256", "status", "reason", "url", "etag", "last_modified"]


def _save_chunk(work: Path, number: int, rows: list[tuple], vectors: list[np.ndarray], dims: int) -> None:
    stem = work / f"chunk-{number:05d}"
    matrix = np.concatenate(vectors) if vectors else np.zeros((0, dims), np.float32)
    tmp_npy = stem.with_name(stem.name + ".npy.tmp")
    with open(tmp_npy, "wb") as f:
        np.save(f, matrix.astype(np.float32, copy=False))
    os.replace(tmp_npy, stem.with_suffix(".npy"))
    tmp_csv = stem.with_name(stem.name + ".csv.tmp")
    pd.DataFrame(rows, columns=CHUNK_COLUMNS).to_csv(tmp_csv, index=False)
    os.replace(tmp_csv, stem.with_suffix(".csv"))


# ---- the job ------------------------------------------------------------------------------

@dataclass
class Plan:
    """What a build is to do, the same for both engines (`build_index` here, `embed.spark`): the
    catalogue's items (files hashed), the model's identity, the work folder and what is known
    already (previous index, finished chunks or shards), and `todo`, the items still to embed."""
    out: Path
    images_dir: Path
    catalogue: Path | None
    meta: pd.DataFrame | None
    items: list[CatalogueItem]
    without_image: int | None
    weights: Weights
    precision: str
    identity: dict
    state: dict
    work: Path
    known: Known
    todo: list[CatalogueItem]
    embedder: object | None  # given by the caller, or the int8 model calibrated for this index
    batch_size: int
    checkpoint_every: int
    workers: int
    started: float
    precision_choice: dict | None  # what `auto` chose and why (embed.precision), for the manifest
    images_root: Path  # picture files must lie under it (embed.catalogue.outside)
    refused: dict[tuple[str, str], str]  # CatalogueItem.key -> why the file is never read


def plan_build(images_dir: Path | None, out: Path, *, catalogue: Path | None = None,
               weights: str | Weights | None = None, precision: str | None = None,
               batch_size: int = settings.BATCH_SIZE, limit: int | None = None,
               checkpoint_every: int = settings.CHECKPOINT_EVERY, workers: int | None = None,
               progress: bool = True, on_progress: ProgressCallback | None = None, embedder=None,
               fetcher: Fetcher | None = None, index_type: str = "auto", int8_allowed: bool = True,
               images_root: Path | None = None) -> Plan:
    """Check the settings, read the catalogue, hash its files, choose the precision (embed.precision;
    `int8_allowed` False keeps `auto` off int8) and find what is left to embed. Picture files must
    lie under `images_root` (default: the images folder); the others are skipped unread."""
    started = time.perf_counter()
    out = Path(out)
    if batch_size < 1 or checkpoint_every < 1:
        raise BuildError("--batch-size and the checkpoint interval must be at least 1.")
    ann.check_index_type(index_type)
    # Whole batches per chunk keep batch composition the same across resumes.
    checkpoint_every = max(batch_size, checkpoint_every // batch_size * batch_size)
    workers = workers or min(4, os.cpu_count() or 1)
    weights = embedder.weights if embedder is not None else (
        weights if isinstance(weights, Weights) else parse_weights(weights))
    asked = embedder.precision if embedder is not None else precision
    check_precision(asked, MODEL_PRECISIONS)  # a bad setting is refused before any work
    _check_out(out)

    meta = read_catalogue(catalogue) if catalogue else None
    if meta is not None and IMAGE_COLUMN in meta.columns:
        images_dir = Path(images_dir) if images_dir is not None else Path(catalogue).resolve().parent
        items = from_image_column(meta)
        meta = meta.drop(columns=IMAGE_COLUMN)  # the index's file / url columns say where each picture is
    elif images_dir is None:
        raise CatalogueError(f"Give --images (a folder of <id>.jpg files) or a catalogue with an "
                           f"{IMAGE_COLUMN!r} column of files or URLs{f'; {catalogue} has none' if catalogue else ''}.")
    else:
        images_dir = Path(images_dir)
        items = scan_images(images_dir, set(meta["id"]) if meta is not None else None)
    without_image = len(meta) - len(items) if meta is not None else None
    items = items[:limit] if limit is not None else items
    if not items:
        where = f" with a row in {catalogue}" if catalogue else ""
        raise CatalogueError(f"No images ({', '.join(['jpg', 'png', 'webp'])}...){where} found in {images_dir}.")
    root = Path(images_root) if images_root is not None else images_dir
    out_of_root = outside(images_dir, root, items)
    if len(out_of_root) == len(items):
        raise CatalogueError(f"All {len(items)} pictures are outside the images folder {root.resolve()}, e.g. "
                           f"{items[0].file}; give --images-root DIR to allow pictures under a wider folder.")
    if on_progress:
        on_progress(0, len(items), 0.0)  # a page can say "starting" while files are hashed and the model loads
    items = with_digests(images_dir, items, workers, progress, skip=frozenset(out_of_root))
    refused = {(pid, ""): why for pid, why in out_of_root.items()}
    work = partial_dir(out)
    readable = [it for it in items if it.id not in out_of_root]  # int8 calibrates on pictures too
    choice = choose_precision(asked, out, weights, readable, lambda chosen: _pixels(images_dir, chosen, fetcher, workers),
                              int8_allowed=int8_allowed, progress=progress, interrupted=_choice_of(work)
                              ) if embedder is None else Choice(asked, embedder)
    precision, embedder = choice.precision, choice.embedder
    # int8 vectors also depend on the pictures its model was calibrated on: its identity says which
    identity = embedder.identity() if precision == "int8" else model_identity(weights, precision)

    state = {"identity": identity, "batch_size": batch_size, "checkpoint_every": checkpoint_every,
             "columns": CHUNK_COLUMNS}
    known = known_vectors(out, identity, work, state)
    if choice.record:  # a killed build, started again, resumes with the same choice (no second check)
        write_json_atomic(work / CHOICE_FILE, {"identity": identity, "record": choice.record})
    todo = [it for it in items if it.key not in known.skipped and it.key not in refused
            and (it.key not in known.resolved if it.url else it.key not in known.where)]
    return Plan(out, images_dir, catalogue, meta, items, without_image, weights, precision, identity, state,
                work, known, todo, embedder, batch_size, checkpoint_every, workers, started, choice.record,
                root, refused)


CHOICE_FILE = "precision_choice.json"  # in the work folder: what `auto` chose for the build under way


def _choice_of(work: Path) -> dict | None:
    """What `auto` chose for the interrupted build whose work folder this is, if any."""
    try:
        return read_json(work / CHOICE_FILE) if (work / "state.json").is_file() else None
    except (OSError, ValueError):
        return None


def known_vectors(out: Path, identity: dict, work: Path, state: dict) -> Known:
    """What the previous index at `out` and the finished chunks (and shards) in `work` hold."""
    known = Known()
    _previous_index(out, identity, known)
    _finished_chunks(work, state, known)
    return known


def finish_build(plan: Plan, known: Known, *, embedded: set, embed_seconds: float, rebuild: str | None,
                 index_type: str, progress: bool, build_info: dict | None = None) -> BuildReport:
    """Write the index folder from what `known` holds (the same for both engines), then drop the
    work folder."""
    items = [known.resolved.get(it.key, it) if it.url else it for it in plan.items]  # URLs: as fetched
    known.skipped.update(plan.refused)
    report = _assemble(plan.out, plan.images_dir, plan.images_root, plan.catalogue, plan.meta, items, known, plan.identity,
                       plan.weights, plan.started, embedded=embedded, without_image=plan.without_image,
                       embed_seconds=embed_seconds, rebuild=rebuild, index_type=index_type,
                       progress=progress, build_info={**(build_info or {}), **(
                           {"precision_choice": plan.precision_choice} if plan.precision_choice else {})})
    shutil.rmtree(plan.work, ignore_errors=True)
    return report


def build_index(
    images_dir: Path | None,
    out: Path,
    *,
    catalogue: Path | None = None,
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
    fetcher: Fetcher | None = None,
    index_type: str = "auto",
    images_root: Path | None = None,
) -> BuildReport:
    """Embed a catalogue into `out`: every image under `images_dir` (restricted to `catalogue` ids
    if given), or, when `catalogue` has an `image` column, each row's file or http(s) URL (files
    relative to `images_dir`, else to the catalogue's folder). `index_type` (auto, exact or
    approximate, see `embed.ann`) says whether an approximate index is written beside the vectors;
    `fetcher` fetches the URLs (default: settings' workers, timeout and retries). Picture files
    outside `images_root` (default: the images folder) are skipped unread."""
    plan = plan_build(images_dir, out, catalogue=catalogue, weights=weights, precision=precision,
                      batch_size=batch_size, limit=limit, checkpoint_every=checkpoint_every, workers=workers,
                      progress=progress, on_progress=on_progress, embedder=embedder, fetcher=fetcher,
                      index_type=index_type, images_root=images_root)
    known, todo, embedder = plan.known, plan.todo, plan.embedder
    embed_seconds, fresh = 0.0, set()
    if todo:
        if embedder is None:
            from embed.model import Embedder  # TensorFlow loads only when there is work
            embedder = Embedder(plan.weights, plan.precision)
        own_fetcher = fetcher is None and any(it.url for it in todo)
        fetcher = Fetcher() if own_fetcher else fetcher
        try:
            embed_seconds, fresh = embed_todo(plan.images_dir, todo, plan.work, known, embedder, plan.batch_size,
                                               plan.checkpoint_every, plan.workers, progress, on_progress,
                                               len(plan.items) - len(todo), len(plan.items), fetcher)
        finally:
            if own_fetcher:
                fetcher.close()
        known = known_vectors(plan.out, plan.identity, plan.work, plan.state)
    elif on_progress:
        on_progress(len(plan.items), len(plan.items), 0.0)  # all reused: done at once
    return finish_build(plan, known, embedded=fresh, embed_seconds=embed_seconds, rebuild=rebuild,
                        index_type=index_type, progress=progress, build_info={"engine": "local"})


def _pixels(images_dir: Path, items: list[CatalogueItem], fetcher: Fetcher | None, workers: int) -> list[np.ndarray]:
    """The model inputs of those of `items` that can be read (files, or URLs fetched in parallel)."""
    own = fetcher is None and any(it.url for it in items)
    fetcher = Fetcher() if own else fetcher
    try:
        with ThreadPoolExecutor(workers) as pool:
            return [got.pixels for got in pool.map(lambda it: _read(images_dir, it, fetcher, {}, frozenset()), items)
                    if got.pixels is not None]
    finally:
        if own:
            fetcher.close()


def _check_out(out: Path) -> None:
    """Refuse to replace a folder that is not a visual index (an old or damaged one may go)."""
    if out.exists() and any(out.iterdir()) and not index.is_index(out):
        raise BuildError(f"{out} exists and is not a visual index; choose another --out "
                         "(nothing was changed).")


class BuildProgress:
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


def embed_todo(images_dir, todo, work, known, embedder, batch_size, checkpoint_every,
               workers, progress, on_progress, done_before, total, fetcher) -> tuple[float, set]:
    """Fetch and decode ahead in threads, embed in batches, save a chunk every `checkpoint_every`;
    the seconds it took and the (id, sha256) of what it embedded."""
    bar = tqdm(total=len(todo), desc="Embedding", unit="img", disable=not progress, smoothing=0.1)
    t0, done, fresh = time.perf_counter(), 0, set()
    tracker = BuildProgress(on_progress, bar, done_before, total)
    threads = workers + (fetcher.workers if fetcher is not None else 0)  # fetching waits on the network
    known_keys = frozenset(known.where)
    with ThreadPoolExecutor(threads) as pool, ThreadPoolExecutor(1, thread_name_prefix="embed") as model:
        decoded = ordered_map(pool, lambda it: _read(images_dir, it, fetcher, known.prior, known_keys), todo,
                              depth=max(batch_size * 3, 2 * threads), wait=tracker.wait)

        def embed(batch: list[np.ndarray]) -> np.ndarray:
            return tracker.wait(model.submit(embedder.embed_batch, np.stack(batch)))

        for number, start in enumerate(range(0, len(todo), checkpoint_every), start=known.chunks):
            chunk = todo[start:start + checkpoint_every]
            rows, vectors, batch = [], [], []
            for _ in chunk:
                got = next(decoded)
                it = got.item
                status = "reused" if got.reused else "ok" if got.pixels is not None else "skipped"
                rows.append((it.id, it.sha256, status, got.reason, it.url, it.etag, it.last_modified))
                if got.pixels is not None:
                    batch.append(got.pixels)
                    fresh.add((it.id, it.sha256))
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
    return time.perf_counter() - t0, fresh


def _assemble(out, images_dir, images_root, catalogue, meta, items, known, identity, weights, started, *,
              embedded, without_image, embed_seconds, rebuild=None, index_type="auto",
              progress=False, build_info=None) -> BuildReport:
    kept = [it for it in items if it.sha256 and (it.id, it.sha256) in known.where]
    skipped = [{"id": it.id, ("url" if it.url else "file"): it.source,
                "reason": known.skipped.get(it.key, "not embedded")}
               for it in items if not (it.sha256 and (it.id, it.sha256) in known.where)]
    if not kept:
        raise BuildError(f"None of the {len(items)} images could be read; see the reasons above.")
    n_embedded = sum((it.id, it.sha256) in embedded for it in kept)
    reused = len(kept) - n_embedded
    columns = ["id", "file", "sha256"] + (["url", "etag", "last_modified"] if any(it.url for it in kept) else [])
    table = pd.DataFrame([(it.id, it.file, it.sha256, it.url, it.etag, it.last_modified)[:len(columns)]
                          for it in kept], columns=columns)
    if meta is not None:
        table = table.merge(meta, on="id", how="left", validate="one_to_one")
    manifest = {
        "identity": identity,
        "model": identity["model"],
        "weights_source": weights.label,
        "precision": identity["precision"],
        "model_precision": identity["precision"],  # the model's arithmetic; how vectors are kept: vector_storage
        "preprocessing": identity["preprocessing"],
        "skipped": skipped,
        "images_dir": str(images_dir.resolve()),
        "images_root": str(Path(images_root).resolve()),  # the app shows only picture files under it
        "catalog": str(Path(catalogue).resolve()) if catalogue else None,
        "catalog_rows_without_image": without_image,
        "input_digest": input_digest(items),
        "library_versions": library_versions("tensorflow", "tensorflow-cpu", "keras", "numpy", "pillow",
                                             "pandas", "faiss-cpu"),
    }
    with index.writing(out, table, identity["dims"], manifest, rebuild, index_type=index_type, progress=progress,
                       approximate_from=_same_approximate(out, identity, kept)) as (matrix, draft):
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
        draft.manifest["build"] = {
            "embedded": n_embedded, "reused": reused, "seconds": round(time.perf_counter() - started, 2),
            "embedding_seconds": round(embed_seconds, 2),
            "images_per_second": round(n_embedded / embed_seconds, 2) if embed_seconds else None,
            **(build_info or {}),
        }
    return BuildReport(out, len(kept), n_embedded, reused, skipped, time.perf_counter() - started, embed_seconds)


def _same_approximate(out: Path, identity: dict, kept: list[CatalogueItem]) -> Path | None:
    """The previous index's approximate index when it was built over exactly these vectors (same
    model, products, pictures and order, same settings): copied rather than built again."""
    try:
        previous = index.load(out, with_approximate=False)
    except ArtifactError:
        return None
    storage = previous.manifest.get("vector_storage", {}).get("approximate")
    if (not storage or previous.manifest.get("identity") != identity
            or "sha256" not in previous.items.columns or len(previous) != len(kept)):
        return None
    if {k: v for k, v in storage.items() if k != "build_seconds"} != {
            k: v for k, v in ann.vector_storage("approximate", len(kept), identity["dims"])["approximate"].items()}:
        return None
    if list(previous.ids) != [it.id for it in kept] or _text(previous.items, "sha256") != [it.sha256 for it in kept]:
        return None
    return (out / ann.FILE).resolve()
