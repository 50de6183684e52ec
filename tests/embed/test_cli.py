"""`python -m embed` end to end in real processes: build, kill and resume, search."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import embed.build
from embed.build import partial_dir
from embed.cli import main
from tests.helpers import encode, http_server, product_picture, write_catalogue

ROOT = Path(__file__).resolve().parents[2]


def run(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "embed", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, **kw)


def test_killed_build_resumes_to_the_same_index(tmp_path):
    images = write_catalogue(tmp_path / "img", range(1, 41))
    flags = ["--images", images, "--weights", "none", "--batch-size", "2", "--checkpoint-every", "4",
             "--quiet"]
    whole = tmp_path / "whole"
    assert run("build", *flags, "--out", whole).returncode == 0

    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "embed", "build", *map(str, flags), "--out", str(out)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while not list(partial_dir(out).glob("chunk-*.csv")) and time.time() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    chunks = len(list(partial_dir(out).glob("chunk-*.csv")))
    assert 1 <= chunks < 10 and not out.exists()  # really stopped half-way, nothing loadable

    resumed = run("build", *flags, "--out", out)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{chunks * 4} reused" in resumed.stdout
    np.testing.assert_array_equal(np.load(whole / "embeddings.npy"), np.load(out / "embeddings.npy"))
    assert (whole / "items.csv").read_text() == (out / "items.csv").read_text()


def test_build_then_search_from_the_command_line(tmp_path):
    images = write_catalogue(tmp_path / "img", range(1, 9))
    out = tmp_path / "index"
    built = run("build", "--images", images, "--out", out, "--weights", "none", "--quiet")
    assert built.returncode == 0, built.stderr
    assert "RANDOM weights" in built.stderr and "Wrote 8 vectors" in built.stdout

    query = images / "3.jpg"
    found = run("search", query, "--index", out, "-k", "3", "--json")
    assert found.returncode == 0, found.stderr
    results = json.loads(found.stdout)[0]["results"]
    assert [r["rank"] for r in results] == [1, 2, 3]
    assert "3" not in [r["id"] for r in results]  # the query's own file is left out
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True) and all(-1 <= s <= 1 for s in scores)

    with_self = run("search", query, "--index", out, "-k", "3", "--json", "--include-self")
    top = json.loads(with_self.stdout)[0]["results"][0]
    assert top["id"] == "3" and top["score"] > 0.999

    vectors = np.load(out / "embeddings.npy")
    ids = list(pd.read_csv(out / "items.csv", dtype={"id": str})["id"])
    expected = np.argsort(-(vectors @ vectors[ids.index("3")]))[1:4]
    assert [r["id"] for r in results] == [ids[i] for i in expected]

    # a photo that is not in the catalogue, as a table
    photo = tmp_path / "photo.png"
    photo.write_bytes(encode(product_picture(99, (300, 200)), "PNG"))
    table = run("search", photo, "--index", out, "-k", "2")
    assert table.returncode == 0 and table.stdout.count("\n") == 3


def test_cli_errors_are_one_clear_line(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"nope")
    images = write_catalogue(tmp_path / "img", [1, 2])
    out = tmp_path / "index"
    assert run("build", "--images", images, "--out", out, "--weights", "none", "--quiet").returncode == 0

    searched = run("search", bad, "--index", out)
    assert searched.returncode == 1 and "not a picture" in searched.stderr
    assert "Traceback" not in searched.stderr

    missing = run("search", bad, "--index", tmp_path / "no-index")
    assert missing.returncode == 2 and "error:" in missing.stderr and "Traceback" not in missing.stderr

    no_images = run("build", "--images", tmp_path / "none-here", "--out", out, "--weights", "none")
    assert no_images.returncode == 2 and "not found" in no_images.stderr

    bad_weights = run("build", "--images", images, "--out", out, "--weights", tmp_path / "w.h5")
    assert bad_weights.returncode == 2 and "w.h5 not found" in bad_weights.stderr


def test_a_user_error_is_one_line_and_exit_status_2(tmp_path, capsys):
    status = main(["build", "--images", str(tmp_path / "none-here"), "--out", str(tmp_path / "index"),
                   "--weights", "none", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert err[-1].startswith("error: ") and "none-here not found" in err[-1]
    assert not any("Traceback" in line for line in err)


@pytest.mark.parametrize("bug", [RuntimeError("a bug"), ValueError("a bug"), OSError("a bug")])
def test_a_bug_keeps_its_traceback(tmp_path, monkeypatch, capsys, bug):
    def broken(*args, **kwargs):
        raise bug

    monkeypatch.setattr(embed.build, "with_digests", broken)
    images = write_catalogue(tmp_path / "img", [1, 2])
    with pytest.raises(type(bug), match="a bug"):
        main(["build", "--images", str(images), "--out", str(tmp_path / "index"), "--weights", "none",
              "--quiet"])
    assert "error:" not in capsys.readouterr().err


class _Missing(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()


def test_a_catalogue_with_an_image_column_builds_an_approximate_index_from_the_command_line(tmp_path):
    write_catalogue(tmp_path / "shop" / "pictures", range(1, 9))
    with http_server(_Missing) as base:
        rows = [(i, f"pictures/{i}.jpg", "Shirts" if i % 2 else "Watches") for i in range(1, 9)]
        rows.append((9, f"{base}/9.jpg", "Shirts"))
        catalogue = tmp_path / "shop" / "products.csv"
        pd.DataFrame(rows, columns=["id", "image", "articleType"]).to_csv(catalogue, index=False)
        out = tmp_path / "index"
        built = run("build", "--catalogue", catalogue, "--out", out, "--weights", "none", "--quiet",
                    "--index-type", "approximate", "--fetch-timeout", "5", "--allow-fetch-host", "127.0.0.1")
    assert built.returncode == 0, built.stderr
    assert "Wrote 8 vectors" in built.stdout and "1 skipped" in built.stdout
    assert f"skipped {base}/9.jpg: HTTP 404 Not Found" in built.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["vector_storage"]["index_type"] == "approximate" and (out / "approximate.faiss").is_file()
    found = run("search", tmp_path / "shop" / "pictures" / "3.jpg", "--index", out, "-k", "3", "--json")
    assert found.returncode == 0, found.stderr
    assert len(json.loads(found.stdout)[0]["results"]) == 3

    plain = tmp_path / "plain.csv"
    pd.DataFrame({"id": [1, 2]}).to_csv(plain, index=False)
    neither = run("build", "--catalogue", plain, "--out", tmp_path / "other", "--weights", "none")
    assert neither.returncode == 2 and "Give --images" in neither.stderr and "'image' column" in neither.stderr


def test_the_spelling_before_catalogue_still_works(tmp_path):
    """"catalogue" is the one spelling; the flags and settings named "catalog" before keep working."""
    from embed.cli import _parser
    from recommend.cli import parser

    argv = ["build", "--name", "shop", "--catalog", "shop.csv", "--catalog-map", "id=SKU"]
    old = parser(argv).parse_args(argv)
    new = parser(argv).parse_args(["build", "--name", "shop", "--catalogue", "shop.csv", "--catalogue-map", "id=SKU"])
    assert (old.catalogue, old.catalogue_map) == (new.catalogue, new.catalogue_map) == (Path("shop.csv"), ["id=SKU"])
    assert _parser().parse_args(["build", "--catalog", "shop.csv"]).catalogue == Path("shop.csv")
    shown = subprocess.run([sys.executable, "-c", "import settings; print(settings.DEMO_FASHION_CATALOGUE, "
                            "settings.DEMO_FASHION_IMAGES)"], capture_output=True, text=True, check=True,
                           env={**os.environ, "VITRINE_CATALOG": str(tmp_path / "old.csv"),
                                "VITRINE_CATALOGUE_IMAGES": str(tmp_path / "pics")}).stdout.split()
    assert shown == [str(tmp_path / "old.csv"), str(tmp_path / "pics")]
