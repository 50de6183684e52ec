"""Downloads a spreadsheet opens: text that would run as a formula is neutralised, numbers never."""
from __future__ import annotations

import csv
import io

import pandas as pd

from common.exports import FORMATS, FORMULA_STARTS, csv_download, spreadsheet_safe, table_file
from recommend.rules.baskets import read_baskets
from recommend.rules.model import build
from recommend.rules.rules import RULE_COLUMNS


def test_text_that_starts_a_formula_gets_an_apostrophe_and_numbers_stay():
    table = pd.DataFrame({
        "name": ["=HYPERLINK(\"http://x\")", "+1 offer", "-5% SALE", "@SUM(A1)", "\tTAB", "\rCR", "plain", None],
        "score": [-1.5, 2.0, -3.0, 0.0, 1.0, 2.0, 3.0, 4.0],
        "count": [-1, 2, 3, 4, 5, 6, 7, 8],
    })
    safe = spreadsheet_safe(table)
    assert safe["name"].tolist()[:6] == ["'" + v for v in table["name"][:6]]
    assert safe["name"].tolist()[6] == "plain" and safe["name"].isna().tolist()[7]
    pd.testing.assert_series_equal(safe["score"], table["score"])
    pd.testing.assert_series_equal(safe["count"], table["count"])
    assert table["name"][0].startswith("=")  # the caller's table is not changed
    rows = list(csv.reader(io.StringIO(csv_download(table), newline="")))
    assert rows[1][:2] == ["'=HYPERLINK(\"http://x\")", "-1.5"]
    assert not any(cell.startswith(FORMULA_STARTS) for row in rows[1:] for cell in row[:1])


def test_rules_from_a_hostile_basket_file_download_safely():
    lines = ["=cmd|' /C calc'!A0,tea", "=cmd|' /C calc'!A0,tea", "tea,cake", "=cmd|' /C calc'!A0,tea,cake"] * 5
    baskets = read_baskets(("\n".join(lines) + "\n").encode(), "wide", name="hostile.csv")
    rules = build(baskets, min_support=0.1, min_confidence=0.1, min_lift=0.5).rules
    assert rules["antecedents"].str.startswith("=").any()  # the raw rules keep the real name
    text = csv_download(rules[RULE_COLUMNS])
    for row in list(csv.DictReader(io.StringIO(text))):
        assert not row["antecedents"].startswith("=") and not row["consequents"].startswith("=")
    assert "'=cmd" in text


def test_every_download_format_gives_the_table_back():
    table = pd.DataFrame({"item": ["0815", "=EVIL()", "Crème brûlée"], "score": [0.5, -1.0, 2.25], "rank": [1, 2, 3]})
    back = {
        "CSV": pd.read_csv(io.BytesIO(table_file(table, "CSV")), dtype={"item": str}, encoding="utf-8-sig"),
        "JSON": pd.read_json(io.BytesIO(table_file(table, "JSON")), dtype={"item": str}),
        "Parquet": pd.read_parquet(io.BytesIO(table_file(table, "Parquet"))),
    }
    assert set(back) == set(FORMATS)
    assert table_file(table, "CSV").startswith(b"\xef\xbb\xbf")  # a BOM: Excel reads the accents
    assert back["CSV"]["item"].tolist() == ["0815", "'=EVIL()", "Crème brûlée"]  # a spreadsheet opens it
    for fmt in ("JSON", "Parquet"):  # files for programs keep the names as they are
        assert back[fmt]["item"].tolist() == table["item"].tolist(), fmt
    for frame in back.values():
        assert frame["score"].tolist() == [0.5, -1.0, 2.25] and frame["rank"].tolist() == [1, 2, 3]
