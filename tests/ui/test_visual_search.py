"""The Visual search page (the app's home), driven through Streamlit's AppTest on a ten-product index."""
from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import settings
from tests.helpers import (
    APP, TINY_STYLES, awkward_pictures, encode, not_pictures, product_picture, write_tiny_catalogue,
)

pytestmark = pytest.mark.slow  # runs the model with TensorFlow

NAMES = {str(row[0]): row[5] for row in TINY_STYLES}


def start() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def tab(at):
    return at  # the home page is the whole app


def result_names(at) -> list[str]:
    shown = [m.value.strip("*") for m in tab(at).markdown if m.value.startswith("**")
             and not m.value.endswith("similar")]
    return [n for n in shown if n in NAMES.values()]


def upload(at, data: bytes, name="photo.jpg", mime="image/jpeg") -> AppTest:
    at.file_uploader(key=f"vs_upload_{at.session_state['vs_uploader_turn']}").set_value((name, data, mime))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_photo_gives_five_results_without_itself(app_uses_tiny_index):
    _, images, _ = app_uses_tiny_index
    at = upload(start(), (images / "3.jpg").read_bytes())
    names = result_names(at)
    assert len(names) == 5
    assert NAMES["3"] not in names  # the shopper's photo is that product: not its own neighbour
    assert len([b for b in tab(at).button if b.label == "More like this"]) == 5
    assert not tab(at).error


def test_include_self_brings_the_product_back_first(app_uses_tiny_index):
    _, images, _ = app_uses_tiny_index
    at = upload(start(), (images / "3.jpg").read_bytes())
    at.toggle(key="vs_include_self").set_value(True).run()
    assert result_names(at)[0] == NAMES["3"]


def test_filter_narrows_results_before_ranking(app_uses_tiny_index):
    at = upload(start(), encode(product_picture(42, (320, 240))))
    at.multiselect(key="vs_filter_gender").set_value(["Women"]).run()
    names = result_names(at)
    women = {row[5] for row in TINY_STYLES if row[1] == "Women"}
    assert len(names) == 5 and set(names) <= women
    at.multiselect(key="vs_filter_masterCategory").set_value(["Footwear"]).run()
    assert result_names(at) == [NAMES["4"]]  # the only women's footwear


def test_more_like_this_searches_from_the_stored_vector(app_uses_tiny_index):
    at = upload(start(), encode(product_picture(42)))
    first = result_names(at)[0]
    product = next(k for k, v in NAMES.items() if v == first)
    at.button(key=f"vs_more_{product}").click().run()
    assert not at.exception
    names = result_names(at)
    assert len(names) == 5 and first not in names
    assert f"More like: {first}" in [c.value for c in tab(at).caption]


@pytest.mark.parametrize("data, words", [
    (b"%PDF-1.4 not a photo at all", "not a picture"),
    (encode(product_picture(1))[:500], "damaged"),
])
def test_bad_file_gives_a_message_and_the_next_upload_works(app_uses_tiny_index, data, words):
    _, images, _ = app_uses_tiny_index
    at = upload(start(), data, name="bad.jpg")
    assert len(tab(at).error) == 1 and words in tab(at).error[0].value
    assert not result_names(at)
    upload(at, (images / "5.jpg").read_bytes(), name="good.jpg")
    assert not tab(at).error and len(result_names(at)) == 5


def test_first_run_builds_the_index_with_progress(app_uses_tiny_index, tmp_path, monkeypatch):
    images, catalogue = write_tiny_catalogue(tmp_path)
    monkeypatch.setattr(settings, "DEMO_FASHION_IMAGES", images)
    monkeypatch.setattr(settings, "DEMO_FASHION_CATALOGUE", catalogue)
    monkeypatch.setattr(settings, "DEMO_VISUAL_INDEX", tmp_path / "fresh_index")
    at = start()
    assert (tmp_path / "fresh_index" / "manifest.json").is_file()
    assert any("Visual index ready: 10 products" in s.label for s in tab(at).status)
    assert not tab(at).error


@pytest.mark.parametrize("weights", ["imagenet", "missing.h5"])
def test_missing_weights_explain_what_to_do_and_other_tabs_work(app_uses_tiny_index, tmp_path, monkeypatch,
                                                                weights):
    from keras.src.utils import file_utils

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure on https://example/notop.h5: [Errno -2] Name or service not known")

    monkeypatch.setattr(file_utils, "get_file", offline)  # as on a machine with no internet
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr(settings, "DEMO_VISUAL_INDEX", tmp_path / "no_index")
    monkeypatch.setattr(settings, "WEIGHTS", weights if weights == "imagenet" else str(tmp_path / weights))
    at = start()
    warning = " ".join(w.value for w in tab(at).warning)
    assert "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5" in warning
    assert "VITRINE_WEIGHTS" in warning
    assert not tab(at).error
    for page in ("basket_rules", "similar_products", "similar_customers", "similar_movies"):
        at.switch_page(f"ui/pages/{page}.py").run()
        assert not at.exception and not at.error and len(at.subheader) == 1


@pytest.mark.parametrize("name", list(awkward_pictures()))
def test_every_photo_a_phone_takes_gives_five_results_and_is_shown(app_uses_tiny_index, name):
    data = awkward_pictures()[name]  # 16-bit grey and RGBA PNGs, HEIC, AVIF, made in the test
    at = upload(start(), data, name=name, mime="application/octet-stream")
    assert not at.error and len(result_names(at)) == 5
    assert "Your photo" in [c.value for c in at.caption]


@pytest.mark.parametrize("name", ["logo.svg", "notes.jpg"])
def test_a_file_that_is_no_photo_gets_the_apps_one_line(app_uses_tiny_index, name):
    at = upload(start(), not_pictures()[name], name=name, mime="application/octet-stream")
    assert len(at.error) == 1
    message = at.error[0].value
    assert "not a picture we can read" in message and "\n" not in message
    assert not result_names(at)


def test_more_like_this_empties_the_uploader_and_links_to_the_product(app_uses_tiny_index):
    at = upload(start(), encode(product_picture(42)))
    first = result_names(at)[0]
    product = next(k for k, v in NAMES.items() if v == first)
    at.button(key=f"vs_more_{product}").click().run()
    assert at.query_params["product"] == product
    uploader = at.file_uploader(key=f"vs_upload_{at.session_state['vs_uploader_turn']}")
    assert uploader.value is None  # not the old file's name
    assert f"More like: {first}" in [c.value for c in at.caption]


def test_a_link_opens_more_like_that_product(app_uses_tiny_index):
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["product"] = "3"
    at.run()
    assert not at.exception and not at.error
    assert f"More like: {NAMES['3']}" in [c.value for c in at.caption]
    assert len(result_names(at)) == 5 and NAMES["3"] not in result_names(at)


def test_a_link_to_an_unknown_product_says_so_in_one_line(app_uses_tiny_index):
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["product"] = "no-such-id"
    at.run()
    assert len(at.error) == 1 and "no-such-id" in at.error[0].value
    assert "product" not in at.query_params


def test_a_shop_workspace_searches_its_catalogue_and_shows_what_is_bought_with_each_result(
        tiny_shop_workspace, monkeypatch, app_uses_tiny_index):
    from recommend.similar_products import model as products_model

    artifacts, ws = tiny_shop_workspace
    monkeypatch.setattr(settings, "ARTIFACTS_DIR", artifacts)
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"dataset": "tiny"})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="dataset").value == "tiny"
    at = upload(at, encode(product_picture(4)))
    names = result_names(at)
    assert len(names) == 5
    captions = [c.value for c in at.caption]
    assert captions.count("Often bought with") == 5
    similar = products_model.load(ws.part("similar_products"))
    first = next(k for k, v in NAMES.items() if v == names[0])
    expected = products_model.answer(similar, first, 3)["name"].tolist()
    at_first = captions.index("Often bought with")
    assert captions[at_first + 1: at_first + 4] == expected  # the first result's products bought with it
    assert any(c.startswith("Basket rules show next to it: ") for c in captions)
    shown = at.get("image")
    assert len(shown) >= 6 + 5  # the photo, five results and the pictures of what is bought with them


def test_an_approximate_index_with_pictures_by_url_shows_them_from_their_url(app_uses_tiny_index, tmp_path,
                                                                              monkeypatch):
    from embed import index as visual_index

    tiny = visual_index.load(app_uses_tiny_index[0])
    items = tiny.items.assign(url=[f"http://127.0.0.1:9/pictures/{i}.jpg" for i in tiny.items["id"]], file="")
    built_with = {k: tiny.manifest[k] for k in ("identity", "model", "weights_source", "precision", "preprocessing")}
    folder = visual_index.write(visual_index.build(np.asarray(tiny.vectors), items, built_with), tmp_path / "by_url",
                                index_type="approximate")
    monkeypatch.setattr(settings, "DEMO_VISUAL_INDEX", folder)
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["product"] = "3"
    at.run()
    assert not at.exception and not at.error
    assert any("approximate index" in c.value for c in at.caption)
    assert len(result_names(at)) == 5 and NAMES["3"] not in result_names(at)
    urls = [url for element in at.get("image") for url in element.value]
    assert len(urls) == 6 and all(u.startswith("http://127.0.0.1:9/pictures/") for u in urls)  # query + 5, not fetched
