"""recommend.datasets.online_retail: which rows are product sales, one description per stock code."""
from __future__ import annotations

import pandas as pd
import pytest

import settings
from common.errors import InputError
from recommend.datasets.online_retail import clean_online_retail, is_product_code, product_descriptions, read_online_retail

RAW = pd.DataFrame(
    [  # InvoiceNo, StockCode, Description, Quantity, UnitPrice, CustomerID
        ("536365", "85123A", "WHITE HANGING HEART ", 6, 2.55, "17850"),
        ("536365", "71053", " WHITE METAL LANTERN", 6, 3.39, "17850"),
        ("536366", "85123A", "WHITE HANGING HEART", 2, 2.55, None),  # no customer: kept unless required
        ("536367", "85123A", "CREAM HANGING HEART", 1, 2.55, "13047"),
        ("C536379", "71053", "WHITE METAL LANTERN", -1, 3.39, "14527"),  # cancellation
        ("536380", "71053", "WHITE METAL LANTERN", -3, 3.39, "14527"),  # a return without C
        ("536381", "POST", "POSTAGE", 1, 18.0, "12583"),
        ("536381", "m", "Manual", 1, 0.5, "12583"),  # lower case is still a manual entry
        ("536381", "gift_0001_20", "Dotcomgiftshop Gift Voucher £20.00", 1, 17.0, "12583"),
        ("536382", "BANK CHARGES", "Bank Charges", 1, 15.0, "12583"),
        ("536383", "22139", "found", 5, 0.0, None),  # free stock adjustment
        ("536384", "22139", "RETROSPOT  TEA SET ", 1, 4.95, "12583.0"),
    ],
    columns=["InvoiceNo", "StockCode", "Description", "Quantity", "UnitPrice", "CustomerID"],
)


def test_only_product_sales_are_kept_and_each_rule_is_counted():
    cleaned = clean_online_retail(RAW)
    assert list(cleaned.lines["InvoiceNo"]) == ["536365", "536365", "536366", "536367", "536384"]
    assert cleaned.dropped == {"missing_ids": 0, "cancelled": 1, "non_positive_quantity": 1,
                               "non_product_code": 4, "non_positive_price": 1}
    summary = cleaned.summary()
    assert summary["rows_kept"] == 5 and summary["invoices"] == 4 and summary["products"] == 3


def test_descriptions_are_stripped_and_one_per_stock_code():
    lines = clean_online_retail(RAW).lines
    names = dict(zip(lines["StockCode"], lines["Description"]))
    # 85123A: "WHITE HANGING HEART" twice (after stripping) beats "CREAM HANGING HEART" once
    assert names == {"85123A": "WHITE HANGING HEART", "71053": "WHITE METAL LANTERN", "22139": "RETROSPOT TEA SET"}
    assert lines.groupby("StockCode")["Description"].nunique().max() == 1


def test_requiring_a_customer_drops_anonymous_rows_and_normalises_ids():
    cleaned = clean_online_retail(RAW, require_customer=True)
    assert cleaned.dropped["no_customer"] == 1  # 536366 (536383 was already gone for its price)
    assert list(cleaned.lines["CustomerID"]) == ["17850", "17850", "13047", "12583"]


def test_product_codes_and_description_ties():
    codes = pd.Series(["POST", "dot", "C2", "85123A", "DCGS0003", "GIFT_0001_10", "PADS", "B"])
    assert list(is_product_code(codes)) == [False, False, False, True, True, False, True, False]
    names = product_descriptions(pd.Series(["a", "a", "b"]), pd.Series(["ZED", "ALPHA", None]))
    assert names.to_dict() == {"a": "ALPHA"}  # a tie goes to the alphabetically first; b has no text


def test_missing_columns_and_files_are_clear_errors(tmp_path):
    with pytest.raises(InputError, match="lacks column"):
        clean_online_retail(RAW.drop(columns="Quantity"))
    with pytest.raises(InputError, match="not found"):
        read_online_retail(tmp_path / "nope.csv")


def test_a_windows_1252_file_is_read(tmp_path):
    path = tmp_path / "kaggle.csv"
    RAW.to_csv(path, index=False, encoding="cp1252")
    table = read_online_retail(path)
    assert table.loc[8, "Description"] == "Dotcomgiftshop Gift Voucher £20.00"
    assert table["StockCode"].tolist()[0] == "85123A" and table["InvoiceNo"].tolist()[4] == "C536379"


def test_the_committed_sample_cleans_to_sales_only():
    raw = read_online_retail(settings.DATA_DIR / "online_retail" / "online_retail_sample.csv.gz")
    cleaned = clean_online_retail(raw)
    lines = cleaned.lines
    assert cleaned.dropped["cancelled"] == 682  # as data/README.md counts
    assert not lines["InvoiceNo"].str.startswith("C").any()
    assert (lines["Quantity"] > 0).all() and (lines["UnitPrice"] > 0).all()
    assert is_product_code(lines["StockCode"]).all()
    assert (lines["Description"].dropna() == lines["Description"].dropna().str.strip()).all()
