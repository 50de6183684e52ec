"""The one shape every recommender and the visual index honour, written as code.

Each of recommend/rules, recommend/similar_products, recommend/similar_customers,
recommend/similar_movies (their model.py) and embed/index.py is a module that satisfies `Part`
(a module can satisfy a Protocol, PEP 544): build a result from a table, write it as an artifact
folder, load it back, and answer one query. tests/test_contract.py checks every signature and the
behaviour behind it.

An answer is a table, best first, whose first three columns are ANSWER_COLUMNS:
    rank   1, 2, ...
    id     what is recommended (an item, a product, a customer's product, a movie), as text
    score  how strongly (a lift, a similarity, EASE's weight): higher is better
and then the part's own documented columns. A query is text (ids come from links, the API and
the command line): the recommender reads it as its ids are keyed, and an id it has never seen is
an InputError. k=None answers with the whole list (the visual index: settings.TOP_K).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import pandas as pd

ANSWER_COLUMNS = ("rank", "id", "score")


@runtime_checkable
class Part(Protocol):
    KIND: str  # the artifact's kind, in its manifest
    FORMAT_VERSION: int  # bumped when a folder written before can no longer be read

    def build(self, table: Any, /, *args: Any, **options: Any) -> Any:
        """The result from a table (order lines, baskets, ratings, vectors and items)."""

    def write(self, result: Any, out: Path, inputs: dict | None = None, rebuild: str | None = None) -> Path:
        """The result as an artifact folder, written whole or not at all."""

    def load(self, folder: Path) -> Any:
        """The result back from its folder; ArtifactError naming the rebuild command otherwise."""

    def answer(self, result: Any, query: str, k: int | None = None) -> pd.DataFrame:
        """One query's answer: ANSWER_COLUMNS, then the part's own columns."""
