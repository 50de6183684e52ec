"""QueryEngine: a photo is decoded once for its vector and the picture the page shows; what a
phone sends finds five products; what is not a picture is one line."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from embed import index as visual_index
from embed.images import ImageError, decode, load_image
from embed.query import QueryEngine
from tests.helpers import awkward_pictures, not_pictures

pytestmark = pytest.mark.slow  # runs the model with TensorFlow


@pytest.fixture(scope="module")
def engine(tiny_visual_index, embedder):
    folder, _, _ = tiny_visual_index
    return QueryEngine(visual_index.load(folder), embedder, embedder.weights)


@pytest.mark.parametrize("name, data", sorted(awkward_pictures().items()))
def test_what_a_phone_sends_finds_five_products_and_can_be_shown(engine, embedder, name, data):
    photo = engine.photo(data)
    assert photo.vector.shape == (embedder.dims,) and abs(np.linalg.norm(photo.vector) - 1) < 1e-5
    # one decode serves both, and the vector is the one every other path gives
    np.testing.assert_array_equal(photo.vector, engine.embed(data)[0])
    np.testing.assert_allclose(photo.vector, embedder.embed_batch(load_image(data)[None])[0], atol=1e-5)
    np.testing.assert_array_equal(photo.vector, engine.embed_picture(decode(data, draft=224)))
    shown = Image.open(io.BytesIO(photo.picture))
    assert shown.mode == "RGB" and shown.size == photo.size == (300, 200)
    hits = visual_index.search(engine.index, photo.vector, 5)
    assert len(hits) == 5 and hits["id"].is_unique
    assert list(engine.search(data)["id"]) == list(hits["id"])


def test_a_catalogue_photo_is_recognised_and_matches_its_own_vector(engine, tiny_visual_index):
    _, images, _ = tiny_visual_index
    photo = engine.photo(images / "4.jpg")
    assert engine.same_file_ids(photo.digest) == ("4",)
    own = engine.index.vectors[engine.index.position("4")]
    assert float(own @ photo.vector) > 0.9999


@pytest.mark.parametrize("name, data", sorted(not_pictures().items()))
def test_not_a_picture_is_an_image_error(engine, name, data):
    with pytest.raises(ImageError, match="not a picture"):
        engine.photo(data)
    with pytest.raises(ImageError, match="not a picture"):
        engine.search(data)
