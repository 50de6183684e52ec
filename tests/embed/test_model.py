"""The embedder: shape, unit norm, batch = one by one, weights sources and their errors."""
from __future__ import annotations

import h5py
import keras
import numpy as np
import pytest

import settings
from embed.images import load_image
from embed.weights import WEIGHTS_FILE, WeightsUnavailable, parse_weights
from tests.helpers import encode, product_picture

pytestmark = pytest.mark.slow  # runs the model with TensorFlow


def pixels(n: int) -> np.ndarray:
    return np.stack([load_image(encode(product_picture(i))) for i in range(n)])


def test_vectors_are_2048_dim_unit_float32(embedder):
    out = embedder.embed_batch(pixels(3))
    assert out.shape == (3, settings.EMBEDDING_DIM) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(out[0], out[1])  # different pictures, different vectors


def test_batch_equals_one_by_one(embedder):
    batch = pixels(5)
    together = embedder.embed_batch(batch)
    alone = np.stack([embedder.embed_batch(batch[i:i + 1])[0] for i in range(5)])
    np.testing.assert_allclose(together, alone, atol=1e-4)


def test_embed_image_from_bytes_matches_batch(embedder):
    data = encode(product_picture(7))
    np.testing.assert_allclose(
        embedder.embed_image(data), embedder.embed_batch(load_image(data)[None])[0], atol=1e-6)


def test_wrong_input_shape_is_rejected(embedder):
    with pytest.raises(ValueError, match="expected"):
        embedder.embed_batch(np.zeros((2, 100, 100, 3), np.uint8))


def test_random_weights_are_reproducible(embedder):
    from embed.model import Embedder

    again = Embedder("none", "fp32")  # the fixture's precision (the default, auto, may pick bf16)
    x = pixels(2)
    np.testing.assert_array_equal(embedder.embed_batch(x), again.embed_batch(x))


def _legacy_notop_file(path):
    """A file laid out like Keras' ImageNet notop .h5 (legacy format, by layer name)."""
    from keras.src.legacy.saving import legacy_h5_format

    keras.utils.set_random_seed(123)
    base = keras.applications.ResNet50(include_top=False, weights=None, input_shape=(224, 224, 3))
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, base)
    return base


def test_local_weights_file_is_loaded(tmp_path, embedder):
    from embed.model import Embedder

    path = tmp_path / WEIGHTS_FILE
    base = _legacy_notop_file(path)
    local = Embedder(str(path))
    assert local.weights.kind == "file"
    assert local.identity()["weights"].startswith("file sha256:")
    for a, b in zip(base.get_weights(), local.model.get_weights()):
        np.testing.assert_array_equal(a, b)
    x = pixels(2)
    assert not np.allclose(local.embed_batch(x), embedder.embed_batch(x))


def test_missing_or_wrong_weights_file_says_what_to_do(tmp_path):
    from embed.model import Embedder

    with pytest.raises(WeightsUnavailable, match="not found"):
        parse_weights(tmp_path / "nope.h5")
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5")
    with pytest.raises(WeightsUnavailable, match="Could not load weights"):
        Embedder(str(junk))


def test_offline_imagenet_gives_one_line_with_file_cache_and_flag(tmp_path, monkeypatch):
    from embed.model import Embedder
    from keras.src.utils import file_utils

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))

    def no_network(*args, **kwargs):
        raise Exception("URL fetch failure on https://example/resnet50: None -- [Errno -2] Name or service not known")

    monkeypatch.setattr(file_utils, "get_file", no_network)
    with pytest.raises(WeightsUnavailable) as err:
        Embedder("imagenet")
    message = str(err.value)
    assert "\n" not in message
    assert WEIGHTS_FILE in message
    assert str(tmp_path / "keras" / "models") in message
    assert "--weights PATH" in message and "VITRINE_WEIGHTS" in message


def test_bf16_is_close_to_fp32(embedder):
    from embed.model import Embedder

    half = Embedder("none", "bf16")
    x = pixels(3)
    a, b = embedder.embed_batch(x), half.embed_batch(x)
    assert b.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-4)
    assert (np.sum(a * b, axis=1) > 0.95).all()


def test_unknown_precision_is_rejected():
    from embed.model import Embedder

    with pytest.raises(ValueError, match="precision"):
        Embedder("none", "fp8")
