"""Finding a movie by what a person types: case, accents and MovieLens' "Matrix, The (1999)"
order ignored, partial words allowed, several matches listed with their year (the matching
itself is common.text_match, shared with product search)."""
from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from common.text_match import fold, suggestions, words_start

_YEAR = re.compile(r"\s*\((\d{4})(?:[-–]\d{0,4})?\)\s*$")
_ARTICLE = re.compile(r"^(?P<body>.*), (?P<article>The|A|An|Les|Le|La|L'|Il|Das|Der|Die|El|Los|Las)$")


def display_title(raw: str) -> str:
    """'Matrix, The (1999)' -> 'The Matrix (1999)'; other titles unchanged."""
    raw = str(raw).strip()
    year = _YEAR.search(raw)
    body = raw[: year.start()] if year else raw
    m = _ARTICLE.match(body)
    if m:
        article = m["article"]
        body = f"{article}{'' if article.endswith(chr(39)) else ' '}{m['body']}"
    return f"{body} ({year.group(1)})" if year else body


def year_of(raw: str) -> int | None:
    m = _YEAR.search(str(raw))
    return int(m.group(1)) if m else None


@dataclass
class TitleMatches:
    matches: pd.DataFrame  # movieId, title (display), year, ... best first
    suggestions: list[str]  # closest titles when nothing matched


class TitleIndex:
    """Search over all titles. Built once from movies.csv (movieId, title[, n_ratings])."""

    def __init__(self, movies: pd.DataFrame):
        table = movies.copy()
        table["display"] = table["title"].map(display_title)
        table["year"] = table["title"].map(year_of)
        # Both orders are searchable: "matrix the" and "the matrix" find the same movie.
        table["folded"] = (table["display"].map(fold) + " | " + table["title"].map(fold))
        table["folded_name"] = table["display"].map(lambda t: fold(_YEAR.sub("", t)))
        if "n_ratings" not in table.columns:
            table["n_ratings"] = 0
        self.table = table.reset_index(drop=True)

    def search(self, query: str, limit: int = 10) -> TitleMatches:
        words = fold(query).split()
        if not words:
            return TitleMatches(self.table.iloc[0:0], [])
        found = self.table[words_start(self.table["folded"], query)].copy()
        if found.empty:
            close = suggestions(self.table["folded_name"].tolist(), query)
            return TitleMatches(found, [self.table.loc[i, "display"] for i in close])
        q = " ".join(words)
        # exact name first, then names starting with the query, then by how many people rated them
        found["_exact"] = found["folded_name"] == q
        found["_prefix"] = found["folded_name"].str.startswith(q)
        found = found.sort_values(["_exact", "_prefix", "n_ratings", "year"],
                                  ascending=[False, False, False, True])
        cols = [c for c in ("movieId", "display", "year", "genres", "n_ratings", "mean_rating")
                if c in found.columns]
        out = found[cols].rename(columns={"display": "title"}).head(limit).reset_index(drop=True)
        return TitleMatches(out, [])
