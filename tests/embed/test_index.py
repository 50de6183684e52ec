"""embed.index: exact cosine search checked against scikit-learn's brute force,
plus the index folder's write/load round trip and its refusal of broken folders."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.neighbors import NearestNeighbors

import embed.index as visual_index
from common.artifacts import file_sha256
from common.errors import ArtifactError, InputError
from embed.index import VectorIndex, answer, build, filter_mask, load, search, write

N, D = 400, 24


def unit_rows(rng, n, d):
    v = rng.standard_normal((n, d))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(42)
    vectors = unit_rows(rng, N, D)
    items = pd.DataFrame({
        # Leading zeros and "NA" must survive as ids: they are text, not numbers or missing.
        "id": ["NA"] + [f"{i:05d}" for i in range(1, N)],
        "file": [f"{i}.jpg" for i in range(N)],
        "gender": rng.choice(["Men", "Women", "Unisex"], N),
        "masterCategory": rng.choice(["Apparel", "Footwear", "Accessories", "Personal Care"], N,
                                     p=[0.5, 0.3, 0.17, 0.03]),
        "year": rng.choice([2011, 2012, 2013], N),
    })
    return vectors, items


@pytest.fixture(scope="module")
def index(data, tmp_path_factory):
    vectors, items = data
    folder = tmp_path_factory.mktemp("index") / "visual_index"
    write(build(vectors, items, {"model": "test"}), folder)
    return load(folder)


def sklearn_reference(vectors, ids, query, k):
    """ids and cosine similarities of the k nearest rows by scikit-learn's brute force."""
    nn = NearestNeighbors(metric="cosine", algorithm="brute").fit(vectors)
    dist, rows = nn.kneighbors(query[None], n_neighbors=min(k, len(vectors)))
    return list(np.asarray(ids)[rows[0]]), 1.0 - dist[0]


def queries(seed, count=5):
    return unit_rows(np.random.default_rng(seed), count, D)


# ---- write -> load round trip -------------------------------------------------------------

def test_round_trip_memory_maps_vectors_and_keeps_items(index, data):
    vectors, items = data
    assert isinstance(index.vectors, np.memmap)
    assert index.vectors.dtype == np.float32 and index.vectors.shape == (N, D)
    np.testing.assert_array_equal(np.asarray(index.vectors), vectors)
    assert list(index.ids[:3]) == ["NA", "00001", "00002"]
    assert index.items.columns[0] == "id"
    assert list(index.items["id"]) == list(items["id"])
    assert list(index.items["gender"]) == list(items["gender"])
    assert len(index) == N


def test_manifest_gets_kind_format_count_dims_and_contents(index):
    assert index.manifest["kind"] == "visual_index" and index.manifest["format_version"] == 1
    assert index.manifest["count"] == N and index.manifest["dims"] == D
    assert index.manifest["files"] == {"vectors": "embeddings.npy", "items": "items.csv"}
    assert set(index.manifest["contents"]) == {"embeddings.npy", "items.csv"}
    assert index.manifest["model"] == "test"


def test_position_lookup_and_unknown_id(index):
    assert index.position("00007") == 7
    with pytest.raises(InputError, match="unknown product id 7"):
        index.position(7)  # looked up as "7", and the stored id is "00007"
    with pytest.raises(InputError, match="unknown product id 'nope'"):
        index.position("nope")


def test_write_refuses_inconsistent_input(tmp_path, data):
    vectors, items = data
    with pytest.raises(ValueError, match="rows"):
        write(build(vectors[:-1], items, {}), tmp_path / "a")
    with pytest.raises(ValueError, match="count"):
        write(build(vectors, items, {"count": 3}), tmp_path / "b")
    with pytest.raises(ValueError, match="'id'"):
        write(build(vectors, items.drop(columns="id"), {}), tmp_path / "c")
    assert not any(tmp_path.iterdir())


def test_rewrite_replaces_the_folder(tmp_path, data):
    vectors, items = data
    folder = tmp_path / "idx"
    write(build(vectors, items, {}), folder)
    write(build(vectors[:10], items.iloc[:10], {}), folder)
    assert len(load(folder)) == 10
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx", "idx.v1", "idx.v2"]  # link, previous, current


def test_writing_fills_vectors_in_place_and_a_failure_keeps_the_old_index(tmp_path, data):
    vectors, items = data
    folder = tmp_path / "idx"
    with visual_index.writing(folder, items.iloc[:5], D, {"model": "streamed"}) as (matrix, draft):
        assert isinstance(matrix, np.memmap) and matrix.shape == (5, D) and matrix.dtype == np.float32
        matrix[:] = vectors[:5]
        draft.manifest["build"] = {"seconds": 1.0}  # facts known only at the end
    written = load(folder)
    np.testing.assert_array_equal(np.asarray(written.vectors), vectors[:5])
    assert written.manifest["model"] == "streamed" and written.manifest["build"] == {"seconds": 1.0}
    with pytest.raises(RuntimeError, match="killed"):
        with visual_index.writing(folder, items, D, {}) as (matrix, _):
            raise RuntimeError("killed")
    assert len(load(folder)) == 5 and sorted(p.name for p in tmp_path.iterdir()) == ["idx", "idx.v1"]


# ---- search against scikit-learn -----------------------------------------------------------

@pytest.mark.parametrize("k", [1, 5, 20])
def test_matches_sklearn_brute_force_cosine(index, data, k):
    vectors, items = data
    for q in queries(1):
        got = search(index, q, k)
        ids, sims = sklearn_reference(vectors, items["id"], q, k)
        assert list(got["id"]) == ids
        np.testing.assert_allclose(got["score"], sims, atol=1e-5)
        assert list(got["rank"]) == list(range(1, k + 1))


def test_result_columns_are_rank_id_score_then_metadata(index):
    got = search(index, queries(2)[0], 3)
    assert list(got.columns) == ["rank", "id", "score", "file", "gender", "masterCategory", "year"]
    assert got["score"].dtype == np.float64
    assert list(got.index) == [0, 1, 2]
    assert (np.diff(got["score"]) <= 0).all()
    row = index.items.set_index("id").loc[got["id"].iloc[0]]
    assert got["gender"].iloc[0] == row["gender"] and got["file"].iloc[0] == row["file"]


def test_query_is_normalised_defensively(index):
    q = queries(3)[0]
    a = search(index, q, 5)
    b = search(index, 7.5 * q.astype(np.float64), 5)
    assert list(a["id"]) == list(b["id"])
    np.testing.assert_allclose(a["score"], b["score"], atol=1e-6)
    assert b["score"].max() <= 1.0 + 1e-6


@pytest.mark.parametrize("bad, message", [
    (np.zeros(D), "all zeros"),
    (np.ones(D + 1), "shape"),
    (np.ones((1, D)), "shape"),
    (np.full(D, np.nan), "NaN"),
])
def test_bad_query_vectors_are_refused(index, bad, message):
    with pytest.raises(ValueError, match=message):
        search(index, bad, 5)


@pytest.mark.parametrize("k", [0, -1, 2.0])
def test_bad_k_is_refused(index, k):
    with pytest.raises(InputError, match="k must be"):
        search(index, queries(4)[0], k)


@pytest.mark.parametrize("filters", [
    {"gender": "Women"},  # about a third: scores every row, then masks
    {"masterCategory": "Personal Care"},  # about 3%: scores only the masked rows
    {"gender": ["Men", "Unisex"], "masterCategory": "Footwear"},
])
def test_mask_matches_sklearn_on_the_masked_subset(index, data, filters):
    vectors, items = data
    mask = filter_mask(index.items, **filters)
    assert 5 <= mask.sum() < N
    for q in queries(5):
        got = search(index, q, 5, mask=mask)
        ids, sims = sklearn_reference(vectors[mask], items["id"][mask], q, 5)
        assert len(got) == 5
        assert list(got["id"]) == ids
        np.testing.assert_allclose(got["score"], sims, atol=1e-5)
        assert set(got["id"]) <= set(items["id"][mask])


@pytest.mark.parametrize("share", [0.03, 0.3, 0.9])
def test_subset_and_full_scoring_give_the_same_answer(index, monkeypatch, share):
    mask = np.random.default_rng(6).random(N) < share
    q = queries(7)[0]
    monkeypatch.setattr(visual_index, "SUBSET_SCORING_MAX_SHARE", 1.0)
    subset = search(index, q, 8, mask=mask, exclude_ids=[index.ids[np.flatnonzero(mask)[0]]])
    monkeypatch.setattr(visual_index, "SUBSET_SCORING_MAX_SHARE", 0.0)
    full = search(index, q, 8, mask=mask, exclude_ids=[index.ids[np.flatnonzero(mask)[0]]])
    assert list(subset["id"]) == list(full["id"])
    np.testing.assert_allclose(subset["score"], full["score"], rtol=0, atol=1e-6)


def test_k_larger_than_the_candidates_returns_all_of_them(index):
    mask = np.zeros(N, dtype=bool)
    mask[[4, 50, 300]] = True
    got = search(index, queries(8)[0], 10, mask=mask)
    assert sorted(got["id"]) == ["00004", "00050", "00300"]
    assert list(got["rank"]) == [1, 2, 3]
    assert len(search(index, queries(8)[0], N + 50)) == N


def test_empty_mask_gives_an_empty_table_with_the_columns(index):
    got = search(index, queries(8)[0], 5, mask=np.zeros(N, dtype=bool))
    assert len(got) == 0
    assert list(got.columns[:3]) == ["rank", "id", "score"]


def test_bad_mask_is_refused(index):
    with pytest.raises(ValueError, match="boolean"):
        search(index, queries(8)[0], 5, mask=np.ones(N - 1, dtype=bool))
    with pytest.raises(ValueError, match="boolean"):
        search(index, queries(8)[0], 5, mask=np.arange(N))


def test_exclude_ids_leaves_them_out_and_still_returns_k(index, data):
    vectors, items = data
    q = queries(9)[0]
    first = search(index, q, 5)
    dropped = list(first["id"][:2])
    got = search(index, q, 5, exclude_ids=dropped + ["not-in-index"])
    keep = ~items["id"].isin(dropped).to_numpy()
    ids, sims = sklearn_reference(vectors[keep], items["id"][keep], q, 5)
    assert list(got["id"]) == ids
    assert not set(dropped) & set(got["id"])
    # A single id given as a plain string is one id, not a list of characters.
    assert first["id"].iloc[0] not in set(search(index, q, 5, exclude_ids=first["id"].iloc[0])["id"])


def test_answer_excludes_itself_unless_asked(index, data):
    vectors, items = data
    pid = "00123"
    got = answer(index, pid, 5)
    assert pid not in set(got["id"]) and len(got) == 5
    keep = (items["id"] != pid).to_numpy()
    ids, sims = sklearn_reference(vectors[keep], items["id"][keep], vectors[123], 5)
    assert list(got["id"]) == ids
    np.testing.assert_allclose(got["score"], sims, atol=1e-5)
    with_self = answer(index, pid, 5, include_self=True)
    assert with_self["id"].iloc[0] == pid
    assert with_self["score"].iloc[0] == pytest.approx(1.0, abs=1e-5)
    assert list(with_self["id"][1:]) == ids[:4]


def test_answer_with_mask_and_unknown_id(index):
    mask = filter_mask(index.items, gender="Men")
    got = answer(index, "NA", 5, mask=mask)
    assert (got["gender"] == "Men").all() and "NA" not in set(got["id"])
    with pytest.raises(InputError, match="unknown product id"):
        answer(index, "missing", 5)


# ---- filter_mask -------------------------------------------------------------------------

def test_filter_mask_equals_any_of_and_ignored_values(index):
    items = index.items
    np.testing.assert_array_equal(filter_mask(items, gender="Women"), (items["gender"] == "Women").to_numpy())
    np.testing.assert_array_equal(
        filter_mask(items, gender=["Women", "Unisex"], masterCategory="Footwear"),
        (items["gender"].isin(["Women", "Unisex"]) & (items["masterCategory"] == "Footwear")).to_numpy(),
    )
    assert filter_mask(items).all() and len(filter_mask(items)) == N
    assert filter_mask(items, gender=None, masterCategory=[], year="").all()
    assert not filter_mask(items, gender="Robots").any()


def test_filter_mask_numeric_column_accepts_text_and_numbers(index):
    expected = (index.items["year"] == 2012).to_numpy()
    assert expected.any()
    np.testing.assert_array_equal(filter_mask(index.items, year=2012), expected)
    np.testing.assert_array_equal(filter_mask(index.items, year="2012"), expected)
    np.testing.assert_array_equal(filter_mask(index.items, id=["00003", "00004"]), np.isin(np.arange(N), [3, 4]))


def test_filter_mask_text_column_matches_numbers_given_as_numbers():
    items = pd.DataFrame({"id": ["15970", "39386", "59263"], "usage": ["Casual", None, "Sports"]})
    np.testing.assert_array_equal(filter_mask(items, id=[15970, "59263"]), [True, False, True])
    np.testing.assert_array_equal(filter_mask(items, usage="Casual"), [True, False, False])


def test_filter_mask_unknown_column_names_the_available_ones(index):
    with pytest.raises(ValueError, match=r"'colour'.*baseColour|'colour'.*gender"):
        filter_mask(index.items, colour="Red")


# ---- broken folders ----------------------------------------------------------------------

@pytest.fixture
def folder(tmp_path, data):
    vectors, items = data
    return write(build(vectors[:20], items.iloc[:20], {}), tmp_path / "visual_index")


def _manifest(folder) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def _refused(folder, *details) -> str:
    """The ArtifactError message for `folder`: one line, naming the rebuild command and `details`."""
    with pytest.raises(ArtifactError) as err:
        load(folder)
    message = str(err.value)
    assert f"python -m embed build --out {folder}" in message and "\n" not in message
    for detail in details:
        assert detail in message
    return message


def _rewrite(folder, name, write_file):
    """Replace one file and record it in the manifest, as a faulty writer would: the digests then
    agree, so only the consistency checks can catch it."""
    write_file(folder / name)
    manifest = _manifest(folder)
    manifest["contents"][name] = {"bytes": (folder / name).stat().st_size,
                                  "sha256": file_sha256(folder / name)}
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_missing_folder_or_manifest(tmp_path, folder):
    _refused(tmp_path / "nowhere", "missing manifest.json")
    (folder / "manifest.json").unlink()
    _refused(folder, "missing manifest.json")


def test_wrong_kind(folder):
    manifest = _manifest(folder)
    manifest["kind"] = "basket_rules"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    _refused(folder, "basket_rules")


@pytest.mark.parametrize("version", [0, None])
def test_older_format_version(folder, version):
    manifest = _manifest(folder)
    manifest["format_version"] = version
    (folder / "manifest.json").write_text(json.dumps(manifest))
    _refused(folder, f"format {version!r}")


def test_garbled_manifest(folder):
    (folder / "manifest.json").write_text('{"kind": "visual_index", "count": ')
    _refused(folder, "Unreadable")


def test_truncated_vectors_file(folder):
    data = (folder / "embeddings.npy").read_bytes()
    (folder / "embeddings.npy").write_bytes(data[: len(data) // 2])
    _refused(folder, "damaged", "embeddings.npy")


def test_changed_items_file_of_the_same_size(folder):
    text = (folder / "items.csv").read_text()
    (folder / "items.csv").write_text(text.replace("00001", "00009"))
    _refused(folder, "damaged", "items.csv differs")


def test_missing_files(folder):
    (folder / "embeddings.npy").unlink()
    _refused(folder, "damaged", "embeddings.npy is missing")


def test_truncated_vectors_file_the_manifest_agrees_with(folder):
    data = (folder / "embeddings.npy").read_bytes()
    _rewrite(folder, "embeddings.npy", lambda path: path.write_bytes(data[: len(data) // 2]))
    _refused(folder, "incomplete or unreadable")


@pytest.mark.parametrize("vectors, detail", [
    (np.zeros((20, D + 1), dtype=np.float32), "shape (20, 25)"),
    (np.zeros((19, D), dtype=np.float32), "shape (19, 24)"),
    (np.zeros((20, D), dtype=np.float64), "float64"),
])
def test_vectors_that_do_not_match_the_manifest(folder, vectors, detail):
    _rewrite(folder, "embeddings.npy", lambda path: np.save(path, vectors))
    _refused(folder, "incomplete or inconsistent", detail)


def test_items_row_count_mismatch(folder):
    items = pd.read_csv(folder / "items.csv", dtype=str)
    _rewrite(folder, "items.csv", lambda path: items.iloc[:-1].to_csv(path, index=False))
    _refused(folder, "incomplete or inconsistent", "19 rows")


def test_manifest_without_counts(folder):
    manifest = _manifest(folder)
    del manifest["dims"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    _refused(folder, "incomplete or inconsistent", "dims=None")


def test_items_without_id_or_with_repeated_ids(folder):
    items = pd.read_csv(folder / "items.csv", dtype=str)
    _rewrite(folder, "items.csv", lambda path: items.assign(id=["same"] * 20).to_csv(path, index=False))
    _refused(folder, "incomplete or inconsistent", "repeats ids")
    _rewrite(folder, "items.csv", lambda path: items.drop(columns="id").to_csv(path, index=False))
    _refused(folder, "incomplete or inconsistent", "no 'id' column")


def test_is_index_knows_old_and_damaged_indexes_but_not_other_folders(tmp_path, folder):
    assert visual_index.is_index(folder)
    (folder / "manifest.json").write_text("garbled")
    assert visual_index.is_index(folder)  # only index files: a rebuild may replace it
    (folder / "notes.txt").write_text("mine")
    assert not visual_index.is_index(folder)
    assert not visual_index.is_index(tmp_path / "nowhere")


def test_vector_index_can_be_built_in_memory(data):
    vectors, items = data
    idx = VectorIndex(vectors=vectors[:3], ids=items["id"].to_numpy(dtype=str)[:3],
                      items=items.iloc[:3], manifest={})
    assert idx.position("00002") == 2
    numeric = VectorIndex(vectors=vectors[:2], ids=np.array(["15970", "39386"]),
                          items=pd.DataFrame({"id": ["15970", "39386"]}), manifest={})
    assert numeric.position(39386) == 1  # a number typed by a person finds the text id
    got = search(idx, vectors[1], 2)
    assert got["id"].iloc[0] == "00001"
