"""The Your data page: a shop's orders, uploaded or read from its database, mapped, checked and
built into a workspace that the other pages then offer in their data-set picker."""
from __future__ import annotations

import pytest

import settings
from recommend.workspace import model
from tests.recommend.workspace.test_build import SHOP
from tests.ui.pages import open_page

pytestmark = pytest.mark.slow  # runs the Streamlit app


@pytest.fixture
def artifacts(tmp_path, monkeypatch, app_uses_tiny_index):
    monkeypatch.setattr(settings, "ARTIFACTS_DIR", tmp_path)
    return tmp_path


def _fine(at):
    assert not at.exception, [e.value for e in at.exception]
    return at


def _upload(at, data: bytes, name="shop export.csv"):
    return _fine(at.file_uploader(key="yd_upload").set_value((name, data, "text/csv")).run())


def _mapped(at) -> dict[str, str]:
    return {s.key.split("_")[3]: s.value for s in at.selectbox if s.key and s.key.startswith("yd_map_orders_")}


def test_an_upload_is_mapped_built_and_offered_on_every_page(artifacts):
    at = _upload(open_page("your_data"), SHOP.to_csv(index=False, sep=";").encode())
    assert _mapped(at) == {"order": "Receipt", "customer": "Client", "item": "SKU", "quantity": "Qty",
                           "price": "(none)", "date": "Order date", "name": "Item name", "category": "(none)"}
    assert at.text_input(key=next(t.key for t in at.text_input if t.key.startswith("yd_name_"))).value == "shop-export"
    assert not at.error and not at.button(key="yd_build").disabled
    _fine(at.button(key="yd_build").click().run())
    assert at.success and "shop-export" in at.success[0].value
    ws = model.open_workspace("shop-export", artifacts)
    assert ws.manifest["source"]["upload"] == "shop export.csv" and len(ws.manifest["source"]["sha256"]) == 64
    assert not any(p.name.startswith("shop export") for p in artifacts.rglob("*"))  # never the typed name

    at = _fine(open_page("similar_products", dataset="shop-export"))
    assert at.selectbox(key="dataset").value == "shop-export"
    assert at.selectbox(key="product").options and all("S" in o for o in at.selectbox(key="product").options)
    at = _fine(open_page("similar_customers", dataset="shop-export"))
    assert at.selectbox(key="customer").value.startswith("C")
    assert "products in common" not in str([e.value for e in at.error])
    at = _fine(open_page("basket_rules", dataset="shop-export"))
    assert {m.label: m.value for m in at.metric}["Baskets"] == "59"


def test_a_changed_mapping_is_the_one_built(artifacts):
    at = _upload(open_page("your_data"), SHOP.to_csv(index=False).encode())
    _fine(at.selectbox(key=next(s.key for s in at.selectbox if s.key.startswith("yd_map_orders_customer"))).set_value("(none)").run())
    _fine(at.button(key="yd_build").click().run())
    ws = model.open_workspace("shop-export", artifacts)
    assert ws.manifest["mapping"]["customer"] is None and "similar_customers" not in ws.parts


def test_bad_orders_are_listed_and_cannot_be_built(artifacts):
    bad = SHOP.assign(Qty=["lots" if i in (3, 9) else q for i, q in enumerate(SHOP["Qty"])])
    at = _upload(open_page("your_data"), bad.to_csv(index=False).encode())
    assert [e.value for e in at.error] == [
        "Column 'Qty' (the quantity) has 2 value(s) that are not numbers, e.g. 'lots' in row 4."]
    assert at.button(key="yd_build").disabled
    assert model.list_workspaces(artifacts) == []


def test_orders_from_the_shop_database_in_secrets(artifacts, shop_db, postgres):
    at = open_page("your_data")
    at.secrets["connections"] = {"sql": {"url": postgres.url(with_password=True)}}
    _fine(at.radio(key="yd_route").set_value("Read from the shop's database").run())
    _fine(at.text_input(key="yd_sql_table").input("order_lines").run())
    assert "30,547 rows" in " ".join(m.value for m in at.markdown)
    assert "s3cret" not in repr([m.value for m in at.markdown] + [c.value for c in at.caption])
    _fine(at.button(key="yd_build").click().run())
    ws = model.open_workspace("order_lines", artifacts)
    assert ws.manifest["source"]["table"] == "order_lines" and ws.manifest["source"]["rows"] == 30547
    assert "s3cret" not in (ws.folder / "manifest.json").read_text()
    assert ws.parts == ["basket_rules", "similar_products", "similar_customers"]


def test_ratings_and_a_catalogue_uploaded_give_the_similar_movies_page_a_workspace(artifacts):
    from tests.helpers import movies_for, random_ratings

    ratings = random_ratings(users=40, movies=25, density=0.6, seed=5)
    movies = movies_for(ratings)[["movieId", "title", "genres"]]
    at = open_page("your_data")
    _fine(at.file_uploader(key="yd_upload_ratings").set_value(("ratings.csv", ratings.to_csv(index=False).encode(),
                                                                "text/csv")).run())
    _fine(at.file_uploader(key="yd_upload_catalogue").set_value(("films.csv", movies.to_csv(index=False).encode(),
                                                                  "text/csv")).run())
    mapped = {s.key.split("_")[3]: s.value for s in at.selectbox if s.key.startswith("yd_map_catalogue_")}
    assert mapped == {"id": "movieId", "name": "title", "category": "genres", "image": "(none)"}
    _fine(at.button(key="yd_build").click().run())
    assert "ratings of 25 items" in at.success[0].value
    at = _fine(open_page("similar_movies", dataset="ratings", min_ratings="5"))
    assert at.selectbox(key="dataset").value == "ratings"
    shown = at.dataframe[0].value
    assert len(shown) == 10 and set(shown["title"]) <= set(movies["title"].map(lambda t: t))


def test_a_build_and_a_rebuild_are_in_the_audit_log(artifacts, tmp_path, monkeypatch):
    import json

    audit = tmp_path / "audit" / "audit.log"
    monkeypatch.setenv("VITRINE_AUDIT_LOG", str(audit))
    for _ in range(2):
        at = _upload(open_page("your_data"), SHOP.to_csv(index=False).encode())
        _fine(at.button(key="yd_build").click().run())
        assert at.success
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [(r["what"], r["dataset"], r["who"], r["role"]) for r in lines] == [
        ("workspace created", "shop-export", "local user", "admin"), ("workspace replaced", "shop-export", "local user", "admin")]
    assert all(r["when"].endswith("+00:00") for r in lines)
    assert audit.stat().st_mode & 0o077 == 0  # the file is the owner's alone
