"""Geometric transforms: bilinear sampling of per-image coordinate grids, :class:`RandomAffine`,
:class:`ElasticDistortion`, :class:`RandomCrop` and :class:`HorizontalFlip`."""

from __future__ import annotations

from functools import lru_cache
from typing import Any, cast

import numpy as np

from le4nn._numbers import is_integer
from le4nn._typing import Range
from le4nn.augment._params import check_range, nonnegative, uniform
from le4nn.augment.base import Transform


def bilinear_sample(x: np.ndarray, rows: np.ndarray, cols: np.ndarray, fill: float = 0.0) -> np.ndarray:
    """Sample a batch ``x`` (N, H, W, C) at real coordinates ``rows``, ``cols`` (N, Ho, Wo) of each
    image (pixel centres at integers), bilinearly; points outside the image read ``fill``.

    The batch is padded with a border of ``fill`` and the coordinates clamped onto it, so the four
    corners of every sample are one flat index ``i`` and ``i + 1``, ``i + W'``, ``i + W' + 1``: four
    gathers over the whole batch, out = Σ_corners w · x[corner].  At integer coordinates the weights
    are exactly 1 and 0, so an identity grid returns ``x`` exactly.  The result is clipped to the
    range of ``x`` and ``fill`` (a convex combination cannot leave it but for rounding).
    """
    n, h, w, c = x.shape
    ftype = np.float32 if x.dtype == np.float32 else np.float64
    padded = np.pad(x, ((0, 0), (1, 2), (1, 2), (0, 0)), mode="constant", constant_values=fill)
    hp, wp = h + 3, w + 3
    rows = np.clip(rows.astype(ftype, copy=False), -1, h)
    cols = np.clip(cols.astype(ftype, copy=False), -1, w)
    r0 = np.floor(rows)
    c0 = np.floor(cols)
    fr = rows - r0
    fc = cols - c0
    index = r0.astype(np.intp)
    index += 1
    index *= wp
    index += c0.astype(np.intp)
    index += 1 + (np.arange(n, dtype=np.intp) * (hp * wp)).reshape((n,) + (1,) * (rows.ndim - 1))
    flat = padded.reshape(n * hp * wp, c)
    gr = 1 - fr
    gc = 1 - fc
    out = np.take(flat, index, axis=0)
    out *= (gr * gc)[..., None]
    out += np.take(flat, index + 1, axis=0) * (gr * fc)[..., None]
    index += wp
    out += np.take(flat, index, axis=0) * (fr * gc)[..., None]
    out += np.take(flat, index + 1, axis=0) * (fr * fc)[..., None]
    lo = min(float(x.min()), fill) if x.size else fill
    hi = max(float(x.max()), fill) if x.size else fill
    np.clip(out, lo, hi, out=out)
    return out.astype(x.dtype, copy=False)


def _identity_grid(n: int, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    rows = np.broadcast_to(np.arange(h, dtype=np.float64)[None, :, None], (n, h, w))
    cols = np.broadcast_to(np.arange(w, dtype=np.float64)[None, None, :], (n, h, w))
    return rows, cols


def _ink_boxes(x: np.ndarray, threshold: float) -> np.ndarray:
    """Per image the box (top, bottom, left, right) of its pixels above ``threshold`` (edges at ±0.5),
    or the whole frame for an image without ink.  Shape (N, 4), float64."""
    n, h, w, _ = x.shape
    ink = x.max(axis=3) > threshold
    rows_any = ink.any(axis=2)
    cols_any = ink.any(axis=1)
    top = np.argmax(rows_any, axis=1)
    bottom = h - 1 - np.argmax(rows_any[:, ::-1], axis=1)
    left = np.argmax(cols_any, axis=1)
    right = w - 1 - np.argmax(cols_any[:, ::-1], axis=1)
    empty = ~rows_any.any(axis=1)
    box = np.stack([top - 0.5, bottom + 0.5, left - 0.5, right + 0.5], axis=1).astype(np.float64)
    box[empty] = (-0.5, h - 0.5, -0.5, w - 0.5)
    return box


class RandomAffine(Transform):
    """Random rotation, scaling, shear and translation about the image centre, bilinear.

    - ``rotation``: degrees, ±rotation or a (low, high) pair;
    - ``scale``: relative zoom, a number s gives factors in [1 − s, 1 + s] (Keras's zoom_range), or a
      (low, high) pair of factors;
    - ``shear``: degrees (horizontal shear), ±shear or a pair;
    - ``translate``: pixels, ±translate or a pair (the same range for both axes);
    - ``aspect``: relative change of the width against the height, a number a gives horizontal factors
      in [1 − a, 1 + a] (applied before the zoom, so a condensed or wide digit), or a (low, high) pair
      of factors; 0 (the default) draws nothing, so pipelines without it keep their random stream;
    - ``keep_inside`` (default True): the transformed bounding box of the image's ink (pixels above
      ``ink_threshold``) must stay in the frame: the linear part is shrunk if the box would not fit, and
      the translation is drawn only among shifts that keep it inside (so digits are never cut off).
      Turn it off for photos, which fill the frame.
    - ``fill``: the value read outside the source image (0: black background).
    """

    def __init__(self, rotation: Range = 0.0, scale: Range = 0.0, shear: Range = 0.0, translate: Range = 0.0,
                 keep_inside: bool = True,
                 ink_threshold: float = 0.1, fill: float = 0.0, aspect: Range = 0.0, p: float = 1.0) -> None:
        super().__init__(p)
        name = type(self).__name__
        self.rotation = check_range(rotation, name, "rotation", symmetric=True, low=-180, high=180)
        if isinstance(scale, (tuple, list)):
            self.scale = check_range(scale, name, "scale", symmetric=False, low=1e-3)
        else:
            s = nonnegative(scale, name, "scale")
            if s >= 1:
                raise ValueError(f"{name}: scale as a number is a relative zoom in [0, 1), got {scale!r}")
            self.scale = (1 - s, 1 + s)
        self.shear = check_range(shear, name, "shear", symmetric=True, low=-80, high=80)
        self.translate = check_range(translate, name, "translate", symmetric=True)
        if isinstance(aspect, (tuple, list)):
            self.aspect = check_range(aspect, name, "aspect", symmetric=False, low=1e-3)
        else:
            a = nonnegative(aspect, name, "aspect")
            if a >= 1:
                raise ValueError(f"{name}: aspect as a number is a relative change in [0, 1), got {aspect!r}")
            self.aspect = (1 - a, 1 + a)
        self.keep_inside = bool(keep_inside)
        self.ink_threshold = float(ink_threshold)
        self.fill = float(fill)

    def matrices(self, x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """The random forward transforms of a batch: (N, 2, 2) linear parts acting on (row, col)
        offsets from the centre, and (N, 2) translations (rows, cols)."""
        n, h, w, _ = x.shape
        theta = np.deg2rad(uniform(rng, *self.rotation, n))
        zoom = uniform(rng, *self.scale, n)
        shear = np.tan(np.deg2rad(uniform(rng, *self.shear, n)))
        # In (row, col) = (y, x) coordinates: M = R(θ) · Shear · zoom, with the shear along x (cols).
        cos, sin = np.cos(theta), np.sin(theta)
        rot = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2)      # (n, 2, 2)
        shr = np.zeros((n, 2, 2))
        shr[:, 0, 0] = 1
        shr[:, 1, 1] = 1
        shr[:, 1, 0] = shear                                                          # x += tan(s)·y
        linear = rot @ shr * zoom[:, None, None]
        if self.aspect != (1.0, 1.0):
            linear[:, :, 1] *= uniform(rng, *self.aspect, n)[:, None]                  # M · diag(1, a)
        lo_t, hi_t = self.translate
        centre = np.array([(h - 1) / 2, (w - 1) / 2])
        if not self.keep_inside:
            shift = np.stack([uniform(rng, lo_t, hi_t, n), uniform(rng, lo_t, hi_t, n)], axis=1)
            return linear, shift
        box = _ink_boxes(x, self.ink_threshold)                                       # (n, 4)
        corners = np.stack([box[:, [0, 2]], box[:, [0, 3]], box[:, [1, 2]], box[:, [1, 3]]], axis=1)
        offsets = corners - centre                                                    # (n, 4, 2)
        moved = offsets @ linear.transpose(0, 2, 1)                                   # M · offset
        extent = moved.max(axis=1) - moved.min(axis=1)                                # (n, 2)
        frame = np.array([h, w], dtype=np.float64)
        fit = np.minimum(1.0, (frame / np.maximum(extent, 1e-12)).min(axis=1))        # shrink to fit
        linear = linear * fit[:, None, None]
        moved = moved * fit[:, None, None]
        # Allowed shifts keep every moved corner within [−0.5, size − 0.5] around the centre.
        t_min = (-0.5 - centre) - moved.min(axis=1)                                   # (n, 2)
        t_max = (frame - 0.5 - centre) - moved.max(axis=1)
        lo = np.maximum(t_min, lo_t)
        hi = np.minimum(t_max, hi_t)
        u = rng.random((n, 2)) if lo_t != hi_t else np.full((n, 2), 0.5)
        shift = np.where(lo <= hi, lo + u * (hi - lo), np.clip(0.0, t_min, t_max))
        if lo_t == hi_t == 0:  # no translation asked for: move only to bring the digit back inside
            shift = np.clip(0.0, t_min, t_max)
        return linear, shift

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n, h, w, _ = x.shape
        linear, shift = self.matrices(x, rng)
        inverse = np.linalg.inv(linear)
        centre = np.array([(h - 1) / 2, (w - 1) / 2])
        # source = centre + M⁻¹ (out − centre − t): a row term (n, h, 1) plus a column term (n, 1, w)
        dr = np.arange(h)[None, :] - (centre[0] + shift[:, 0])[:, None]               # (n, h)
        dc = np.arange(w)[None, :] - (centre[1] + shift[:, 1])[:, None]               # (n, w)
        src_r = ((centre[0] + inverse[:, 0, 0, None] * dr)[:, :, None]
                 + (inverse[:, 0, 1, None] * dc)[:, None, :])
        src_c = ((centre[1] + inverse[:, 1, 0, None] * dr)[:, :, None]
                 + (inverse[:, 1, 1, None] * dc)[:, None, :])
        return bilinear_sample(x, src_r, src_c, self.fill)


@lru_cache(maxsize=16)
def _gaussian_matrix(size: int, sigma: float, truncate: float = 4.0) -> np.ndarray:
    """The (size, size) matrix of a 1-D Gaussian smoothing with zero padding outside (as
    ``scipy.ndimage.gaussian_filter(mode="constant")``), so that smoothing a field is two GEMMs."""
    radius = int(truncate * sigma + 0.5)
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel /= kernel.sum()
    index = np.arange(size)
    diff = index[None, :] - index[:, None]
    matrix = np.where(np.abs(diff) <= radius, kernel[np.clip(diff + radius, 0, 2 * radius)], 0.0)
    matrix.setflags(write=False)
    return matrix


class ElasticDistortion(Transform):
    """Elastic distortion (Simard, Steinkraus and Platt, 2003): each pixel moves by ``alpha`` times a
    field of uniform(−1, 1) noise smoothed by a Gaussian of standard deviation ``sigma`` pixels
    (the paper's values for 28×28 digits: alpha 34, sigma 4).  ``alpha`` may be a (low, high) range
    drawn per image.  The smoothing is done as two small matrix products per field."""

    def __init__(self, alpha: Range = 34.0, sigma: float = 4.0, fill: float = 0.0, p: float = 1.0) -> None:
        super().__init__(p)
        name = type(self).__name__
        self.alpha = check_range(alpha, name, "alpha", symmetric=False, low=0)
        self.sigma = nonnegative(sigma, name, "sigma")
        if self.sigma == 0:
            raise ValueError(f"{name}: sigma must be > 0")
        self.fill = float(fill)

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n, h, w, _ = x.shape
        alpha = uniform(rng, *self.alpha, n)[:, None, None]
        gh = _gaussian_matrix(h, self.sigma)
        gw = _gaussian_matrix(w, self.sigma)
        noise = rng.uniform(-1.0, 1.0, (2, n, h, w))
        smooth = gh @ noise @ gw.T                                     # G_H · U · G_Wᵀ, per field
        rows, cols = _identity_grid(n, h, w)
        return bilinear_sample(x, rows + alpha * smooth[0], cols + alpha * smooth[1], self.fill)


class RandomCrop(Transform):
    """Pad each side by ``padding`` pixels and crop an H×W window at a random offset: a random shift
    of up to ± ``padding`` pixels per axis (the CIFAR "pad 4 and crop" augmentation).  ``mode`` is
    ``np.pad``'s: "constant" (``fill``), "reflect", "edge", ..."""

    def __init__(self, padding: int = 4, mode: str = "constant", fill: float = 0.0, p: float = 1.0) -> None:
        super().__init__(p)
        if not is_integer(padding) or padding < 0:
            raise ValueError(f"RandomCrop: padding must be an int >= 0, got {padding!r}")
        self.padding = int(padding)
        self.mode = mode
        self.fill = float(fill)

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n, h, w, _ = x.shape
        pad = self.padding
        if pad == 0:
            return x.copy()
        widths = ((0, 0), (pad, pad), (pad, pad), (0, 0))
        kwargs = {"constant_values": self.fill} if self.mode == "constant" else {}
        padded = np.pad(x, widths, mode=cast(Any, self.mode), **kwargs)  # a mode name checked in __init__
        top = rng.integers(0, 2 * pad + 1, size=(n,))
        left = rng.integers(0, 2 * pad + 1, size=(n,))
        rows = top[:, None] + np.arange(h)
        cols = left[:, None] + np.arange(w)
        return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


class HorizontalFlip(Transform):
    """Mirror each image left–right with probability ``p`` (default 0.5).  For photos; not for digits."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__(p)

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return x[:, :, ::-1].copy()
