"""The Similar customers tab through AppTest, on the committed Online Retail sample."""
from __future__ import annotations


import pytest
from streamlit.testing.v1 import AppTest
from tests.helpers import APP

pytestmark = pytest.mark.slow  # runs the Streamlit app



def test_customer_history_neighbours_and_explained_recommendations(app_uses_tiny_index):
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    tab = at.tabs[3]
    first = tab.selectbox(key="sc_customer").value
    assert [m.label for m in tab.metric] == ["Invoices", "Products", "Units", "Spend", "Active"]
    neighbours, recs = tab.dataframe[0].value, tab.dataframe[1].value
    assert len(neighbours) == 10 and neighbours["similarity"].is_monotonic_decreasing
    assert first not in set(neighbours["neighbour"])
    assert len(recs) == 10 and recs["why"].str.match(r"bought by \d+ of your 30 nearest customers").all()

    other = tab.selectbox(key="sc_customer").options[5]
    at.selectbox(key="sc_customer").set_value(other).run()
    tab = at.tabs[3]
    assert not at.exception and tab.selectbox(key="sc_customer").value == other
    assert not tab.dataframe[1].value.equals(recs)
