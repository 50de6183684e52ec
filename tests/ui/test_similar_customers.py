"""The Similar customers page through AppTest, on the committed Online Retail sample."""
from __future__ import annotations

import pytest

from tests.ui.pages import open_page

pytestmark = pytest.mark.slow  # runs the Streamlit app


def test_customer_history_neighbours_and_explained_recommendations(app_uses_tiny_index):
    at = open_page("similar_customers")
    first = at.selectbox(key="customer").value
    assert [m.label for m in at.metric] == ["Orders", "Products", "Units", "Spend", "Active"]
    neighbours, recs = at.dataframe[0].value, at.dataframe[1].value
    assert len(neighbours) == 10 and neighbours["similarity"].is_monotonic_decreasing
    assert first not in set(neighbours["neighbour"])
    # EASE, the default, names the customer's products behind each recommendation
    assert len(recs) == 10 and recs["why"].str.match(r"because you bought \S").all()
    assert at.query_params["customer"] == first  # the address bar links to this customer
    at.selectbox(key="model").set_value("user-user").run()  # the neighbours' recommendations instead
    assert not at.exception and at.query_params["model"] == "user-user"
    recs = at.dataframe[1].value
    assert len(recs) == 10 and recs["why"].str.match(r"bought by \d+ of your 30 nearest customers").all()

    other = at.selectbox(key="customer").options[5]
    at.selectbox(key="customer").set_value(other).run()
    assert not at.exception and at.selectbox(key="customer").value == other
    assert not at.dataframe[1].value.equals(recs)
    assert at.query_params["customer"] == other


def test_a_link_opens_that_customer(app_uses_tiny_index):
    first = open_page("similar_customers")
    wanted = first.selectbox(key="customer").options[7]
    at = open_page("similar_customers", customer=wanted)
    assert at.selectbox(key="customer").value == wanted
    assert wanted not in set(at.dataframe[0].value["neighbour"])


def test_a_link_to_an_unknown_customer_opens_the_first_one(app_uses_tiny_index):
    at = open_page("similar_customers", customer="no-such-customer")
    assert at.selectbox(key="customer").value == at.selectbox(key="customer").options[0]
    assert not at.error


def test_a_mistyped_id_still_finds_the_customer(app_uses_tiny_index):
    at = open_page("similar_customers")
    wanted = at.selectbox(key="customer").options[3]
    typo = wanted[:-2] + wanted[-1] + wanted[-2]  # the last two digits swapped
    at.text_input(key="sc_query").set_value(typo if typo != wanted else wanted[:-1]).run()
    assert wanted in at.selectbox(key="customer").options[:5]
    at.selectbox(key="customer").set_value(wanted).run()
    assert not at.error and len(at.dataframe[0].value) == 10
