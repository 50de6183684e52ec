"""Finding a movie by what a person types: case, accents and MovieLens' "Matrix, The (1999)"
order ignored, partial words allowed, several matches listed with their year."""
from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass

import pandas as pd

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


def fold(text: str) -> str:
    """Lower case, accents removed, punctuation to spaces: how titles and queries compare."""
    text = unicodedata.normalize("NFKD", str(text))
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    return " ".join(re.sub(r"[^\w]+", " ", text).split())


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
        hit = pd.Series(True, index=self.table.index)
        for w in words:  # every typed word must start a word of the title ("toy sto" finds Toy Story)
            hit &= self.table["folded"].str.contains(rf"(?:^|\s){re.escape(w)}", regex=True)
        found = self.table[hit].copy()
        if found.empty:
            names = self.table["folded_name"].tolist()
            close = difflib.get_close_matches(" ".join(words), names, n=5, cutoff=0.5)
            suggestions = [self.table.loc[names.index(c), "display"] for c in close]
            return TitleMatches(found, suggestions)
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
