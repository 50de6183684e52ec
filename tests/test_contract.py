"""The one shape every recommender and the visual index share (common/shape.py's Part): build from
a small table, write an artifact folder, load it, answer one query with rank, id and score first;
the same signatures, checked with inspect; and the same errors everywhere (a missing, older or
damaged artifact is an ArtifactError naming the command that rebuilds it; an unknown id or a bad
k is an InputError)."""
from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import pytest

from common import artifacts as common_artifacts
from common.errors import ArtifactError, InputError
from common.shape import ANSWER_COLUMNS, Part
from common.shop_tables import OrderColumns
from embed import index as visual_index
from recommend import rules, similar_customers, similar_movies, similar_products
from recommend.rules import model as rules_model
from recommend.similar_customers import model as customers_model
from recommend.similar_movies import model as movies_model
from recommend.similar_products import model as products_model
from recommend.rules.baskets import baskets_from_lists
from tests.helpers import movies_for, random_purchases, random_ratings


@dataclass
class Case:
    """How to drive one kind of artifact through the shared shape."""

    module: Any  # the part's module: it satisfies common.shape.Part
    build: Callable[[], Any]
    known: str  # a query that has an answer
    unknown: str  # a query the artifact has never seen
    data_file: str  # a file of the artifact to damage
    rebuild: str  # what the rebuild hint starts with


def _visual_index():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(12, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    items = pd.DataFrame({"id": [str(100 + i) for i in range(12)], "articleType": ["Shirts", "Tops"] * 6})
    return visual_index.build(vectors, items)


ORDERS = pd.DataFrame({"order": ["o1", "o1", "o2", "o2", "o2", "o3", "o3", "o4", "o4"],
                       "item": ["A", "B", "A", "B", "C", "C", "D", "A", "D"]})
RATINGS = random_ratings(seed=3)

CASES = {
    "basket_rules": Case(
        rules_model,
        build=lambda: rules.build(baskets_from_lists([["a", "b"], ["a", "b", "c"], ["b", "c"], ["a", "c"],
                                                      ["a", "b"], ["d"]]),
                                  min_support=0.2, min_confidence=0.1, min_lift=0.0),
        known="a", unknown="caviar", data_file="rules.csv", rebuild="python -m recommend rules"),
    "similar_products": Case(
        products_model, build=lambda: similar_products.build(ORDERS, OrderColumns(order="order", item="item")),
        known="A", unknown="Z", data_file="similar_products.csv", rebuild="python -m recommend similar-products"),
    "similar_customers": Case(
        customers_model, build=lambda: similar_customers.build(random_purchases(), k=5, n=5),
        known="12003", unknown="424242", data_file="neighbours.csv", rebuild="python -m recommend similar-customers"),
    "similar_movies": Case(
        movies_model, build=lambda: similar_movies.build(RATINGS, movies_for(RATINGS), k=4, min_ratings=1),
        known="3", unknown="999999", data_file="similar_movies.csv", rebuild="python -m recommend similar-movies"),
    "visual_index": Case(
        visual_index, build=_visual_index, known="103", unknown="nope", data_file="embeddings.npy",
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
    case.module.write(built, folder)
    return case, folder, built


def _parameters(function) -> list[inspect.Parameter]:
    return list(inspect.signature(function).parameters.values())


def test_every_part_has_the_protocols_signatures(case):
    module = case.module
    assert isinstance(module, Part), module.__name__  # KIND, FORMAT_VERSION, build, write, load, answer
    assert isinstance(module.KIND, str) and isinstance(module.FORMAT_VERSION, int)
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    for name in ("build", "write", "load", "answer"):
        expected = _parameters(getattr(Part, name))[1:]  # without self
        found = _parameters(getattr(module, name))
        extra = [p for p in found if p.kind in positional][len([p for p in expected if p.kind in positional]):]
        if name == "build":  # a table first, then what that part needs: required positionals or options
            assert found and found[0].kind in positional and found[0].default is inspect.Parameter.empty, name
            continue
        assert [p.name for p in found[1:len(expected)]] == [p.name for p in expected[1:]], (module.__name__, name)
        assert [p.default for p in found[1:len(expected)]] == [p.default for p in expected[1:]], (module.__name__, name)
        assert all(p.default is not inspect.Parameter.empty or p.kind is inspect.Parameter.KEYWORD_ONLY
                   for p in extra + [p for p in found if p.kind is inspect.Parameter.KEYWORD_ONLY]), name
    assert _parameters(module.answer)[1].annotation in ("str", str) and _parameters(module.answer)[2].name == "k"


def test_build_write_load_answer(written, kind):
    case, folder, built = written
    loaded = case.module.load(folder)
    answer = case.module.answer(loaded, case.known, 2)
    assert tuple(answer.columns[:3]) == ANSWER_COLUMNS, list(answer.columns)
    assert 1 <= len(answer) <= 2 and list(answer["rank"]) == list(range(1, len(answer) + 1))
    assert all(isinstance(i, str) for i in answer["id"]), list(answer["id"])
    if kind != "basket_rules":  # a lookup ranks rules by confidence; its score is the lift
        assert answer["score"].is_monotonic_decreasing
    assert list(case.module.answer(built, case.known, 2)["id"]) == list(answer["id"])  # from a build, too
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["kind"] == kind
    assert isinstance(manifest["format_version"], int) and case.data_file in manifest["contents"]


def test_a_missing_artifact_names_the_rebuild_command(case, tmp_path):
    with pytest.raises(ArtifactError, match=case.rebuild):
        case.module.load(tmp_path / "never_built")


def test_a_garbled_manifest_names_the_rebuild_command(written):
    case, folder, _ = written
    (folder / "manifest.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ArtifactError, match=case.rebuild):
        case.module.load(folder)


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
            case.module.load(folder)
        assert name in str(err.value), (name, str(err.value))
        path.write_bytes(before)
    case.module.load(folder)  # whole again once every file is back


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
        case.module.load(folder)
    assert case.rebuild in str(err.value)


def test_an_older_format_says_rebuild(written):
    case, folder, _ = written
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["format_version"] = 0
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ArtifactError, match="format 0") as err:
        case.module.load(folder)
    assert case.rebuild in str(err.value)


def test_an_artifact_of_another_kind_is_refused(written):
    case, folder, _ = written
    other = next(c for name, c in CASES.items() if c is not case)
    with pytest.raises(ArtifactError, match=other.rebuild):
        other.module.load(folder)


def test_an_unknown_id_is_an_input_error(written):
    case, folder, _ = written
    with pytest.raises(InputError, match=str(case.unknown)):
        case.module.answer(case.module.load(folder), case.unknown, 2)


@pytest.mark.parametrize("k", [0, -1, 2.5, True])
def test_a_bad_k_is_an_input_error(written, k):
    case, folder, _ = written
    with pytest.raises(InputError, match="k must be"):
        case.module.answer(case.module.load(folder), case.known, k)
