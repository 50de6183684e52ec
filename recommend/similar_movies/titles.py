"""Finding a movie by what a person types: case, accents and MovieLens' "Matrix, The (1999)"
order ignored, partial words and typos allowed, several matches listed with their year (the
matching itself is common.text_match.Matcher, shared with product and customer search)."""
from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from common.text_match import Matcher

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
    matches: pd.DataFrame  # movieId, title (display), year, genres, n_ratings, mean_rating: best first
    suggestions: list[str]  # looser guesses, only when nothing (not even a typo) matched


class TitleIndex:
    """Search over all titles. Built once from movies.csv (movieId, title[, n_ratings])."""

    def __init__(self, movies: pd.DataFrame):
        table = movies.copy()
        table["display"] = table["title"].map(display_title)
        table["year"] = table["title"].map(year_of)
        if "n_ratings" not in table.columns:
            table["n_ratings"] = 0
        self.table = table.reset_index(drop=True)
        # The name without its year decides "exact" and "starts with"; the displayed and the raw
        # title are searched too, so "matrix the", "the matrix" and "matrix 1999" find the same movie.
        self.matcher = Matcher([_YEAR.sub("", t) for t in self.table["display"]], self.table["n_ratings"],
                               aliases=[self.table["display"].tolist(), self.table["title"].astype(str).tolist()])

    def search(self, query: str, limit: int = 10) -> TitleMatches:
        found = self.table.iloc[self.matcher.search(query, limit)]
        cols = [c for c in ("movieId", "display", "year", "genres", "n_ratings", "mean_rating") if c in found.columns]
        out = found[cols].rename(columns={"display": "title"}).reset_index(drop=True)
        close = [] if len(out) else [self.table.at[i, "display"] for i in self.matcher.suggest(query)]
        return TitleMatches(out, close)
