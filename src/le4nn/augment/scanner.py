"""What a scanner or a camera does to a digit: blur (:class:`Blur`) and contrast (:class:`Contrast`).
Salt-and-pepper speckle and sensor noise are in :mod:`le4nn.augment.intensity`."""

from __future__ import annotations

import numpy as np

from le4nn._numbers import is_integer
from le4nn._typing import Range
from le4nn.augment._params import check_range, uniform
from le4nn.augment.base import Transform


def binomial_blur(x: np.ndarray, passes: int = 1) -> np.ndarray:
    """``passes`` applications of the separable 3×3 binomial filter ([1, 2, 1]/4 along each axis) to a
    (N, H, W, C) batch, with zeros outside the image (the black background)."""
    out = x
    for _ in range(passes):
        padded = np.pad(out, ((0, 0), (1, 1), (0, 0), (0, 0)))
        rows = 0.25 * padded[:, :-2] + 0.5 * padded[:, 1:-1] + 0.25 * padded[:, 2:]
        padded = np.pad(rows, ((0, 0), (0, 0), (1, 1), (0, 0)))
        out = 0.25 * padded[:, :, :-2] + 0.5 * padded[:, :, 1:-1] + 0.25 * padded[:, :, 2:]
    return out.astype(x.dtype, copy=False)


class Blur(Transform):
    """Out-of-focus or low-resolution scanning: x + s·(B(x) − x), where B is ``passes`` applications of
    the 3×3 binomial filter (:func:`binomial_blur`; one pass is a Gaussian of σ ≈ 0.7 px) and the
    strength s is drawn per image from ``strength`` (a number in [0, 1] or a (low, high) range).
    Identity at ``strength=0``."""

    def __init__(self, strength: Range = (0.0, 1.0), passes: int = 1, p: float = 1.0) -> None:
        super().__init__(p)
        name = type(self).__name__
        self.strength = check_range(strength, name, "strength", symmetric=False, low=0, high=1)
        if not is_integer(passes) or passes < 1:
            raise ValueError(f"{name}: passes must be an int >= 1, got {passes!r}")
        self.passes = int(passes)

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n = len(x)
        s = uniform(rng, *self.strength, n).astype(x.dtype).reshape(n, 1, 1, 1)
        return x + s * (binomial_blur(x, self.passes) - x)


class Contrast(Transform):
    """Faded ink and grey paper: x' = b + (c − b)·x maps black (0) to a background level b and full ink
    (1) to an ink level c, with c drawn per image from ``ink`` and b from ``background`` (numbers or
    (low, high) ranges in [0, 1]).  Identity at ``ink=1, background=0``."""

    def __init__(self, ink: Range = (0.5, 1.0), background: Range = (0.0, 0.2), p: float = 1.0) -> None:
        super().__init__(p)
        name = type(self).__name__
        self.ink = check_range(ink, name, "ink", symmetric=False, low=0, high=1)
        self.background = check_range(background, name, "background", symmetric=False, low=0, high=1)

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n = len(x)
        ink = uniform(rng, *self.ink, n).astype(x.dtype).reshape(n, 1, 1, 1)
        background = uniform(rng, *self.background, n).astype(x.dtype).reshape(n, 1, 1, 1)
        return background + (ink - background) * x
