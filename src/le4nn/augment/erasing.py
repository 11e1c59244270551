"""Erasing transforms: :class:`RandomErasing` (a random rectangle) and :class:`Cutout` (a square)."""

from __future__ import annotations

import math
import numbers

import numpy as np

from le4nn._numbers import is_integer
from le4nn._typing import Range
from le4nn.augment._params import check_range, uniform
from le4nn.augment.base import Transform


class RandomErasing(Transform):
    """Random erasing (Zhong et al., 2017): a rectangle covering a fraction of the image drawn from
    ``scale`` with aspect ratio (h/w) log-uniform in ``ratio`` is set to ``value`` (a number, or
    "random" for uniform noise in ``value_range``).  Applied with probability ``p`` (default 0.5)."""

    def __init__(self, scale: Range = (0.02, 0.2), ratio: Range = (0.3, 3.3), value: float | str = 0.0,
                 value_range: tuple[float, float] = (0.0, 1.0),
                 p: float = 0.5) -> None:
        super().__init__(p)
        name = type(self).__name__
        self.scale = check_range(scale, name, "scale", symmetric=False, low=0, high=1)
        self.ratio = check_range(ratio, name, "ratio", symmetric=False, low=1e-3)
        if not (value == "random" or isinstance(value, numbers.Real)):
            raise ValueError(f"{name}: value must be a number or 'random', got {value!r}")
        self.value = value
        self.value_range = tuple(float(v) for v in value_range)

    def _boxes(self, n: int, h: int, w: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        area = uniform(rng, *self.scale, n) * h * w
        log_ratio = uniform(rng, math.log(self.ratio[0]), math.log(self.ratio[1]), n)
        ratio = np.exp(log_ratio)
        eh = np.minimum(np.rint(np.sqrt(area * ratio)), h).astype(np.intp)
        ew = np.minimum(np.rint(np.sqrt(area / ratio)), w).astype(np.intp)
        top = np.floor(rng.random(n) * (h - eh + 1)).astype(np.intp)
        left = np.floor(rng.random(n) * (w - ew + 1)).astype(np.intp)
        return top, top + eh, left, left + ew

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n, h, w, _ = x.shape
        top, bottom, left, right = self._boxes(n, h, w, rng)
        return _fill_boxes(x, top, bottom, left, right, self.value, self.value_range, rng)


def _fill_boxes(x: np.ndarray, top: np.ndarray, bottom: np.ndarray, left: np.ndarray, right: np.ndarray,
               value: float | str, value_range: tuple[float, ...], rng: np.random.Generator) -> np.ndarray:
    n, h, w, _ = x.shape
    rows = np.arange(h)
    cols = np.arange(w)
    inside = (((rows >= top[:, None]) & (rows < bottom[:, None]))[:, :, None]
              & ((cols >= left[:, None]) & (cols < right[:, None]))[:, None, :])[..., None]
    if value == "random":
        fill = rng.uniform(value_range[0], value_range[1], x.shape).astype(x.dtype)
    else:
        fill = np.asarray(value, dtype=x.dtype)
    return np.where(inside, fill, x)


class Cutout(Transform):
    """Cutout (DeVries and Taylor, 2017): a ``size``×``size`` square centred at a uniformly random pixel
    (it may extend past the border) is set to ``value``."""

    def __init__(self, size: int = 8, value: float | str = 0.0, value_range: tuple[float, float] = (0.0, 1.0),
                 p: float = 1.0) -> None:
        super().__init__(p)
        if not is_integer(size) or size < 0:
            raise ValueError(f"Cutout: size must be an int >= 0, got {size!r}")
        self.size = int(size)
        self.value = value
        self.value_range = tuple(float(v) for v in value_range)

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n, h, w, _ = x.shape
        cy = rng.integers(0, h, n)
        cx = rng.integers(0, w, n)
        top, left = cy - self.size // 2, cx - self.size // 2
        return _fill_boxes(x, top, top + self.size, left, left + self.size, self.value, self.value_range, rng)
