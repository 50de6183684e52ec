"""GET /v1/datasets: the registry's data sets (shop/registry.py), as many as the key may read."""
from __future__ import annotations

from shop.demos import DEMOS
from shop.registry import Registry


def test_the_api_lists_the_registrys_data_sets_filtered_by_the_keys_data_sets(api):
    listed = api.get("/v1/datasets").json()["datasets"]
    assert [d["name"] for d in listed] == Registry(api.artifacts).names() == [*DEMOS, "tiny"]
    assert next(d for d in listed if d["name"] == "superstore")["default_for"] == ["similar_products"]
    tiny = next(d for d in listed if d["name"] == "tiny")
    assert tiny["demo"] is False and "similar_customers" in tiny["parts"]
    narrowed = api.get("/v1/datasets", key="narrow").json()["datasets"]
    assert [d["name"] for d in narrowed] == ["superstore", "tiny"]
    assert api.get("/v1/datasets", key=None).status_code == 401
