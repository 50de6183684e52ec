"""Finding a product or a title by what a person types: case and accents ignored, punctuation
read as a space, several matches allowed, close spellings suggested when nothing matches."""
from __future__ import annotations

import difflib
import re
import unicodedata

import numpy as np
import pandas as pd


def fold(text: str) -> str:
    """Lower case, accents removed, punctuation to spaces: how names and queries compare."""
    text = unicodedata.normalize("NFKD", str(text))
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    return " ".join(re.sub(r"[^\w]+", " ", text).split())


def contains(names: pd.Series, query: str) -> np.ndarray:
    """True where the folded name holds the folded query anywhere ("lante" finds "LANTERN")."""
    q = fold(query)
    if not q:
        return np.zeros(len(names), dtype=bool)
    return names.map(fold).str.contains(q, regex=False).to_numpy(dtype=bool)


def words_start(folded: pd.Series, query: str) -> np.ndarray:
    """True where every typed word starts a word of the (already folded) name ("toy sto")."""
    hit = np.ones(len(folded), dtype=bool)
    for word in fold(query).split():
        hit &= folded.str.contains(rf"(?:^|\s){re.escape(word)}", regex=True).to_numpy(dtype=bool)
    return hit


def suggestions(folded_names: list[str], query: str, n: int = 5) -> list[int]:
    """Positions of the names closest to the query (a typo), best first."""
    close = difflib.get_close_matches(fold(query), folded_names, n=n, cutoff=0.5)
    return [folded_names.index(c) for c in close]
