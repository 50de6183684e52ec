"""Where the ResNet50 weights come from: ImageNet (downloaded and cached by Keras), a local
.h5 file, or none (random weights, for tests and benchmarks only).

One setting, `--weights` on the CLI and `VITRINE_WEIGHTS` for the app, both defaulting to
`settings.WEIGHTS`. No TensorFlow here, so the CLI can check the setting before loading it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import settings
from common.artifacts import file_sha256
from common.cpu import cpu_flags
from common.errors import InputError
from embed.images import PREPROCESSING

WEIGHTS_FILE = "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
RANDOM_SEED = 0  # "none" weights are random but reproducible, so a resumed build matches

RANDOM_WEIGHTS_WARNING = (
    "WARNING: weights 'none' = RANDOM weights. The vectors do not describe what the images "
    "show; use them for tests and benchmarks only, never for a shop."
)


class WeightsUnavailable(InputError):
    """The requested weights cannot be loaded; the message says what to do."""


@dataclass(frozen=True)
class Weights:
    kind: str  # "imagenet" | "file" | "none"
    path: Path | None = None

    @property
    def label(self) -> str:
        return str(self.path) if self.kind == "file" else self.kind

    def identity(self) -> str:
        """A string that changes when the weights change: vectors from different identities
        must never be mixed or compared."""
        if self.kind == "file":
            st = self.path.stat()
            return f"file sha256:{_cached_sha256(str(self.path), st.st_size, st.st_mtime_ns)}"
        if self.kind == "none":
            return f"none (random, seed {RANDOM_SEED})"
        return "imagenet"


def parse_weights(spec: str | os.PathLike | None = None) -> Weights:
    """Turn 'imagenet', 'none' or a path into Weights; None means the configured default."""
    spec = settings.WEIGHTS if spec is None else spec
    text = str(spec).strip()
    if text.lower() == "imagenet":
        return Weights("imagenet")
    if text.lower() in ("none", "random"):
        return Weights("none")
    path = Path(text).expanduser()
    if not path.is_file():
        raise WeightsUnavailable(
            f"Weights file {path} not found. Use --weights imagenet, --weights PATH/TO/{WEIGHTS_FILE} "
            "or --weights none (random, tests only); the app reads the same from VITRINE_WEIGHTS."
        )
    return Weights("file", path.resolve())


def keras_models_dir() -> Path:
    """The folder where Keras caches downloaded weights ($KERAS_HOME/models or ~/.keras/models)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "models"


def offline_message(reason: str = "") -> str:
    why = f" ({reason})" if reason else ""
    return (
        f"The ImageNet weights for ResNet50 could not be downloaded{why}. Put {WEIGHTS_FILE} "
        f"in {keras_models_dir()}/, or pass --weights PATH (app: set VITRINE_WEIGHTS=PATH)."
    )


@lru_cache(maxsize=8)
def _cached_sha256(path: str, size: int, mtime_ns: int) -> str:
    return file_sha256(Path(path))


MODEL_NAME = "ResNet50 (ImageNet architecture, include_top=False) + GlobalMaxPooling2D, L2-normalised"
PRECISIONS = {"fp32": "float32", "bf16": "mixed_bfloat16"}  # Keras' dtype policies (embed.model)
MODEL_PRECISIONS = (*PRECISIONS, "int8")  # int8: the OpenVINO model of embed.int8


# `auto` (embed.precision): int8 where it is faster than fp32, if it passes a check against fp32
# on the catalogue's own pictures; else bf16 where the CPU has bf16 units (bench/embed_throughput.py,
# 2 cores, random weights, 600 demo images: 1.24-1.43x fp32 on a Xeon with AMX, 1.40x on an AMD
# EPYC (Zen 4) with AVX-512 BF16 alone; mean cosine 1.0000, top-5 agreement 0.970-0.975); else
# fp32. int8 end to end against Keras fp32, same bench: 8.1-9.1x with AMX, 3.88-4.14x with AVX-512 VNNI
# alone (the EPYC), 2.25-2.47x with AVX2 alone (kernels capped by ONEDNN_MAX_CPU_ISA=AVX2).
INT8_UNITS = ("avx512_vnni", "amx_int8", "avx_vnni")
BF16_UNITS = ("avx512_bf16", "amx_bf16")


def int8_is_faster(flags: frozenset[str] | None = None) -> bool:
    """Whether OpenVINO's int8 outruns Keras fp32 on this CPU: int8 dot-product units, or AVX2."""
    return bool((cpu_flags() if flags is None else flags) & {*INT8_UNITS, "avx2"})


def auto_precision(flags: frozenset[str] | None = None) -> str:
    """What `auto` runs in when int8 is not tried or not kept: bf16 on CPUs with bf16 units, else fp32."""
    return "bf16" if (cpu_flags() if flags is None else flags) & set(BF16_UNITS) else "fp32"


def check_precision(precision: str | None, allowed=PRECISIONS) -> str:
    """The precision to run in (None means the configured default; auto: `auto_precision`, which a
    build may replace by a checked int8, embed.precision), or InputError."""
    precision = (precision or settings.PRECISION).lower()
    if precision == "auto":
        precision = auto_precision()
    if precision not in allowed:
        raise InputError(f"precision must be one of auto, {', '.join(allowed)}, not {precision!r}")
    return precision


def model_identity(weights: Weights, precision: str) -> dict:
    """What makes the vectors: two indexes, or an index and a query, are comparable only if
    these are equal. Known without loading TensorFlow."""
    return {
        "model": MODEL_NAME,
        "weights": weights.identity(),
        "precision": check_precision(precision, MODEL_PRECISIONS),
        "preprocessing": PREPROCESSING,
        "dims": settings.EMBEDDING_DIM,
    }
