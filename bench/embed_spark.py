"""Embedding N catalogue images with the local job and with `--engine spark` on local[2], in one run.

Both build the same index from the first N demo images (by id), random weights unless --weights
is given, the project's default precision unless --precision is. Printed for each: end to end
(catalogue read and hashed, model loaded, embedded, index written; Spark's session start shown
apart), the embedding stage alone (the local job: decoding + model once loaded; Spark: its job,
the workers' model loads included), images/s, the ratio Spark / local, and the largest difference
between the two indexes' vectors (they must agree to float rounding). Usage:
    python bench/embed_spark.py [-n 2000] [--images DIR] [--master 'local[2]'] [--weights none|imagenet|PATH]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import settings
from embed.build import build_index
from embed.catalogue import scan_images
from embed.index import load
from embed.weights import RANDOM_WEIGHTS_WARNING, check_precision, parse_weights
from harness import DATASETS, describe  # bench/harness.py, beside this script

DEFAULT_IMAGES = DATASETS / "fashion" / "images"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=Path, default=DEFAULT_IMAGES)
    p.add_argument("-n", type=int, default=2000)
    p.add_argument("--master", default="local[2]")
    p.add_argument("--weights", default="none")
    p.add_argument("--precision", default=None, help=f"default: settings ({settings.PRECISION})")
    p.add_argument("--batch-size", type=int, default=settings.BATCH_SIZE)
    p.add_argument("--checkpoint-every", type=int, default=settings.CHECKPOINT_EVERY,
                   help="images a Spark task (a shard) embeds; the local job's checkpoint interval")
    args = p.parse_args()
    if not args.images.is_dir():
        print(f"No images at {args.images}: this benchmark reads the demo fashion images "
              "(shared/datasets/fashion/images, see shared/datasets/README.md); pass --images DIR.", file=sys.stderr)
        return 2
    print(describe(), flush=True)
    print(f"Load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1, 5, 15 min; figures are "
          "only comparable on an otherwise idle machine)", flush=True)
    weights, precision = parse_weights(args.weights), check_precision(args.precision)
    if weights.kind == "none":
        print(RANDOM_WEIGHTS_WARNING)
    files = [args.images / it.file for it in scan_images(args.images, limit=args.n)]
    for f in files:  # both runs read from the page cache
        f.read_bytes()
    n = len(files)
    print(f"{n} images from {args.images}; weights {weights.label}; precision {precision}; "
          f"batch {args.batch_size}; shards / checkpoints of {args.checkpoint_every}", flush=True)
    common = dict(weights=weights, precision=precision, batch_size=args.batch_size, limit=n,
                  checkpoint_every=args.checkpoint_every, progress=False)

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        local = build_index(args.images, Path(tmp) / "local", **common)
        local_s = time.perf_counter() - start

        from common.spark import session
        from embed.spark import build_index_on_spark

        start = time.perf_counter()
        spark = session(args.master)
        session_s = time.perf_counter() - start
        start = time.perf_counter()
        on_spark = build_index_on_spark(args.images, Path(tmp) / "spark", master=args.master, **common)
        spark_s = time.perf_counter() - start
        a, b = load(Path(tmp) / "local"), load(Path(tmp) / "spark")
        same_ids = list(a.ids) == list(b.ids)
        diff = float(np.abs(np.asarray(a.vectors) - np.asarray(b.vectors)).max()) if same_ids else float("nan")
        info = b.manifest["build"]
        spark.stop()

    print(f"local job:       end to end {local_s:6.1f} s = {n / local_s:6.1f} images/s; "
          f"embedding stage {local.embed_seconds:6.1f} s = {local.images_per_second:6.1f} images/s")
    print(f"Spark {args.master}: end to end {spark_s:6.1f} s = {n / spark_s:6.1f} images/s (+ {session_s:.1f} s "
          f"session start); embedding stage {on_spark.embed_seconds:6.1f} s = {on_spark.images_per_second:6.1f} "
          f"images/s ({info['shards']} shards, {info['threads_per_task']} model threads a task, "
          f"{len(info['workers'])} Python workers, each loading the model once in up to "
          f"{info['model_load_seconds']:.1f} s)")
    print(f"Spark / local: end to end {local_s / spark_s:.2f}x, embedding stage "
          f"{on_spark.images_per_second / local.images_per_second:.2f}x; same ids in the same order: {same_ids}; "
          f"max |difference| of the vectors {diff:.2e} (must be < 1e-5)")
    print(f"Load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
