"""UCI Online Retail: read the raw file and keep only real product sales.

The one reader and the one cleaning of this file, for every recommender that learns from it
(similar products, similar customers, basket rules' demo). The raw
table mixes sales with cancellations (invoices "C..."), returns and stock corrections
(quantity <= 0), postage, fees and vouchers (stock codes POST, DOT, M, BANK CHARGES,
AMAZONFEE, gift_...) and free adjustments (unit price 0: "found", "check", "damaged"). None of
these is a customer choosing a product, so all are dropped. Descriptions are stripped (inner
runs of spaces made one) and each stock code gets one description (its most frequent), as a
code's text varies over time.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from common.errors import require_columns
from common.shop_tables import OrderColumns
from common.tables import read_csv

__all__ = ["COLUMNS", "ORDER_COLUMNS", "cleaned_columns", "NON_PRODUCT_CODES", "NON_PRODUCT_PREFIXES", "CleanedRetail", "read_online_retail",
           "clean_online_retail", "customer_ids", "is_product_code", "product_descriptions"]

COLUMNS = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country"]
ORDER_COLUMNS = OrderColumns(order="InvoiceNo", item="StockCode", customer="CustomerID", quantity="Quantity",
                             price="UnitPrice", date="InvoiceDate", name="Description")
# Stock codes that are not products, found by listing every code that is not 5 digits plus an
# optional letter suffix on the full data: postage (POST, DOT, C2 = carriage), manual entries,
# discounts, samples, bad-debt adjustments, bank and Amazon fees, a charity commission.
NON_PRODUCT_CODES = frozenset({"POST", "DOT", "C2", "M", "D", "S", "B", "BANK CHARGES", "AMAZONFEE", "CRUK"})
NON_PRODUCT_PREFIXES = ("GIFT_",)  # gift vouchers gift_0001_10 ... _50


@dataclass
class CleanedRetail:
    """Product sales only, one description per stock code, and how many rows each rule removed."""

    lines: pd.DataFrame
    dropped: dict[str, int] = field(default_factory=dict)
    invoice_col: str = "InvoiceNo"
    stock_col: str = "StockCode"

    def summary(self) -> dict[str, int]:
        """Counts for a README or a manifest: rows, invoices and products kept, rows dropped per rule."""
        return {"rows_kept": int(len(self.lines)), "invoices": int(self.lines[self.invoice_col].nunique()),
                "products": int(self.lines[self.stock_col].nunique()),
                **{f"dropped_{k}": v for k, v in self.dropped.items()}}


def read_online_retail(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    """The raw CSV (plain or .gz), ids kept as text (stock codes like 85123A, invoice numbers C536379)."""
    dtypes = {"InvoiceNo": str, "StockCode": str, "Description": str, "CustomerID": str, "Country": str}
    return read_csv(path, what="Online Retail", required=columns or (), usecols=columns, dtype=dtypes)


def customer_ids(ids: pd.Series) -> pd.Series:
    """Customer ids as text, stripped; "17850.0" (a float column written out) and "17850" are one customer."""
    return ids.astype("string").str.strip().str.replace(r"\.0$", "", regex=True)


def is_product_code(codes: pd.Series) -> np.ndarray:
    """True where a stock code is a product (not postage, a fee, a voucher, a manual entry)."""
    upper = codes.astype(str).str.strip().str.upper()
    return (~upper.isin(NON_PRODUCT_CODES) & ~upper.str.startswith(NON_PRODUCT_PREFIXES)).to_numpy()


def product_descriptions(codes: pd.Series, descriptions: pd.Series) -> pd.Series:
    """One description per code: its most frequent text, stripped and with single spaces (ties:
    alphabetically first)."""
    text = descriptions.astype("string").str.strip().str.replace(r"\s+", " ", regex=True).replace("", pd.NA)
    frame = pd.DataFrame({"code": codes.to_numpy(), "text": text.to_numpy()}).dropna()
    counts = frame.value_counts(["code", "text"]).rename("n").reset_index()
    counts = counts.sort_values(["code", "n", "text"], ascending=[True, False, True], kind="stable")
    return counts.drop_duplicates("code").set_index("code")["text"].astype(object)


def cleaned_columns(columns: OrderColumns) -> OrderColumns:
    """The columns the cleaning reads: `columns`, with a quantity, price or customer it does not
    name looked for under Online Retail's own names (Quantity, UnitPrice, CustomerID)."""
    return replace(columns, quantity=columns.quantity or ORDER_COLUMNS.quantity,
                   price=columns.price or ORDER_COLUMNS.price, customer=columns.customer or ORDER_COLUMNS.customer)


def clean_online_retail(raw: pd.DataFrame, columns: OrderColumns = ORDER_COLUMNS, *,
                        require_customer: bool = False) -> CleanedRetail:
    """Keep product sales only (see the module docstring); rules are applied in this order.

    `columns` names the order, item, name, customer, quantity and price columns (see
    cleaned_columns for those it does not name). `require_customer` also drops rows without a customer id (needed to learn per
    customer, not to learn from baskets). A price column that is absent is simply not checked.
    """
    columns = cleaned_columns(columns)
    invoice_col, stock_col, description_col = columns.order, columns.item, columns.name
    quantity_col, price_col, customer_col = columns.quantity, columns.price, columns.customer
    needed = [invoice_col, stock_col, quantity_col] + ([customer_col] if require_customer else [])
    require_columns(raw.columns, needed, "Online Retail data", shown=len(raw.columns))
    lines = raw.copy()
    lines[invoice_col] = lines[invoice_col].astype("string").str.strip()
    lines[stock_col] = lines[stock_col].astype("string").str.strip()
    quantity = pd.to_numeric(lines[quantity_col], errors="coerce")
    rules: list[tuple[str, pd.Series]] = [
        ("missing_ids", lines[invoice_col].isna() | lines[stock_col].isna() | (lines[stock_col] == "")),
        ("cancelled", lines[invoice_col].str.upper().str.startswith("C").fillna(False)),
        ("non_positive_quantity", ~(quantity > 0)),
        ("non_product_code", pd.Series(~is_product_code(lines[stock_col].fillna("")), index=lines.index)),
    ]
    if price_col is not None and price_col in lines.columns:
        rules.append(("non_positive_price", ~(pd.to_numeric(lines[price_col], errors="coerce") > 0)))
    if require_customer:
        customer = lines[customer_col].astype("string").str.strip()
        rules.append(("no_customer", customer.isna() | (customer == "")))
    keep = pd.Series(True, index=lines.index)
    dropped = {}
    for name, bad in rules:
        bad = bad.fillna(True).astype(bool) & keep
        dropped[name] = int(bad.sum())
        keep &= ~bad
    lines = lines[keep].copy()
    lines[quantity_col] = quantity[keep]
    if require_customer:
        lines[customer_col] = customer_ids(lines[customer_col])
    if description_col is not None and description_col in lines.columns:
        names = product_descriptions(lines[stock_col], lines[description_col])
        lines[description_col] = lines[stock_col].map(names)
    return CleanedRetail(lines.reset_index(drop=True), dropped, invoice_col, stock_col)
