"""shop/: one list of data sets that the app's pickers, the API's GET /v1/datasets and the
evaluation all show, opened through one door; no data-set name above it; no arrow upward."""
from __future__ import annotations

import ast
import re

import pandas as pd
import pytest

from shop import evaluation as dataset_evaluation
from shop.demos import DEFAULTS, DEMOS
from shop.evaluate_cli import add_arguments
from shop.registry import PARTS, Registry
from tests.helpers import ROOT

DEMO_NAMES = re.compile(r"movielens|online_retail|superstore|groceries")


def test_every_demo_set_is_listed_once_and_each_part_opens_on_its_default():
    registry = Registry()
    assert registry.names(workspaces=False) == list(DEMOS)
    for part in PARTS:
        names = registry.names(part, workspaces=False)
        assert names[0] == DEFAULTS[part] and len(set(names)) == len(names)
        assert all(part in DEMOS[name].parts for name in names)


def test_an_unknown_or_partless_data_set_is_a_lookup_error_with_the_same_words(tmp_path):
    registry = Registry(tmp_path)
    with pytest.raises(LookupError, match="unknown data set 'nope'"):
        registry.get("nope")
    with pytest.raises(LookupError, match="unknown data set '../etc'"):
        registry.get("../etc")
    with pytest.raises(LookupError, match="has no similar items"):
        registry.get("superstore", "similar_movies")
    with pytest.raises(LookupError, match="unknown data set 'tiny'"):  # a workspace the caller may not see
        Registry(tmp_path).get("tiny", workspaces=False)


def test_the_evaluation_offers_the_registrys_demo_sets(capsys):
    import argparse

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    help_text = " ".join(parser.format_help().split())
    evaluable = [ds.name for ds in Registry().datasets(workspaces=False)
                 if set(ds.parts) & {"similar_products", "similar_customers", "similar_movies"}]
    listed = help_text.split("or a demo set: ")[1].split(" ")[0:len(evaluable)]
    assert [name.rstrip(",)") for name in listed] == evaluable
    assert dataset_evaluation.parts_of("online_retail") == ["similar_products", "similar_customers"]
    assert dataset_evaluation.parts_of("movielens") == ["similar_movies"]


@pytest.mark.slow
@pytest.mark.parametrize("page, part", [("basket_rules", "basket_rules"), ("similar_products", "similar_products"),
                                        ("similar_customers", "similar_customers"),
                                        ("similar_movies", "similar_movies"), ("visual_search", "visual_index")])
def test_each_pages_picker_lists_the_registrys_data_sets(page, part, app_uses_tiny_index, tiny_shop_workspace,
                                                        monkeypatch):
    import settings
    from tests.ui.pages import open_page

    artifacts, _ws = tiny_shop_workspace
    monkeypatch.setattr(settings, "ARTIFACTS_DIR", artifacts)
    at = open_page(page)
    options = [o for o in at.selectbox(key="dataset").options]
    registry = Registry(artifacts)
    assert options[:len(registry.datasets(part))] == [ds.label_for(part) for ds in registry.datasets(part)]


def _python_files(*folders: str):
    for folder in folders:
        yield from sorted((ROOT / folder).rglob("*.py"))


def test_no_data_set_is_named_in_the_app_or_the_api():
    found = [f"{path.relative_to(ROOT)}:{n}" for path in _python_files("ui", "api")
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if DEMO_NAMES.search(line)]
    assert found == []


def test_nothing_below_the_registry_imports_it():
    upward = []
    for path in _python_files("common", "embed", "recommend"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            upward += [f"{path.relative_to(ROOT)}: {n}" for n in names if n == "shop" or n.startswith("shop.")]
    assert upward == []


def test_no_workspace_can_take_a_demo_sets_or_a_parts_name():
    from common.errors import InputError
    from recommend.workspace.model import RESERVED, check_name

    assert set(DEMOS) | set(PARTS) | {"evaluation"} <= RESERVED
    for name in DEMOS:
        with pytest.raises(InputError, match="taken by the demo data"):
            check_name(name)


def test_a_workspace_named_like_a_demo_set_before_it_was_reserved_is_not_listed(tmp_path, monkeypatch):
    """Built by an older Vitrine under a name now reserved: the demo set keeps its name."""
    from recommend.workspace import model

    monkeypatch.setattr(model, "RESERVED", frozenset())
    orders = model.mapped_orders(pd.DataFrame({"o": ["1", "1", "2"], "i": ["a", "b", "a"]}),
                                 {"order": "o", "item": "i"})
    model.build(orders, "movielens", source={"file": "x"}, artifacts=tmp_path, weights="none")
    monkeypatch.undo()
    registry = Registry(tmp_path)
    assert registry.names().count("movielens") == 1
    assert registry.get("movielens").is_demo
