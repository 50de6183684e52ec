"""Finding a title, a product or a customer by what a person types: case and accents ignored,
punctuation read as a space, parts of words and small typos allowed, best match first."""
from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Sequence

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import OSA

# How many typing errors a query word may hold and still match a word of a name. Errors are
# counted as optimal string alignment (rapidfuzz OSA: an insertion, deletion, substitution or
# swap of two neighbouring letters is one), word by word rather than over the whole name: a
# whole-name score (WRatio, partial_ratio) lets a short query match any long name that happens
# to share its letters ("qqqqzzzz" scores 30 against "quiz show"), while a per-word budget keeps
# nonsense out and still forgives "matrx", "amelei" (a swap) and "godfathr". Words of up to 3
# characters must be typed right (one edit turns "tea" into "pea", "the", "sea"...).
# Matcher.suggest, the "did you mean" when nothing matches, allows one error more per word, for
# the same reason: WRatio offered "Go" and Zoolander for "gotfadder", three errors from Godfather.
MAX_WORDS = 8  # words of a query beyond these are ignored (no name is searched by a paragraph)
_NON_WORD = re.compile(r"[^\w]+")


def fold(text: str) -> str:
    """Lower case, accents removed, punctuation to spaces: how names and queries compare."""
    text = str(text)
    if not text.isascii():  # the decomposition is most of the cost; plain ASCII has nothing to strip
        text = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(_NON_WORD.sub(" ", text.casefold()).split())


def typo_budget(word: str) -> int:
    """Typing errors allowed in one query word: none up to 3 characters, 1 up to 7, then 2."""
    return 0 if len(word) <= 3 else 1 if len(word) <= 7 else 2


# A query word's cost against one word of a name: 0 where the name word starts with it, 1 where it
# is inside the name word, EDIT per typing error. Summed over the query's words and kept apart by
# EDIT, so every exact (substring) match ranks before any typo.
# Typos are looked for only when the exact hits are this few: "8512" lists its four ids, not
# those four and 46 ids one digit off.
TYPOS_WHEN_FEWER = 5
_INSIDE, _EDIT, _NONE = 1, 16, np.iinfo(np.int32).max // 64


class Matcher:
    """Search over a fixed list of names (and other spellings of each), built once: the folded
    words are indexed here so one query over 10,000 names takes a few milliseconds.

    `search` finds the entries whose name (or alias) holds every typed word, in any order,
    at a word's start or inside a word ("toy sto", "lante" in "LANTERN", "8512" in "85123A"),
    ranked: exact name, name starting with the query, words matched at their start, then by
    popularity (descending) and name. Only when those are fewer than TYPOS_WHEN_FEWER are typos added,
    after them, ranked by the number of typing errors, then popularity.
    """

    def __init__(self, names: Sequence[str], popularity: Sequence[float] | None = None,
                 aliases: Sequence[Sequence[str]] = ()):
        """`aliases`: other columns to search, each parallel to `names` (an id, another word order);
        a query equal to one counts as exact, but only `names` decide "starts with the query"."""
        self.names = [fold(n) for n in names]
        n = len(self.names)
        columns = [[fold(a) for a in column] for column in aliases]
        if any(len(c) != n for c in columns):
            raise ValueError("every aliases column needs one entry per name")
        pop = np.zeros(n) if popularity is None else np.asarray(popularity, dtype=float)
        if pop.shape != (n,):
            raise ValueError(f"popularity needs one value per name ({n}), got shape {pop.shape}")
        self.popularity = np.nan_to_num(pop, nan=0.0)
        self._exact: dict[str, list[int]] = {}
        vocab: dict[str, int] = {}
        indptr, indices = [0], []
        for i, spellings in enumerate(zip(self.names, *columns)):
            words = set()
            for s in spellings:
                if s:
                    self._exact.setdefault(s, []).append(i)
                    words.update(s.split())
            indices.extend(sorted(vocab.setdefault(w, len(vocab)) for w in words))
            indptr.append(len(indices))
        self._vocab = list(vocab)
        # All words in one string, one a line: a regex scan of it finds a query word inside every
        # vocabulary word at C speed (a Python loop over 15,000 words took most of a query's time).
        self._blob = "\n".join(self._vocab)
        self._word_start = np.cumsum([0] + [len(v) + 1 for v in self._vocab], dtype=np.int64)[:-1]
        self._starts_of: dict[int, tuple[tuple[np.ndarray, np.ndarray], list[str]]] = {}  # see _longer
        self._indptr = np.asarray(indptr, dtype=np.int64)
        self._indices = np.asarray(indices, dtype=np.int64)
        self._has_words = np.diff(self._indptr) > 0
        by_name = sorted(range(n), key=self.names.__getitem__)
        self._sorted_names = [self.names[i] for i in by_name]  # names starting with q: one slice of them
        self._name_rank = np.empty(n, dtype=np.int64)  # alphabetical, the last tie-break
        self._name_rank[by_name] = np.arange(n)

    def __len__(self) -> int:
        return len(self.names)

    def search(self, query: str, limit: int | None = None) -> np.ndarray:
        """Positions of the matching names, best first (at most `limit`); none for an empty query."""
        return self._find(query, limit, typo_budget)

    def suggest(self, query: str, limit: int = 5) -> np.ndarray:
        """As `search` with one typing error more allowed per word: a "did you mean" for when
        `search` finds nothing (a hint, not a match)."""
        return self._find(query, limit, lambda word: typo_budget(word) + 1)

    def _find(self, query: str, limit: int | None, budget) -> np.ndarray:
        q = fold(query)
        words = q.split()[:MAX_WORDS]
        if not words or not len(self) or limit == 0:
            return np.zeros(0, dtype=np.int64)
        costs = [self._lexical_cost(w) for w in words]
        total = self._per_entry(costs)
        if np.count_nonzero(total < _EDIT) < min(limit or TYPOS_WHEN_FEWER, TYPOS_WHEN_FEWER):  # add typos
            last = len(words) - 1
            costs = [np.minimum(c, self._typo_cost(w, budget(w), prefix=i == last))
                     for i, (w, c) in enumerate(zip(words, costs))]
            total = self._per_entry(costs)
        hits = np.flatnonzero(total < _NONE)
        exact = np.isin(hits, self._exact.get(q, []))
        rank = self._name_rank[hits]
        prefix = ((rank >= bisect.bisect_left(self._sorted_names, q))
                  & (rank < bisect.bisect_left(self._sorted_names, q + "\U0010ffff")))
        edits, inside = total[hits] // _EDIT, total[hits] % _EDIT
        order = np.lexsort((rank, -self.popularity[hits], inside, ~prefix, ~exact, edits))
        return hits[order][:limit]

    def _lexical_cost(self, word: str) -> np.ndarray:
        """Per vocabulary word: 0 if it starts with `word`, _INSIDE if it holds it, else _NONE."""
        cost = np.full(len(self._vocab), _NONE, dtype=np.int64)
        # Matches never span a line and the scan finds each word's leftmost one: a start if any.
        at = np.fromiter((m.start() for m in re.finditer(re.escape(word), self._blob)), dtype=np.int64)
        which = np.searchsorted(self._word_start, at, side="right") - 1
        cost[which] = _INSIDE
        cost[which[at == self._word_start[which]]] = 0
        return cost

    def _typo_cost(self, word: str, budget: int, prefix: bool) -> np.ndarray:
        """Per vocabulary word: _EDIT x its OSA distance to `word` within `budget`, else _NONE.
        The query's last word may be unfinished: then a typo in the start of a word counts too."""
        if not budget or not self._vocab:
            return np.full(len(self._vocab), _NONE, dtype=np.int64)
        cost = _within(word, self._vocab, budget)
        if prefix:
            (longer, start), starts = self._longer(len(word))
            if starts:
                cost[longer] = np.minimum(cost[longer], _within(word, starts, budget)[start])
        return cost

    def _longer(self, length: int) -> tuple[tuple[np.ndarray, np.ndarray], list[str]]:
        """The vocabulary words longer than `length`, the index of each one's first `length`
        letters among those starts, and the distinct starts (cached: one list per length typed;
        two sessions filling the same length at once both write the same value)."""
        if length not in self._starts_of:
            words = np.flatnonzero(np.fromiter((len(v) > length for v in self._vocab), dtype=bool,
                                               count=len(self._vocab)))
            starts: dict[str, int] = {}
            start = np.fromiter((starts.setdefault(self._vocab[i][:length], len(starts)) for i in words),
                                dtype=np.int64, count=len(words))
            self._starts_of[length] = ((words, start), list(starts))
        return self._starts_of[length]

    def _per_entry(self, costs: list[np.ndarray]) -> np.ndarray:
        """Each entry's total over the query words of its best word's cost (_NONE or more: no match)."""
        total = np.zeros(len(self), dtype=np.int64)
        starts = self._indptr[:-1][self._has_words]
        for cost in costs:
            best = np.full(len(self), _NONE, dtype=np.int64)
            if len(self._indices):
                best[self._has_words] = np.minimum.reduceat(cost[self._indices], starts)
            total += best
        return np.minimum(total, _NONE)


def _within(word: str, targets: Sequence[str], budget: int) -> np.ndarray:
    """Per target: _EDIT x its OSA distance to `word` where at most `budget`, else _NONE."""
    d = process.cdist([word], targets, scorer=OSA.distance, score_cutoff=budget, dtype=np.int64)[0]
    return np.where(d <= budget, d * _EDIT, _NONE)
