"""One reader for every table a user gives: the same file as UTF-8, UTF-8 with a BOM, Latin-1,
Windows-1252 with semicolons, or gzip gives the same result in every recommender and the
catalogue reader; a binary file gets the same one-line error everywhere."""
from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from common.errors import InputError
from common.tables import csv_columns, delimiter, read_csv, text_encoding
from embed.catalogue import read_catalogue
from common.shop_tables import OrderColumns
from recommend.datasets.online_retail import read_online_retail
from recommend.rules.baskets import read_baskets
from recommend.similar_customers.model import read_purchases
from recommend.similar_movies.model import read_movies, read_ratings
from recommend.similar_products.model import read_order_lines

NAMES = ["Café crème", "Crêpe pan £2", "Größe tray", "Plain mug", "Jalapeño jar", "Café crème"]
TABLE = pd.DataFrame({
    "InvoiceNo": ["536365", "536365", "536366", "536366", "536367", "536367"],
    "StockCode": ["A1", "B2", "A1", "C3", "D4", "A1"],
    "Description": NAMES,
    "Quantity": [2, 1, 3, 1, 4, 1],
    "InvoiceDate": ["2011-01-02 10:00:00"] * 6,
    "UnitPrice": [1.5, 2.0, 1.5, 3.25, 0.85, 1.5],
    "CustomerID": ["12001", "12001", "12002", "12002", "12003", "12003"],
    "Country": ["France", "France", "Germany", "Germany", "Spain", "Spain"],
    "userId": [1, 1, 2, 2, 3, 3], "movieId": [10, 20, 10, 30, 40, 20],
    "rating": [4.0, 3.5, 5.0, 2.0, 4.5, 3.0], "title": [f"{n} (1999)" for n in NAMES],
    "id": ["p1", "p2", "p3", "p4", "p5", "p6"],
})
PURCHASES = OrderColumns(customer="CustomerID", item="StockCode", name="Description", quantity="Quantity")


def forms(tmp_path) -> dict:
    """The same table written the ways shops export it."""
    out = {}
    for name, encoding, sep in [("utf-8", "utf-8", ","), ("utf-8-bom", "utf-8-sig", ","),
                                ("latin-1", "latin-1", ","), ("cp1252-semicolons", "cp1252", ";"),
                                ("tabs", "utf-8", "\t"), ("excel-unicode-text", "utf-16", "\t")]:
        path = tmp_path / f"{name}.csv"
        TABLE.to_csv(path, index=False, encoding=encoding, sep=sep)
        out[name] = path
    gz = tmp_path / "gzip.csv.gz"
    gz.write_bytes(gzip.compress(out["latin-1"].read_bytes()))
    out["gzip"] = gz
    return out


READERS = {
    "orders": lambda p: read_order_lines(p, OrderColumns(order="InvoiceNo", item="StockCode", name="Description")),
    "purchases": lambda p: read_purchases(p, PURCHASES, clean=False),
    "ratings": read_ratings,
    "movies": read_movies,
    "online_retail": read_online_retail,
    "catalogue": read_catalogue,
    "baskets": lambda p: read_baskets(p, "long", OrderColumns(order="InvoiceNo", item="Description", quantity="Quantity")),
}


def comparable(result):
    if isinstance(result, pd.DataFrame):
        return result.reset_index(drop=True)
    return pd.DataFrame({"items": result.items}), result.matrix.toarray()  # Baskets


@pytest.mark.parametrize("reader", list(READERS))
def test_every_form_of_the_same_table_reads_the_same(reader, tmp_path):
    paths = forms(tmp_path)
    expected = comparable(READERS[reader](paths["utf-8"]))
    for form, path in paths.items():
        got = comparable(READERS[reader](path))
        if isinstance(got, tuple):
            pd.testing.assert_frame_equal(got[0], expected[0], obj=form)
            np.testing.assert_array_equal(got[1], expected[1])
        else:
            pd.testing.assert_frame_equal(got, expected, obj=form)
    text = " ".join(map(str, (expected[0] if isinstance(expected, tuple) else expected).to_numpy().ravel()))
    assert "Café crème" in text or reader in ("ratings",)  # the accents came through (ratings have no text)


@pytest.mark.parametrize("reader", list(READERS))
def test_a_binary_file_is_one_clear_line_in_every_reader(reader, tmp_path):
    path = tmp_path / "photo.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(InputError, match="not a text CSV file .*starts with bytes 89 50 4e 47") as err:
        READERS[reader](path)
    assert "\n" not in str(err.value)


def test_what_was_chosen_is_kept_for_the_manifest(tmp_path):
    paths = forms(tmp_path)
    assert read_csv(paths["cp1252-semicolons"]).attrs["read"] == {"encoding": "cp1252", "delimiter": ";"}
    assert read_csv(paths["utf-8-bom"]).attrs["read"] == {"encoding": "utf-8-sig", "delimiter": ","}
    baskets = read_baskets(paths["tabs"], "long", OrderColumns(order="InvoiceNo", item="Description"))
    assert baskets.info["encoding"] == "utf-8-sig" and baskets.info["delimiter"] == "\t"


@pytest.mark.parametrize("text, encoding", [("Price £5, café crème\n" * 20, "cp1252"),
                                            ("Описание товара, цена\n" * 20, "cp1251"),
                                            ("InvoiceNo,Description\n1,Gift Voucher £10\n" * 5, "latin-1")])
def test_the_encoding_of_text_that_is_not_utf8_is_found(text, encoding):
    data = text.encode(encoding)
    assert data.decode(text_encoding(data)) == text


def test_the_delimiter_is_sniffed_and_defaults_to_a_comma():
    assert delimiter("a;b;c\n1;2;3\n4;5;6\n") == ";"
    assert delimiter("a\tb\n1\t2\n") == "\t"
    assert delimiter("milk\nbread\n") == ","
    assert delimiter('order,name\n1,"tea; green"\n2,"cake; lemon"\n') == ","


def test_the_choice_reaches_every_recommenders_manifest(tmp_path):
    from recommend import similar_customers, similar_movies, similar_products

    path = forms(tmp_path)["cp1252-semicolons"]
    chosen = {"encoding": "cp1252", "delimiter": ";"}
    orders = READERS["orders"](path)
    built = similar_products.build(orders, OrderColumns(order="InvoiceNo", item="StockCode", name="Description"))
    assert built.manifest["read"] == chosen
    purchases = READERS["purchases"](path)
    assert similar_customers.build(purchases, PURCHASES, k=2, n=2).manifest["read"] == chosen
    ratings = read_ratings(path)
    assert similar_movies.build(ratings, read_movies(path), k=2, min_ratings=1).manifest["read"] == chosen


def test_csv_columns_strips_the_header():
    assert csv_columns(b"\xef\xbb\xbfOrder ID , Item\n1,a\n")[:2] == ["Order ID", "Item"]
    assert csv_columns(gzip.compress("Kunde;Bestellnr;Menge\r\n1;2;3\n".encode("cp1252"))) == [
        "Kunde", "Bestellnr", "Menge"]
