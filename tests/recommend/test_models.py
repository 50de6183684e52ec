"""Models are registered by name in one place per recommender (recommend/core/models.py): a toy
model registered here, in this one file, is offered by the command line's --model, the app's model
picker and a workspace build, and the API serves what it built."""
from __future__ import annotations

import pandas as pd
import pytest

from common.errors import InputError
from recommend import cli
from recommend.core.models import Model
from recommend.core.sparse_topk import top_k_sparse_rows
from recommend.similar_products import model as products_model
from recommend.similar_products.similarity import MODELS
from tests.helpers import uvicorn_server, write_tiny_shop


def _bought_together_most(pairs, k, **_):
    """The toy: a product's k products bought with it in the most orders."""
    return top_k_sparse_rows(pairs.pairs.astype(float), k)


@pytest.fixture
def toy():
    model = MODELS.register(Model("toy", "bought together most (a toy)", "orders holding both, counted",
                                  _bought_together_most))
    yield model
    MODELS.unregister("toy")


@pytest.fixture
def shop(tmp_path):
    orders, _catalogue = write_tiny_shop(tmp_path / "shop")
    return orders


def test_the_command_line_builds_with_it(toy, shop, tmp_path, capsys):
    out = tmp_path / "toy_products"
    assert cli.main(["similar-products", "--orders", str(shop), "--model", "toy", "--out", str(out)]) == 0
    built = products_model.load(out)
    assert built.manifest["similarity"] == "toy"
    pairs = pd.read_csv(shop, dtype=str).groupby("order_id")["sku"].apply(set)
    together = lambda a, b: sum(a in p and b in p for p in pairs)  # noqa: E731
    first = products_model.answer(built, "1")
    assert list(first["score"]) == [together("1", other) for other in first["id"]]  # the toy's own scores
    assert cli.main(["similar-products", "--orders", str(shop), "--similarity", "toy", "--out", str(out)]) == 0


def test_an_unregistered_name_lists_the_registered_ones(shop, tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main(["similar-products", "--orders", str(shop), "--model", "toy", "--out", str(tmp_path)])
    assert "invalid choice: 'toy'" in capsys.readouterr().err
    with pytest.raises(InputError, match="--model for similar products must be one of cooccurrence-cosine, jaccard"):
        MODELS["toy"]
    with pytest.raises(InputError, match="The Spark engine has no 'toy'"):
        MODELS.register(Model("toy", "t", "t", _bought_together_most)) and MODELS.on_spark("toy")
    MODELS.unregister("toy")


@pytest.mark.slow
def test_the_apps_picker_offers_it(toy, app_uses_tiny_index, tmp_path, monkeypatch):
    import settings
    from tests.ui.pages import open_page

    monkeypatch.setattr(settings, "ARTIFACTS_DIR", tmp_path / "artifacts")
    at = open_page("similar_products")
    picker = at.selectbox(key="model")
    assert toy.label in picker.options  # shown by its label
    picker.set_value("toy").run()
    assert not at.exception and not at.error
    assert any("**toy**" in c.value for c in at.caption) and len(at.dataframe[0].value)


def test_a_workspace_built_with_it_is_served_by_the_api(toy, shop, tmp_path):
    import httpx

    from api.app import create_app
    from api.keys import Keys, add_key, read_keys
    from api.store import Store

    artifacts = tmp_path / "artifacts"
    assert cli.main(["build", "--orders", str(shop), "--name", "toyshop", "--artifacts", str(artifacts),
                     "--model", "similar-products=toy"]) == 0
    built = products_model.load(artifacts / "toyshop" / "similar_products")
    assert built.manifest["similarity"] == "toy"
    keys_file = tmp_path / "keys.toml"
    headers = {"Authorization": f"Bearer {add_key(keys_file, 'reader', 'read', 0)}"}
    with uvicorn_server(create_app(Store(artifacts), Keys(read_keys(keys_file)))) as url:
        body = httpx.get(url + "/v1/similar-products", params={"id": "1", "dataset": "toyshop"}, headers=headers,
                         timeout=60).json()
    assert [s["id"] for s in body["similar"]] == products_model.answer(built, "1")["id"].tolist()
    assert [s["score"] for s in body["similar"]] == products_model.answer(built, "1")["score"].tolist()


def test_a_build_refuses_a_model_it_does_not_have(shop, tmp_path, capsys):
    assert cli.main(["build", "--orders", str(shop), "--name", "x", "--artifacts", str(tmp_path),
                     "--model", "similar-products=nope"]) == 2
    err = capsys.readouterr().err
    assert "--model for similar products must be one of" in err and "Reading" not in err  # checked first
    assert cli.main(["build", "--orders", str(shop), "--name", "x", "--artifacts", str(tmp_path),
                     "--model", "basket-rules=apriori"]) == 2
    assert "basket rules have one model" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
