"""The one shape every recommender and the visual index share: build from a small table, write an
artifact folder, load it, answer one query; and the same errors everywhere (a missing, older or
damaged artifact is an ArtifactError naming the command that rebuilds it; an unknown id or a bad
k is an InputError)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import pytest

from common import artifacts as common_artifacts
from common.errors import ArtifactError, InputError
from embed import index as visual_index
from recommend import rules, similar_customers, similar_movies, similar_products
from recommend.rules.baskets import baskets_from_lists
from tests.helpers import movies_for, random_purchases, random_ratings


@dataclass
class Case:
    """How to drive one kind of artifact through the shared shape."""

    build: Callable[[], Any]
    write: Callable[[Any, Path], Any]
    load: Callable[[Path], Any]
    answer: Callable[..., Any]  # (result, query, k) -> answer
    ids: Callable[[Any], list]  # what an answer recommends, comparable across a round trip
    known: Any  # a query that has an answer
    unknown: Any  # a query the artifact has never seen
    data_file: str  # a file of the artifact to damage
    rebuild: str  # what the rebuild hint starts with


def _visual_index():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(12, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    items = pd.DataFrame({"id": [str(100 + i) for i in range(12)], "articleType": ["Shirts", "Tops"] * 6})
    return vectors, items


ORDERS = pd.DataFrame({"order": ["o1", "o1", "o2", "o2", "o2", "o3", "o3", "o4", "o4"],
                       "item": ["A", "B", "A", "B", "C", "C", "D", "A", "D"]})
RATINGS = random_ratings(seed=3)

CASES = {
    "basket_rules": Case(
        build=lambda: rules.build(baskets_from_lists([["a", "b"], ["a", "b", "c"], ["b", "c"], ["a", "c"],
                                                      ["a", "b"], ["d"]]),
                                  min_support=0.2, min_confidence=0.1, min_lift=0.0),
        write=rules.write, load=rules.load, answer=rules.answer,
        ids=lambda a: list(a["show"]), known="a", unknown="caviar", data_file="rules.csv",
        rebuild="python -m recommend rules"),
    "similar_products": Case(
        build=lambda: similar_products.build(ORDERS, similar_products.OrderColumns("order", "item")),
        write=similar_products.write, load=similar_products.load, answer=similar_products.answer,
        ids=lambda a: list(a["similar_item"]), known="A", unknown="Z", data_file="similar_products.csv",
        rebuild="python -m recommend similar-products"),
    "similar_customers": Case(
        build=lambda: similar_customers.build(random_purchases(), k=5, n=5),
        write=similar_customers.write, load=similar_customers.load, answer=similar_customers.answer,
        ids=lambda a: (list(a[0]["neighbour"]), list(a[1]["item"])), known="12003", unknown="424242",
        data_file="neighbours.csv", rebuild="python -m recommend similar-customers"),
    "similar_movies": Case(
        build=lambda: similar_movies.build(RATINGS, movies_for(RATINGS), k=4, min_ratings=1),
        write=similar_movies.write, load=similar_movies.load, answer=similar_movies.answer,
        ids=lambda a: list(a["similar_movieId"]), known=3, unknown=999_999, data_file="similar_movies.csv",
        rebuild="python -m recommend similar-movies"),
    "visual_index": Case(
        build=_visual_index,
        write=lambda built, folder: visual_index.write(folder, built[0], built[1], {}),
        load=visual_index.load, answer=lambda index, pid, k=None: visual_index.answer(index, pid, 5 if k is None else k),
        ids=lambda a: list(a["id"]), known="103", unknown="nope", data_file="embeddings.npy",
        rebuild="python -m embed build"),
}
KINDS = list(CASES)  # each key is the artifact's `kind`


@pytest.fixture(params=KINDS)
def kind(request) -> str:
    return request.param


@pytest.fixture
def case(kind) -> Case:
    return CASES[kind]


@pytest.fixture
def written(case, tmp_path) -> tuple[Case, Path, Any]:
    built = case.build()
    folder = tmp_path / "artifact"
    case.write(built, folder)
    return case, folder, built


def test_build_write_load_answer(written, kind):
    case, folder, built = written
    loaded = case.load(folder)
    answer = case.ids(case.answer(loaded, case.known, 2))
    assert answer and all(len(part) for part in (answer if isinstance(answer, tuple) else (answer,)))
    if not isinstance(built, tuple):  # the recommenders answer straight from a build, too
        assert case.ids(case.answer(built, case.known, 2)) == answer
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["kind"] == kind
    assert isinstance(manifest["format_version"], int) and case.data_file in manifest["contents"]


def test_a_missing_artifact_names_the_rebuild_command(case, tmp_path):
    with pytest.raises(ArtifactError, match=case.rebuild):
        case.load(tmp_path / "never_built")


def test_a_garbled_manifest_names_the_rebuild_command(written):
    case, folder, _ = written
    (folder / "manifest.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ArtifactError, match=case.rebuild):
        case.load(folder)


DAMAGES = {
    "truncated": lambda data: data[: len(data) // 2],
    "emptied": lambda data: b"",
    "altered": lambda data: data[:-2] + (b"7" if data[-2:-1] != b"7" else b"8") + data[-1:],
    "deleted": None,
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_every_file_damaged_any_way_names_the_file_and_the_rebuild_command(written, damage):
    case, folder, _ = written
    files = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["contents"]
    assert case.data_file in files and len(files) >= 2
    for name in files:
        path = folder / name
        before = path.read_bytes()
        if DAMAGES[damage] is None:
            path.unlink()
        else:
            path.write_bytes(DAMAGES[damage](before))
        with pytest.raises(ArtifactError, match=case.rebuild) as err:
            case.load(folder)
        assert name in str(err.value), (name, str(err.value))
        path.write_bytes(before)
    case.load(folder)  # whole again once every file is back


def test_a_dropped_row_is_refused_even_with_size_and_digest_rewritten(written):
    # What the row counts are for: files too large for their digest to be checked on load.
    case, folder, _ = written
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    name = next(n for n in manifest["contents"] if n.endswith(".csv"))
    path = folder / name
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(lines[:-1]), encoding="utf-8")
    facts = manifest["contents"][name]
    facts["bytes"] = path.stat().st_size
    facts["sha256"] = common_artifacts.file_sha256(path)
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ArtifactError, match="rows") as err:
        case.load(folder)
    assert case.rebuild in str(err.value)


def test_an_older_format_says_rebuild(written):
    case, folder, _ = written
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["format_version"] = 0
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ArtifactError, match="format 0") as err:
        case.load(folder)
    assert case.rebuild in str(err.value)


def test_an_artifact_of_another_kind_is_refused(written):
    case, folder, _ = written
    other = next(c for name, c in CASES.items() if c is not case)
    with pytest.raises(ArtifactError, match=other.rebuild):
        other.load(folder)


def test_an_unknown_id_is_an_input_error(written):
    case, folder, _ = written
    with pytest.raises(InputError, match=str(case.unknown)):
        case.answer(case.load(folder), case.unknown, 2)


@pytest.mark.parametrize("k", [0, -1, 2.5, True])
def test_a_bad_k_is_an_input_error(written, k):
    case, folder, _ = written
    with pytest.raises(InputError, match="k must be"):
        case.answer(case.load(folder), case.known, k)
