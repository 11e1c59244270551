"""Online data augmentation: random transforms of each mini-batch, vectorized over the batch.

Every transform takes a float batch of images ``(N, H, W, C)`` (channels_last, as ``le4nn-train`` feeds
its models; ``(N, H, W)`` works too) with values in [0, 1], and returns a new batch of the same shape
and dtype; the input is never modified.  Nothing loops over the images in Python: each transform draws
its random parameters for the whole batch at once and applies them with array operations (the
geometric ones build one sampling grid per image and interpolate bilinearly in a single gather).

>>> from le4nn import augment
>>> pipeline = augment.Compose([
...     augment.RandomAffine(rotation=12, scale=0.1, shear=8, translate=3),
...     augment.StrokeWidth(strength=(-0.5, 1.0), p=0.5),
...     augment.GaussianNoise(sigma=(0, 0.1), p=0.3),
... ])
>>> x_aug = pipeline(x_batch, rng=0)                    # seeded: the same batch every time
>>> model.fit(x_train, y_train, augment=pipeline)       # or augment="digits" (a preset)

Randomness: ``rng`` may be a :class:`numpy.random.Generator`, an int seed, or None for le4nn's global
generator (:func:`le4nn.utils.get_rng`, seeded by ``set_random_seed``), so that a seeded training run
sees the same augmented batches every time.

Probability: every transform takes ``p``, the probability that it is applied to each image (drawn per
image); the others pass through unchanged.  :class:`Compose` chains transforms (and has its own ``p``).

Transforms and their "zero strength" (where each is the identity):

=========================  ===================================================================  ======================
transform                  what it does                                                         identity at
=========================  ===================================================================  ======================
``RandomAffine``           rotation, scaling, shear, translation (bilinear); keeps the digit    all ranges 0
                           inside the frame by bounding the move with its bounding box
``ElasticDistortion``      Simard et al. (2003): a random displacement field smoothed by a      ``alpha=0``
                           Gaussian of width ``sigma``, scaled by ``alpha`` pixels
``RandomCrop``             pad by ``padding`` pixels and crop at a random offset (a random     ``padding=0``
                           shift of up to ± ``padding`` pixels)
``HorizontalFlip``         mirror left–right (for CIFAR-like photos, not for digits)           ``p=0``
``GaussianNoise``          x + σ·N(0, 1), then clip                                             ``sigma=0``
``MultiplicativeNoise``    x · (1 + σ·N(0, 1)) (mean 1, as in the course report), then clip    ``sigma=0``
``SaltAndPepper``          a fraction ``amount`` of pixels set to 0 or 1                        ``amount=0``
``StrokeWidth``            thicken (grey dilation) or thin (grey erosion) strokes, blended     ``strength=0``
                           with the original by a random strength in [−1, 1]
``RandomErasing``          a random rectangle set to ``value`` (random erasing / cutout)       ``scale=0``
``Cutout``                 a square of side ``size`` at a random centre set to ``value``        ``size=0``
``Clip``                   clip to the valid range                                              (values in range)
``MixUp``                  convex combination of image pairs *and of their labels*              ``alpha=0``
=========================  ===================================================================  ======================

Labels: only :class:`MixUp` changes them; called as ``t(x, y)`` every other transform returns ``y``
itself untouched.  ``Model.fit(..., augment=...)`` passes the labels through any pipeline that
contains a MixUp (integer labels become soft one-hot targets of ``num_classes`` classes, which the
cross-entropy losses accept), and only the images otherwise.

Presets (:data:`PRESETS`, ``get("digits")``, ``le4nn-train --augment digits``): ``"digits"``,
``"digits-strong"``, ``"fashion"``, ``"cifar"`` and ``"none"``; see :func:`preset`.
"""

from __future__ import annotations

import math
import numbers
import time
from functools import lru_cache

import numpy as np

from le4nn.utils import get_rng

__all__ = [
    "Transform", "Compose", "Lambda", "Timed", "RandomAffine", "ElasticDistortion", "RandomCrop", "HorizontalFlip",
    "GaussianNoise", "MultiplicativeNoise", "SaltAndPepper", "StrokeWidth", "RandomErasing", "Cutout",
    "Clip", "MixUp", "PRESETS", "preset", "get", "fit_hook", "bilinear_sample",
]


# ---------------------------------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------------------------------


def as_rng(rng=None) -> np.random.Generator:
    """A Generator from a Generator, an int seed, or None (le4nn's global generator)."""
    if rng is None:
        return get_rng()
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be a numpy Generator, an int seed or None, got {rng!r}")


def _as_batch(x, owner: str) -> tuple[np.ndarray, bool]:
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


def _range(value, owner: str, name: str, *, symmetric: bool, low=-math.inf, high=math.inf) -> tuple[float, float]:
    """A (lo, hi) range: a number v means (−v, v) when ``symmetric`` else (v, v); or a pair."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{owner}: {name} must be a number or a (low, high) pair, got {value!r}")
        lo, hi = (float(v) for v in value)
    elif isinstance(value, numbers.Real) and not isinstance(value, bool):
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


def _nonnegative(value, owner: str, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < math.inf:
        raise ValueError(f"{owner}: {name} must be a number >= 0, got {value!r}")
    return float(value)


def _uniform(rng, lo: float, hi: float, n: int) -> np.ndarray:
    """n draws from U(lo, hi) (float64); a degenerate range costs no random numbers."""
    if lo == hi:
        return np.full(n, lo)
    return rng.uniform(lo, hi, n)


# ---------------------------------------------------------------------------------------------------
# Base classes
# ---------------------------------------------------------------------------------------------------


class Transform:
    """Base class.  ``t(x, rng=None)`` returns the transformed batch; ``t(x, y, rng=None)`` returns
    ``(x', y')``.  Subclasses implement :meth:`apply` (every image of a (N, H, W, C) batch)."""

    #: Whether the transform changes the labels (only MixUp does).
    changes_labels = False

    def __init__(self, p: float = 1.0):
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p <= 1:
            raise ValueError(f"{type(self).__name__}: p must be a probability in [0, 1], got {p!r}")
        self.p = float(p)

    def __call__(self, x, y=None, rng=None):
        rng = as_rng(rng)
        batch, squeezed = _as_batch(x, type(self).__name__)
        out, y_out = self._transform(batch, y, rng)
        if squeezed:
            out = out[..., 0]
        return out if y is None else (out, y_out)

    def _transform(self, x: np.ndarray, y, rng: np.random.Generator):
        """Apply to each image with probability p; returns (x', y)."""
        if self.changes_labels and y is None:
            raise ValueError(f"{type(self).__name__} changes the labels: call it as t(x, y)")
        n = len(x)
        selected = None if self.p >= 1.0 or n == 0 else np.flatnonzero(rng.random(n) < self.p)
        if self.changes_labels:
            return self.apply_with_labels(x, y, rng, selected)
        if selected is not None and len(selected) == 0:
            return x.copy(), y
        if selected is None:
            return self.apply(x, rng).astype(x.dtype, copy=False), y
        out = x.copy()
        out[selected] = self.apply(x[selected], rng)
        return out, y

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Transform every image of ``x`` (N, H, W, C); return a new array (x is not modified)."""
        raise NotImplementedError

    def apply_with_labels(self, x, y, rng, selected):  # pragma: no cover - only label transforms
        raise NotImplementedError

    def _params(self) -> dict:
        return {k: v for k, v in vars(self).items() if not k.startswith("_") and k != "p"}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        p = "" if self.p == 1.0 else f"{', ' if args else ''}p={self.p:g}"
        return f"{type(self).__name__}({args}{p})"


class Compose(Transform):
    """Apply ``transforms`` in order (the whole pipeline with probability ``p`` per image)."""

    def __init__(self, transforms, p: float = 1.0):
        super().__init__(p)
        self.transforms = [get(t) for t in transforms]
        for t in self.transforms:
            if t is None:
                raise ValueError("Compose: None is not a transform")

    @property
    def changes_labels(self) -> bool:  # type: ignore[override]
        return any(t.changes_labels for t in self.transforms)

    def _transform(self, x, y, rng):
        if self.p >= 1.0 or not len(x):
            return self._chain(x, y, rng)
        selected = np.flatnonzero(rng.random(len(x)) < self.p)
        if self.changes_labels:
            raise ValueError("Compose: a pipeline containing MixUp must have p=1 (give MixUp its own p)")
        out = x.copy()
        if len(selected):
            out[selected] = self._chain(x[selected], None, rng)[0]
        return out, y

    def _chain(self, x, y, rng):
        for t in self.transforms:
            x, y = t._transform(x, y, rng)
        return (x if self.transforms else x.copy()), y

    def __repr__(self) -> str:
        inner = ",\n".join(f"    {t!r}" for t in self.transforms)
        p = "" if self.p == 1.0 else f", p={self.p:g}"
        return f"Compose([\n{inner}\n]{p})" if self.transforms else f"Compose([]{p})"


class Timed(Transform):
    """Wrap a transform and add up the seconds spent in it (``.seconds``, ``.calls``): what
    ``le4nn-train`` uses to report the share of the training time that augmentation takes."""

    def __init__(self, transform):
        super().__init__()
        self.transform = get(transform)
        self.seconds = 0.0
        self.calls = 0

    @property
    def changes_labels(self) -> bool:  # type: ignore[override]
        return self.transform.changes_labels

    def _transform(self, x, y, rng):
        start = time.perf_counter()
        try:
            return self.transform._transform(x, y, rng)
        finally:
            self.seconds += time.perf_counter() - start
            self.calls += 1

    def __repr__(self) -> str:
        return f"Timed({self.transform!r})"


class Lambda(Transform):
    """Wrap a function ``f(batch) -> batch`` (or ``f(batch, rng)`` with ``takes_rng=True``)."""

    def __init__(self, function, takes_rng: bool = False, p: float = 1.0):
        super().__init__(p)
        if not callable(function):
            raise TypeError(f"Lambda: {function!r} is not callable")
        self.function = function
        self.takes_rng = bool(takes_rng)

    def apply(self, x, rng):
        out = self.function(x, rng) if self.takes_rng else self.function(x)
        out = np.asarray(out)
        if out.shape != x.shape:
            raise ValueError(f"Lambda: the function changed the batch shape from {x.shape} to {out.shape}")
        return out.astype(x.dtype, copy=False)


# ---------------------------------------------------------------------------------------------------
# Geometry: bilinear sampling of per-image coordinate grids
# ---------------------------------------------------------------------------------------------------


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
    - ``keep_inside`` (default True): the transformed bounding box of the image's ink (pixels above
      ``ink_threshold``) must stay in the frame: the linear part is shrunk if the box would not fit, and
      the translation is drawn only among shifts that keep it inside (so digits are never cut off).
      Turn it off for photos, which fill the frame.
    - ``fill``: the value read outside the source image (0: black background).
    """

    def __init__(self, rotation=0.0, scale=0.0, shear=0.0, translate=0.0, keep_inside=True,
                 ink_threshold=0.1, fill=0.0, p: float = 1.0):
        super().__init__(p)
        name = type(self).__name__
        self.rotation = _range(rotation, name, "rotation", symmetric=True, low=-180, high=180)
        if isinstance(scale, (tuple, list)):
            self.scale = _range(scale, name, "scale", symmetric=False, low=1e-3)
        else:
            s = _nonnegative(scale, name, "scale")
            if s >= 1:
                raise ValueError(f"{name}: scale as a number is a relative zoom in [0, 1), got {scale!r}")
            self.scale = (1 - s, 1 + s)
        self.shear = _range(shear, name, "shear", symmetric=True, low=-80, high=80)
        self.translate = _range(translate, name, "translate", symmetric=True)
        self.keep_inside = bool(keep_inside)
        self.ink_threshold = float(ink_threshold)
        self.fill = float(fill)

    def matrices(self, x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """The random forward transforms of a batch: (N, 2, 2) linear parts acting on (row, col)
        offsets from the centre, and (N, 2) translations (rows, cols)."""
        n, h, w, _ = x.shape
        theta = np.deg2rad(_uniform(rng, *self.rotation, n))
        zoom = _uniform(rng, *self.scale, n)
        shear = np.tan(np.deg2rad(_uniform(rng, *self.shear, n)))
        # In (row, col) = (y, x) coordinates: M = R(θ) · Shear · zoom, with the shear along x (cols).
        cos, sin = np.cos(theta), np.sin(theta)
        rot = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2)      # (n, 2, 2)
        shr = np.zeros((n, 2, 2))
        shr[:, 0, 0] = 1
        shr[:, 1, 1] = 1
        shr[:, 1, 0] = shear                                                          # x += tan(s)·y
        linear = rot @ shr * zoom[:, None, None]
        lo_t, hi_t = self.translate
        centre = np.array([(h - 1) / 2, (w - 1) / 2])
        if not self.keep_inside:
            shift = np.stack([_uniform(rng, lo_t, hi_t, n), _uniform(rng, lo_t, hi_t, n)], axis=1)
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

    def apply(self, x, rng):
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

    def __init__(self, alpha=34.0, sigma=4.0, fill=0.0, p: float = 1.0):
        super().__init__(p)
        name = type(self).__name__
        self.alpha = _range(alpha, name, "alpha", symmetric=False, low=0)
        self.sigma = _nonnegative(sigma, name, "sigma")
        if self.sigma == 0:
            raise ValueError(f"{name}: sigma must be > 0")
        self.fill = float(fill)

    def apply(self, x, rng):
        n, h, w, _ = x.shape
        alpha = _uniform(rng, *self.alpha, n)[:, None, None]
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

    def __init__(self, padding: int = 4, mode: str = "constant", fill: float = 0.0, p: float = 1.0):
        super().__init__(p)
        if isinstance(padding, bool) or not isinstance(padding, numbers.Integral) or padding < 0:
            raise ValueError(f"RandomCrop: padding must be an int >= 0, got {padding!r}")
        self.padding = int(padding)
        self.mode = mode
        self.fill = float(fill)

    def apply(self, x, rng):
        n, h, w, _ = x.shape
        pad = self.padding
        if pad == 0:
            return x.copy()
        widths = ((0, 0), (pad, pad), (pad, pad), (0, 0))
        kwargs = {"constant_values": self.fill} if self.mode == "constant" else {}
        padded = np.pad(x, widths, mode=self.mode, **kwargs)
        top = rng.integers(0, 2 * pad + 1, n)
        left = rng.integers(0, 2 * pad + 1, n)
        rows = top[:, None] + np.arange(h)
        cols = left[:, None] + np.arange(w)
        return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


class HorizontalFlip(Transform):
    """Mirror each image left–right with probability ``p`` (default 0.5).  For photos; not for digits."""

    def __init__(self, p: float = 0.5):
        super().__init__(p)

    def apply(self, x, rng):
        return x[:, :, ::-1].copy()


# ---------------------------------------------------------------------------------------------------
# Intensity
# ---------------------------------------------------------------------------------------------------


class _Noise(Transform):
    def __init__(self, sigma, clip, value_range, p):
        super().__init__(p)
        self.sigma = _range(sigma, type(self).__name__, "sigma", symmetric=False, low=0)
        self.clip = bool(clip)
        self.value_range = tuple(float(v) for v in value_range)

    def _noise(self, x, rng):
        n = len(x)
        sigma = _uniform(rng, *self.sigma, n).astype(x.dtype).reshape(n, 1, 1, 1)
        return sigma * rng.standard_normal(x.shape, dtype=x.dtype if x.dtype in (np.float32, np.float64)
                                           else np.float64)

    def _finish(self, out):
        return np.clip(out, *self.value_range, out=out) if self.clip else out


class GaussianNoise(_Noise):
    """Additive Gaussian noise x + σ·N(0, 1) (σ a number or a (low, high) range drawn per image),
    clipped to ``value_range`` unless ``clip=False``."""

    def __init__(self, sigma=0.1, clip=True, value_range=(0.0, 1.0), p: float = 1.0):
        super().__init__(sigma, clip, value_range, p)

    def apply(self, x, rng):
        return self._finish(x + self._noise(x, rng))


class MultiplicativeNoise(_Noise):
    """Multiplicative Gaussian noise with mean 1: x · (1 + σ·N(0, 1)) (the course report's), clipped."""

    def __init__(self, sigma=0.2, clip=True, value_range=(0.0, 1.0), p: float = 1.0):
        super().__init__(sigma, clip, value_range, p)

    def apply(self, x, rng):
        return self._finish(x * (1 + self._noise(x, rng)))


class SaltAndPepper(Transform):
    """Set a fraction ``amount`` of the pixels (all channels of a pixel together) to the high value
    (salt, a fraction ``salt`` of them) or to the low value (pepper).  ``amount`` may be a range."""

    def __init__(self, amount=0.05, salt=0.5, value_range=(0.0, 1.0), p: float = 1.0):
        super().__init__(p)
        self.amount = _range(amount, type(self).__name__, "amount", symmetric=False, low=0, high=1)
        if not 0 <= salt <= 1:
            raise ValueError(f"SaltAndPepper: salt must be in [0, 1], got {salt!r}")
        self.salt = float(salt)
        self.value_range = tuple(float(v) for v in value_range)

    def apply(self, x, rng):
        n, h, w, _ = x.shape
        amount = _uniform(rng, *self.amount, n)[:, None, None]
        u = rng.random((n, h, w))
        out = x.copy()
        salt = u < amount * self.salt
        pepper = (u >= amount * self.salt) & (u < amount)
        out[salt] = self.value_range[1]
        out[pepper] = self.value_range[0]
        return out


class Clip(Transform):
    """Clip values to ``value_range`` (default [0, 1])."""

    def __init__(self, value_range=(0.0, 1.0), p: float = 1.0):
        super().__init__(p)
        self.value_range = tuple(float(v) for v in value_range)

    def apply(self, x, rng):
        return np.clip(x, *self.value_range)


def _window_extreme(x: np.ndarray, size: int, footprint: str, fn) -> np.ndarray:
    """Max (``np.maximum``) or min over a size×size window (or a plus-shaped one) of each pixel, per
    channel, with the border repeated: grey dilation / erosion of the whole batch at once."""
    r = size // 2
    padded = np.pad(x, ((0, 0), (r, size - 1 - r), (r, size - 1 - r), (0, 0)), mode="edge")
    h, w = x.shape[1:3]
    out = None
    for i in range(size):
        for j in range(size):
            if footprint == "cross" and i != r and j != r:
                continue
            view = padded[:, i:i + h, j:j + w]
            out = view.copy() if out is None else fn(out, view, out=out)
    return out


class StrokeWidth(Transform):
    """Thicken or thin strokes: grey dilation (a ``size``×``size`` max filter) or erosion (min filter),
    blended with the original by a per-image ``strength`` s drawn from a range in [−1, 1]:
    s > 0 gives x + s·(dilate(x) − x), s < 0 gives x + s·(x − erode(x)), s = 0 the image itself.
    ``footprint="cross"`` uses a plus-shaped window (gentler than the square)."""

    def __init__(self, strength=(-1.0, 1.0), size: int = 3, footprint: str = "square", p: float = 1.0):
        super().__init__(p)
        name = type(self).__name__
        self.strength = _range(strength, name, "strength", symmetric=True, low=-1, high=1)
        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
            raise ValueError(f"{name}: size must be an int >= 1, got {size!r}")
        if footprint not in ("square", "cross"):
            raise ValueError(f"{name}: footprint must be 'square' or 'cross', got {footprint!r}")
        self.size = int(size)
        self.footprint = footprint

    def apply(self, x, rng):
        n = len(x)
        s = _uniform(rng, *self.strength, n).astype(x.dtype).reshape(n, 1, 1, 1)
        lo, hi = self.strength
        out = x.copy()
        if hi > 0:
            thick = _window_extreme(x, self.size, self.footprint, np.maximum)
            out += np.maximum(s, 0) * (thick - x)
        if lo < 0:
            thin = _window_extreme(x, self.size, self.footprint, np.minimum)
            out += np.minimum(s, 0) * (x - thin)
        return out


class RandomErasing(Transform):
    """Random erasing (Zhong et al., 2017): a rectangle covering a fraction of the image drawn from
    ``scale`` with aspect ratio (h/w) log-uniform in ``ratio`` is set to ``value`` (a number, or
    "random" for uniform noise in ``value_range``).  Applied with probability ``p`` (default 0.5)."""

    def __init__(self, scale=(0.02, 0.2), ratio=(0.3, 3.3), value=0.0, value_range=(0.0, 1.0), p: float = 0.5):
        super().__init__(p)
        name = type(self).__name__
        self.scale = _range(scale, name, "scale", symmetric=False, low=0, high=1)
        self.ratio = _range(ratio, name, "ratio", symmetric=False, low=1e-3)
        if not (value == "random" or isinstance(value, numbers.Real)):
            raise ValueError(f"{name}: value must be a number or 'random', got {value!r}")
        self.value = value
        self.value_range = tuple(float(v) for v in value_range)

    def _boxes(self, n, h, w, rng):
        area = _uniform(rng, *self.scale, n) * h * w
        log_ratio = _uniform(rng, math.log(self.ratio[0]), math.log(self.ratio[1]), n)
        ratio = np.exp(log_ratio)
        eh = np.minimum(np.rint(np.sqrt(area * ratio)), h).astype(np.intp)
        ew = np.minimum(np.rint(np.sqrt(area / ratio)), w).astype(np.intp)
        top = np.floor(rng.random(n) * (h - eh + 1)).astype(np.intp)
        left = np.floor(rng.random(n) * (w - ew + 1)).astype(np.intp)
        return top, top + eh, left, left + ew

    def apply(self, x, rng):
        n, h, w, _ = x.shape
        top, bottom, left, right = self._boxes(n, h, w, rng)
        return _fill_boxes(x, top, bottom, left, right, self.value, self.value_range, rng)


def _fill_boxes(x, top, bottom, left, right, value, value_range, rng):
    n, h, w, _ = x.shape
    rows = np.arange(h)
    cols = np.arange(w)
    inside = (((rows >= top[:, None]) & (rows < bottom[:, None]))[:, :, None]
              & ((cols >= left[:, None]) & (cols < right[:, None]))[:, None, :])[..., None]
    if value == "random":
        fill = rng.uniform(*value_range, x.shape).astype(x.dtype)
    else:
        fill = np.asarray(value, dtype=x.dtype)
    return np.where(inside, fill, x)


class Cutout(Transform):
    """Cutout (DeVries and Taylor, 2017): a ``size``×``size`` square centred at a uniformly random pixel
    (it may extend past the border) is set to ``value``."""

    def __init__(self, size: int = 8, value=0.0, value_range=(0.0, 1.0), p: float = 1.0):
        super().__init__(p)
        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 0:
            raise ValueError(f"Cutout: size must be an int >= 0, got {size!r}")
        self.size = int(size)
        self.value = value
        self.value_range = tuple(float(v) for v in value_range)

    def apply(self, x, rng):
        n, h, w, _ = x.shape
        cy = rng.integers(0, h, n)
        cx = rng.integers(0, w, n)
        top, left = cy - self.size // 2, cx - self.size // 2
        return _fill_boxes(x, top, top + self.size, left, left + self.size, self.value, self.value_range, rng)


# ---------------------------------------------------------------------------------------------------
# Label-mixing
# ---------------------------------------------------------------------------------------------------


class MixUp(Transform):
    """mixup (Zhang et al., 2018): x' = λ·x + (1 − λ)·x[π], y' = λ·y + (1 − λ)·y[π] with π a random
    permutation of the batch and λ ~ Beta(alpha, alpha) per image (images not selected by ``p`` keep
    λ = 1).  Labels may be one-hot/soft (N, K) or integer classes, which need ``num_classes``; the
    result is soft targets (N, K) in the images' dtype, which the cross-entropy losses accept.

    It changes the labels, so call it as ``x, y = mixup(x, y)``; ``Model.fit(augment=...)`` does so
    for any pipeline containing it.  The training accuracy that fit reports is then measured against
    the mixed targets' arg-max."""

    changes_labels = True

    def __init__(self, alpha: float = 0.2, num_classes: int | None = None, p: float = 1.0):
        super().__init__(p)
        self.alpha = _nonnegative(alpha, "MixUp", "alpha")
        self.num_classes = num_classes

    def apply(self, x, rng):
        raise ValueError("MixUp changes the labels: call it as t(x, y)")

    def _one_hot(self, y, n, dtype):
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] > 1:
            return y.astype(dtype)
        labels = y.reshape(n)
        if labels.dtype.kind == "f" and not np.all(labels == np.round(labels)):
            raise ValueError("MixUp: labels must be class indices or one-hot (N, K)")
        if self.num_classes is None:
            raise ValueError("MixUp: integer labels need num_classes=K to become soft one-hot targets")
        return np.eye(self.num_classes, dtype=dtype)[labels.astype(np.intp)]

    def apply_with_labels(self, x, y, rng, selected):
        n = len(x)
        targets = self._one_hot(y, n, x.dtype)
        if len(targets) != n:
            raise ValueError(f"MixUp: {n} images but {len(targets)} labels")
        if self.alpha == 0:
            return x.copy(), targets
        lam = rng.beta(self.alpha, self.alpha, n)
        if selected is not None:
            keep = np.ones(n, dtype=bool)
            keep[selected] = False
            lam[keep] = 1.0
        order = rng.permutation(n)
        lam_x = lam.astype(x.dtype).reshape(n, 1, 1, 1)
        lam_y = lam.astype(x.dtype).reshape(n, 1)
        return lam_x * x + (1 - lam_x) * x[order], lam_y * targets + (1 - lam_y) * targets[order]


# ---------------------------------------------------------------------------------------------------
# Presets and lookup
# ---------------------------------------------------------------------------------------------------


def _digits() -> Compose:
    return Compose([
        RandomAffine(rotation=10, scale=0.1, shear=8, translate=3, p=0.9),
        StrokeWidth(strength=(-0.6, 1.0), p=0.4),
        GaussianNoise(sigma=(0.0, 0.12), p=0.3),
    ])


def _digits_strong() -> Compose:
    return Compose([
        RandomAffine(rotation=15, scale=0.15, shear=12, translate=4, p=0.95),
        ElasticDistortion(alpha=(0, 34), sigma=4, p=0.3),
        StrokeWidth(strength=(-0.8, 1.0), p=0.5),
        GaussianNoise(sigma=(0.0, 0.2), p=0.3),
        MultiplicativeNoise(sigma=(0.0, 0.3), p=0.2),
        SaltAndPepper(amount=(0.0, 0.05), p=0.2),
        RandomErasing(scale=(0.02, 0.12), p=0.2),
    ])


def _fashion() -> Compose:
    return Compose([RandomCrop(padding=2), HorizontalFlip(p=0.5)])


def _cifar() -> Compose:
    return Compose([RandomCrop(padding=4), HorizontalFlip(p=0.5)])


#: Named pipelines: ``get(name)`` / ``preset(name)`` builds a fresh one.
PRESETS = {
    "none": lambda: Compose([]),
    "digits": _digits,
    "digits-strong": _digits_strong,
    "fashion": _fashion,
    "cifar": _cifar,
}

PRESET_HELP = {
    "none": "no augmentation",
    "digits": "affine (±10°, zoom ±10%, shear ±8°, shift ≤3 px inside the frame), stroke width, light noise",
    "digits-strong": "digits + larger ranges, elastic distortion, multiplicative and salt-and-pepper noise, "
                     "random erasing",
    "fashion": "shift ≤2 px (pad and crop), horizontal flip",
    "cifar": "pad 4 and crop (shift ≤4 px), horizontal flip",
}


def preset(name: str) -> Compose:
    """A fresh pipeline of preset ``name`` (see :data:`PRESET_HELP`)."""
    try:
        return PRESETS[name]()
    except KeyError:
        raise ValueError(f"unknown augmentation preset {name!r}; choose one of {', '.join(PRESETS)}") from None


def get(identifier) -> Transform | None:
    """A transform from a preset name, a Transform (returned as is), a function ``f(batch) -> batch``
    (wrapped in :class:`Lambda`), or None (no augmentation)."""
    if identifier is None or isinstance(identifier, Transform):
        return identifier
    if isinstance(identifier, str):
        return preset(identifier)
    if callable(identifier):
        return Lambda(identifier)
    raise TypeError(f"augment must be a preset name, a le4nn.augment.Transform or a function, got {identifier!r}")


def fit_hook(augment):
    """What ``Model.fit(augment=...)`` calls per mini-batch: ``hook(xs, ys) -> (xs, ys)`` on the lists
    of input and target arrays.  The single input is augmented with le4nn's global generator; targets
    pass through untouched unless the pipeline changes labels (MixUp)."""
    transform = get(augment)
    if transform is None:
        return None

    def hook(xs, ys):
        if len(xs) != 1:
            raise ValueError(f"augment= works on models with one input, this one has {len(xs)}")
        if transform.changes_labels:
            if len(ys) != 1:
                raise ValueError("augment= with MixUp works on models with one output")
            x, y = transform(xs[0], ys[0])
            return [x], [y]
        return [transform(xs[0])], ys

    return hook
