"""The HTTP API against a running uvicorn (tests/api/conftest.py): every endpoint on the demo
data and on a workspace, equal to what the recommenders answer for the same artifact; keys,
scopes, rates, CORS, bad input; a rebuild picked up without a restart."""
from __future__ import annotations

import json
import shutil

import pytest

from recommend import cli
from recommend.rules import model as rules_model
from recommend.similar_customers import model as customers_model
from recommend.similar_products import model as products_model
from tests.helpers import encode, not_pictures, product_picture, write_tiny_shop

pytestmark = pytest.mark.slow  # serves the image model


def test_health_readiness_and_docs_need_no_key(api):  # docs only when asked for (python -m api --docs)
    assert api.get("/healthz", key=None).json() == {"status": "ok"}
    assert api.get("/readyz", key=None).json() == {"ready": True}
    spec = api.get("/openapi.json", key=None).json()
    assert {"/v1/next-to", "/v1/similar-products", "/v1/customers/recommendations", "/v1/customers/similar",
            "/v1/similar-items", "/v1/visual-search", "/v1/admin/reload"} <= set(spec["paths"])
    assert api.get("/docs", key=None).status_code == 200


def test_next_to_equals_the_lookup_the_cli_builds(api, tmp_path, capsys):
    assert cli.main(["rules", "--out", str(tmp_path / "rules")]) == 0  # the demo, with the CLI's defaults
    lookup = json.loads((tmp_path / "rules" / "lookup.json").read_text())
    for item in ("pasta", "mineral water", "whole wheat rice"):
        body = api.get("/v1/next-to", params={"item": item}).json()
        assert body == {"item": item, "recommendations": lookup["recommendations"][item], "default": False}
    unknown = api.get("/v1/next-to", params={"item": "a/b <script>"}).json()
    assert unknown == {"item": "a/b <script>", "recommendations": lookup["default_recommendation"], "default": True}


def test_similar_products_of_a_demo_set_and_of_a_workspace(api):
    demo = products_model.load(api.artifacts / "similar_products" / "superstore") if (
        api.artifacts / "similar_products" / "superstore" / "manifest.json").is_file() else None
    body = api.get("/v1/similar-products", params={"id": "OFF-BI-10001524", "k": 3}).json()
    demo = demo or products_model.load(api.artifacts / "similar_products" / "superstore")
    expected = products_model.answer(demo, "OFF-BI-10001524", 3)
    assert [s["id"] for s in body["similar"]] == expected["id"].tolist()
    shop = api.get("/v1/similar-products", params={"id": "4", "k": 5, "dataset": "tiny"}).json()
    built = products_model.load(api.artifacts / "tiny" / "similar_products")
    assert [s["id"] for s in shop["similar"]] == products_model.answer(built, "4", 5)["id"].tolist()
    assert shop["name"] == "Black Heels" and all(isinstance(s["co_count"], int) for s in shop["similar"])


def test_customers_and_their_recommendations_with_reason_and_because(api):
    built = customers_model.load(api.artifacts / "tiny" / "similar_customers")
    near, recs = customers_model.neighbours(built, "K3"), customers_model.answer(built, "K3")
    similar = api.get("/v1/customers/similar", params={"id": "K3", "k": 4, "dataset": "tiny"}).json()
    assert [s["id"] for s in similar["similar"]] == near["id"].head(4).tolist()
    body = api.get("/v1/customers/recommendations", params={"id": "K3", "k": 3, "dataset": "tiny"}).json()
    assert [r["id"] for r in body["recommendations"]] == recs["id"].head(3).tolist()
    orders = (api.artifacts / "tiny").resolve() / "orders.parquet"
    import pandas as pd

    bought = pd.read_parquet(orders).groupby("customer")["item"].agg(set)
    for rec in body["recommendations"]:
        # EASE (the default): the customer's own products behind the recommendation
        assert rec["because_of"] == "products" and rec["because"]
        assert set(rec["because"]) <= bought["K3"] and rec["id"] not in bought["K3"]
        assert rec["reason"].startswith("because you bought ")
    demo = api.get("/v1/customers/recommendations", params={"id": "13047", "k": 2}).json()
    assert len(demo["recommendations"]) == 2 and "because you bought" in demo["recommendations"][0]["reason"]


def test_similar_items_equal_the_cli_artifact_of_the_demo_movies(api, tmp_path, capsys):
    from recommend.similar_movies import model as movies_model

    assert cli.main(["similar-movies", "--out", str(tmp_path / "movies")]) == 0  # the demo, the CLI's defaults
    expected = movies_model.answer(movies_model.load(tmp_path / "movies"), "1", 3)
    body = api.get("/v1/similar-items", params={"id": "1", "k": 3}).json()
    assert [s["id"] for s in body["similar"]] == expected["id"].tolist()
    assert body["similar"][0]["title"] == "Toy Story 2 (1999)"
    assert api.get("/v1/similar-items", params={"id": "toy"}).status_code == 404


def test_visual_search_takes_a_photo_and_filters_and_refuses_what_is_no_picture(api):
    photo = encode(product_picture(4))
    body = api.post("/v1/visual-search", files={"image": ("p.jpg", photo, "image/jpeg")}).json()
    assert len(body["results"]) == 5 and all(0 <= r["score"] <= 1.0001 for r in body["results"])
    shoes = api.post("/v1/visual-search", files={"image": ("p.jpg", photo, "image/jpeg")},
                     data={"masterCategory": "Footwear", "k": "2"}).json()
    assert len(shoes["results"]) == 2 and {r["masterCategory"] for r in shoes["results"]} == {"Footwear"}
    shop = api.post("/v1/visual-search", files={"image": ("p.jpg", photo, "image/jpeg")},
                    data={"dataset": "tiny"}).json()
    assert {r["name"] for r in shop["results"]} <= {"Blue Check Shirt", "Red Summer Top", "White Canvas Shoes",
                                                    "Black Heels", "Brown Leather Handbag", "Silver Steel Watch",
                                                    "Green Cotton Kurta", "Grey Crew Tshirt", "Black Round Sunglasses",
                                                    "Blue Running Shoes"}
    name, data = next(iter(not_pictures().items()))
    bad = api.post("/v1/visual-search", files={"image": (name, data, "application/octet-stream")})
    assert bad.status_code == 422 and "\n" not in bad.json()["detail"] and bad.json()["detail"]


@pytest.mark.parametrize("path, params, status", [
    ("/v1/similar-products", {"id": "no-such-product"}, 404),
    ("/v1/similar-products", {"id": "4", "dataset": "no-such-shop"}, 404),
    ("/v1/similar-products", {"id": "4", "dataset": "../etc"}, 404),
    ("/v1/similar-products", {"id": "4", "k": 0}, 422),
    ("/v1/customers/similar", {"id": "nobody"}, 404),
    ("/v1/similar-products", {}, 422),
])
def test_unknown_ids_and_bad_parameters(api, path, params, status):
    response = api.get(path, params=params)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")


def test_keys_scopes_and_rates(api):
    assert api.get("/v1/next-to", key=None, params={"item": "pasta"}).status_code == 401
    wrong = api.get("/v1/next-to", key=None, params={"item": "pasta"}, headers={"Authorization": "Bearer vtr_wrong"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    assert api.post("/v1/admin/reload", key="reader").status_code == 403
    for _ in range(2):  # "slow" may make 2 requests a second
        assert api.get("/v1/next-to", key="slow", params={"item": "pasta"}).status_code == 200
    limited = api.get("/v1/next-to", key="slow", params={"item": "pasta"})
    assert limited.status_code == 429 and limited.headers["retry-after"] == "1"
    api.clock.now += 0.5  # half a second later: one more request
    assert api.get("/v1/next-to", key="slow", params={"item": "pasta"}).status_code == 200
    assert api.get("/v1/next-to", key="slow", params={"item": "pasta"}).status_code == 429


def test_cors_only_for_the_allowed_origin(api):
    allowed = api.get("/v1/next-to", params={"item": "pasta"}, headers={"Origin": "https://shop.example.com"})
    assert allowed.headers["access-control-allow-origin"] == "https://shop.example.com"
    other = api.get("/v1/next-to", params={"item": "pasta"}, headers={"Origin": "https://evil.example.com"})
    assert "access-control-allow-origin" not in other.headers


def test_a_rebuilt_workspace_is_served_after_reload_and_after_the_poll(api, tmp_path):
    before = api.get("/v1/similar-products", params={"id": "4", "dataset": "tiny"}).json()
    orders, catalogue = write_tiny_shop(tmp_path / "shop")
    import pandas as pd

    lines = pd.read_csv(orders, dtype=str)
    lines = lines[lines["sku"] != "3"]  # product 3 is gone from the shop's orders
    lines.to_csv(orders, index=False)
    assert cli.main(["build", "--orders", str(orders), "--name", "tiny", "--artifacts", str(api.artifacts)]) == 0
    still = api.get("/v1/similar-products", params={"id": "4", "dataset": "tiny"}).json()
    assert still == before  # not yet: the poll interval has not passed and nobody reloaded
    reloaded = api.post("/v1/admin/reload", key="admin").json()["reloaded"]
    assert "products:tiny" in reloaded
    after = api.get("/v1/similar-products", params={"id": "4", "dataset": "tiny"}).json()
    assert "3" not in [s["id"] for s in after["similar"]] and "3" in [s["id"] for s in before["similar"]]
    assert api.get("/v1/similar-products", params={"id": "3", "dataset": "tiny"}).status_code == 404

    assert cli.main(["build", "--orders", str(orders), "--catalogue", str(catalogue), "--weights", "none",
                     "--name", "tiny", "--artifacts", str(api.artifacts)]) == 0  # rebuilt again
    rules = rules_model.load(api.artifacts / "tiny" / "basket_rules")
    api.clock.now += 31  # past the poll interval: the next request looks at the manifest
    item = rules.lookup["item"].iloc[0]
    assert api.get("/v1/next-to", params={"item": item, "dataset": "tiny"}).json()["recommendations"] == \
        rules.lookup[rules.lookup["item"] == item].sort_values("rank")["show"].tolist()
    shutil.rmtree(tmp_path / "shop")


def test_add_key_prints_the_key_once_and_stores_only_its_hash(tmp_path, capsys):
    from api.cli import main
    from api.keys import Keys, read_keys

    keys_file = tmp_path / "keys.toml"
    assert main(["add-key", "--name", "shop-front", "--scope", "read", "--rate", "20",
                 "--keys-file", str(keys_file)]) == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("vtr_") and token not in keys_file.read_text()
    key = Keys(read_keys(keys_file)).check(token)
    assert key.name == "shop-front" and key.scope == "read" and key.rate == 20
    assert Keys(read_keys(keys_file)).check(token + "x") is None
    with pytest.raises(SystemExit):  # argparse's own one line and status 2
        main(["add-key", "--name", "bad", "--scope", "root", "--keys-file", str(keys_file)])
    assert main(["add-key", "--name", "a b", "--keys-file", str(keys_file)]) == 2
    assert "Key name 'a b' is not allowed" in capsys.readouterr().err
