"""One set of column flags for every sub-command that reads orders, guessed when left out, and
today's flags (--baskets, --purchases, --basket-col) still working as aliases."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from common.errors import InputError
from recommend import cli
from recommend.core.sources import TableSource
from recommend.core.order_columns import resolve

# A shop's export with its own column names, none of them the demo's.
ORDERS = pd.DataFrame(
    [(f"K{c}", f"B{o}", f"P{p}", name, 1, "2024-01-0" + str(1 + o % 9))
     for o in range(30) for c in [o % 6] for p, name in ((o % 3, ["Tea", "Jam", "Soap"][o % 3]),
                                                          (3 + o % 2, ["Cake", "Bread"][o % 2]))],
    columns=["Client", "Receipt", "SKU", "Item name", "Qty", "Order date"],
)


@pytest.fixture
def orders(tmp_path):
    path = tmp_path / "shop.csv"
    ORDERS.to_csv(path, index=False, sep=";")
    return path


def test_columns_are_guessed_from_the_header_and_flags_win(orders):
    found = resolve(TableSource(path=orders), {}, needed=("order", "item", "customer"))
    assert (found.order, found.customer, found.item, found.name, found.quantity, found.date) == \
        ("Receipt", "Client", "SKU", "Item name", "Qty", "Order date")
    assert resolve(TableSource(path=orders), {"item": "Item name", "quantity": ""}).item == "Item name"
    assert resolve(TableSource(path=orders), {"quantity": ""}).quantity is None  # '' means none, not a guess


def test_a_needed_column_that_cannot_be_guessed_names_its_flag(tmp_path):
    path = tmp_path / "odd.csv"
    pd.DataFrame({"a": ["1"], "b": ["2"]}).to_csv(path, index=False)
    with pytest.raises(InputError) as err:
        resolve(TableSource(path=path), {}, needed=("order",))
    assert "--order-col" in str(err.value) and "a, b" in str(err.value)


def test_every_sub_command_builds_from_the_same_file_without_column_flags(orders, tmp_path, capsys):
    assert cli.main(["rules", "--orders", str(orders), "--min-support", "0.1", "--min-lift", "1",
                     "--out", str(tmp_path / "rules")]) == 0
    manifest = json.loads((tmp_path / "rules" / "manifest.json").read_text())
    assert manifest["inputs"]["columns"] == {"order": "Receipt", "item": "Item name", "quantity": "Qty"}
    assert manifest["baskets"] == 30

    assert cli.main(["similar-products", "--orders", str(orders), "--out", str(tmp_path / "products")]) == 0
    manifest = json.loads((tmp_path / "products" / "manifest.json").read_text())
    assert manifest["inputs"]["columns"]["order"] == "Receipt" and manifest["inputs"]["columns"]["item"] == "SKU"
    assert "columns: order Receipt, item SKU, name Item name" in capsys.readouterr().out

    assert cli.main(["similar-customers", "--orders", str(orders), "--out", str(tmp_path / "customers")]) == 0
    manifest = json.loads((tmp_path / "customers" / "manifest.json").read_text())
    assert manifest["inputs"]["columns"]["customer"] == "Client" and manifest["customers"] == 6


def test_todays_flags_keep_working(orders, tmp_path):
    assert cli.main(["rules", "--baskets", str(orders), "--basket-col", "Receipt", "--item-col", "SKU",
                     "--min-support", "0.1", "--min-lift", "1", "--out", str(tmp_path / "rules")]) == 0
    manifest = json.loads((tmp_path / "rules" / "manifest.json").read_text())
    assert manifest["inputs"]["columns"]["order"] == "Receipt" and manifest["inputs"]["columns"]["item"] == "SKU"
    assert cli.main(["similar-customers", "--purchases", str(orders), "--customer-col", "Client",
                     "--item-col", "SKU", "--out", str(tmp_path / "customers")]) == 0
    assert json.loads((tmp_path / "customers" / "manifest.json").read_text())["customers"] == 6


def test_one_column_mapping_feeds_every_reader_of_orders(orders):
    """The columns guessed once from a shop's header (OrderColumns) are what basket rules, similar
    products, similar customers and a workspace's mapping all take: no second mapping type."""
    from common.shop_tables import OrderColumns
    from recommend.rules.baskets import read_long
    from recommend.similar_customers.model import build as customers, read_purchases
    from recommend.similar_products.model import build as products, read_order_lines
    from recommend.workspace.model import mapped_orders

    columns = resolve(TableSource(path=orders), {}, needed=("order", "item", "customer"))
    assert isinstance(columns, OrderColumns)
    baskets = read_long(orders, columns)
    assert baskets.n_baskets == 30 and set(baskets.items) == {"P0", "P1", "P2", "P3", "P4"}
    assert len(products(read_order_lines(orders, columns), columns).products) == 5
    assert customers(read_purchases(orders, columns, clean=False), columns, k=2, n=2).manifest["customers"] == 6
    lines = mapped_orders(pd.read_csv(orders, sep=";", dtype=str), columns)
    assert list(lines.columns) == ["order", "customer", "item", "quantity", "date", "name"]
    assert OrderColumns.mapped(lines.columns) == OrderColumns(order="order", item="item", customer="customer",
                                                              quantity="quantity", date="date", name="name")


def test_a_mapping_naming_no_field_of_the_orders_is_refused():
    from common.shop_tables import OrderColumns

    with pytest.raises(InputError, match="no field sku; the fields are order, customer, item"):
        OrderColumns.of({"order": "Receipt", "sku": "SKU"})
    several = OrderColumns.of({"order": "o", "item": "i", "categories": ["Sub", "Top"], "name": ""})
    assert several.category == "Sub" and several.name is None
    assert several.needed("item", "categories", "order") == ["i", "Sub", "Top", "o"]
