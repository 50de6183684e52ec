"""The embedder: frozen Keras ResNet50 (include_top=False) + GlobalMaxPooling2D, L2-normalised.

The model runs as one compiled `tf.function` over uint8 batches (preprocessing included in the
graph), never `model.predict` per image: Keras documents predict as a batch API, and measured on
a 2-core machine it costs about 125 ms an image against 58 ms compiled.
"""
from __future__ import annotations

import os
import sys
import threading
from contextlib import contextmanager

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@contextmanager
def _native_stderr_silenced():
    """TensorFlow's C++ start-up lines (absl, oneDNN) ignore TF_CPP_MIN_LOG_LEVEL; hide them
    from the CLI and the app log. Python exceptions are raised after stderr is restored."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


from common.imports import hidden  # noqa: E402

with _native_stderr_silenced(), hidden("sklearn", "matplotlib"):  # Keras's optional helpers: 82 MB unused
    import numpy as np  # noqa: E402
    import tensorflow as tf  # noqa: E402
    import keras  # noqa: E402

import settings  # noqa: E402
from embed.images import ImageSource, load_image  # noqa: E402
from embed.weights import (  # noqa: E402
    PRECISIONS, RANDOM_SEED, Weights, WeightsUnavailable, check_precision, model_identity,
    offline_message, parse_weights,
)


def _resnet50(weights: Weights, policy: str) -> keras.Model:
    """Build the frozen backbone + pooling under `policy`, restoring the global policy after."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        if weights.kind == "none":
            keras.utils.set_random_seed(RANDOM_SEED)
        source = {"imagenet": "imagenet", "none": None, "file": str(weights.path)}[weights.kind]
        try:
            base = keras.applications.ResNet50(
                include_top=False, weights=source,
                input_shape=(settings.IMAGE_SIZE, settings.IMAGE_SIZE, 3),
            )
        except Exception as exc:
            if weights.kind == "imagenet":
                raise WeightsUnavailable(offline_message(_first_line(exc))) from exc
            if weights.kind == "file":
                raise WeightsUnavailable(
                    f"Could not load weights from {weights.path}: {_first_line(exc)}. It must be "
                    "Keras' ResNet50 notop .h5 file."
                ) from exc
            raise
        pooled = keras.layers.GlobalMaxPooling2D(name="max_pool")(base.output)
        model = keras.Model(base.input, pooled, name="vitrine_resnet50_maxpool")
    finally:
        keras.config.set_dtype_policy(previous)
    model.trainable = False
    return model


def pooled_graph(model: keras.Model):
    """uint8 pixels (n, 224, 224, 3) -> the model's pooled float32 features, as one `tf.function`
    with ResNet50's preprocessing inside, so only uint8 pixels cross into TensorFlow (or into
    OpenVINO's converter, embed.int8). Not normalised."""
    size = settings.IMAGE_SIZE

    @tf.function(input_signature=[tf.TensorSpec([None, size, size, 3], tf.uint8)], autograph=False)
    def pooled(images):
        x = keras.applications.resnet50.preprocess_input(tf.cast(images, tf.float32))
        return tf.cast(model(x, training=False), tf.float32)

    return pooled


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


class Embedder:
    """Images in, unit vectors of `dims` floats out. Safe to call from several threads."""

    dims = settings.EMBEDDING_DIM

    def __init__(self, weights: str | Weights | None = None, precision: str | None = None):
        self.weights = weights if isinstance(weights, Weights) else parse_weights(weights)
        self.precision = check_precision(precision)
        self.model = _resnet50(self.weights, PRECISIONS[self.precision])
        self._lock = threading.Lock()
        pooled = pooled_graph(self.model)

        @tf.function(input_signature=pooled.input_signature, autograph=False)
        def forward(images):
            return tf.math.l2_normalize(pooled(images), axis=1)

        self._forward = forward

    def identity(self) -> dict:
        """What made these vectors; two indexes are comparable only if these are equal."""
        return model_identity(self.weights, self.precision)

    def embed_batch(self, images: np.ndarray) -> np.ndarray:
        """(n, 224, 224, 3) uint8 -> (n, dims) float32 unit rows."""
        images = np.asarray(images)
        if images.ndim != 4 or images.shape[1:] != (settings.IMAGE_SIZE, settings.IMAGE_SIZE, 3):
            raise ValueError(f"expected (n, {settings.IMAGE_SIZE}, {settings.IMAGE_SIZE}, 3) images, got {images.shape}")
        if len(images) == 0:
            return np.zeros((0, self.dims), np.float32)
        with self._lock:
            out = self._forward(tf.convert_to_tensor(images, dtype=tf.uint8))
        return out.numpy()

    def embed_image(self, source: ImageSource) -> np.ndarray:
        """One photo (path, bytes or file object) -> (dims,) unit vector. Raises ImageError."""
        return self.embed_batch(load_image(source)[None])[0]

    def warm_up(self) -> None:
        """Run one dummy image so the first real query does not pay for graph tracing."""
        self.embed_batch(np.zeros((1, settings.IMAGE_SIZE, settings.IMAGE_SIZE, 3), np.uint8))


__all__ = ["Embedder", "WeightsUnavailable"]
