"""Reading baskets: wide and long files, cleaning, and clear errors for the wrong shape."""
from __future__ import annotations

import gzip

import numpy as np
import pytest

from common.shop_tables import OrderColumns
from recommend.rules.baskets import (
    baskets_from_lists, from_codes, guess_format, read_baskets, read_long, read_wide,
)
from common.errors import InputError
from tests.helpers import ROOT

MBO = ROOT / "data" / "baskets" / "market_basket_optimisation.csv"
RETAIL = ROOT / "data" / "online_retail" / "online_retail_sample.csv.gz"
SUPERSTORE = ROOT / "data" / "superstore" / "superstore_sample.csv"


def as_sets(baskets) -> list[frozenset]:
    return [frozenset(b) for b in baskets.as_lists()]


def test_wide_strips_dedupes_and_drops_empty_baskets(tmp_path):
    path = tmp_path / "b.csv"
    path.write_text("milk, bread ,,,\n ,,\nbread,eggs,bread,\n\n eggs\n", encoding="utf-8")
    b = read_wide(path)
    assert list(b.items) == ["bread", "eggs", "milk"]
    assert as_sets(b) == [{"bread", "milk"}, {"bread", "eggs"}, {"eggs"}]
    assert b.info["rows"] == 5
    assert b.info["empty_baskets_dropped"] == 2
    assert b.info["duplicates_dropped"] == 1
    assert b.matrix.dtype == bool and b.matrix.nnz == 5
    assert b.item_counts().tolist() == [2, 2, 1]


def test_wide_reads_quoted_fields_gzip_and_bytes(tmp_path):
    text = '"cheese, aged",wine\nwine,bread\n"cheese, aged"\n'
    path = tmp_path / "b.csv.gz"
    path.write_bytes(gzip.compress(text.encode()))
    from_file = read_wide(path)
    from_bytes = read_wide(text.encode("utf-8-sig"), name="upload.csv")
    for b in (from_file, from_bytes):
        assert list(b.items) == ["bread", "cheese, aged", "wine"]
        assert b.n_baskets == 3
    assert from_bytes.info["name"] == "upload.csv"


def test_the_committed_market_basket_file():
    b = read_wide(MBO)
    assert b.n_baskets == 7501
    assert b.n_items == 119  # 120 raw strings; " asparagus" is "asparagus" once stripped
    assert "asparagus" in set(b.items) and " asparagus" not in set(b.items)
    assert b.info["duplicates_dropped"] == 5
    assert b.matrix.nnz == 29_363 - 5
    counts = dict(zip(b.items, b.item_counts()))
    assert counts["mineral water"] == 1788


def test_long_file_with_quantity_filter(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text(
        "order,product,qty,price\n"
        "1, tea ,2,1.5\n1,cake,1,2.0\n1,tea,1,1.5\n"
        "2,tea,-1,1.5\n2,jam,0,3.0\n"
        "3,jam,1,3.0\n3,,1,0\n"
        ",cake,1,2.0\n", encoding="utf-8")
    b = read_long(path, OrderColumns(order="order", item="product", quantity="qty"))
    assert list(b.items) == ["cake", "jam", "tea"]
    assert as_sets(b) == [{"cake", "tea"}, {"jam"}]  # order 2 has no positive line left
    assert b.info["rows"] == 8 and b.info["rows_dropped"] == 4
    assert b.info["duplicates_dropped"] == 1
    without_quantity = read_long(path, OrderColumns(order="order", item="product"))
    assert as_sets(without_quantity) == [{"cake", "tea"}, {"jam", "tea"}, {"jam"}]


def test_read_baskets_defaults_to_long_when_columns_are_named(tmp_path):
    path = tmp_path / "o.csv"
    path.write_text("Order ID,Item\nA,x\nA,y\nB,x\n", encoding="utf-8")
    b = read_baskets(path, columns=OrderColumns(order="Order ID", item="Item"))
    assert b.info["format"] == "long"
    assert as_sets(b) == [{"x", "y"}, {"x"}]
    with pytest.raises(InputError, match="only apply to long files"):
        read_baskets(path, "wide", OrderColumns(order="Order ID", item="Item"))
    with pytest.raises(InputError, match="Unknown basket file format 'tall'"):
        read_baskets(path, "tall")


def test_online_retail_sample_as_invoices():
    b = read_long(RETAIL, OrderColumns(order="InvoiceNo", item="Description", quantity="Quantity"))
    assert b.info["rows"] == 30_547
    # Cancelled invoices (C...) only hold negative quantities: none of them is left.
    assert b.n_baskets == 1604
    assert not any(name != name.strip() for name in b.items)
    assert b.n_items == 2886


def test_superstore_sample_by_sub_category():
    b = read_long(SUPERSTORE, OrderColumns(order="Order ID", item="Sub-Category", quantity="Quantity"))
    assert b.n_baskets == 2500
    assert b.n_items == 17
    assert b.matrix.sum(axis=1).max() <= 17


def test_missing_columns_name_what_was_expected_and_found(tmp_path):
    path = tmp_path / "o.csv"
    path.write_text("InvoiceNo,Description,Quantity\n1,tea,1\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_long(path, OrderColumns(order="InvoiceNo", item="StockCode"))
    message = str(err.value)
    assert "'StockCode'" in message and "found: InvoiceNo, Description, Quantity" in message
    assert "\n" not in message


def test_a_wide_file_read_as_long_is_told_to_read_it_as_wide():
    with pytest.raises(InputError, match="wide file"):
        read_long(MBO, OrderColumns(order="InvoiceNo", item="Description"))


def test_a_table_read_as_wide_is_told_to_read_it_as_long():
    with pytest.raises(InputError) as err:
        read_wide(RETAIL)
    message = str(err.value)
    assert "looks like a table with a header (InvoiceNo, StockCode" in message
    assert "--format long" in message


def test_wide_files_with_equal_width_rows_are_not_mistaken_for_tables(tmp_path):
    # Same width, no padding, a numeric column, but no header: items come back in later rows.
    path = tmp_path / "b.csv"
    path.write_text("tea,1\ncake,1\ntea,2\n", encoding="utf-8")
    assert read_wide(path).n_baskets == 3
    assert guess_format(path) == "wide"
    assert guess_format(RETAIL) == "long"
    assert guess_format(MBO) == "wide"


@pytest.mark.parametrize("content, expected", [
    (b"", "is empty"),
    (b" \n\n", "is empty"),
    (b",,,\n,,\n", "holds no items"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR", "not a text CSV file"),
    (b"\x1f\x8b\x08\x00broken", "damaged gzip"),
])
def test_unusable_files_get_one_clear_line(content, expected):
    with pytest.raises(InputError) as err:
        read_baskets(content, "wide", name="upload.csv")
    assert expected in str(err.value)
    assert "upload.csv" in str(err.value)


def test_missing_file_and_bad_column_choices(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_wide(tmp_path / "nope.csv")
    path = tmp_path / "o.csv"
    path.write_text("o,i,q\n1,a,x\n", encoding="utf-8")
    with pytest.raises(InputError, match="both 'o'"):
        read_long(path, OrderColumns(order="o", item="o"))
    with pytest.raises(InputError, match="needs the order column and the item column"):
        read_long(path, OrderColumns(order="o", item=""))
    with pytest.raises(InputError, match="'q' .* holds no numbers"):
        read_long(path, OrderColumns(order="o", item="i", quantity="q"))


def test_latin1_files_are_read(tmp_path):
    path = tmp_path / "o.csv"
    path.write_bytes("order,item\n1,Gift Voucher £10\n1,tea\n".encode("latin-1"))
    assert "Gift Voucher £10" in set(read_long(path, OrderColumns(order="order", item="item")).items)



def test_baskets_from_lists_and_codes_agree():
    lists = [["b", "a", "a"], [], ["c"], ["a", " c "]]
    b = baskets_from_lists(lists)
    assert list(b.items) == ["a", "b", "c"]
    assert as_sets(b) == [{"a", "b"}, {"c"}, {"a", "c"}]
    c = from_codes(np.array([0, 0, 0, 2, 3, 3]), np.array([1, 0, 0, 2, 0, 2]), np.array(["a", "b", "c"]))
    assert as_sets(c) == as_sets(b)
    assert c.info["empty_baskets_dropped"] == 1 and c.info["duplicates_dropped"] == 1
