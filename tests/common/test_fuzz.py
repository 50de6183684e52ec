"""Thousands of mutated inputs into the image decoder and the table readers: every outcome is a
result or a one-line user error (InputError), never another exception. Derandomised, with a
fixed number of examples, so CI runs the same cases every time."""
from __future__ import annotations

import gzip

import numpy as np
from hypothesis import HealthCheck, event, given, settings, strategies as st

from common.errors import InputError
from common.tables import read_csv
from embed.images import load_image
from common.shop_tables import OrderColumns
from recommend.rules.baskets import Baskets, read_baskets
from tests.helpers import encode, product_picture

FUZZ = settings(max_examples=1500, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

PICTURES = [encode(product_picture(1, (64, 48)), "JPEG"), encode(product_picture(2, (40, 40)), "PNG"),
            encode(product_picture(3, (32, 20)), "WEBP"), encode(product_picture(4, (16, 16)), "GIF")]
TABLES = [
    "InvoiceNo,StockCode,Description,Quantity\n536365,A1,Café crème,2\n536365,B2,\"Tea, green\",1\n536366,A1,Mug,-1\n",
    "order;item;qty\n1;tea;1\n1;cake;2\n2;tea;1\n",
    "milk,bread,eggs\nbread\nmilk,eggs,,,\n",
]


def mutated(base: bytes, edits, cut: int | None) -> bytes:
    data = bytearray(base)
    for position, value in edits:
        if data:
            data[position % len(data)] = value
    data = bytes(data)
    return data[:cut] if cut is not None else data


EDITS = st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=8)
CUTS = st.one_of(st.none(), st.integers(0, 4000))


def outcome_of(call) -> str:
    try:
        call()
    except InputError as exc:
        assert "\n" not in str(exc), str(exc)  # one line
        event("a user error")  # --hypothesis-show-statistics shows how often each ending came
        return "error"
    event("a result")
    return "result"


@FUZZ
@given(base=st.sampled_from(PICTURES), edits=EDITS, cut=CUTS)
def test_the_image_decoder_returns_pixels_or_a_user_error(base, edits, cut):
    def call():
        pixels = load_image(mutated(base, edits, cut))
        assert pixels.shape == (224, 224, 3) and pixels.dtype == np.uint8
        return pixels

    outcome_of(call)


@FUZZ
@given(base=st.sampled_from(TABLES), encoding=st.sampled_from(["utf-8", "latin-1", "utf-16"]),
       edits=EDITS, cut=CUTS, zipped=st.booleans(), fmt=st.sampled_from([None, "wide", "long"]))
def test_the_table_readers_return_a_table_or_a_user_error(base, encoding, edits, cut, zipped, fmt):
    data = mutated(base.encode(encoding, errors="replace"), edits, cut)
    data = gzip.compress(data) if zipped else data

    def as_table():
        return read_csv(data, name="upload.csv")

    def as_baskets():
        columns = OrderColumns(order="InvoiceNo", item="Description", quantity="Quantity") if fmt == "long" else None
        baskets = read_baskets(data, fmt, columns, name="upload.csv")
        assert isinstance(baskets, Baskets) and baskets.n_baskets > 0
        return baskets

    outcome_of(as_table)
    outcome_of(as_baskets)
