"""Which precision a build's model runs in (`embed.build.plan_build`, both engines).

`--precision fp32|bf16|int8` is taken as asked. `auto` (the default) chooses:
1. the precision of the index already at `--out`, when it was built from the same weights, so its
   vectors are reused rather than embedded again (`--precision X` re-embeds in X); unless int8
   is now to be tried (2.) and has not been for that index: it is then, once, and when it falls
   short the index keeps its precision;
2. else int8 where it is faster than fp32 (AVX-512 VNNI, AVX-VNNI, AMX; AVX2: see embed.weights)
   and the catalogue has at least settings.INT8_AUTO_MIN_IMAGES pictures: the model is calibrated
   on settings.INT8_CALIBRATION_IMAGES of them (embed.int8), then checked against the fp32 model
   on settings.INT8_CHECK_IMAGES others, and kept only when it meets the quality bar (mean cosine
   >= settings.INT8_MIN_COSINE, top-5 neighbour agreement >= settings.INT8_MIN_AGREEMENT). So the
   bar is checked on the shop's own weights and pictures, not assumed from a benchmark;
3. else `embed.weights.auto_precision()`: bf16 on CPUs with bf16 units, else fp32.
What auto chose, and the check's figures, go into the index's manifest (build.precision_choice)
and, while the build is under way, its work folder, so a killed build goes on with the same choice.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

import settings
from common.errors import ArtifactError, InputError
from embed import index
from embed.weights import (MODEL_PRECISIONS, Weights, auto_precision, check_precision, int8_is_faster,
                           model_identity)

ReadPixels = Callable[[Sequence], list]  # catalogue items -> the model inputs of those that could be read


@dataclass
class Choice:
    precision: str
    embedder: object | None = None  # the model already loaded for it (int8; fp32 after a failed check)
    record: dict | None = None  # what auto chose and why, for the manifest


def choose(requested: str | None, out: Path, weights: Weights, items: Sequence, read_pixels: ReadPixels, *,
           int8_allowed: bool = True, progress: bool = True, interrupted: dict | None = None) -> Choice:
    """The precision for a build of `items` into `out` (see the module's docstring). `interrupted`:
    the identity and record of what auto chose for a build of `out` that was killed, taken again
    (its finished chunks are then reused) when its model is still at hand."""
    if (requested or settings.PRECISION).lower() != "auto":
        precision = check_precision(requested, MODEL_PRECISIONS)
        embedder = int8_embedder(out, weights, items, read_pixels, progress) if precision == "int8" else None
        return Choice(precision, embedder)
    resumed = _resumed(interrupted, weights, int8_allowed)
    if resumed is not None:
        return resumed
    previous = _previous(out, weights, int8_allowed)
    tries_int8 = int8_allowed and int8_is_faster() and len(items) >= settings.INT8_AUTO_MIN_IMAGES
    if previous is not None and (previous.precision == "int8" or not tries_int8 or "int8_check" in previous.record):
        return previous  # an index that grows past INT8_AUTO_MIN_IMAGES has int8 checked once
    fallback = previous.precision if previous is not None else auto_precision()
    if not tries_int8:
        return Choice(fallback, None, {"auto": fallback, "why": "by the CPU's instruction sets"})
    started = time.perf_counter()
    quantized = int8_embedder(out, weights, items, read_pixels, progress)
    from embed.model import Embedder

    calibration = _spread(len(items), settings.INT8_CALIBRATION_IMAGES)  # as int8_embedder chose them
    others = _spread(len(items), settings.INT8_CHECK_IMAGES, taken=set(calibration))
    if progress:
        print(f"auto precision: checking int8 against fp32 on {len(others)} other pictures...",
              file=sys.stderr, flush=True)
    reference = Embedder(weights, "fp32")
    measured = check(quantized, reference, read_pixels([items[i] for i in others]))
    measured["seconds"] = round(time.perf_counter() - started, 1)  # calibration included
    chosen = "int8" if measured["passed"] else fallback
    if progress:
        verdict = "int8 kept" if measured["passed"] else f"int8 below the bar, so {fallback}"
        print(f"auto precision: {verdict} (mean cosine {measured['mean_cosine']:.4f}, bar "
              f"{settings.INT8_MIN_COSINE}; top-5 agreement {measured['top5_agreement']:.3f}, bar "
              f"{settings.INT8_MIN_AGREEMENT}; on {measured['images']} pictures, {measured['seconds']:.0f} s).",
              file=sys.stderr, flush=True)
    embedder = quantized if chosen == "int8" else reference if chosen == "fp32" else None
    return Choice(chosen, embedder, {"auto": chosen, "why": "int8 checked against fp32", "int8_check": measured})


def _previous(out: Path, weights: Weights, int8_allowed: bool) -> Choice | None:
    """The precision of the index at `out`, when its vectors can be reused with these weights; its
    record keeps the int8 check that index was built after, if any."""
    try:
        manifest = index.load(out, with_approximate=False).manifest
    except ArtifactError:
        return None
    kept = _going_on(manifest.get("identity", {}), weights, int8_allowed)
    if kept is not None:
        checked = manifest.get("build", {}).get("precision_choice", {}).get("int8_check")
        kept.record = {"auto": kept.precision, "why": "the previous index's",
                       **({"int8_check": checked} if checked else {})}
    return kept


def _resumed(interrupted: dict | None, weights: Weights, int8_allowed: bool) -> Choice | None:
    """The interrupted build's choice, when it can go on with these weights."""
    record = (interrupted or {}).get("record")
    kept = _going_on((interrupted or {}).get("identity", {}), weights, int8_allowed) if record else None
    if kept is not None:
        kept.record = record
    return kept


def _going_on(identity: dict, weights: Weights, int8_allowed: bool) -> Choice | None:
    """The precision vectors of `identity` were embedded in, when these weights can go on in it
    (for int8: its model is still cached); else None (its model gone: chosen afresh)."""
    precision = identity.get("precision")
    if precision not in MODEL_PRECISIONS or (precision == "int8" and not int8_allowed):
        return None
    if {k: v for k, v in identity.items() if k != "calibration"} != model_identity(weights, precision):
        return None
    embedder = _cached_int8(weights, identity) if precision == "int8" else None
    return None if precision == "int8" and embedder is None else Choice(precision, embedder)


def _cached_int8(weights: Weights, identity: dict):
    """The int8 model an index was built with, if it is still cached; else None."""
    from embed import int8

    if identity.get("precision") != "int8" or identity.get("weights") != weights.identity() \
            or not identity.get("calibration"):
        return None
    try:
        return int8.Int8Embedder(weights, int8.folder_for(weights, identity["calibration"]))
    except ArtifactError:
        return None


def _spread(count: int, n: int, taken: set[int] = frozenset()) -> list[int]:
    """Up to `n` positions spread evenly over range(count), leaving out those `taken`."""
    free = [i for i in range(count) if i not in taken]
    return free[::max(1, len(free) // n)][:n]


def int8_embedder(out: Path, weights: Weights, items: Sequence, read_pixels: ReadPixels, progress: bool):
    """The int8 model for this index: the previous index's own (so its vectors stay comparable and
    are reused), else one calibrated on up to settings.INT8_CALIBRATION_IMAGES of these pictures,
    spread evenly over the catalogue (built once, then cached; see embed.int8)."""
    from embed import int8

    try:
        before = index.load(out, with_approximate=False).manifest.get("identity", {})
    except ArtifactError:
        before = {}
    cached = _cached_int8(weights, before)
    if cached is not None:
        return cached  # else its model is gone: calibrate again (the vectors are then embedded again)
    chosen = [items[i] for i in _spread(len(items), settings.INT8_CALIBRATION_IMAGES)]
    if progress:
        print(f"Calibrating the int8 model on {len(chosen)} catalogue pictures (once; then cached)...",
              file=sys.stderr, flush=True)
    pixels = read_pixels(chosen)
    if not pixels:
        raise InputError("None of the pictures chosen to calibrate the int8 model could be read; "
                         "see the skipped images of an fp32 build.")
    return int8.Int8Embedder(weights, int8.build(weights, np.stack(pixels), progress=progress))


def check(quantized, reference, pixels: list, batch_size: int = settings.BATCH_SIZE) -> dict:
    """int8 against fp32 on the same pictures: mean cosine of each picture's two vectors, and how
    many of each picture's 5 nearest others (among these pictures) both agree on."""
    images = np.stack(pixels) if pixels else np.zeros((0, settings.IMAGE_SIZE, settings.IMAGE_SIZE, 3), np.uint8)
    a = np.concatenate([reference.embed_batch(images[i:i + batch_size]) for i in range(0, len(images), batch_size)]
                       or [np.zeros((0, reference.dims), np.float32)])
    b = np.concatenate([quantized.embed_batch(images[i:i + batch_size]) for i in range(0, len(images), batch_size)]
                       or [np.zeros((0, quantized.dims), np.float32)])
    cosine = float(np.mean(np.sum(a * b, axis=1))) if len(images) else 0.0
    agreement = top_k_agreement(a, b) if len(images) > 5 else 0.0  # too few pictures to judge: not kept
    return {"images": len(images), "mean_cosine": round(cosine, 5), "top5_agreement": round(agreement, 4),
            "passed": cosine >= settings.INT8_MIN_COSINE and agreement >= settings.INT8_MIN_AGREEMENT,
            "bar": {"mean_cosine": settings.INT8_MIN_COSINE, "top5_agreement": settings.INT8_MIN_AGREEMENT}}


def top_k_agreement(a: np.ndarray, b: np.ndarray, k: int = 5) -> float:
    """The mean share of each row's k nearest other rows (by dot product) that `a` and `b` agree on."""
    def nearest(v):
        s = v @ v.T
        np.fill_diagonal(s, -np.inf)
        return np.argsort(-s, axis=1, kind="stable")[:, :k]

    return float(np.mean([len(set(x) & set(y)) / k for x, y in zip(nearest(a), nearest(b))]))
