"""The offline job: artifact contents, skipped images, resume, incremental runs, safety."""
from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest

from common.errors import ArtifactError
import embed.build
from embed import index
from embed.build import BuildError, build_index, partial_dir
from embed.images import load_image
from tests.helpers import write_catalogue

pytestmark = pytest.mark.slow  # runs the model with TensorFlow

VOLATILE = ("created", "build", "rebuild")  # run-time facts and the folder's own name; all else must match


def stable(manifest: dict) -> dict:
    return {k: v for k, v in manifest.items() if k not in VOLATILE}


def load(out):
    manifest = json.loads((out / "manifest.json").read_text())
    return np.load(out / "embeddings.npy"), pd.read_csv(out / "items.csv", dtype={"id": str}), manifest


def test_build_writes_index_and_lists_skipped(tmp_path, embedder):
    images = write_catalogue(tmp_path / "img", [3, 1, 20, 10, 2])
    (images / "7.jpg").write_bytes(b"not a picture")
    (images / "notes.txt").write_text("ignored: not an image suffix")
    out = tmp_path / "index"
    report = build_index(images, out, embedder=embedder, batch_size=2, progress=False)
    vectors, items, manifest = load(out)
    assert list(items["id"]) == ["1", "2", "3", "10", "20"]  # numeric ids in numeric order
    assert vectors.shape == (5, 2048) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert manifest["count"] == 5 and manifest["dims"] == 2048
    assert [s["id"] for s in manifest["skipped"]] == ["7"]
    assert "not a picture" in manifest["skipped"][0]["reason"]
    assert manifest["identity"]["weights"].startswith("none")
    assert manifest["weights_source"] == "none" and manifest["precision"] == "fp32"
    assert len(manifest["input_digest"]) == 64 and manifest["library_versions"]["numpy"]
    assert report.embedded == 5 and report.reused == 0 and len(report.skipped) == 1
    assert not partial_dir(out).exists()
    # each row is the vector of its own picture
    for row, item in items.iterrows():
        alone = embedder.embed_batch(load_image(images / item["file"])[None])[0]
        np.testing.assert_allclose(vectors[row], alone, atol=1e-4)


def test_catalogue_restricts_and_describes(tmp_path, embedder):
    images = write_catalogue(tmp_path / "img", [1, 2, 3])
    catalogue = tmp_path / "styles.csv"
    pd.DataFrame({"id": [1, 3, 4], "articleType": ["Shirts", "Watches", "Heels"]}).to_csv(catalogue, index=False)
    out = tmp_path / "index"
    build_index(images, out, catalogue=catalogue, embedder=embedder, progress=False)
    _, items, manifest = load(out)
    assert list(items["id"]) == ["1", "3"]
    assert list(items["articleType"]) == ["Shirts", "Watches"]
    assert manifest["catalog_rows_without_image"] == 1


class Interrupting:
    """Wraps an embedder and raises after `batches` calls, like a job killed mid-way."""

    def __init__(self, inner, batches):
        self.inner, self.left = inner, batches
        self.weights, self.precision, self.dims = inner.weights, inner.precision, inner.dims

    def embed_batch(self, x):
        if self.left == 0:
            raise KeyboardInterrupt
        self.left -= 1
        return self.inner.embed_batch(x)


def test_interrupted_job_resumes_to_the_identical_artifact(tmp_path, embedder):
    images = write_catalogue(tmp_path / "img", range(1, 15))
    whole = tmp_path / "whole"
    build_index(images, whole, embedder=embedder, batch_size=2, checkpoint_every=4, progress=False)

    out = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        build_index(images, out, embedder=Interrupting(embedder, 5), batch_size=2,
                    checkpoint_every=4, progress=False)
    assert not out.exists()  # nothing half-written where the index goes
    assert len(list(partial_dir(out).glob("chunk-*.csv"))) == 2  # two whole chunks survived
    counting = Interrupting(embedder, 10**6)
    report = build_index(images, out, embedder=counting, batch_size=2, checkpoint_every=4, progress=False)
    assert report.reused == 8 and report.embedded == 6
    assert 10**6 - counting.left == 3  # only the missing batches ran

    a, b = load(whole), load(out)
    np.testing.assert_array_equal(a[0], b[0])
    pd.testing.assert_frame_equal(a[1], b[1])
    assert stable(a[2]) == stable(b[2])


def test_rerun_embeds_only_added_images_and_drops_removed(tmp_path, embedder):
    images = write_catalogue(tmp_path / "img", [1, 2, 3, 4])
    out = tmp_path / "index"
    build_index(images, out, embedder=embedder, progress=False)
    before, items_before, _ = load(out)

    (images / "2.jpg").unlink()
    write_catalogue(images, [5, 6])
    report = build_index(images, out, embedder=embedder, progress=False)
    after, items_after, manifest = load(out)
    assert list(items_after["id"]) == ["1", "3", "4", "5", "6"]
    assert report.embedded == 2 and report.reused == 3
    assert manifest["build"] == {**manifest["build"], "embedded": 2, "reused": 3}
    old = dict(zip(items_before["id"], before))
    for item_id, vector in zip(items_after["id"], after):
        if item_id in old:
            np.testing.assert_array_equal(vector, old[item_id])  # reused, not recomputed

    # a changed picture under the same id is embedded again
    write_catalogue(images, [1000])
    (images / "1000.jpg").replace(images / "1.jpg")
    report = build_index(images, out, embedder=embedder, progress=False)
    changed, items_changed, _ = load(out)
    assert report.embedded == 1 and report.reused == 4
    assert items_changed["id"][0] == "1" and not np.allclose(changed[0], old["1"])
    np.testing.assert_allclose(
        changed[0], embedder.embed_batch(load_image(images / "1.jpg")[None])[0], atol=1e-4)


def test_nothing_to_do_rerun_reuses_everything(tmp_path, embedder):
    images = write_catalogue(tmp_path / "img", [1, 2])
    out = tmp_path / "index"
    build_index(images, out, embedder=embedder, progress=False)
    calls = []
    report = build_index(images, out, embedder=Interrupting(embedder, 0), progress=False,
                         on_progress=lambda *a: calls.append(a))
    assert report.embedded == 0 and report.reused == 2
    assert calls == [(0, 2, 0.0), (2, 2, 0.0)]  # starting, then done at once


class RecordingBar:
    """Stands in for tqdm in embed.build and keeps the count after each update."""

    def __init__(self, seen, *args, **kwargs):
        self.seen, self.n = seen, 0

    def update(self, n):
        self.n += n
        self.seen.append(self.n)

    def refresh(self):
        pass

    def close(self):
        pass


def test_progress_is_reported_after_every_batch_not_only_per_checkpoint(tmp_path, embedder, monkeypatch):
    images = write_catalogue(tmp_path / "img", range(1, 11))
    (images / "3.jpg").write_bytes(b"not a picture")  # a skipped image counts as done too
    monkeypatch.setattr(embed.build, "HEARTBEAT_SECONDS", 1e9)  # only the per-batch reports
    bar = []
    monkeypatch.setattr(embed.build, "tqdm", lambda *a, **k: RecordingBar(bar, *a, **k))
    calls = []
    build_index(images, tmp_path / "index", embedder=embedder, batch_size=2, checkpoint_every=64,
                on_progress=lambda *a: calls.append(a))
    # starting; then batches {1,2} {4,5} {6,7} {8,9}; the last, {10}, ends the only chunk
    assert [done for done, _, _ in calls] == [0, 2, 5, 7, 9, 10]
    assert {total for _, total, _ in calls} == {10}
    assert calls[0][2] == 0.0 and all(rate > 0 for _, _, rate in calls[1:])
    assert bar == [2, 5, 7, 9, 10]  # the terminal bar moves per batch as well


class Slow:
    """Wraps an embedder; each batch takes `seconds` longer."""

    def __init__(self, inner, seconds):
        self.inner, self.seconds = inner, seconds
        self.weights, self.precision, self.dims = inner.weights, inner.precision, inner.dims

    def embed_batch(self, x):
        time.sleep(self.seconds)
        return self.inner.embed_batch(x)


def test_a_slow_batch_still_reports_about_every_heartbeat(tmp_path, embedder, monkeypatch):
    images = write_catalogue(tmp_path / "img", range(1, 5))
    monkeypatch.setattr(embed.build, "HEARTBEAT_SECONDS", 0.05)
    calls = []
    build_index(images, tmp_path / "index", embedder=Slow(embedder, 0.4), batch_size=2,
                progress=False, on_progress=lambda *a: calls.append(a))
    done = [d for d, _, _ in calls]
    assert done == sorted(done) and done[-1] == 4
    assert done.count(0) >= 3 and done.count(2) >= 3  # heard from while each 0.4 s batch ran


def test_refuses_to_overwrite_a_folder_that_is_not_an_index(tmp_path, embedder):
    images = write_catalogue(tmp_path / "img", [1])
    precious = tmp_path / "mine"
    precious.mkdir()
    (precious / "thesis.txt").write_text("do not delete")
    with pytest.raises(BuildError, match="not a visual index"):
        build_index(images, precious, embedder=embedder, progress=False)
    assert (precious / "thesis.txt").read_text() == "do not delete"


@pytest.mark.parametrize("damage", ["older format", "garbled manifest"])
def test_the_rebuild_command_in_a_refusal_replaces_an_old_or_damaged_index(tmp_path, embedder, damage):
    images = write_catalogue(tmp_path / "img", [1, 2])
    out = tmp_path / "index"
    build_index(images, out, embedder=embedder, progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    (out / "manifest.json").write_text(json.dumps({**manifest, "format_version": 0})
                                       if damage == "older format" else "{garbled")
    with pytest.raises(ArtifactError, match="python -m embed build --out"):
        index.load(out)
    report = build_index(images, out, embedder=embedder, progress=False)
    assert report.embedded == 2 and report.reused == 0  # nothing trusted from the old folder
    assert len(index.load(out)) == 2


def test_all_unreadable_is_an_error_and_keeps_the_old_index(tmp_path, embedder):
    images = write_catalogue(tmp_path / "img", [1])
    out = tmp_path / "index"
    build_index(images, out, embedder=embedder, progress=False)
    (images / "1.jpg").write_bytes(b"broken")
    with pytest.raises(BuildError, match="None of the 1 images"):
        build_index(images, out, embedder=embedder, progress=False)
    assert load(out)[2]["count"] == 1
