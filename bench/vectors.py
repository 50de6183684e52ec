"""Synthetic catalogue vectors for the visual-index benchmarks, made in chunks (a million 2048-dim
rows is 8 GB: never all in memory at once), and a few statistics to compare them with real ones.

Two generators, both non-negative, clustered and L2-normalised, both seeded:
- `Like(real)`: drawn to look like real embeddings (the fashion catalogue's, `python -m embed build
  --images ../shared/datasets/fashion/images --weights none`): each synthetic product is a real
  product's vector plus Gaussian noise with the real vectors' own covariance (their top principal
  components and an isotropic rest), scaled so that a product's nearest neighbour is about as close
  as in the real catalogue; clipped at 0. A million products then sit around the 9,583 real ones.
- `Clustered()`: when no real vectors are at hand: gamma cluster centres on 30% of the dims,
  rank-64 noise with a decaying spectrum and isotropic noise, clipped at 0.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

CHUNK = 50_000


def normalise(x: np.ndarray) -> np.ndarray:
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return x


class Like:
    def __init__(self, real: np.ndarray, *, spread: float = 0.35, components: int = 256, seed: int = 0):
        real = normalise(np.asarray(real, dtype=np.float32).copy())
        self.real, self.seed, self.dims = real, seed, real.shape[1]
        mean = real.mean(axis=0)
        _, s, vt = np.linalg.svd(real - mean, full_matrices=False)
        sd = s / math.sqrt(len(real) - 1)
        self.axes = (vt[:components] * sd[:components, None]).astype(np.float32)  # (components, d)
        rest = float(np.sqrt(np.sum(sd[components:] ** 2) / self.dims))
        self.rest, self.spread = rest, spread

    def chunk(self, number: int, size: int) -> np.ndarray:
        rng = np.random.default_rng((self.seed, number))
        centres = self.real[rng.integers(0, len(self.real), size)]
        noise = rng.standard_normal((size, len(self.axes)), dtype=np.float32) @ self.axes
        noise += rng.standard_normal((size, self.dims), dtype=np.float32) * np.float32(self.rest)
        return normalise(np.maximum(centres + np.float32(self.spread) * noise, 0))


class Clustered:
    def __init__(self, dims: int = 2048, clusters: int = 300, rank: int = 64, seed: int = 0):
        rng = np.random.default_rng(seed)
        weights = rng.lognormal(0.0, 1.0, clusters)
        self.p = weights / weights.sum()
        self.centres = (rng.gamma(0.6, 1.0, (clusters, dims)) * (rng.random((clusters, dims)) < 0.3)).astype(np.float32)
        self.sizes = np.linalg.norm(self.centres, axis=1)
        spectrum = 1.0 / np.sqrt(np.arange(1, rank + 1, dtype=np.float32))
        self.spectrum = spectrum / np.linalg.norm(spectrum)
        self.bases = rng.standard_normal((clusters, rank, dims), dtype=np.float32) / np.float32(math.sqrt(dims))
        self.seed, self.dims, self.rank = seed, dims, rank

    def chunk(self, number: int, size: int) -> np.ndarray:
        rng = np.random.default_rng((self.seed, number))
        labels = rng.choice(len(self.p), size=size, p=self.p)
        out = np.empty((size, self.dims), dtype=np.float32)
        for c in np.unique(labels):
            rows = np.flatnonzero(labels == c)
            z = rng.standard_normal((len(rows), self.rank), dtype=np.float32) * (0.5 * self.sizes[c] * self.spectrum)
            iso = rng.standard_normal((len(rows), self.dims), dtype=np.float32) * np.float32(0.2 * self.sizes[c] / math.sqrt(self.dims))
            out[rows] = np.maximum(self.centres[c] + z @ self.bases[c] + iso, 0)
        return normalise(out)


def generator(like: Path | None, seed: int = 0):
    return Like(np.load(like), seed=seed) if like else Clustered(seed=seed)


def fill(gen, out: np.ndarray, start_chunk: int = 0) -> None:
    """Fill `out` (e.g. a memmap) with the generator's rows, chunk by chunk."""
    for number, start in enumerate(range(0, len(out), CHUNK), start=start_chunk):
        out[start:start + CHUNK] = gen.chunk(number, min(CHUNK, len(out) - start))


def statistics(x: np.ndarray, sample: int = 2000, seed: int = 0) -> str:
    """Share of zero entries, mean cosine between products, mean cosine to the 1st and 5th nearest."""
    rows = np.sort(np.random.default_rng(seed).choice(len(x), min(sample, len(x)), replace=False))
    s = np.asarray(x[rows], dtype=np.float32)
    c = s @ s.T
    np.fill_diagonal(c, -np.inf)
    near = np.sort(c, axis=1)[:, -5:]
    off = c[np.isfinite(c)]
    return (f"zeros {float((s == 0).mean()):.1%}, mean cosine {float(off.mean()):.3f}, nearest "
            f"{float(near[:, -1].mean()):.4f}, 5th nearest {float(near[:, 0].mean()):.4f} (in a sample of {len(s):,})")
