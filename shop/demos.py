"""The demo data sets, listed once: what each is called, which parts it offers, and how each part
reads its committed file (data/README.md says where each comes from).

Every consumer (the app's pickers, the API's `?dataset=`, `python -m recommend evaluate`) lists
and opens them through shop.registry; nothing above this file names a demo set. File paths are
read from settings at call time (tests and a shop's own catalogue move them).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import settings
from recommend.rules import defaults as rules_defaults
from common.shop_tables import OrderColumns
from recommend.datasets.online_retail import ORDER_COLUMNS as ONLINE_RETAIL

# Superstore's Sales is a line's total, not a unit price: no price column.
SUPERSTORE = OrderColumns(order="Order ID", item="Product ID", customer="Customer ID", quantity="Quantity",
                          date="Order Date", name="Product Name", categories=("Sub-Category", "Category"))


@dataclass(frozen=True)
class Baskets:
    """How the Basket rules part reads a demo file, and thresholds that suit its size."""

    file: str  # a settings attribute: the path is read when it is opened
    format: str  # wide (one basket a line) or long (one order line a row)
    columns: OrderColumns | None = None  # a long file's order, item (what the rules show) and quantity
    min_support: float = rules_defaults.MIN_SUPPORT
    min_confidence: float = rules_defaults.MIN_CONFIDENCE
    min_lift: float = rules_defaults.MIN_LIFT
    built: str | None = None  # where `python -m recommend rules` writes it with these defaults, if it does

    @property
    def path(self) -> Path:
        return Path(getattr(settings, self.file))

    @property
    def default_thresholds(self) -> bool:
        return (self.min_support, self.min_confidence, self.min_lift) == (
            rules_defaults.MIN_SUPPORT, rules_defaults.MIN_CONFIDENCE, rules_defaults.MIN_LIFT)


@dataclass(frozen=True)
class Demo:
    name: str  # the link's ?dataset= and the artifacts' folder name
    label: str  # what a picker shows
    file: str  # the settings attribute of its main file
    baskets: Baskets | None = None  # basket_rules
    orders: OrderColumns | None = None  # similar_products
    cleaning: str = "none"  # similar_products' --clean (recommend.similar_products.model.CLEANINGS)
    purchases: OrderColumns | None = None  # similar_customers (its price column: a customer's spend)
    ratings: str | None = None  # similar_movies: the settings attribute of the items (movies) file
    catalogue: tuple[str, str] | None = None  # visual_index: settings attributes of the pictures and the table
    example: str | None = None  # what a search box opens on
    notes: dict[str, str] = field(default_factory=dict)  # a caption per part

    @property
    def path(self) -> Path:
        return Path(getattr(settings, self.file))

    @property
    def parts(self) -> tuple[str, ...]:
        has = {"basket_rules": self.baskets, "similar_products": self.orders, "similar_customers": self.purchases,
               "similar_movies": self.ratings, "visual_index": self.catalogue}
        return tuple(part for part, spec in has.items() if spec is not None)


DEMOS: dict[str, Demo] = {demo.name: demo for demo in (
    Demo("groceries", "Groceries: Market Basket Optimisation (7,501 baskets)", "DEMO_BASKETS",
         baskets=Baskets("DEMO_BASKETS", "wide", built="basket_rules")),
    Demo("online_retail", "Online Retail (UCI sample: invoices of 400 customers)", "DEMO_ONLINE_RETAIL",
         baskets=Baskets("DEMO_ONLINE_RETAIL", "long", OrderColumns(order="InvoiceNo", item="Description",
                                                                    quantity="Quantity"),
                         min_support=0.01, min_confidence=0.5, min_lift=5.0),
         orders=ONLINE_RETAIL, cleaning="online-retail", purchases=ONLINE_RETAIL),
    Demo("superstore", "Superstore (Tableau sample, 2,500 orders)", "DEMO_SUPERSTORE",
         baskets=Baskets("DEMO_SUPERSTORE", "long", OrderColumns(order="Order ID", item="Sub-Category",
                                                                 quantity="Quantity"),
                         min_support=0.005, min_confidence=0.05, min_lift=1.2),
         orders=SUPERSTORE,
         notes={"similar_products": "Superstore is Tableau's fictional sample: its orders combine products at "
                                    "random, so co-occurrence scores at the random level here. Real baskets "
                                    "(Online Retail) are checked by the offline evaluation."}),
    Demo("movielens", "MovieLens sample (610 users, the 1,500 most-rated movies)", "DEMO_MOVIELENS_RATINGS",
         ratings="DEMO_MOVIELENS_MOVIES", example="Toy Story"),
    Demo("fashion", "Fashion product images (the demo catalogue)", "DEMO_FASHION_CATALOGUE",
         catalogue=("DEMO_FASHION_IMAGES", "DEMO_FASHION_CATALOGUE")),
)}

# The demo set each part opens on when none is asked for (the app's pages, the API's endpoints).
DEFAULTS = {"basket_rules": "groceries", "similar_products": "superstore", "similar_customers": "online_retail",
            "similar_movies": "movielens", "visual_index": "fashion"}
