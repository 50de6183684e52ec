"""The Basket rules tab, driven through Streamlit's AppTest on a script that renders only this tab."""
from __future__ import annotations

import gzip
import json

import pytest
from streamlit.testing.v1 import AppTest

from recommend.rules import defaults
from shop.demos import DEFAULTS
from ui.basket_rules import UPLOAD

pytestmark = pytest.mark.slow  # runs the Streamlit app

SCRIPT = "from ui.basket_rules import render\nrender()\n"
MBO_NAME = DEFAULTS["basket_rules"]  # the page opens on the groceries


def start() -> AppTest:
    at = AppTest.from_string(SCRIPT, default_timeout=60)
    at.run()
    assert_fine(at)
    return at


def assert_fine(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def by_label(widgets, label: str):
    found = [w for w in widgets if w.label == label]
    assert len(found) == 1, [w.label for w in widgets]
    return found[0]


def shown_next_to(at: AppTest) -> list[str]:
    return [m.value.strip("*").split(". ", 1)[1] for m in at.markdown
            if m.value.startswith("**") and ". " in m.value]


def upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.selectbox(key="dataset").set_value(UPLOAD).run()
    assert_fine(at)
    at.file_uploader(key="br_upload").set_value((name, data, "text/csv")).run()
    assert_fine(at)
    return at


def test_demo_baskets_give_the_seeds_217_rules_table_chart_lookup_and_downloads():
    at = start()
    assert not at.error
    assert at.selectbox(key="dataset").value == MBO_NAME
    m = metrics(at)
    assert (m["Baskets"], m["Items"], m["Frequent itemsets"], m["Rules"]) == ("7,501", "119", "842", "217")
    table = at.dataframe[0].value
    assert table.shape == (217, 7)
    assert list(table.columns[:2]) == ["antecedents", "consequents"]
    assert table["lift"].is_monotonic_decreasing
    charts = at.get("vega_lite_chart")
    assert len(charts) == 1
    encoding = json.loads(charts[0].proto.spec)["encoding"]
    assert (encoding["x"]["field"], encoding["y"]["field"], encoding["color"]["field"]) == (
        "support", "confidence", "lift")
    assert {"antecedents", "consequents", "lift"} <= {t["field"] for t in encoding["tooltip"]}
    labels = [b.label for b in at.get("download_button")]
    assert labels == ["CSV", "JSON", "Parquet", "Download the lookup the shop serves (JSON)"]
    assert "Download all 217 rules:" in [c.value for c in at.caption]
    assert len(shown_next_to(at)) == 3


def test_narrowing_the_rules_to_an_item_on_either_side():
    at = start()
    at.selectbox(key="br_filter_item").set_value("ground beef").run()
    assert_fine(at)
    either = at.dataframe[0].value
    assert 0 < len(either) < 217
    assert all("ground beef" in f"{a} | {c}".split(" | ") for a, c in zip(either["antecedents"], either["consequents"]))
    at.radio(key="br_filter_side").set_value("right (then also)").run()
    right = at.dataframe[0].value
    assert 0 < len(right) < len(either)
    assert set(right["consequents"].str.split(" | ", regex=False).map(lambda x: "ground beef" in x)) == {True}


def test_thresholds_change_the_rules():
    at = start()
    lift = by_label(at.slider, "Min lift")
    lift.set_value(3.0).run()
    assert_fine(at)
    rules = at.dataframe[0].value
    assert 0 < len(rules) < 217 and (rules["lift"] >= 3).all()
    assert metrics(at)["Rules"] == f"{len(rules):,}"
    by_label(at.slider, "Max items in a rule (both sides)").set_value(2).run()
    assert (at.dataframe[0].value["antecedents"].str.contains(" | ", regex=False)).sum() == 0


def test_thresholds_that_explode_give_one_line_naming_min_support(monkeypatch):
    monkeypatch.setattr(defaults, "MAX_ITEMSETS", 5_000)  # the original notebook's thresholds: 842 (3,349 counted)
    at = start()
    assert not at.error and metrics(at)["Rules"] == "217"
    by_label(at.select_slider, "Min support (share of baskets)").set_value(0.001).run()
    assert_fine(at)
    assert len(at.error) == 1
    message = at.error[0].value
    assert "raise min_support" in message and "\n" not in message
    assert not at.dataframe


def test_a_link_opens_that_data_set_and_item():
    at = AppTest.from_string(SCRIPT, default_timeout=60)
    at.query_params.update({"dataset": "groceries", "item": "pasta"})
    at.run()
    assert_fine(at)
    assert at.selectbox(key="dataset").value == "groceries" and at.selectbox(key="item").value == "pasta"
    assert shown_next_to(at) == ["escalope", "shrimp", "mineral water"]
    at.selectbox(key="item").set_value("mineral water").run()
    assert at.query_params["item"] == "mineral water"  # the address bar follows


def test_what_to_show_next_to_an_item():
    at = start()
    at.selectbox(key="item").set_value("pasta").run()
    assert_fine(at)
    assert shown_next_to(at) == ["escalope", "shrimp", "mineral water"]
    captions = " ".join(c.value for c in at.caption)
    assert "rule pasta → escalope: lift 4.70" in captions and "best seller, in 1,788 baskets" in captions
    at.selectbox(key="item").set_value("mineral water").run()
    assert shown_next_to(at) == ["eggs", "spaghetti", "french fries"]


def test_the_other_demo_data_sets_are_read_as_long_files():
    at = start()
    at.selectbox(key="dataset").set_value("online_retail").run()
    assert_fine(at)
    assert not at.error
    assert metrics(at)["Baskets"] == "1,604"
    assert len(at.dataframe[0].value) > 0
    at.selectbox(key="dataset").set_value("superstore").run()
    assert not at.error
    assert metrics(at)["Items"] == "17"


def test_upload_of_a_wide_file():
    lines = ["tea,cake,", "tea,cake,jam", "tea,cake", "jam,bread", "jam,bread", "bread"] * 5
    at = upload(start(), "mine.csv", ("\n".join(lines) + "\n").encode())
    assert not at.error
    assert by_label(at.radio, "Shape").value == "wide"
    m = metrics(at)
    assert (m["Baskets"], m["Items"]) == ("30", "4")
    at.selectbox(key="item").set_value("tea").run()
    assert shown_next_to(at)[0] == "cake"


def test_upload_of_a_long_gzip_file_guesses_its_columns():
    rows = ["InvoiceNo,Description,Quantity,UnitPrice"]
    rows += [f"{o},{item},1,2.5" for o in range(20) for item in (["TEA", "CAKE"] if o % 2 else ["JAM"])]
    rows += ["C1,TEA,-1,2.5"]
    at = upload(start(), "orders.csv.gz", gzip.compress(("\n".join(rows) + "\n").encode()))
    assert not at.error
    assert by_label(at.radio, "Shape").value == "long"
    assert by_label(at.selectbox, "Order column").value == "InvoiceNo"
    assert by_label(at.selectbox, "Item column").value == "Description"
    assert by_label(at.selectbox, "Quantity column").value == "Quantity"
    assert metrics(at)["Baskets"] == "20"


def test_an_upload_is_mapped_as_every_page_maps_orders():
    rows = ["Customer ID;Order ID;Product ID;Product Name;Qty"]
    rows += [f"C{o % 3};O{o};P{i};{item};1" for o in range(12) for i, item in enumerate(["TEA", "CAKE"])]
    at = upload(start(), "export.csv", ("\n".join(rows) + "\n").encode())
    assert not at.error
    assert by_label(at.selectbox, "Order column").value == "Order ID"  # not the customer, listed first
    assert by_label(at.selectbox, "Item column").value == "Product Name"
    assert by_label(at.selectbox, "Quantity column").value == "Qty"
    assert metrics(at)["Baskets"] == "12"


@pytest.mark.parametrize("name, data, expected", [
    ("photo.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "not a text CSV file"),
    ("empty.csv", b"", "is empty"),
    ("broken.csv.gz", b"\x1f\x8bnot really gzip", "damaged gzip"),
    ("blank.csv", b",,,\n,,,\n", "holds no items"),
])
def test_a_bad_upload_gets_one_error_line_and_no_traceback(name, data, expected):
    at = upload(start(), name, data)
    assert len(at.error) == 1
    assert expected in at.error[0].value and "\n" not in at.error[0].value
    assert not at.dataframe


def test_a_long_upload_with_the_wrong_columns_says_so():
    data = b"order,item,qty\n1,tea,1\n1,cake,1\n2,tea,1\n"
    at = upload(start(), "orders.csv", data)
    assert by_label(at.radio, "Shape").value == "long"
    by_label(at.selectbox, "Item column").set_value("order").run()
    assert_fine(at)
    assert len(at.error) == 1 and "both 'order'" in at.error[0].value
    by_label(at.selectbox, "Item column").set_value("item").run()
    by_label(at.selectbox, "Quantity column").set_value("item").run()
    assert len(at.error) == 1 and "holds no numbers" in at.error[0].value


def test_a_small_upload_opens_on_a_min_support_that_finds_rules():
    import numpy as np

    from recommend.rules.baskets import read_baskets
    from recommend.rules.model import SUPPORT_STEPS, WANTED_RULES, build

    rng = np.random.default_rng(7)
    lines = []
    for _ in range(150):  # 150 baskets: pairs that go together, and noise
        basket = set(rng.choice([f"noise{i}" for i in range(40)], size=rng.integers(1, 4)).tolist())
        for a, b in (("tea", "cake"), ("jam", "bread"), ("pen", "paper"), ("soap", "towel"), ("gin", "tonic")):
            if rng.random() < 0.25:
                basket |= {a, b}
        lines.append(",".join(sorted(basket)))
    data = ("\n".join(lines) + "\n").encode()
    at = upload(start(), "small.csv", data)
    assert not at.error
    support = by_label(at.select_slider, "Min support (share of baskets)").value
    assert support != defaults.MIN_SUPPORT  # not the notebook's 7,501-basket default
    assert int(metrics(at)["Rules"].replace(",", "")) >= 1
    note = " ".join(c.value for c in at.caption)
    assert f"Min support starts at {support:g}" in note
    baskets = read_baskets(data, "wide", name="small.csv")
    rules = build(baskets, min_support=support, max_length=3).manifest["rules"]
    higher = SUPPORT_STEPS[SUPPORT_STEPS.index(support) - 1]
    assert rules >= WANTED_RULES > build(baskets, min_support=higher, max_length=3).manifest["rules"]
