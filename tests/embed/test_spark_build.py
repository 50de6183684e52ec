"""`python -m embed build --engine spark` on a real local[2] Spark: the local job's index (vectors to
float rounding, ids, items, skipped images), resumable per shard, and through the CLI."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler

import numpy as np
import pandas as pd
import pytest

import settings as settings_module
from embed import index
from embed.build import SHARDS_DIR, build_index, partial_dir
from embed.fetch import Fetcher
from tests.helpers import encode, http_server, product_picture, write_tiny_catalogue

pytestmark = [pytest.mark.slow, pytest.mark.spark]  # starts Spark and runs the model in its Python workers

VOLATILE = ("created", "build", "rebuild", "contents")  # run-time facts; contents: digests of rounded floats
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def spark():
    """One local[2] session for the module (the CLI's own `session()` call finds it running)."""
    from common.spark import session

    spark = session("local[2]")
    yield spark
    spark.stop()


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory, embedder):
    """The ten tiny products, one of them (7) not a picture, and the local job's index of them."""
    root = tmp_path_factory.mktemp("spark_catalogue")
    images, catalogue = write_tiny_catalogue(root)
    (images / "7.jpg").write_bytes(b"not a picture")
    local = root / "local"
    build_index(images, local, catalogue=catalogue, embedder=embedder, batch_size=2, checkpoint_every=4, progress=False)
    return images, catalogue, index.load(local)


def assert_same_index(built: index.VectorIndex, local: index.VectorIndex) -> None:
    assert list(built.ids) == list(local.ids)
    assert np.abs(np.asarray(built.vectors) - np.asarray(local.vectors)).max() < TOLERANCE
    pd.testing.assert_frame_equal(built.items, local.items)
    stable = lambda m: {k: v for k, v in m.items() if k not in VOLATILE}  # noqa: E731
    assert stable(built.manifest) == stable(local.manifest)  # skipped images, identity, digests of the input


def test_spark_writes_the_local_jobs_index(tmp_path, spark, catalogue):
    from embed.spark import build_index_on_spark

    images, catalogue, local = catalogue
    out = tmp_path / "index"
    report = build_index_on_spark(images, out, catalogue=catalogue, weights="none", precision="fp32", batch_size=2,
                                  checkpoint_every=4, progress=False)
    built = index.load(out)
    assert_same_index(built, local)
    assert report.count == 9 and report.embedded == 9 and report.reused == 0
    assert built.manifest["skipped"] == local.manifest["skipped"]
    assert [s["id"] for s in built.manifest["skipped"]] == ["7"]
    assert "not a picture" in built.manifest["skipped"][0]["reason"]
    info = built.manifest["build"]
    assert info["engine"] == "spark" and info["spark_master"] == "local[2]"
    assert info["shards"] == 3 and info["threads_per_task"] == 1  # 10 images in shards of 4; 2 cores, 2 tasks
    assert 1 <= info["model_loads"] == len(info["workers"]) <= 2  # each Python worker loads the model once
    assert not partial_dir(out).exists()


class Pictures(BaseHTTPRequestHandler):
    """/p/<i>.jpg with an ETag (a 304 when asked with it); anything else is a 404."""
    downloads: dict[str, int] = {}
    lock = threading.Lock()

    def log_message(self, *args):
        pass

    def do_GET(self):
        name = self.path.removeprefix("/p/").removesuffix(".jpg")
        if not (self.path.startswith("/p/") and name.isdigit()):
            body, status, headers = b"gone", 404, {}
        elif self.headers.get("If-None-Match") == '"1"':
            body, status, headers = b"", 304, {}
        else:
            with self.lock:
                self.downloads[self.path] = self.downloads.get(self.path, 0) + 1
            body, status, headers = encode(product_picture(int(name))), 200, {"ETag": '"1"'}
        self.send_response(status)
        for key, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)


def test_a_url_catalogue_on_spark_fetches_on_the_executors_as_the_local_job_does(tmp_path, spark, embedder,
                                                                                monkeypatch):
    from embed.spark import build_index_on_spark

    monkeypatch.setattr(settings_module, "FETCH_ALLOW", ["127.0.0.1"])  # the driver's list reaches the executors

    Pictures.downloads = {}
    with http_server(Pictures) as base:
        catalogue = tmp_path / "catalogue.csv"
        rows = [(f"u{i}", f"{base}/p/{i}.jpg") for i in range(6)] + [("gone", f"{base}/missing.jpg")]
        pd.DataFrame(rows, columns=["id", "image"]).to_csv(catalogue, index=False)
        with Fetcher(workers=2, timeout=5) as fetcher:
            build_index(None, tmp_path / "local", catalogue=catalogue, embedder=embedder, fetcher=fetcher,
                        batch_size=2, checkpoint_every=4, progress=False)
        out = tmp_path / "spark"
        settings = dict(catalogue=catalogue, weights="none", precision="fp32", batch_size=2, checkpoint_every=4,
                        progress=False, fetch_workers=2, fetch_timeout=5)
        first = build_index_on_spark(None, out, **settings)
        assert first.embedded == 6 and [s["id"] for s in first.skipped] == ["gone"]
        assert "HTTP 404" in first.skipped[0]["reason"]
        assert_same_index(index.load(out), index.load(tmp_path / "local"))
        assert all(Pictures.downloads[f"/p/{i}.jpg"] == 2 for i in range(6))  # once each build

        again = build_index_on_spark(None, out, **settings)  # asked with the ETag: 304, vectors reused
        assert again.embedded == 0 and again.reused == 6
        assert all(Pictures.downloads[f"/p/{i}.jpg"] == 2 for i in range(6))
    assert_same_index(index.load(out), index.load(tmp_path / "local"))


def test_an_interrupted_build_resumes_from_its_finished_shards(tmp_path, spark, catalogue):
    from embed.spark import build_index_on_spark

    images, catalogue, local = catalogue
    out = tmp_path / "index"
    settings = dict(catalogue=catalogue, weights="none", precision="fp32", batch_size=1, checkpoint_every=1,
                    progress=False)

    def interrupt(done, total, rate):  # Ctrl-C as soon as the driver sees a shard finished
        if done >= 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_index_on_spark(images, out, on_progress=interrupt, **settings)
    assert not out.exists()
    shards = sorted((partial_dir(out) / SHARDS_DIR).glob("shard-*"))
    assert 1 <= len(shards) <= 10  # whole shards only: a killed task's is never renamed into place
    kept = pd.concat([pd.read_csv(s / "chunk-00000.csv", dtype=str, keep_default_na=False) for s in shards])
    ok_before = int((kept["status"] == "ok").sum())
    print(f"{len(shards)} of 10 shards finished before the interrupt")

    report = build_index_on_spark(images, out, **settings)
    # Finished shards are not embedded again; a task of the cancelled job may still have finished
    # one more shard after the listing above (it is then reused too).
    assert report.reused >= ok_before and report.embedded <= 9 - ok_before
    assert report.reused + report.embedded == 9
    assert_same_index(index.load(out), local)
    assert not partial_dir(out).exists()


def test_cli_builds_on_spark_and_a_rerun_reuses_every_vector(tmp_path, spark, catalogue, capsys):
    from embed.cli import main

    images, catalogue, local = catalogue
    out = tmp_path / "index"
    argv = ["build", "--engine", "spark", "--spark-master", "local[2]", "--images", str(images),
            "--catalogue", str(catalogue), "--out", str(out), "--weights", "none", "--precision", "fp32",
            "--batch-size", "2", "--checkpoint-every", "4", "--quiet"]
    assert main(argv) == 0
    built = index.load(out)
    assert_same_index(built, local)
    assert built.manifest["rebuild"].startswith("python -m embed build --engine spark")
    assert "(9 embedded, 0 reused, 1 skipped)" in capsys.readouterr().out

    assert main(argv) == 0  # nothing changed: every vector comes from the index, no Spark job runs
    assert "(0 embedded, 9 reused, 1 skipped)" in capsys.readouterr().out
    assert_same_index(index.load(out), local)


def test_cli_refuses_a_uri_out_and_spark_flags_without_the_engine(tmp_path, catalogue, capsys):
    from embed.cli import main

    images, catalogue, _ = catalogue
    base = ["build", "--images", str(images), "--catalogue", str(catalogue), "--weights", "none", "--quiet"]
    assert main([*base, "--engine", "spark", "--out", "s3a://bucket/index"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]  # after the random-weights warning
    assert err.startswith("error: --out s3a:/bucket/index") and "shared mount" in err
    assert main([*base, "--spark-master", "local[2]", "--out", str(tmp_path / "i")]) == 2
    assert "only apply with --engine spark" in capsys.readouterr().err
    assert not (tmp_path / "i").exists()
