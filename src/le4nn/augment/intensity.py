"""Intensity transforms: additive and multiplicative Gaussian noise, salt and pepper, clipping and
stroke width (grey dilation / erosion)."""

from __future__ import annotations

import numpy as np

from le4nn._numbers import is_integer
from le4nn._typing import Range
from le4nn.augment._params import check_range, uniform
from le4nn.augment.base import Transform


class _Noise(Transform):
    def __init__(self, sigma: Range, clip: bool, value_range: tuple[float, float], p: float) -> None:
        super().__init__(p)
        self.sigma = check_range(sigma, type(self).__name__, "sigma", symmetric=False, low=0)
        self.clip = bool(clip)
        self.value_range = tuple(float(v) for v in value_range)

    def _noise(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n = len(x)
        sigma = uniform(rng, *self.sigma, n).astype(x.dtype).reshape(n, 1, 1, 1)
        return sigma * rng.standard_normal(x.shape, dtype=x.dtype if x.dtype in (np.float32, np.float64)
                                           else np.float64)

    def _finish(self, out: np.ndarray) -> np.ndarray:
        return np.clip(out, *self.value_range, out=out) if self.clip else out


class GaussianNoise(_Noise):
    """Additive Gaussian noise x + σ·N(0, 1) (σ a number or a (low, high) range drawn per image),
    clipped to ``value_range`` unless ``clip=False``."""

    def __init__(self, sigma: Range = 0.1, clip: bool = True, value_range: tuple[float, float] = (0.0, 1.0),
                 p: float = 1.0) -> None:
        super().__init__(sigma, clip, value_range, p)

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self._finish(x + self._noise(x, rng))


class MultiplicativeNoise(_Noise):
    """Multiplicative Gaussian noise with mean 1: x · (1 + σ·N(0, 1)) (the course report's), clipped."""

    def __init__(self, sigma: Range = 0.2, clip: bool = True, value_range: tuple[float, float] = (0.0, 1.0),
                 p: float = 1.0) -> None:
        super().__init__(sigma, clip, value_range, p)

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self._finish(x * (1 + self._noise(x, rng)))


class SaltAndPepper(Transform):
    """Set a fraction ``amount`` of the pixels (all channels of a pixel together) to the high value
    (salt, a fraction ``salt`` of them) or to the low value (pepper).  ``amount`` may be a range."""

    def __init__(self, amount: Range = 0.05, salt: float = 0.5, value_range: tuple[float, float] = (0.0, 1.0),
                 p: float = 1.0) -> None:
        super().__init__(p)
        self.amount = check_range(amount, type(self).__name__, "amount", symmetric=False, low=0, high=1)
        if not 0 <= salt <= 1:
            raise ValueError(f"SaltAndPepper: salt must be in [0, 1], got {salt!r}")
        self.salt = float(salt)
        self.value_range = tuple(float(v) for v in value_range)

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n, h, w, _ = x.shape
        amount = uniform(rng, *self.amount, n)[:, None, None]
        u = rng.random((n, h, w))
        out = x.copy()
        salt = u < amount * self.salt
        pepper = (u >= amount * self.salt) & (u < amount)
        out[salt] = self.value_range[1]
        out[pepper] = self.value_range[0]
        return out


class Clip(Transform):
    """Clip values to ``value_range`` (default [0, 1])."""

    def __init__(self, value_range: tuple[float, float] = (0.0, 1.0), p: float = 1.0) -> None:
        super().__init__(p)
        self.value_range = tuple(float(v) for v in value_range)

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return np.clip(x, self.value_range[0], self.value_range[1])


def _window_extreme(x: np.ndarray, size: int, footprint: str, fn: np.ufunc) -> np.ndarray:
    """Max (``np.maximum``) or min over a size×size window (or a plus-shaped one) of each pixel, per
    channel, with the border repeated: grey dilation / erosion of the whole batch at once."""
    r = size // 2
    padded = np.pad(x, ((0, 0), (r, size - 1 - r), (r, size - 1 - r), (0, 0)), mode="edge")
    h, w = x.shape[1:3]
    out: np.ndarray | None = None
    for i in range(size):
        for j in range(size):
            if footprint == "cross" and i != r and j != r:
                continue
            view = padded[:, i:i + h, j:j + w]
            out = view.copy() if out is None else fn(out, view, out=out)
    assert out is not None  # (the centre is in every footprint)
    return out


class StrokeWidth(Transform):
    """Thicken or thin strokes: grey dilation (a ``size``×``size`` max filter) or erosion (min filter),
    blended with the original by a per-image ``strength`` s drawn from a range in [−1, 1]:
    s > 0 gives x + s·(dilate(x) − x), s < 0 gives x + s·(x − erode(x)), s = 0 the image itself.
    ``footprint="cross"`` uses a plus-shaped window (gentler than the square)."""

    def __init__(self, strength: Range = (-1.0, 1.0), size: int = 3, footprint: str = "square", p: float = 1.0) -> None:
        super().__init__(p)
        name = type(self).__name__
        self.strength = check_range(strength, name, "strength", symmetric=True, low=-1, high=1)
        if not is_integer(size) or size < 1:
            raise ValueError(f"{name}: size must be an int >= 1, got {size!r}")
        if footprint not in ("square", "cross"):
            raise ValueError(f"{name}: footprint must be 'square' or 'cross', got {footprint!r}")
        self.size = int(size)
        self.footprint = footprint

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n = len(x)
        s = uniform(rng, *self.strength, n).astype(x.dtype).reshape(n, 1, 1, 1)
        lo, hi = self.strength
        out = x.copy()
        if hi > 0:
            thick = _window_extreme(x, self.size, self.footprint, np.maximum)
            out += np.maximum(s, 0) * (thick - x)
        if lo < 0:
            thin = _window_extreme(x, self.size, self.footprint, np.minimum)
            out += np.minimum(s, 0) * (x - thin)
        return out
