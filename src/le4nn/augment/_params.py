"""Argument checks and random draws shared by the transforms: the batch convention, (low, high) ranges
and non-negative strengths, each refused with an error naming the transform and the argument."""

from __future__ import annotations

import math

import numpy as np

from le4nn._numbers import is_real


def as_batch(x, owner: str) -> tuple[np.ndarray, bool]:
    """(N, H, W, C) float view of the batch and whether a channel axis was added."""
    x = np.asarray(x)
    if x.dtype.kind != "f":
        raise TypeError(f"{owner}: augmentation works on float images in [0, 1], got dtype {x.dtype} "
                        "(convert uint8 images with x.astype('float32') / 255)")
    if x.ndim == 3:
        return x[..., None], True
    if x.ndim != 4:
        raise ValueError(f"{owner}: expected a batch of images (N, H, W, C) or (N, H, W), got shape {x.shape}")
    return x, False


def check_range(value, owner: str, name: str, *, symmetric: bool, low=-math.inf, high=math.inf) -> tuple[float, float]:
    """A (lo, hi) range: a number v means (−v, v) when ``symmetric`` else (v, v); or a pair."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{owner}: {name} must be a number or a (low, high) pair, got {value!r}")
        lo, hi = (float(v) for v in value)
    elif is_real(value):
        v = float(value)
        if symmetric and v < 0:
            raise ValueError(f"{owner}: {name} must be >= 0, got {value!r}")
        lo, hi = (-v, v) if symmetric else (v, v)
    else:
        raise TypeError(f"{owner}: {name} must be a number or a (low, high) pair, got {value!r}")
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi or lo < low or hi > high:
        raise ValueError(f"{owner}: {name} must be a finite range within [{low}, {high}] with low <= high, "
                         f"got {value!r}")
    return lo, hi


def nonnegative(value, owner: str, name: str) -> float:
    if not is_real(value) or not 0 <= float(value) < math.inf:
        raise ValueError(f"{owner}: {name} must be a number >= 0, got {value!r}")
    return float(value)


def uniform(rng, lo: float, hi: float, n: int) -> np.ndarray:
    """n draws from U(lo, hi) (float64); a degenerate range costs no random numbers."""
    if lo == hi:
        return np.full(n, lo)
    return rng.uniform(lo, hi, n)
