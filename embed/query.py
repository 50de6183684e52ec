"""Search a visual index with a photo: the same model that built the index embeds the query,
and `embed.index` ranks the catalogue. Used by the CLI and the app."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

import settings
from common.errors import ArtifactError
from embed import index as visual_index
from embed.images import ImageSource, load_image, read_image_bytes
from embed.index import VectorIndex
from embed.weights import Weights, WeightsUnavailable, model_identity, parse_weights


def _index_weights(index: VectorIndex, folder: Path, override: str | None) -> Weights:
    """The weights the index was built with, so query and catalogue vectors are comparable."""
    built_with = index.manifest.get("identity", {})
    candidates = [override] if override else [index.manifest.get("weights_source"), None]
    for spec in candidates:
        try:
            weights = parse_weights(spec)
        except WeightsUnavailable:
            continue
        if model_identity(weights, built_with.get("precision", "fp32")) == built_with:
            return weights
    raise ArtifactError(
        f"The index was built with weights {index.manifest.get('weights_source')!r}, which this "
        "machine does not have (or --weights names others); pass the same weights or rebuild the "
        f"index with `{visual_index.REBUILD.format(folder=folder)}`."
    )


@dataclass
class QueryEngine:
    index: VectorIndex
    embedder: object  # embed.model.Embedder (TensorFlow is imported on open)
    weights: Weights

    @classmethod
    def open(cls, folder: Path = settings.DEMO_VISUAL_INDEX, weights: str | None = None) -> "QueryEngine":
        from embed.model import Embedder

        index = visual_index.load(folder)
        chosen = _index_weights(index, Path(folder), weights)
        embedder = Embedder(chosen, index.manifest["identity"]["precision"])
        return cls(index, embedder, chosen)

    def embed(self, source: ImageSource) -> tuple[np.ndarray, str]:
        """The query's vector and its sha256 (to recognise a catalogue product's own file)."""
        data = read_image_bytes(source)
        pixels = load_image(data)
        return self.embedder.embed_batch(pixels[None])[0], hashlib.sha256(data).hexdigest()

    def search(self, source: ImageSource, k: int = settings.TOP_K, *, mask: np.ndarray | None = None,
               include_self: bool = False) -> pd.DataFrame:
        """The k nearest catalogue products to a photo, as a table (rank, id, score, metadata)."""
        vector, digest = self.embed(source)
        exclude = () if include_self else self.same_file_ids(digest)
        return visual_index.search(self.index, vector, k, mask=mask, exclude_ids=exclude)

    def same_file_ids(self, digest: str) -> tuple[str, ...]:
        items = self.index.items
        if "sha256" not in items.columns:
            return ()
        return tuple(items.loc[items["sha256"] == digest, "id"])
