"""A shop's own tables: read from CSV, CSV.gz, Excel and Parquet alike; columns guessed from their
names; every problem named with its column, a count and an example row; types applied."""
from __future__ import annotations

import gzip
import io

import pandas as pd
import pytest

import settings
from common.errors import InputError
from common.shop_tables import CATALOGUE, ORDERS, RATINGS, apply, guess, problems, read_table

ORDERS_CSV = ("Order ID;Customer;SKU;Qty;Unit price;Date;Product name\n"
              "A-1;00042;0815;2;2,50;2024-03-01;Tea\n"
              "A-1;00042;0816;1;1,25;2024-03-01;Cake\n"
              "A-2;00043;0815;3;2,50;2024-03-02;Tea\n")


def as_xlsx(table: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    table.to_excel(buffer, index=False)
    return buffer.getvalue()


def as_parquet(table: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False)
    return buffer.getvalue()


def test_every_format_reads_to_the_same_text_table_and_ids_keep_their_zeros():
    csv_table = read_table(ORDERS_CSV.encode("cp1252"), name="orders.csv")
    assert list(csv_table["Customer"]) == ["00042", "00042", "00043"]
    assert csv_table.attrs["read"]["format"] == "csv" and csv_table.attrs["read"]["delimiter"] == ";"
    gz = read_table(gzip.compress(ORDERS_CSV.encode("utf-8")), name="orders.csv.gz")
    xlsx = read_table(as_xlsx(csv_table), name="orders.xlsx")
    parquet = read_table(as_parquet(csv_table), name="orders.parquet")
    for other, fmt in ((gz, "csv"), (xlsx, "xlsx"), (parquet, "parquet")):
        pd.testing.assert_frame_equal(other.reset_index(drop=True), csv_table.reset_index(drop=True),
                                      check_dtype=False)
        assert other.attrs["read"]["format"] == fmt


def test_typed_parquet_ids_read_as_a_csv_would_hold_them():
    typed = pd.DataFrame({"CustomerID": [17850.0, None, 13047.0], "Quantity": [6, 8, 2]})
    table = read_table(as_parquet(typed), name="typed.parquet")
    assert list(table["CustomerID"]) == ["17850", "", "13047"]
    assert list(table["Quantity"]) == ["6", "8", "2"]


def test_a_damaged_workbook_is_one_line_naming_the_file():
    with pytest.raises(InputError) as err:
        read_table(b"PK\x03\x04 not really a workbook", name="orders.xlsx")
    assert "orders.xlsx" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("path, expected", [
    (settings.DEMO_ONLINE_RETAIL, {"order": "InvoiceNo", "customer": "CustomerID", "item": "StockCode",
                                   "quantity": "Quantity", "price": "UnitPrice", "date": "InvoiceDate",
                                   "name": "Description", "category": None}),
    (settings.DATA_DIR / "superstore" / "superstore_sample.csv",
     {"order": "Order ID", "customer": "Customer ID", "item": "Product ID", "quantity": "Quantity",
      "price": "Sales", "date": "Order Date", "name": "Product Name", "category": "Sub-Category"}),
])
def test_the_demo_orders_columns_are_guessed(path, expected):
    table = read_table(path)
    assert guess(list(table.columns), ORDERS) == expected


def test_ratings_and_catalogue_columns_are_guessed():
    ratings = read_table(settings.DEMO_MOVIELENS_RATINGS)
    assert guess(list(ratings.columns), RATINGS) == {"user": "userId", "item": "movieId", "rating": "rating",
                                                     "time": "timestamp"}
    catalogue = read_table(settings.DEMO_FASHION_CATALOGUE)
    found = guess(list(catalogue.columns), CATALOGUE)
    assert (found["id"], found["name"], found["category"]) == ("id", "productDisplayName", "masterCategory")


def test_an_export_in_other_words_is_guessed_whole():
    columns = ["Order number", "Article", "Article text", "Units", "Ordered at", "Price", "Client", "Country"]
    assert guess(columns, ORDERS) == {"order": "Order number", "customer": "Client", "item": "Article",
                                      "quantity": "Units", "price": "Price", "date": "Ordered at",
                                      "name": "Article text", "category": None}


def test_guesses_use_each_column_once_and_short_hints_only_whole():
    found = guess(["Width", "Country", "Order", "Product"], ORDERS)
    assert found["order"] == "Order" and found["item"] == "Product"
    assert found["quantity"] is None  # "Country" holds "count" but is no quantity
    assert found["customer"] is None
    found = guess(["Width", "Name"], CATALOGUE)
    assert found["id"] is None  # "id" is not looked for inside "Width"


def test_a_good_table_applies_with_types_and_its_mapping():
    table = read_table(ORDERS_CSV.encode(), name="orders.csv")
    mapping = guess(list(table.columns), ORDERS)
    assert problems(table, ORDERS, mapping, "orders.csv") == []
    out = apply(table, ORDERS, mapping, "orders.csv")
    assert list(out.columns) == ["order", "customer", "item", "quantity", "price", "date", "name"]
    assert list(out["price"]) == [2.5, 1.25, 2.5]  # decimal commas read
    assert out["date"].dt.day.tolist() == [1, 1, 2]
    assert out["item"].tolist() == ["0815", "0816", "0815"]
    assert out.attrs["mapping"]["item"] == "SKU" and out.attrs["mapping"]["category"] is None


def one_problem(table, mapping, schema=ORDERS) -> str:
    found = problems(table, schema, mapping, "orders.csv")
    assert len(found) == 1, found
    assert "\n" not in found[0]
    with pytest.raises(InputError) as err:
        apply(table, schema, mapping, "orders.csv")
    assert str(err.value) == found[0] and err.value.problems == found
    return found[0]


def base():
    table = read_table(ORDERS_CSV.encode(), name="orders.csv")
    return table, guess(list(table.columns), ORDERS)


def test_a_missing_required_column_names_the_field_and_the_columns_there_are():
    table, mapping = base()
    message = one_problem(table, {**mapping, "item": None})
    assert "the product id" in message and "SKU" in message
    message = one_problem(table, {**mapping, "item": "ProductCode"})
    assert "'ProductCode'" in message and "not in orders.csv" in message


def test_an_empty_table_says_so():
    table, mapping = base()
    assert "no rows" in one_problem(table.iloc[0:0], mapping)


def test_ids_that_are_all_blank():
    table, mapping = base()
    table["Customer"] = ["", " ", "nan"]
    assert one_problem(table, mapping) == "Column 'Customer' (the customer id) is blank in all 3 rows."


def test_quantities_that_are_not_numbers_give_a_count_and_an_example_row():
    table, mapping = base()
    table.loc[1, "Qty"] = "two"
    table.loc[2, "Qty"] = "3 pcs"
    message = one_problem(table, mapping)
    assert message == "Column 'Qty' (the quantity) has 2 value(s) that are not numbers, e.g. 'two' in row 2."


def test_dates_that_do_not_parse():
    table, mapping = base()
    table.loc[2, "Date"] = "the 3rd of Smarch"
    message = one_problem(table, mapping)
    assert "'Date' (the order date)" in message and "1 value(s) that are not dates" in message
    assert "'the 3rd of Smarch' in row 3" in message


def test_ratings_need_numbers_and_unix_seconds_are_dates():
    table = pd.DataFrame({"userId": ["1", "2"], "movieId": ["10", "11"], "rating": ["4.5", "x"],
                          "timestamp": ["964982703", "964981247"]})
    mapping = guess(list(table.columns), RATINGS)
    assert "'rating' (the rating) has 1 value(s) that are not numbers" in one_problem(table, mapping, RATINGS)
    table.loc[1, "rating"] = "3"
    out = apply(table, RATINGS, mapping)
    assert out["rating"].tolist() == [4.5, 3.0] and out["time"].dt.year.tolist() == [2000, 2000]


def test_one_column_chosen_twice_is_refused():
    table, mapping = base()
    message = one_problem(table, {**mapping, "name": "SKU"})
    assert "'SKU' is chosen for two fields" in message
