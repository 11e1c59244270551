"""k-means clustering (Lloyd's algorithm with k-means++ seeding), for grouping images without labels.

    from le4nn.clustering import kmeans

    result = kmeans(images.reshape(len(images), -1) / 255, k=30, seed=0)
    result.labels      # (N,) cluster of each row, 0..k-1
    result.centers     # (k, D) cluster means

The self-conditioned DCGAN (:mod:`le4nn.gan`, ``le4nn-train --model dcgan --clusters K``) conditions
its networks on these clusters instead of on class labels.

Squared distances come from ‖x‖² − 2 x·c + ‖c‖² (one matrix product per iteration, in float32 for
float32 data), the centers from the cluster sums (one-hot matrix products over blocks of rows, the
block sums added in float64).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from le4nn._typing import ArrayLike

#: Rows per block of the distance computation (bounds the (block, k) distance matrix).
BLOCK_ROWS = 16384


@dataclass(frozen=True)
class KMeansResult:
    centers: np.ndarray  # (k, D), the dtype of the data
    labels: np.ndarray  # (N,) int64
    inertia: float  # sum of the squared distances to the assigned centers
    iterations: int  # Lloyd iterations run
    converged: bool  # whether the assignments stopped changing


def _check(x: ArrayLike, k: int, iterations: int) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"kmeans: the data must be a 2-D array (samples, features), got shape {x.shape}")
    if x.dtype.kind not in "fiub":
        raise TypeError(f"kmeans: the data must be numeric, got dtype {x.dtype}")
    x = np.ascontiguousarray(x, dtype=x.dtype if x.dtype.kind == "f" else np.float32)
    if not np.all(np.isfinite(x)):
        raise ValueError("kmeans: the data contain NaN or infinity")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= len(x):
        raise ValueError(f"kmeans: k must be an integer in 1..{len(x)} (the number of samples), got {k!r}")
    if isinstance(iterations, bool) or not isinstance(iterations, (int, np.integer)) or iterations < 1:
        raise ValueError(f"kmeans: iterations must be a positive integer, got {iterations!r}")
    return x


def _nearest(x: np.ndarray, squared_norms: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest center of every row and the squared distance to it."""
    center_norms = np.einsum("ij,ij->i", centers, centers)
    labels = np.empty(len(x), np.int64)
    distances = np.empty(len(x), x.dtype)
    for start in range(0, len(x), BLOCK_ROWS):
        block = slice(start, start + BLOCK_ROWS)
        d2 = squared_norms[block, None] - 2 * (x[block] @ centers.T) + center_norms[None, :]
        labels[block] = d2.argmin(axis=1)
        distances[block] = np.maximum(d2[np.arange(len(d2)), labels[block]], 0)
    return labels, distances


def _seed_centers(x: np.ndarray, squared_norms: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++: each next center drawn with probability proportional to the squared distance to the
    nearest center chosen so far (Arthur & Vassilvitskii 2007)."""
    centers = np.empty((k, x.shape[1]), x.dtype)
    centers[0] = x[rng.integers(len(x))]
    closest = np.maximum(squared_norms - 2 * (x @ centers[0]) + centers[0] @ centers[0], 0).astype(np.float64)
    for j in range(1, k):
        total = closest.sum()
        index = rng.choice(len(x), p=closest / total) if total > 0 else rng.integers(len(x))
        centers[j] = x[index]
        d2 = np.maximum(squared_norms - 2 * (x @ centers[j]) + centers[j] @ centers[j], 0)
        np.minimum(closest, d2, out=closest)
    return centers


def kmeans(x: ArrayLike, k: int, iterations: int = 100, seed: int | None = 0) -> KMeansResult:
    """Cluster the rows of ``x`` (N, D) into ``k`` groups: k-means++ seeding, then Lloyd iterations
    (assign every row to its nearest center, move every center to the mean of its rows) until no
    assignment changes or ``iterations`` have run.  A cluster that loses all its rows is restarted at
    the row farthest from its center.  ``seed`` makes the result reproducible."""
    x = _check(x, k, iterations)
    rng = np.random.default_rng(seed)
    squared_norms = np.einsum("ij,ij->i", x, x)
    centers = _seed_centers(x, squared_norms, int(k), rng)
    labels = None
    converged = False
    done = 0
    while done < iterations:
        done += 1
        new_labels, distances = _nearest(x, squared_norms, centers)
        if labels is not None and np.array_equal(new_labels, labels):
            converged = True
            break
        labels = new_labels
        counts = np.bincount(labels, minlength=k)
        sums = np.zeros((k, x.shape[1]), np.float64)
        _sum_rows(sums, labels, x, k)
        for empty in np.flatnonzero(counts == 0):
            farthest = int(distances.argmax())
            sums[empty], counts[empty] = x[farthest], 1
            distances[farthest] = 0
        centers = (sums / counts[:, None]).astype(x.dtype)
    labels, distances = _nearest(x, squared_norms, centers)
    return KMeansResult(centers=centers, labels=labels, inertia=float(distances.sum(dtype=np.float64)),
                        iterations=done, converged=converged)


def _sum_rows(sums: np.ndarray, labels: np.ndarray, x: np.ndarray, k: int) -> None:
    """sums[j] += Σ of the rows with label j, as one-hot matrix products in blocks."""
    for start in range(0, len(x), BLOCK_ROWS):
        block = slice(start, start + BLOCK_ROWS)
        one_hot = np.zeros((k, len(labels[block])), x.dtype)
        one_hot[labels[block], np.arange(len(labels[block]))] = 1
        sums += (one_hot @ x[block]).astype(np.float64)
