"""Search a visual index with a photo: the same model that built the index embeds the query,
and `embed.index` ranks the catalogue. Used by the CLI, the app and the API; the forward passes of
queries that arrive together are batched (embed/batcher.py).

An upload is decoded once (`QueryEngine.photo`): the same decoded picture gives the model's
input and the picture the page shows, so whatever the model could read, the browser can show.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Callable
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

import settings
from common.errors import ArtifactError
from embed import index as visual_index
from embed.batcher import Batcher
from embed.images import ImageSource, decode, display_picture, model_input, read_image_bytes
from embed.index import VectorIndex
from embed.weights import (MODEL_PRECISIONS, Weights, WeightsUnavailable, check_precision, model_identity,
                           parse_weights)


def _index_weights(index: VectorIndex, folder: Path, override: str | None) -> Weights:
    """The weights the index was built with, so query and catalogue vectors are comparable."""
    built_with = index.manifest.get("identity", {})
    candidates = [override] if override else [index.manifest.get("weights_source"), None]
    for spec in candidates:
        try:
            weights = parse_weights(spec)
        except WeightsUnavailable:
            continue
        if model_identity(weights, built_with.get("precision", "fp32")) == {
                k: v for k, v in built_with.items() if k != "calibration"}:
            return weights
    raise ArtifactError(
        f"The index was built with weights {index.manifest.get('weights_source')!r}, which this "
        "machine does not have (or --weights names others); pass the same weights or rebuild the "
        f"index with `{visual_index.REBUILD.format(folder=folder)}`."
    )


@dataclass(frozen=True)
class QueryPhoto:
    """A shopper's photo, decoded once: what the page needs to search with it and to show it."""

    vector: np.ndarray  # (dims,) unit vector, as `QueryEngine.embed` gives for the same bytes
    digest: str  # sha256 of the bytes, to recognise a catalogue product's own file
    picture: bytes  # `embed.images.display_picture`: a JPEG any browser shows, upright, 8-bit RGB
    size: tuple[int, int]  # (width, height) as decoded (a big JPEG at reduced scale), upright


@dataclass
class QueryEngine:
    index: VectorIndex
    embedder: object  # embed.model.Embedder (TensorFlow is imported on open)
    weights: Weights
    batcher: Batcher | None = None  # every query's forward pass goes through it (one per engine)
    _memo: dict = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self):
        if self.batcher is None:
            self.batcher = Batcher(self.embedder.embed_batch)

    def memo(self, key, make: Callable[[], Any]) -> Any:
        """What is derived from this engine's index (filter values, a product's picture), made once:
        an engine's index never changes (a rebuild opens a new engine), so a page's rerun need not
        compute it again."""
        try:
            return self._memo[key]
        except KeyError:
            return self._memo.setdefault(key, make())

    def values(self, column: str) -> list[str]:
        """The distinct values of a metadata column, sorted (a filter's choices)."""
        return self.memo(("values", column),
                         lambda: sorted(self.index.items[column].dropna().astype(str).unique()))

    @classmethod
    def open(cls, folder: Path = settings.DEMO_VISUAL_INDEX, weights: str | None = None,
             precision: str | None = None, max_batch: int | None = None) -> "QueryEngine":
        """The index at `folder` with the model it was built with (its weights, unless `weights`
        names the same ones elsewhere, and its precision: `precision`, if given, must be it).
        Queries are batched (embed/batcher.py) up to `max_batch` photos a pass (default
        settings.VISUAL_BATCH_MAX; 1: one pass per photo)."""
        index = visual_index.load(folder)
        identity = index.manifest["identity"]
        built = identity["precision"]
        if precision is not None and check_precision(precision, MODEL_PRECISIONS) != built:
            raise ArtifactError(
                f"The index at {folder} holds {built} vectors; a query embedded in {precision} would not be "
                f"comparable with them. Search it in {built} (leave out --precision), or rebuild it with "
                f"`python -m embed build --precision {precision} --out {folder}`.")
        chosen = _index_weights(index, Path(folder), weights)
        if built == "int8":
            from embed import int8

            embedder = int8.Int8Embedder(chosen, int8.folder_for(chosen, identity["calibration"]))
        else:
            from embed.model import Embedder

            embedder = Embedder(chosen, built)
        return cls(index, embedder, chosen, Batcher(embedder.embed_batch, max_batch=max_batch))

    def embed(self, source: ImageSource) -> tuple[np.ndarray, str]:
        """The query's vector and its sha256 (to recognise a catalogue product's own file)."""
        data = read_image_bytes(source)
        return self.embed_picture(decode(data, draft=settings.IMAGE_SIZE)), hashlib.sha256(data).hexdigest()

    def embed_picture(self, img: Image.Image) -> np.ndarray:
        """The vector of an already decoded picture (`embed.images.decode`), from a forward pass
        shared with the photos that wait beside it (Busy when too many wait)."""
        return self.batcher.embed(model_input(img))

    def photo(self, source: ImageSource, max_side: int = 640) -> QueryPhoto:
        """Read and decode a photo once, for its vector and the picture to show; ImageError if
        it is not a picture. A big JPEG is drafted to the model's size, as `load_image` does, so
        the vector is the one the CLI and the catalogue build compute for the same file; that
        still leaves at least 224 px on the shorter side to show (the longer side is cut to
        `max_side`), plenty for the query's column."""
        data = read_image_bytes(source)
        img = decode(data, draft=settings.IMAGE_SIZE)
        return QueryPhoto(self.embed_picture(img), hashlib.sha256(data).hexdigest(),
                          display_picture(img, max_side), img.size)

    def search(self, source: ImageSource, k: int = settings.TOP_K, *, mask: np.ndarray | None = None,
               include_self: bool = False) -> pd.DataFrame:
        """The k nearest catalogue products to a photo, as a table (rank, id, score, metadata)."""
        vector, digest = self.embed(source)
        exclude = () if include_self else self.same_file_ids(digest)
        return visual_index.search(self.index, vector, k, mask=mask, exclude_ids=exclude)

    def same_file_ids(self, digest: str) -> tuple[str, ...]:
        """The products whose picture is this very file (by its sha256)."""
        def by_digest() -> dict[str, tuple[str, ...]]:
            items = self.index.items
            if "sha256" not in items.columns:
                return {}
            return {d: tuple(group["id"]) for d, group in items.groupby("sha256", sort=False)}

        return self.memo("digests", by_digest).get(digest, ())
