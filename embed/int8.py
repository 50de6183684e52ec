"""The int8 model: the same frozen ResNet50 + global max pooling, converted once to OpenVINO and
quantised after training with NNCF on a few hundred catalogue images, then cached as an artifact.

Chosen by `bench/decisions/int8_candidates.py` (same images, one run, 2 cores, random weights): Keras fp32
30 images/s (the model alone), OpenVINO fp32 46, OpenVINO int8 365 (12x; it uses AVX-512 VNNI /
AMX where the CPU has them), ONNX Runtime fp32 37 and int8 104 (static QDQ, per channel, after
tf2onnx); mean cosine to the fp32 vectors 0.9997 (OpenVINO) and 0.9996 (ONNX Runtime). The graph
takes uint8 pixels and does ResNet50's preprocessing itself, as `embed.model.Embedder` does; the
L2 normalisation stays outside it, in float32, so quantisation never touches the unit length.

A model folder (`artifacts/models/resnet50-int8-<key>/`: model.xml + model.bin, ~24 MB, and
manifest.json with the weights' identity, the calibration images' digest, the recipe and the
library versions) is keyed by weights, calibration and recipe; built on first use, then only
loaded. The same model gives the same vectors on CPUs with and without int8 dot-product units
(RECIPE)."""
from __future__ import annotations

import contextlib
import hashlib
import io
import threading
from pathlib import Path

import numpy as np

import settings
from common.artifacts import library_versions, loading, write_artifact
from common.errors import ArtifactError
from embed.weights import Weights, model_identity

KIND = "int8_model"
FORMAT_VERSION = 1
MODEL_FILE = "model.xml"  # and model.bin beside it
REBUILD = "python -m embed build --precision int8 (the model is built again from the catalogue)"

# NNCF's overflow fix in every layer, not only the first (its default): weights keep 7 of int8's
# bits, so a CPU without int8 dot-product units (AVX2's vpmaddubsw adds pairs of products in
# saturating int16) computes what AVX-512 VNNI and AMX compute. An index is often built on one CPU
# and searched on another (a build server, the app's host), and auto's check (embed.precision)
# must hold on both. Measured on an AMD EPYC (600 demo pictures, random weights, one model run on
# both instruction sets, ONEDNN_MAX_CPU_ISA=AVX2 for the second): with the fix in every layer the
# two runs' vectors agree to 1-cosine <= 1.8e-7, and int8 sits at a median 1-cosine of 2.62e-04
# from fp32 on both; with the default they differ by a median 5.1e-04 (the same model agreeing on
# only 0.885 of the top five with itself), 4.75e-04 from fp32 on AVX2 against 1.91e-04 on VNNI.
# Top-5 agreement with fp32 on VNNI was 0.916 either way; speed unchanged.
RECIPE = "nncf post-training quantisation, overflow fix in every layer"


def quantize(converted, calibration: np.ndarray):
    """The quantised OpenVINO model of `converted`, calibrated on `calibration` (a batch of what
    it takes: uint8 pixels for embed.model.pooled_graph), by RECIPE (bench/decisions/int8_candidates.py
    measures this same call)."""
    import nncf

    batches = [calibration[i:i + 1] for i in range(len(calibration))]
    return nncf.quantize(converted, nncf.Dataset(batches), subset_size=len(batches),
                         advanced_parameters=nncf.AdvancedQuantizationParameters(
                             overflow_fix=nncf.OverflowFix.ENABLE))


def calibration_digest(images: np.ndarray) -> str:
    """One digest of the calibration pixels (n, 224, 224, 3) uint8, in order, and of RECIPE: a
    model made another way is another model (an index keeps finding its own, see folder_for)."""
    h = hashlib.sha256(f"{RECIPE}|{images.shape}".encode())
    h.update(np.ascontiguousarray(images, dtype=np.uint8).tobytes())
    return h.hexdigest()


def folder_for(weights: Weights, calibration: str, root: Path | None = None) -> Path:
    key = hashlib.sha256(f"{weights.identity()}|{calibration}".encode()).hexdigest()[:16]
    return Path(root or settings.ARTIFACTS_DIR / "models") / f"resnet50-int8-{key}"


def build(weights: Weights, calibration: np.ndarray, root: Path | None = None, progress: bool = True) -> Path:
    """Convert and quantise the model for `weights`, calibrated on `calibration` (uint8 pixels),
    into its cached folder (returned; reused when it is already there and whole). Without
    `progress`, NNCF's own progress bar is kept off the console."""
    digest = calibration_digest(calibration)
    folder = folder_for(weights, digest, root)
    try:
        with loading(folder, KIND, FORMAT_VERSION, REBUILD):
            return folder  # built before with the same weights and calibration
    except ArtifactError:
        pass
    from embed.model import _resnet50, pooled_graph  # first: TensorFlow's start-up lines silenced
    import openvino as ov

    converted = ov.convert_model(pooled_graph(_resnet50(weights, "float32")))
    with contextlib.nullcontext() if progress else contextlib.redirect_stdout(io.StringIO()):
        quantized = quantize(converted, calibration)
    manifest = {"weights": weights.identity(), "calibration_digest": digest, "calibration_images": len(calibration),
                "recipe": RECIPE,
                "identity": model_identity(weights, "int8"),
                "library_versions": library_versions("openvino", "nncf", "tensorflow", "tensorflow-cpu", "keras")}
    with write_artifact(folder, KIND, FORMAT_VERSION, manifest, REBUILD) as draft:
        ov.save_model(quantized, str(draft.path / MODEL_FILE))
    return folder


class Int8Embedder:
    """`embed.model.Embedder`'s interface on the int8 model of a folder `build` wrote."""

    dims = settings.EMBEDDING_DIM
    precision = "int8"

    def __init__(self, weights: Weights, folder: Path, threads: int | None = None):
        import openvino as ov

        with loading(Path(folder), KIND, FORMAT_VERSION, REBUILD) as art:
            self.manifest = art.manifest
            model = ov.Core().read_model(str(art.path / MODEL_FILE))
        if self.manifest.get("weights") != weights.identity():
            raise ArtifactError(f"The int8 model at {folder} was built from other weights; "
                                f"{REBUILD}.")
        config = {"INFERENCE_NUM_THREADS": threads} if threads else {}
        self._compiled = ov.Core().compile_model(model, "CPU", config)
        self.weights, self.folder = weights, Path(folder)
        self.calibration = self.manifest["calibration_digest"]
        self._lock = threading.Lock()  # one inference request at a time, as the Keras embedder

    def identity(self) -> dict:
        return {**model_identity(self.weights, "int8"), "calibration": self.calibration}

    def embed_batch(self, images: np.ndarray) -> np.ndarray:
        """(n, 224, 224, 3) uint8 -> (n, dims) float32 unit rows."""
        images = np.asarray(images, dtype=np.uint8)
        if images.ndim != 4 or images.shape[1:] != (settings.IMAGE_SIZE, settings.IMAGE_SIZE, 3):
            raise ValueError(f"expected (n, {settings.IMAGE_SIZE}, {settings.IMAGE_SIZE}, 3) images, got {images.shape}")
        if len(images) == 0:
            return np.zeros((0, self.dims), np.float32)
        with self._lock:
            pooled = np.asarray(self._compiled(images)[0], dtype=np.float32)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

    def warm_up(self) -> None:
        self.embed_batch(np.zeros((1, settings.IMAGE_SIZE, settings.IMAGE_SIZE, 3), np.uint8))
