"""Visual search latency, measured in one run against the bare model forward pass.

1. Upload to results: bytes of a real photo -> decode, embed, rank, table; p50 and p95 over 50
   images, next to the bare forward pass on one preprocessed image (target: p50 <= 1.2x it).
2. Search alone: exact top-5 over 100,000 random unit vectors of 2048 dims (target: p50 <= 30 ms),
   next to a full argsort of the same scores (the naive baseline).
Usage:
    python bench/query_latency.py [--index artifacts/visual_index] [--images DIR] [--weights none]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

import settings
from embed.build import build_index
from embed.catalogue import scan_images
from embed.images import load_image
from embed.index import VectorIndex, search
from embed.query import QueryEngine
import harness  # bench/harness.py, beside this script
from harness import DATASETS, describe, percentiles

SHARED_IMAGES = DATASETS / "fashion" / "images"


def timed(fn, *args, **kw) -> float:
    """Milliseconds one call of fn takes."""
    return harness.timed(fn, *args, **kw)[1] * 1000


def upload_to_results(engine: QueryEngine, photos: list[bytes]) -> None:
    pixels = load_image(photos[0])[None]
    for _ in range(5):  # warm both paths
        engine.embedder.embed_batch(pixels)
        engine.search(photos[0])
    bare, full = [], []
    for i, p in enumerate(photos):  # interleaved, order alternating, so drift hits both alike
        pixels = load_image(p)[None]
        if i % 2:
            full.append(timed(engine.search, p))
            bare.append(timed(engine.embedder.embed_batch, pixels))
        else:
            bare.append(timed(engine.embedder.embed_batch, pixels))
            full.append(timed(engine.search, p))
    b50, b95 = percentiles(bare)
    f50, f95 = percentiles(full)
    print(f"bare forward pass, 1 image     p50 {b50:6.1f} ms   p95 {b95:6.1f} ms")
    print(f"upload to results, {len(photos)} photos  p50 {f50:6.1f} ms   p95 {f95:6.1f} ms")
    print(f"ratio p50 upload/forward = {f50 / b50:.2f} (target <= 1.2)")


def search_alone(n: int = 100_000, d: int = settings.EMBEDDING_DIM, queries: int = 50) -> None:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((n, d), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.array([str(i) for i in range(n)])
    index = VectorIndex(vectors, ids, pd.DataFrame({"id": ids}), {"count": n, "dims": d})
    qs = rng.standard_normal((queries, d), dtype=np.float32)
    for q in qs[:3]:
        search(index, q, 5)
    ours = [timed(search, index, q, 5) for q in qs]
    naive = [timed(lambda q: np.argsort(-(vectors @ q))[:5], q) for q in qs]
    o50, o95 = percentiles(ours)
    n50, _ = percentiles(naive)
    print(f"search alone, {n:,} x {d}: p50 {o50:.1f} ms  p95 {o95:.1f} ms (target p50 <= 30 ms); "
          f"full argsort baseline p50 {n50:.1f} ms; ratio {n50 / o50:.2f}x")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--index", type=Path, default=None, help="a built visual index (default: build one)")
    p.add_argument("--images", type=Path, default=SHARED_IMAGES, help="real photos to query with")
    p.add_argument("--weights", default=None, help="weights for the index built here (default: settings)")
    p.add_argument("-n", type=int, default=50)
    args = p.parse_args()
    print(describe(), flush=True)
    files = scan_images(args.images)
    photos = [(args.images / f.file).read_bytes() for f in files[-args.n:]]  # not in a --limit index
    with tempfile.TemporaryDirectory() as tmp:
        index = args.index
        if index is None:
            index = Path(tmp) / "index"
            build_index(settings.DEMO_FASHION_IMAGES, index, catalogue=settings.DEMO_FASHION_CATALOGUE,
                        weights=args.weights, progress=False)
        engine = QueryEngine.open(index, args.weights)
        print(f"index {index}: {len(engine.index)} products, weights {engine.weights.label}")
        upload_to_results(engine, photos)
    search_alone()


if __name__ == "__main__":
    main()
