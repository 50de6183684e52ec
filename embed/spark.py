"""`python -m embed build --engine spark`: the local job's index, with the embedding spread over a
Spark cluster (or `local[N]` Python workers), for catalogues too large for one machine's cores.

What runs where:
- The driver does what `embed.build` does before and after embedding (`plan_build`,
  `finish_build`): reads the catalogue into the same items (files hashed), finds what the previous
  index or finished chunks and shards already hold, splits the rest into shards of
  `checkpoint_every` images (the local job's chunks; fewer when that would leave task slots idle),
  and at the end assembles the very index folder the local job writes (manifest, skipped images,
  approximate index for large catalogues) from the shards.
- Each shard is one Spark task (`mapInPandas`, as clip-retrieval's distributed inference):
  its Python worker loads the model once and keeps it for its later tasks, then reads, fetches
  and decodes the pictures with the local job's own pipeline (`embed.build.embed_todo`: decode
  threads, URL fetching with ETag reuse, batches) and writes the shard's chunk (vectors .npy and
  rows .csv with the bad images' reasons) into a folder under `<out>.partial/spark/` named by its
  number and a digest of its items, written under a temporary name and renamed whole.
- Resumable per shard: a killed job run again skips every finished shard (and the local job's
  chunks, whose vectors agree to float rounding; either engine resumes from the other's work).

Vectors equal the local job's to float rounding (~1e-7; random weights are seeded, so every
worker builds the same model). Each task's TensorFlow gets cores / concurrent tasks intra-op
threads on a local master (spark.task.cpus on a cluster), so two workers do not oversubscribe.

On a cluster, the images (when given as paths), `--out` and hence its `.partial` work folder must
be on a file system every executor mounts at the same path (NFS, /dbfs, a FUSE-mounted bucket);
images by http(s) URL are fetched by the executors. Executors need this project's requirements;
its own code is shipped to them (`SparkContext.addPyFile`). `--out` as an s3a://, hdfs://... URI is
refused with one line, as is `--precision int8` on a cluster (its model is calibrated and cached on
the driver's disk).
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import time
import uuid
import zipfile
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm import tqdm

import settings
from common.errors import InputError
from common.netguard import Allow
from common.spark import is_remote, local_cores, runs_here, session
from embed.build import (HEARTBEAT_SECONDS, SHARDS_DIR, BuildReport, Plan, ProgressCallback, embed_todo, Known,
                         BuildProgress, finish_build, known_vectors, plan_build)
from embed.catalogue import CatalogueItem
from embed.fetch import Fetcher
from embed.weights import MODEL_PRECISIONS, WEIGHTS_FILE, Weights, check_precision, keras_models_dir

SUMMARY_SCHEMA = ("shard string, images long, embedded long, skipped long, reused long, seconds double, "
                  "worker string, model_seconds double")
SUMMARY_COLUMNS = [field.split()[0] for field in SUMMARY_SCHEMA.split(", ")]
CHUNK = "chunk-00000"  # the one chunk of a shard, in the local job's format (embed.build._save_chunk)
USER_ERROR = "VITRINE_USER_ERROR: "  # marks a user's mistake raised on an executor, for the driver's one line
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:/")  # also what pathlib leaves of s3a://... ("s3a:/...")


@dataclass(frozen=True)
class _Job:
    """What every task needs besides its shard; Spark sends it to the executors with the task."""
    images_dir: str  # absolute
    shards_dir: str  # absolute
    weights: Weights
    shipped_weights: str | None  # the weights file's name among the SparkFiles (cluster masters)
    precision: str
    int8_folder: str | None
    batch_size: int
    threads: int  # TensorFlow's (or OpenVINO's) intra-op threads in each task
    workers: int  # decoding threads in each task
    fetch_workers: int
    fetch_timeout: float
    fetch_allow: Allow  # the driver's allow-list: executors check addresses as the driver would


def build_index_on_spark(
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
    rebuild: str | None = None,
    index_type: str = "auto",
    fetch_workers: int = settings.FETCH_WORKERS,
    fetch_timeout: float = settings.FETCH_TIMEOUT_S,
    master: str | None = None,
    conf: list[str] | dict[str, str] | None = None,
    fetch_allow: Allow | None = None,
    images_root: Path | None = None,
) -> BuildReport:
    """`embed.build.build_index`'s index, embedded by Spark tasks (one a shard of `checkpoint_every`
    images); `master` / `conf` as `common.spark.session`. Spark starts only when there is work."""
    _refuse_uris(images_dir, out, catalogue)
    if check_precision(precision, MODEL_PRECISIONS) == "int8" and not runs_here(master):
        raise InputError(_INT8_ON_A_CLUSTER)
    with Fetcher(workers=fetch_workers, timeout=fetch_timeout, allow=fetch_allow) as fetcher:  # checks the settings
        plan = plan_build(images_dir, out, catalogue=catalogue, weights=weights, precision=precision,
                          batch_size=batch_size, limit=limit, checkpoint_every=checkpoint_every, workers=workers,
                          progress=progress, on_progress=on_progress, fetcher=fetcher, index_type=index_type,
                          int8_allowed=runs_here(master), images_root=images_root)
    known, fresh, embed_seconds, info = plan.known, set(), 0.0, {"engine": "spark"}
    if plan.todo:
        spark = session(master, conf)  # its Python workers run this interpreter on a local master
        specs = _shard_specs(plan, _shard_size(plan, _slots(spark.sparkContext)))
        job = _job(spark, plan, len(specs), workers, fetch_workers, fetch_timeout, fetcher.allow)
        if progress:
            print(f"Spark ({spark.sparkContext.master}): {len(plan.todo):,} images in {len(specs)} shards, "
                  f"{job.threads} model threads a task.", file=sys.stderr, flush=True)
        embed_seconds, summaries = _run(spark, job, specs, progress, on_progress,
                                        len(plan.items) - len(plan.todo), len(plan.items))
        fresh = _embedded_in(Path(job.shards_dir), [s["shard"] for s in summaries])
        known = known_vectors(plan.out, plan.identity, plan.work, plan.state)
        info.update({"spark_master": spark.sparkContext.master, "shards": len(specs),
                     "threads_per_task": job.threads,
                     "workers": sorted({s["worker"] for s in summaries}),
                     "model_loads": sum(s["model_seconds"] > 0 for s in summaries),
                     "model_load_seconds": round(max(s["model_seconds"] for s in summaries), 2)})
    elif on_progress:
        on_progress(len(plan.items), len(plan.items), 0.0)
    return finish_build(plan, known, embedded=fresh, embed_seconds=embed_seconds, rebuild=rebuild,
                        index_type=index_type, progress=progress, build_info=info)


_INT8_ON_A_CLUSTER = ("--precision int8 with --engine spark needs a local[N] master (its model is calibrated "
                      "and cached on this machine); on a cluster use --precision fp32 or bf16.")


def _refuse_uris(images_dir, out, catalogue) -> None:
    for flag, value in (("--out", out), ("--images", images_dir), ("--catalogue", catalogue)):
        if value is not None and (is_remote(value) or _URI.match(str(value))):
            raise InputError(
                f"{flag} {value}: --engine spark takes paths that the driver and every executor see at the same "
                f"place (a shared mount: NFS, /dbfs, a FUSE-mounted bucket), and images by http(s) URL in the "
                f"catalogue's image column, not URIs; mount it and give its path.")


def _slots(sc) -> int:
    """Tasks the cluster (or local[N]) runs at once."""
    task_cpus = max(1, int(sc.getConf().get("spark.task.cpus", "1")))
    cores = local_cores(sc.master) if sc.master.startswith("local") else sc.defaultParallelism
    return max(1, cores // task_cpus)


def _shard_size(plan: Plan, slots: int) -> int:
    """`checkpoint_every` images a shard (the local job's chunks), fewer when that would leave task
    slots idle; whole batches, so its batches line up with the local job's."""
    share = -(-len(plan.todo) // slots)  # ceil
    return max(plan.batch_size, min(plan.checkpoint_every, -(-share // plan.batch_size) * plan.batch_size))


def _shard_specs(plan: Plan, size: int) -> list[dict]:
    """The todo list in slices of `size`, each with what its URLs need to be reused (the previous
    build's ETag, the vectors already known under its ids), named by number (after the shards
    already there) and a digest of its items."""
    shards = plan.work / SHARDS_DIR
    shards.mkdir(parents=True, exist_ok=True)
    for left in shards.glob(".shard-*"):  # written by a task that was killed: never renamed into place
        shutil.rmtree(left, ignore_errors=True)
    first = len(list(shards.glob("shard-*")))
    url_ids = {it.id for it in plan.todo if it.url}
    shas = defaultdict(list)
    for pid, sha in plan.known.where:
        if pid in url_ids:
            shas[pid].append(sha)
    specs = []
    for number, start in enumerate(range(0, len(plan.todo), size), start=first):
        chunk = plan.todo[start:start + size]
        items = [[it.id, it.file, it.sha256, it.url, it.etag, it.last_modified] for it in chunk]
        digest = hashlib.sha256(json.dumps(items).encode()).hexdigest()[:12]
        specs.append({
            "name": f"shard-{number:05d}-{digest}",
            "items": items,
            "prior": [[it.id, it.url, *plan.known.prior[it.key]] for it in chunk
                      if it.url and it.key in plan.known.prior],
            "known": [[it.id, sha] for it in chunk if it.url for sha in shas.get(it.id, ())],
        })
    return specs


def _job(spark, plan: Plan, shards: int, workers: int | None, fetch_workers: int, fetch_timeout: float,
         fetch_allow: Allow) -> _Job:
    sc = spark.sparkContext
    local = sc.master.startswith("local")
    task_cpus = max(1, int(sc.getConf().get("spark.task.cpus", "1")))
    if local:  # tasks share this machine's cores: as many model threads as leaves none idle, none oversubscribed
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        threads = max(task_cpus, cores // min(_slots(sc), shards))
    else:
        threads = task_cpus
    shipped = None
    if not local:
        if plan.precision == "int8":
            raise InputError(_INT8_ON_A_CLUSTER)
        _ship_code(sc)
        shipped = _ship_weights(sc, plan.weights)
    return _Job(images_dir=str(plan.images_dir.resolve()), shards_dir=str((plan.work / SHARDS_DIR).resolve()),
                weights=plan.weights, shipped_weights=shipped, precision=plan.precision,
                int8_folder=str(plan.embedder.folder) if plan.precision == "int8" else None,
                batch_size=plan.batch_size, threads=threads, workers=workers or max(2, threads),
                fetch_workers=fetch_workers, fetch_timeout=fetch_timeout, fetch_allow=fetch_allow)


def _ship_code(sc) -> None:
    """This project's packages (common, embed, settings), as one zip on every executor's path."""
    root = Path(settings.__file__).resolve().parent
    files = sorted([root / "settings.py"] + [p for pkg in ("common", "embed") for p in (root / pkg).rglob("*")
                                             if p.is_file() and "__pycache__" not in p.parts])
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in files)).hexdigest()[:12]
    path = Path(tempfile.gettempdir()) / f"vitrine-code-{digest}.zip"
    if not path.is_file():
        tmp = path.with_suffix(f".{uuid.uuid4().hex[:8]}.tmp")
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            for p in files:
                z.write(p, p.relative_to(root).as_posix())
        os.replace(tmp, path)
    sc.addPyFile(str(path))


def _ship_weights(sc, weights: Weights) -> str | None:
    """A weights file the driver has (its .h5, or Keras' cached ImageNet download), sent to every
    executor so none needs the driver's path or the internet; None when there is none to send."""
    path = weights.path if weights.kind == "file" else keras_models_dir() / WEIGHTS_FILE
    if weights.kind == "none" or not path.is_file():
        return None
    sc.addFile(str(path))
    return path.name


def _run(spark, job: _Job, specs: list[dict], progress: bool, on_progress, done_before: int, total: int):
    """Run one task a shard; report progress as shard folders appear. (seconds, summary rows)."""
    sc = spark.sparkContext
    rows = sc.parallelize([(json.dumps(s),) for s in specs], len(specs))  # one shard a partition
    frame = spark.createDataFrame(rows, "shard string").mapInPandas(
        functools.partial(_embed_partition, job), SUMMARY_SCHEMA)
    group = f"vitrine-embed-{uuid.uuid4().hex[:12]}"

    def collect():
        sc.setJobGroup(group, "python -m embed build --engine spark", interruptOnCancel=True)
        return frame.collect()

    shards = Path(job.shards_dir)
    pending = {s["name"]: len(s["items"]) for s in specs}
    bar = tqdm(total=sum(pending.values()), desc="Embedding (Spark)", unit="img", disable=not progress,
               smoothing=0.1)
    tracker, done, t0 = BuildProgress(on_progress, bar, done_before, total), 0, time.perf_counter()
    with ThreadPoolExecutor(1, thread_name_prefix="spark-job") as pool:
        future = pool.submit(collect)
        try:
            while True:
                try:
                    found = future.result(timeout=HEARTBEAT_SECONDS)
                    break
                except TimeoutError:
                    if future.done():
                        raise
                    for name in [n for n in pending if (shards / n).is_dir()]:
                        done += pending.pop(name)
                    tracker.advance(done)
                    bar.refresh()
        except BaseException as exc:
            sc.cancelJobGroup(group)
            _raise_user_error(exc)
            raise
    seconds = time.perf_counter() - t0
    tracker.advance(bar.total)
    bar.close()
    return seconds, [r.asDict() for r in found]


def _raise_user_error(exc: BaseException) -> None:
    """A user's mistake an executor met (no network for the weights, say) as the driver's one line."""
    found = re.search(re.escape(USER_ERROR) + r"(.+)", str(exc))
    if found:
        raise InputError(found.group(1).strip()) from None


def _embedded_in(shards: Path, names: list[str]) -> set[tuple[str, str]]:
    """(id, sha256) of the pictures these shards embedded."""
    fresh = set()
    for name in names:
        rows = pd.read_csv(shards / name / f"{CHUNK}.csv", dtype=str, keep_default_na=False)
        ok = rows[rows["status"] == "ok"]
        fresh.update(zip(ok["id"], ok["sha256"]))
    return fresh


# ---- on the executors -----------------------------------------------------------------------

_MODELS: dict = {}  # in each Python worker: the model, loaded by its first task and kept for the next


def _embed_partition(job: _Job, frames):
    """mapInPandas: each shard of the partition embedded and written; one summary row each."""
    for frame in frames:
        yield pd.DataFrame([_embed_shard(job, json.loads(text)) for text in frame["shard"]], columns=SUMMARY_COLUMNS)


def _embed_shard(job: _Job, spec: dict) -> tuple:
    began = time.perf_counter()
    final = Path(job.shards_dir) / spec["name"]
    loading = 0.0  # seconds this task spent loading the model (0: its worker had it)
    if not (final / f"{CHUNK}.csv").is_file():  # else another attempt of this task finished it
        items = [CatalogueItem(*row) for row in spec["items"]]
        known = Known(where={(pid, sha): ("", 0) for pid, sha in spec["known"]},
                       prior={(pid, url): (sha, etag, modified) for pid, url, sha, etag, modified in spec["prior"]})
        tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex[:8]}")
        tmp.mkdir(parents=True)
        try:
            t0 = time.perf_counter()
            cached = _model_key(job) in _MODELS
            embedder = _model(job)
            loading = 0.0 if cached else time.perf_counter() - t0
            fetcher = Fetcher(workers=job.fetch_workers, timeout=job.fetch_timeout, allow=job.fetch_allow) if any(
                it.url for it in items) else None
            try:
                embed_todo(Path(job.images_dir), items, tmp, known, embedder, job.batch_size, len(items),
                            job.workers, False, None, 0, len(items), fetcher)
            finally:
                if fetcher is not None:
                    fetcher.close()
            try:
                os.rename(tmp, final)  # the whole shard at once
            except OSError:
                if not (final / f"{CHUNK}.csv").is_file():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    status = pd.read_csv(final / f"{CHUNK}.csv", dtype=str, keep_default_na=False)["status"]
    return (spec["name"], len(status), int((status == "ok").sum()), int((status == "skipped").sum()),
            int((status == "reused").sum()), time.perf_counter() - began, f"{socket.gethostname()}:{os.getpid()}",
            loading)


def _model_key(job: _Job) -> tuple:
    return job.weights, job.shipped_weights, job.precision, job.int8_folder


def _model(job: _Job):
    key = _model_key(job)
    if key not in _MODELS:
        _MODELS.clear()  # one model a worker
        try:
            _MODELS[key] = _load_model(job)
        except InputError as exc:
            raise RuntimeError(USER_ERROR + str(exc)) from exc
    return _MODELS[key]


def _load_model(job: _Job):
    weights = job.weights
    if job.shipped_weights:
        from pyspark import SparkFiles

        weights = Weights("file", Path(SparkFiles.get(job.shipped_weights)))  # the same numbers
    if job.precision == "int8":
        from embed.int8 import Int8Embedder

        return Int8Embedder(weights, Path(job.int8_folder), threads=job.threads)
    from embed import model

    try:  # before TensorFlow's first operation, after which its thread pools are fixed
        model.tf.config.threading.set_intra_op_parallelism_threads(job.threads)
        model.tf.config.threading.set_inter_op_parallelism_threads(min(2, job.threads))
    except RuntimeError:
        pass  # this worker's TensorFlow started for an earlier build: it keeps that build's threads
    return model.Embedder(weights, job.precision)
