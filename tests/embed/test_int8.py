"""embed.int8: the OpenVINO model quantised with NNCF on a few catalogue pictures gives the same
kind of vectors as the fp32 Keras model (shape, unit length, cosine), is cached, and refuses
a folder built from other weights."""
from __future__ import annotations

import numpy as np
import pytest

from common.errors import ArtifactError, InputError
from embed import int8
from embed.images import load_image
from embed.weights import Weights, model_identity
from tests.helpers import encode, product_picture

pytestmark = pytest.mark.slow  # converts and quantises ResNet50


def pictures(seeds) -> np.ndarray:
    return np.stack([load_image(encode(product_picture(s))) for s in seeds])


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    return int8.build(Weights("none"), pictures(range(16)), root=tmp_path_factory.mktemp("models"))


def test_int8_vectors_are_unit_rows_close_to_the_fp32_ones(model_folder, embedder):
    quantized = int8.Int8Embedder(Weights("none"), model_folder)
    images = pictures(range(100, 112))  # not the calibration pictures
    got, want = quantized.embed_batch(images), embedder.embed_batch(images)
    assert got.shape == (12, 2048) and got.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    cosine = np.sum(got * want, axis=1)
    assert cosine.min() > 0.99, cosine
    # the neighbours agree: each picture's nearest other picture is the same under both
    nearest = lambda v: np.argsort(-(v @ v.T - 2 * np.eye(len(v))), axis=1)[:, 0]  # noqa: E731
    assert np.mean(nearest(got) == nearest(want)) >= 0.9
    assert quantized.embed_batch(images[:0]).shape == (0, 2048)


def test_the_model_is_built_once_and_says_what_made_it(model_folder, tmp_path):
    again = int8.build(Weights("none"), pictures(range(16)), root=model_folder.parent)
    assert again == model_folder  # same weights, same calibration: loaded, not built again
    quantized = int8.Int8Embedder(Weights("none"), model_folder)
    assert quantized.manifest["calibration_images"] == 16
    assert quantized.manifest["calibration_digest"] == int8.calibration_digest(pictures(range(16)))
    assert quantized.manifest["library_versions"]["openvino"] and quantized.manifest["recipe"] == int8.RECIPE
    assert quantized.identity() == {**model_identity(Weights("none"), "int8"),
                                    "calibration": quantized.manifest["calibration_digest"]}
    assert int8.folder_for(Weights("none"), "other") != model_folder  # other calibration, other model


def test_the_model_gives_the_same_vectors_without_int8_dot_product_units(model_folder, tmp_path):
    """An index built on a CPU with VNNI or AMX is searched on one with AVX2 alone and the other way
    round: the same model must compute the same vectors on both (int8.RECIPE). The second run caps
    OpenVINO's kernels at AVX2 (ONEDNN_MAX_CPU_ISA, oneDNN's own setting); with NNCF's default
    overflow fix (first layer only) the two differ by a median 1-cosine of about 5e-4."""
    import os
    import subprocess
    import sys

    images = pictures(range(200, 208))
    here = int8.Int8Embedder(Weights("none"), model_folder).embed_batch(images)
    np.save(tmp_path / "images.npy", images)
    script = ("import sys, numpy as np; from embed import int8; from embed.weights import Weights; "
              "np.save(sys.argv[2], int8.Int8Embedder(Weights('none'), sys.argv[1])"
              ".embed_batch(np.load(sys.argv[3])))")
    subprocess.run([sys.executable, "-c", script, str(model_folder), str(tmp_path / "avx2.npy"),
                    str(tmp_path / "images.npy")], check=True, env={**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2"})
    avx2 = np.load(tmp_path / "avx2.npy")
    assert avx2.shape == here.shape
    assert float(np.max(1 - np.sum(here * avx2, axis=1))) < 1e-5


def test_a_model_made_another_way_is_another_model(monkeypatch):
    """The recipe is part of the model's digest, so a change of recipe builds a new model folder
    and an index built before keeps finding its own (its vectors stay comparable with its queries)."""
    images = pictures(range(2))
    before = int8.calibration_digest(images)
    monkeypatch.setattr(int8, "RECIPE", int8.RECIPE + ", another way")
    assert int8.calibration_digest(images) != before
    assert int8.folder_for(Weights("none"), int8.calibration_digest(images)) != int8.folder_for(Weights("none"), before)


def test_a_model_of_other_weights_and_a_missing_one_are_refused(model_folder, tmp_path):
    weights_file = tmp_path / "w.h5"
    weights_file.write_bytes(b"not really weights")
    with pytest.raises(ArtifactError, match="other weights"):
        int8.Int8Embedder(Weights("file", weights_file), model_folder)
    with pytest.raises(ArtifactError, match="--precision int8"):
        int8.Int8Embedder(Weights("none"), tmp_path / "no-model")


def test_the_keras_embedder_does_not_take_int8():
    from embed.model import Embedder

    with pytest.raises(InputError, match="precision must be one of auto, fp32, bf16"):
        Embedder("none", "int8")


def test_an_int8_index_answers_int8_queries_and_mixing_is_refused(tmp_path, monkeypatch, embedder):
    import settings
    from embed import index
    from embed.build import build_index
    from embed.query import QueryEngine
    from tests.helpers import write_catalogue

    monkeypatch.setattr(settings, "ARTIFACTS_DIR", tmp_path / "artifacts")  # where the int8 model is cached
    monkeypatch.setattr(settings, "INT8_CALIBRATION_IMAGES", 8)
    images = write_catalogue(tmp_path / "img", range(1, 13))
    out = tmp_path / "int8_index"
    report = build_index(images, out, weights="none", precision="int8", progress=False)
    built = index.load(out)
    assert report.embedded == 12 and built.manifest["model_precision"] == "int8"
    assert built.manifest["identity"]["calibration"] and list((tmp_path / "artifacts" / "models").iterdir())
    fp32 = embedder.embed_batch(np.stack([load_image(images / f) for f in built.items["file"]]))
    assert np.sum(np.asarray(built.vectors) * fp32, axis=1).min() > 0.99

    engine = QueryEngine.open(out, "none")
    assert engine.embedder.precision == "int8"
    photo = encode(product_picture(7, (300, 240)))
    hits = engine.search(photo, k=5)
    alone = engine.embedder.embed_batch(load_image(photo)[None])[0]
    assert list(hits["id"]) == list(index.search(built, alone, 5)["id"])  # the query went through int8 too

    with pytest.raises(ArtifactError, match="holds int8 vectors"):
        QueryEngine.open(out, "none", precision="fp32")
    again = build_index(images, out, weights="none", precision="int8", progress=False)
    assert again.embedded == 0 and again.reused == 12  # the same int8 model: vectors reused

    fp32_out = tmp_path / "fp32_index"
    build_index(images, fp32_out, embedder=embedder, progress=False)
    with pytest.raises(ArtifactError, match="holds fp32 vectors"):
        QueryEngine.open(fp32_out, "none", precision="int8")
