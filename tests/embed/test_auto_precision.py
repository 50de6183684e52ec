"""`auto` on a catalogue: int8 is tried where the CPU has int8 units and the catalogue is large
enough, checked against fp32 on other pictures of the catalogue, and kept only when it meets the
quality bar; a previous index's precision is kept; Spark on a cluster never gets int8."""
from __future__ import annotations

import numpy as np
import pytest

import settings
from embed import index, int8, weights
from embed.build import build_index, plan_build
from embed.images import load_image
from embed.precision import check
from tests.helpers import write_catalogue

pytestmark = pytest.mark.slow  # converts and quantises ResNet50


@pytest.fixture
def shop(tmp_path, monkeypatch):
    """20 pictures; auto tries int8 from 20 on, calibrates on 8 and checks on 10 others, on an
    AVX2 CPU without bf16 units."""
    monkeypatch.setattr(settings, "ARTIFACTS_DIR", tmp_path / "artifacts")
    monkeypatch.setattr(settings, "PRECISION", "auto")
    monkeypatch.setattr(settings, "INT8_AUTO_MIN_IMAGES", 20)
    monkeypatch.setattr(settings, "INT8_CALIBRATION_IMAGES", 8)
    monkeypatch.setattr(settings, "INT8_CHECK_IMAGES", 10)
    monkeypatch.setattr(weights, "cpu_flags", lambda: frozenset({"avx2", "fma"}))
    return write_catalogue(tmp_path / "img", range(1, 21))


def test_int8_that_meets_the_bar_is_kept_and_the_check_is_recorded(shop, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(settings, "INT8_MIN_AGREEMENT", 0.0)  # 10 random-weight pictures: judge on cosine
    report = build_index(shop, tmp_path / "index", weights="none")
    built = index.load(tmp_path / "index")
    assert report.embedded == 20 and built.manifest["model_precision"] == "int8"
    choice = built.manifest["build"]["precision_choice"]
    assert choice["auto"] == "int8" and choice["int8_check"]["passed"] is True
    assert choice["int8_check"]["images"] == 10 and 0.99 <= choice["int8_check"]["mean_cosine"] < 1.0
    err = capsys.readouterr().err
    assert "checking int8 against fp32 on 10 other pictures" in err and "auto precision: int8 kept" in err
    assert choice["int8_check"]["seconds"] > 0
    from ui.visual_search import index_caption  # what the Visual search page tells the analyst

    assert index_caption(built).startswith(f"20 products · int8 model, checked against fp32 on 10 of the "
                                           f"catalogue's pictures (mean cosine {choice['int8_check']['mean_cosine']:.4f}")
    model = int8.Int8Embedder(weights.Weights("none"), next((tmp_path / "artifacts" / "models").iterdir()))
    assert model.manifest["calibration_images"] == 8

    again = build_index(shop, tmp_path / "index", weights="none", progress=False)
    assert again.embedded == 0 and again.reused == 20  # auto keeps the index's int8: nothing re-embedded
    assert index.load(tmp_path / "index").manifest["build"]["precision_choice"]["why"] == "the previous index's"


def test_a_killed_build_resumes_with_its_choice_and_no_second_check(shop, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(settings, "INT8_MIN_AGREEMENT", 0.0)
    real, calls = int8.Int8Embedder.embed_batch, []

    def killed_at_the_fourth_batch(self, images):  # the check's batch, two of the build's, then killed
        calls.append(len(images))
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(self, images)

    monkeypatch.setattr(int8.Int8Embedder, "embed_batch", killed_at_the_fourth_batch)
    with pytest.raises(KeyboardInterrupt):
        build_index(shop, tmp_path / "index", weights="none", batch_size=4, checkpoint_every=4)
    assert calls[0] == 10 and "checking int8" in capsys.readouterr().err  # the check ran, on 10 pictures
    monkeypatch.setattr(int8.Int8Embedder, "embed_batch", lambda self, images: calls.append(len(images))
                        or real(self, images))
    calls.clear()
    report = build_index(shop, tmp_path / "index", weights="none", batch_size=4, checkpoint_every=4)
    assert "checking int8" not in capsys.readouterr().err
    assert calls == [4, 4, 4] and report.reused == 8 and report.embedded == 12  # only the pictures left
    choice = index.load(tmp_path / "index").manifest["build"]["precision_choice"]
    assert choice["auto"] == "int8" and choice["why"] == "int8 checked against fp32"
    assert choice["int8_check"]["images"] == 10 and choice["int8_check"]["passed"] is True


def test_int8_below_the_bar_falls_back_to_fp32_with_the_figures(shop, tmp_path, monkeypatch, capsys, embedder):
    monkeypatch.setattr(settings, "INT8_MIN_COSINE", 1.0)  # int8 never reproduces fp32 exactly
    build_index(shop, tmp_path / "index", weights="none")
    built = index.load(tmp_path / "index")
    assert built.manifest["model_precision"] == "fp32"
    measured = built.manifest["build"]["precision_choice"]["int8_check"]
    assert measured["passed"] is False and measured["mean_cosine"] < 1.0
    assert measured["bar"] == {"mean_cosine": 1.0, "top5_agreement": settings.INT8_MIN_AGREEMENT}
    assert "auto precision: int8 below the bar, so fp32" in capsys.readouterr().err
    from ui.visual_search import index_caption

    assert index_caption(built) == "20 products · fp32 model."
    fp32 = embedder.embed_batch(np.stack([load_image(shop / f) for f in built.items["file"]]))
    np.testing.assert_allclose(np.asarray(built.vectors), fp32, atol=1e-5)  # the fp32 model's vectors


@pytest.mark.parametrize("why", ["small catalogue", "Spark cluster"])
def test_int8_is_not_tried_on_a_small_catalogue_or_for_a_cluster(shop, tmp_path, monkeypatch, why):
    if why == "small catalogue":
        monkeypatch.setattr(settings, "INT8_AUTO_MIN_IMAGES", 21)
    plan = plan_build(shop, tmp_path / "index", weights="none", progress=False, int8_allowed=why != "Spark cluster")
    assert plan.precision == "fp32" and plan.embedder is None
    assert plan.precision_choice == {"auto": "fp32", "why": "by the CPU's instruction sets"}
    assert not (tmp_path / "artifacts" / "models").exists()  # no calibration happened


def test_auto_keeps_the_precision_of_the_index_it_updates(shop, tmp_path, monkeypatch, embedder):
    build_index(shop, tmp_path / "index", embedder=embedder, progress=False)  # fp32
    monkeypatch.setattr(weights, "cpu_flags", lambda: frozenset({"avx2", "amx_bf16", "avx512_vnni"}))
    monkeypatch.setattr(settings, "INT8_AUTO_MIN_IMAGES", 21)  # int8 not to be tried (see the next test)
    plan = plan_build(shop, tmp_path / "index", weights="none", progress=False)
    assert plan.precision == "fp32" and not plan.todo  # not bf16 nor int8: every vector is reused
    assert not (tmp_path / "artifacts" / "models").exists()
    asked = plan_build(shop, tmp_path / "index", weights="none", precision="bf16", progress=False)
    assert asked.precision == "bf16" and len(asked.todo) == 20  # asking for another precision re-embeds


def test_an_index_that_grows_large_enough_has_int8_checked_once(shop, tmp_path, monkeypatch, capsys, embedder):
    monkeypatch.setattr(settings, "INT8_AUTO_MIN_IMAGES", 21)
    monkeypatch.setattr(settings, "INT8_MIN_COSINE", 1.0)  # int8 falls short
    build_index(shop, tmp_path / "index", weights="none", progress=False)  # 20 pictures: fp32, int8 not tried
    write_catalogue(shop, [21, 22])
    grown = build_index(shop, tmp_path / "index", weights="none")
    assert "checking int8 against fp32" in capsys.readouterr().err
    built = index.load(tmp_path / "index")
    assert built.manifest["model_precision"] == "fp32" and grown.embedded == 2  # kept: only the new ones
    assert built.manifest["build"]["precision_choice"]["int8_check"]["passed"] is False
    write_catalogue(shop, [23])
    again = build_index(shop, tmp_path / "index", weights="none")
    assert "checking int8" not in capsys.readouterr().err and again.embedded == 1  # checked once, not again
    assert index.load(tmp_path / "index").manifest["build"]["precision_choice"]["int8_check"]["passed"] is False


def test_the_check_compares_the_two_models_on_the_same_pictures(embedder, tmp_path):
    pictures = [load_image(f) for f in sorted(write_catalogue(tmp_path / "img", range(30, 42)).iterdir())]
    same = check(embedder, embedder, pictures, batch_size=5)
    assert same["images"] == 12 and same["mean_cosine"] == pytest.approx(1.0, abs=1e-6)
    assert same["top5_agreement"] == 1.0 and same["passed"] is True
    assert check(embedder, embedder, pictures[:5])["passed"] is False  # too few pictures to judge
