"""A shop's workspace: one orders table, mapped once, into every recommender the data allows;
from a file or from PostgreSQL, with the same artifacts; replaced whole or not at all."""
from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
import os
from pathlib import Path

import pandas as pd
import pytest

from common.errors import ArtifactError, InputError
from recommend import cli
from recommend.rules import model as rules_model
from recommend.similar_customers import model as customers_model
from recommend.similar_products import model as products_model
from recommend.workspace import model
from tests.helpers import encode, http_server, product_picture
from tests.postgres import SAMPLE

# A shop's export in its own words: none of the demo's column names, a return, a blank customer.
SHOP = pd.DataFrame(
    [(f"R{o}", f"C{o % 7}" if o % 11 else "", sku, label, "1" if o != 5 else "-1", f"2024-03-{1 + o % 28:02d}")
     for o in range(60) for sku, label in ((f"S{o % 4}", ["Tea", "Jam", "Soap", "Rice"][o % 4]),
                                           (f"S{4 + o % 3}", ["Cake", "Bread", "Milk"][o % 3]))],
    columns=["Receipt", "Client", "SKU", "Item name", "Qty", "Order date"])


def _files(folder: Path) -> dict[str, bytes]:
    """Every data file of a workspace, by relative path (manifests aside)."""
    out = {}
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file() and path.name != "manifest.json":
            out[str(path.relative_to(folder).parent.name.split(".v")[0] + "/" + path.name)] = path.read_bytes()
    return out


def test_a_csv_builds_every_part_and_each_loads(tmp_path, capsys):
    orders = tmp_path / "shop.csv"
    SHOP.to_csv(orders, index=False, sep=";")
    assert cli.main(["build", "--orders", str(orders), "--name", "myshop", "--artifacts", str(tmp_path)]) == 0
    ws = model.open_workspace("myshop", tmp_path)
    assert ws.parts == ["basket_rules", "similar_products", "similar_customers"]
    m = ws.manifest
    assert m["mapping"]["order"] == "Receipt" and m["mapping"]["customer"] == "Client" and m["mapping"]["item"] == "SKU"
    assert m["dropped"]["non_positive_quantity"] == 2  # both lines of the returned order 5
    assert m["orders"] == 59 and m["products"] == 7 and m["source"]["file"] == str(orders)
    rules = rules_model.load(ws.part("basket_rules"))
    assert set(rules.lookup["item"]) == {"Tea", "Jam", "Soap", "Rice", "Cake", "Bread", "Milk"}  # by name
    similar = products_model.load(ws.part("similar_products"))
    assert products_model.answer(similar, "S0")["id"].iloc[0].startswith("S")
    customers = customers_model.load(ws.part("similar_customers"))
    assert set(customers.neighbours["customer"]) == {f"C{c}" for c in range(7)}  # blank customers left out
    assert len(ws.orders()) == 118 and set(ws.orders().columns) >= {"order", "customer", "item", "date"}
    assert "Workspace myshop" in capsys.readouterr().out
    assert [w.name for w in model.list_workspaces(tmp_path)] == ["myshop"]


def test_without_a_customer_column_similar_customers_is_skipped_and_said(tmp_path, capsys):
    orders = tmp_path / "shop.csv"
    SHOP.drop(columns="Client").to_csv(orders, index=False)
    assert cli.main(["build", "--orders", str(orders), "--name", "nocust", "--artifacts", str(tmp_path)]) == 0
    ws = model.open_workspace("nocust", tmp_path)
    assert "similar_customers" not in ws.parts
    with pytest.raises(ArtifactError, match="customer id column"):
        ws.part("similar_customers")
    assert "no similar customers: map a customer id column" in capsys.readouterr().out


def test_bad_orders_build_nothing_and_keep_the_old_workspace(tmp_path, capsys):
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    SHOP.to_csv(good, index=False)
    SHOP.assign(Qty=["two" if i == 7 else q for i, q in enumerate(SHOP["Qty"])]).to_csv(bad, index=False)
    assert cli.main(["build", "--orders", str(good), "--name", "myshop", "--artifacts", str(tmp_path)]) == 0
    before = _files(tmp_path / "myshop")
    capsys.readouterr()
    assert cli.main(["build", "--orders", str(bad), "--name", "myshop", "--artifacts", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == "error: Column 'Qty' (the quantity) has 1 value(s) that are not numbers, e.g. 'two' in row 8."
    assert _files(tmp_path / "myshop") == before
    assert sorted(p.name for p in tmp_path.iterdir() if "tmp" in p.name) == []  # no half-built folder left


def test_a_rebuild_replaces_the_workspace_whole(tmp_path):
    orders = tmp_path / "shop.csv"
    SHOP.to_csv(orders, index=False)
    lines = model.mapped_orders(pd.read_csv(orders, dtype=str, keep_default_na=False),
                                {"order": "Receipt", "customer": "Client", "item": "SKU", "quantity": "Qty"})
    model.build(lines, "myshop", source={"file": "a"}, artifacts=tmp_path)
    first = os.readlink(tmp_path / "myshop")
    no_customers = lines.drop(columns="customer")
    rebuilt = model.build(no_customers, "myshop", source={"file": "b"}, artifacts=tmp_path)
    assert os.readlink(tmp_path / "myshop") != first
    assert rebuilt.manifest["source"] == {"file": "b"} and "similar_customers" not in rebuilt.parts
    assert not (tmp_path / "myshop" / "similar_customers").exists()


@pytest.mark.parametrize("name, message", [("My Shop", "not allowed"), ("../x", "not allowed"),
                                           ("superstore", "taken by the demo data")])
def test_workspace_names_are_checked(name, message):
    with pytest.raises(InputError, match=message):
        model.check_name(name)


def test_postgres_and_csv_build_the_same_workspace(shop_db, tmp_path):
    assert cli.main(["build", "--orders", str(SAMPLE), "--name", "from-csv", "--artifacts", str(tmp_path)]) == 0
    assert cli.main(["build", "--orders-sql", shop_db, "--orders-table", "order_lines", "--name", "from-sql",
                     "--artifacts", str(tmp_path)]) == 0
    csv_ws, sql_ws = (model.open_workspace(n, tmp_path) for n in ("from-csv", "from-sql"))
    csv_files, sql_files = _files(csv_ws.folder), _files(sql_ws.folder)
    assert len(csv_files) >= 9 and sql_files == csv_files

    def comparable(folder: Path) -> list[dict]:
        found = []
        for manifest in sorted(folder.rglob("manifest.json")):
            m = json.loads(manifest.read_text())
            for key in ("source", "sources", "created", "seconds", "rebuild", "name", "read", "inputs"):
                m.pop(key, None)
            m.get("input", {}).pop("name", None)
            for value in m.values():  # timings of a part's model (EASE's fit) differ from run to run
                if isinstance(value, dict):
                    value.pop("fit_seconds", None)
            found.append(m)
        return found
    assert comparable(sql_ws.folder) == comparable(csv_ws.folder)
    assert sql_ws.manifest["source"]["table"] == "order_lines" and sql_ws.manifest["source"]["rows"] == 30547


def test_ratings_and_a_catalogue_build_similar_items_with_the_catalogue_names(tmp_path, capsys):
    from recommend.similar_movies import model as movies_model
    from tests.helpers import random_ratings

    ratings = random_ratings(users=40, movies=25, density=0.6, seed=3)
    ratings = pd.DataFrame({"Reviewer": "u" + ratings["userId"].astype(str),
                            "Book": "B-" + ratings["movieId"].astype(str), "Stars": ratings["rating"]})
    books = pd.DataFrame({"item": sorted(ratings["Book"].unique())})
    books["Title"] = "Book " + books["item"].str[2:]
    (tmp_path / "r.csv").write_text(ratings.to_csv(index=False))
    (tmp_path / "c.csv").write_text(books.to_csv(index=False))
    assert cli.main(["build", "--ratings", str(tmp_path / "r.csv"), "--name", "books", "--artifacts",
                     str(tmp_path)]) == 2
    assert "looks like the item id; name it with --ratings-map item=COL" in capsys.readouterr().err
    assert cli.main(["build", "--ratings", str(tmp_path / "r.csv"), "--ratings-map", "user=Reviewer", "item=Book",
                     "--catalogue", str(tmp_path / "c.csv"), "--name", "books", "--artifacts", str(tmp_path)]) == 0
    ws = model.open_workspace("books", tmp_path)
    assert ws.parts == ["similar_movies"] and ws.manifest["mappings"]["ratings"]["rating"] == "Stars"
    assert "no basket rules: give orders" in capsys.readouterr().out
    items = movies_model.load(ws.part("similar_movies"))
    assert set(items.movies["title"]) == set(books["Title"])  # names from the catalogue
    first = items.neighbours["movieId"].iloc[0]
    assert isinstance(first, str) and first.startswith("B-")  # text ids stay text
    assert cli.main(["build", "--ratings", str(tmp_path / "r.csv"), "--ratings-map", "who=Reviewer",
                     "--name", "books", "--artifacts", str(tmp_path)]) == 2
    assert "--ratings-map takes FIELD=COL" in capsys.readouterr().err


def test_orders_without_names_take_them_from_the_catalogue(tmp_path):
    lines = model.mapped_orders(SHOP.drop(columns="Item name"), {"order": "Receipt", "item": "SKU"})
    catalogue = model.mapped_catalogue(pd.DataFrame({"id": [f"S{i}" for i in range(7)],
                                                     "name": [f"Thing {i}" for i in range(7)]}),
                                       {"id": "id", "name": "name"})
    ws = model.build(lines, "named", source={"file": "x"}, catalogue=catalogue, artifacts=tmp_path)
    similar = products_model.load(ws.part("similar_products"))
    assert set(similar.products["name"]) == {f"Thing {i}" for i in range(7)}
    assert ws.manifest["parts"]["basket_rules"]["item_field"] == "name"
    assert ws.table(model.CATALOGUE_FILE)["name"].tolist() == [f"Thing {i}" for i in range(7)]


def test_a_catalogue_with_pictures_gets_a_visual_index_on_the_same_ids(tiny_shop_workspace):
    from embed.index import load as load_index

    _, ws = tiny_shop_workspace
    assert ws.parts == ["basket_rules", "similar_products", "similar_customers", "visual_index"]
    index = load_index(ws.part("visual_index"))
    similar = products_model.load(ws.part("similar_products"))
    assert set(index.items["id"]) == set(similar.products["item"]) == {str(i) for i in range(1, 11)}
    assert set(index.items["name"]) >= {"Blue Check Shirt", "Black Heels"}  # the catalogue's names
    assert ws.manifest["pictures"] and ws.manifest["parts"]["visual_index"]["products"] == 10
    assert ws.table(model.CATALOGUE_FILE)["image"].map(lambda p: Path(p).is_absolute() and Path(p).is_file()).all()


class _Pictures(BaseHTTPRequestHandler):
    """/S1.jpg and /S2.jpg are product pictures; anything else is a 404."""
    asked: list[str] = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        type(self).asked.append(self.path)
        body = encode(product_picture(int(self.path[2]))) if self.path in ("/S1.jpg", "/S2.jpg") else b""
        self.send_response(200 if body else 404)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", f'"{self.path}"')
        self.end_headers()
        self.wfile.write(body)


def _url_catalogue(base: str, names, tmp_path):
    return model.mapped_catalogue(pd.DataFrame({"id": ["S1", "S2"], "image": [f"{base}/{n}" for n in names]}),
                                  {"id": "id", "image": "image"}, image_base=tmp_path)


@pytest.mark.slow
def test_pictures_by_url_are_embedded_and_a_rebuild_reuses_them(tmp_path, monkeypatch):
    from embed.index import load as load_index

    monkeypatch.setenv("VITRINE_FETCH_ALLOW", "127.0.0.1")  # the test's picture server (python -m embed reads it)

    lines = model.mapped_orders(SHOP, {"order": "Receipt", "item": "SKU"})
    _Pictures.asked = []
    with http_server(_Pictures) as base:
        catalogue = _url_catalogue(base, ["S1.jpg", "S2.jpg"], tmp_path)
        ws = model.build(lines, "pics", source={"file": "x"}, catalogue=catalogue, artifacts=tmp_path, weights="none")
        assert ws.manifest["parts"]["visual_index"] == {"products": 2, "skipped": 0, "urls": 2, "weights": "none",
                                                        "index_type": "exact"}
        index = load_index(ws.part("visual_index"))
        assert sorted(index.items["url"]) == [f"{base}/S1.jpg", f"{base}/S2.jpg"]
        again = model.build(lines, "pics", source={"file": "x"}, catalogue=catalogue, artifacts=tmp_path, weights="none")
    assert load_index(again.part("visual_index")).manifest["build"]["reused"] == 2  # asked again, not embedded
    assert sorted(_Pictures.asked) == ["/S1.jpg", "/S1.jpg", "/S2.jpg", "/S2.jpg"]


@pytest.mark.slow
def test_pictures_that_cannot_be_embedded_skip_only_the_visual_index(tmp_path):
    lines = model.mapped_orders(SHOP, {"order": "Receipt", "item": "SKU"})
    with http_server(_Pictures) as base:
        ws = model.build(lines, "pics", source={"file": "x"}, catalogue=_url_catalogue(base, ["a.jpg", "b.jpg"], tmp_path),
                         artifacts=tmp_path, weights="none")
    assert "None of the 2 images could be read" in ws.manifest["parts_skipped"]["visual_index"]
    assert ws.parts == ["basket_rules", "similar_products"]


def test_a_catalogue_without_usable_pictures_skips_only_the_visual_index(tmp_path):
    lines = model.mapped_orders(SHOP, {"order": "Receipt", "item": "SKU"})
    catalogue = model.mapped_catalogue(pd.DataFrame({"id": ["S1", "S2"], "image": ["nowhere/1.jpg", ""]}),
                                       {"id": "id", "image": "image"}, image_base=tmp_path)
    ws = model.build(lines, "pics", source={"file": "x"}, catalogue=catalogue, artifacts=tmp_path)
    assert f"none of the catalogue's images is a file under {tmp_path}" in ws.manifest["parts_skipped"]["visual_index"]
    assert ws.parts == ["basket_rules", "similar_products"]
