"""Embedding throughput on real catalogue images, all measured in one run.

(a) the seed's way: keras load_img -> model.predict on one image -> normalise, image by image;
(b) the model alone on random batched tensors: the ceiling of this model on this machine;
(c) `embed build` end to end (hashing, parallel decoding, batches, checkpoints, final write).
Then fp32 against bf16 and int8 (`--precision int8`, embed/int8.py: OpenVINO, calibrated on the
catalogue's pictures): speed, mean cosine between the two vectors of each image, and how many
top-5 neighbours they agree on; and the decoding side alone (the job's threads reading and
resizing the same files), since int8 may outrun it. Targets: c >= 0.9 b, c >= 2.4 a, bf16 >= 1.4
fp32 with top-5 agreement >= 0.9; int8 >= 2.5x fp32 end to end with VNNI or AMX (1.8x with AVX2
only), mean cosine >= 0.99, top-5 agreement >= 0.95. Usage:
    python bench/embed_throughput.py [--images DIR] [-n 500] [--weights imagenet|none|PATH] [--skip-bf16]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

import settings
from common.cpu import cpu_flags
from embed.build import build_index
from embed.catalogue import scan_images
from embed.images import load_image
from embed.index import load
from embed.precision import top_k_agreement as top5_agreement
from embed.model import Embedder, keras
from embed.weights import INT8_UNITS, RANDOM_WEIGHTS_WARNING, int8_is_faster
from harness import DATASETS, describe  # bench/harness.py, beside this script

DEFAULT_IMAGES = DATASETS / "fashion" / "images"


def seed_way(embedder: Embedder, files: list[Path]) -> float:
    """The seed's loop, on the same weights: one predict per image. Returns images/s."""
    from keras.applications.resnet50 import preprocess_input
    from keras.utils import img_to_array, load_img

    model = embedder.model
    start = time.perf_counter()
    for f in files:
        x = preprocess_input(np.expand_dims(img_to_array(load_img(f, target_size=(224, 224))), 0))
        v = model.predict(x, verbose=0)[0]
        v / np.linalg.norm(v)
    return len(files) / (time.perf_counter() - start)


def model_alone(embedder: Embedder, batch_size: int, batches: int = 6) -> float:
    x = np.random.default_rng(0).integers(0, 256, (batch_size, 224, 224, 3), dtype=np.uint8)
    embedder.embed_batch(x)  # trace once
    start = time.perf_counter()
    for _ in range(batches):
        embedder.embed_batch(x)
    return batch_size * batches / (time.perf_counter() - start)


def end_to_end(embedder: Embedder, images: Path, n: int, batch_size: int, out: Path):
    start = time.perf_counter()
    report = build_index(images, out, embedder=embedder, batch_size=batch_size, limit=n, progress=False)
    seconds = time.perf_counter() - start
    return report.count / seconds, np.array(load(out).vectors)


def decoding(files: list[Path], workers: int, side: int | None = None, folder: Path | None = None) -> float:
    """Images/s of the job's decoding alone (load_image in `workers` threads); with `side`, on the
    same pictures re-encoded as side x side JPEGs (a shop's photos are rarely 224 px) in `folder`."""
    if side is not None:
        from PIL import Image

        folder.mkdir(parents=True, exist_ok=True)
        big = []
        for f in files:
            target = folder / f.name
            Image.open(f).convert("RGB").resize((side, side), Image.Resampling.BICUBIC).save(target, quality=90)
            big.append(target)
        files = big
    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(load_image, files))
    return len(files) / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=Path, default=DEFAULT_IMAGES)
    p.add_argument("-n", type=int, default=500)
    p.add_argument("--weights", default="imagenet")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--skip-bf16", action="store_true")
    args = p.parse_args()
    print(describe(), flush=True)

    files = [args.images / it.file for it in scan_images(args.images, limit=args.n)]
    n = len(files)
    fp32 = Embedder(args.weights, "fp32")
    if fp32.weights.kind == "none":
        print(RANDOM_WEIGHTS_WARNING)
    print(f"{n} images from {args.images}; weights {fp32.weights.label}; batch {args.batch_size}; "
          f"keras {keras.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        a = seed_way(fp32, files)
        b = model_alone(fp32, args.batch_size)
        c, v32 = end_to_end(fp32, args.images, n, args.batch_size, Path(tmp) / "fp32")
        print(f"(a) seed: load_img + predict per image   {a:7.1f} images/s")
        print(f"(b) model alone, random batches        {b:7.1f} images/s")
        print(f"(c) embed build end to end             {c:7.1f} images/s")
        print(f"c/a = {c / a:.2f}  (target >= 2.4)   c/b = {c / b:.2f}  (target >= 0.9)")

        if not args.skip_bf16:
            bf16 = Embedder(args.weights, "bf16")
            b16 = model_alone(bf16, args.batch_size)
            c16, v16 = end_to_end(bf16, args.images, n, args.batch_size, Path(tmp) / "bf16")
            print(f"bf16: model alone {b16:.1f} images/s, end to end {c16:.1f} images/s")
            print(f"bf16/fp32 speed = {c16 / c:.2f} end to end, {b16 / b:.2f} model alone (target >= 1.4); "
                  f"mean cosine fp32-bf16 = {float(np.mean(np.sum(v32 * v16, axis=1))):.4f}; "
                  f"top-5 agreement = {top5_agreement(v32, v16):.3f} (target >= 0.9)")

        settings.ARTIFACTS_DIR = Path(tmp) / "artifacts"  # the int8 model's cache, fresh
        start = time.perf_counter()
        build_index(args.images, Path(tmp) / "int8-first", weights=args.weights, precision="int8",
                    batch_size=args.batch_size, limit=n, progress=False)
        first = time.perf_counter() - start
        from embed import int8
        folder = next((Path(tmp) / "artifacts" / "models").iterdir())
        quantized = int8.Int8Embedder(fp32.weights, folder)
        b8 = model_alone(quantized, args.batch_size)
        c8, v8 = end_to_end(quantized, args.images, n, args.batch_size, Path(tmp) / "int8")
        workers = min(4, os.cpu_count() or 1)
        decode = decoding(files, workers)
        decode_big = decoding(files, workers, 1600, Path(tmp) / "big")
        fast = bool(cpu_flags() & set(INT8_UNITS))
        print(f"int8: first build {first:.1f} s (calibration on {min(n, settings.INT8_CALIBRATION_IMAGES)} pictures, "
              f"quantisation, then embedding); model alone {b8:.1f} images/s, end to end {c8:.1f} images/s; "
              f"decoding alone ({workers} threads) {decode:.1f} images/s, of the same pictures as 1600x1600 "
              f"JPEGs {decode_big:.1f} images/s")
        print(f"int8/fp32 speed = {c8 / c:.2f} end to end (target >= {2.5 if fast else 1.8} on this CPU, "
              f"{'VNNI/AMX' if fast else 'AVX2 only'}), {b8 / b:.2f} model alone; mean cosine fp32-int8 = "
              f"{float(np.mean(np.sum(v32 * v8, axis=1))):.4f} (target >= {settings.INT8_MIN_COSINE}); top-5 agreement = "
              f"{top5_agreement(v32, v8):.3f} (target >= {settings.INT8_MIN_AGREEMENT})")
        cosine, agreement = float(np.mean(np.sum(v32 * v8, axis=1))), top5_agreement(v32, v8)
        kept = cosine >= settings.INT8_MIN_COSINE and agreement >= settings.INT8_MIN_AGREEMENT
        print(f"auto with these weights: int8 {'kept' if kept else 'not kept'} by its check "
              f"(embed/precision.py; tried on catalogues of {settings.INT8_AUTO_MIN_IMAGES:,}+ pictures"
              f"{'' if int8_is_faster() else '; not on this CPU'})")
        print(crowding(v32, v8))


def crowding(v32: np.ndarray, v8: np.ndarray) -> str:
    """How close each picture's 5th and 6th nearest neighbours are, against how far int8 moves its
    vector: top-5 agreement can only be high where the first is well above the second."""
    s = v32 @ v32.T
    np.fill_diagonal(s, -np.inf)
    nearest = -np.sort(-s, axis=1)[:, :6]
    gap = float(np.median(nearest[:, 4] - nearest[:, 5]))
    moved = float(np.median(1 - np.sum(v32 * v8, axis=1)))
    spread = float(np.median(1 - s[np.isfinite(s)]))
    return (f"neighbourhoods: median cosine gap between the 5th and 6th nearest neighbour {gap:.2e}; "
            f"int8 moves a vector by a median 1-cosine of {moved:.2e} ({moved / gap:.1f}x that gap); "
            f"median 1-cosine between two pictures {spread:.2e}")


if __name__ == "__main__":
    main()
