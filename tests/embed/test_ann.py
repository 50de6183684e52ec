"""embed.ann through embed.index: the approximate index against exact search on the same vectors
(recall, selective and broad filters, leaving a product out, "More like this"), when `auto`
chooses it, what the manifest says, and a damaged index file refused with the rebuild command."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import settings
from common.errors import ArtifactError
from embed import ann
from embed.index import VectorIndex, answer, build, filter_mask, load, search, write

N, D = 3000, 96


def clustered(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.gamma(0.6, 1.0, (40, D)) * (rng.random((40, D)) < 0.4)
    x = np.maximum(centres[rng.integers(0, 40, n)] + 0.3 * rng.standard_normal((n, D)), 0)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    rng = np.random.default_rng(1)
    items = pd.DataFrame({"id": [f"p{i}" for i in range(N)],
                          "articleType": rng.choice(["Shirts", "Watches", "Heels"], N, p=[0.6, 0.39, 0.01])})
    folder = tmp_path_factory.mktemp("ann") / "index"
    write(build(clustered(N, 0), items, {"model": "test"}), folder, index_type="approximate")
    approx = load(folder)
    exact = VectorIndex(vectors=approx.vectors, ids=approx.ids, items=approx.items, manifest=approx.manifest)
    return approx, exact


def overlap(a: pd.DataFrame, b: pd.DataFrame) -> float:
    return len(set(a["id"]) & set(b["id"])) / len(b)


def test_the_approximate_index_finds_what_exact_search_finds(built):
    approx, exact = built
    assert approx.approximate is not None and exact.approximate is None
    queries = clustered(60, 7)
    recall = np.mean([overlap(search(approx, q, 5), search(exact, q, 5)) for q in queries])
    assert recall >= 0.95
    q = queries[0]
    got, want = search(approx, q, 5), search(exact, q, 5)
    shared = got.merge(want, on="id")
    np.testing.assert_allclose(shared["score_x"], shared["score_y"], atol=1e-5)  # scores are exact, re-ranked
    assert list(got.columns) == list(want.columns)


@pytest.mark.parametrize("kind", ["Watches", "Heels"])  # 39%: a few more lists visited; 1%: every list
def test_a_filter_before_ranking_still_gives_five_of_the_right_kind(built, kind):
    approx, exact = built
    mask = filter_mask(approx.items, articleType=kind)
    assert mask.sum() > 5
    for q in clustered(20, 11):
        got, want = search(approx, q, 5, mask=mask), search(exact, q, 5, mask=mask)
        assert len(got) == 5 and set(got["articleType"]) == {kind}
        assert overlap(got, want) >= 0.8
    assert np.mean([overlap(search(approx, q, 5, mask=mask), search(exact, q, 5, mask=mask))
                    for q in clustered(20, 11)]) >= 0.95


def test_more_like_this_leaves_the_product_out_and_reads_its_own_vector(built):
    approx, exact = built
    np.testing.assert_array_equal(approx.vector(17), exact.vectors[17])  # read with pread
    got = answer(approx, "p17", k=5)
    assert len(got) == 5 and "p17" not in set(got["id"])
    assert overlap(got, answer(exact, "p17", k=5)) >= 0.8
    assert "p17" in set(answer(approx, "p17", k=5, include_self=True)["id"])


def test_the_manifest_says_how_vectors_are_stored_and_auto_follows_the_threshold(built, monkeypatch):
    approx, _ = built
    storage = approx.manifest["vector_storage"]
    assert storage["index_type"] == "approximate"
    lists = min(int(4 * np.sqrt(N)), N // 39)  # 4 sqrt(N), with 39 training points a list
    assert storage["approximate"]["factory"] == f"PCA{D},IVF{lists},PQ48x8"  # PCA no wider than the vectors
    assert approx.manifest["files"]["approximate"] == ann.FILE
    # 48 bytes of code and an 8-byte id a product, plus the lists' centroids, the PCA matrix, the codebooks and the
    # distance tables (lists x 48 x 256 floats); a float32 copy of the vectors would not fit
    fixed = 4 * (lists * D + D * D + 256 * D + lists * 48 * 256)  # centroids, PCA, PQ codebooks, tables
    assert N * (48 + 8) < approx.approximate.memory_bytes() < N * (48 + 8) + fixed + 100_000 < N * 4 * D + fixed
    monkeypatch.setattr(settings, "APPROXIMATE_INDEX_FROM", 1000)
    assert (ann.resolve("auto", 999), ann.resolve("auto", 1000)) == ("exact", "approximate")
    assert ann.resolve("approximate", 3) == "approximate" and ann.resolve("exact", 10**7) == "exact"
    with pytest.raises(Exception, match="--index-type must be one of auto, exact, approximate"):
        ann.resolve("fast", 10)


def test_a_small_catalogue_forced_approximate_and_a_damaged_index_file(tmp_path):
    items = pd.DataFrame({"id": [f"s{i}" for i in range(12)]})
    vectors = clustered(12, 3)
    folder = write(build(vectors, items, {"model": "test"}), tmp_path / "small", index_type="approximate")
    small = load(folder)
    exact = VectorIndex(vectors=small.vectors, ids=small.ids, items=small.items, manifest=small.manifest)
    for q in clustered(5, 4):  # fewer products than candidates: every one re-ranked, as exact
        assert list(search(small, q, 5)["id"]) == list(search(exact, q, 5)["id"])
    (folder.resolve() / ann.FILE).write_bytes(b"not an index")
    with pytest.raises(ArtifactError, match="python -m embed build"):
        load(folder)
