"""The one rule for pixel values, used by every input path (``load_contest``, ``le4nn-predict --input``).

* integer pixels (any integer dtype) are 0–255 and are scaled by 1/255;
* float pixels are finite and either already scaled to [0, 1] (when every value lies in [0, 1]) or whole
  numbers 0–255 (then scaled by 1/255, as the same pixels in uint8 are);
* anything else (values outside these ranges, fractional values above 1, NaN or infinity, booleans,
  complex numbers, strings, objects) is refused with a :class:`DatasetError` naming the file.

So ``x``, ``x.astype(np.int64)``, ``x.astype(np.float32)`` and ``x / 255`` give the model the same input.
"""

from __future__ import annotations

import numpy as np

from le4nn.datasets.errors import DatasetError

#: the step of 8-bit pixels in [0, 1], and how far a [0, 1] float may be from a multiple of it
_STEP = 1 / 255
_STEP_TOLERANCE = 1e-3


def pixel_divisor(pixels: np.ndarray, source: str) -> int:
    """255 when ``pixels`` hold 0–255 values, 1 when they are floats already in [0, 1]; else DatasetError."""
    kind = pixels.dtype.kind
    if kind not in "iuf" or pixels.dtype.names is not None:
        raise DatasetError(f"{source}: pixels of dtype {pixels.dtype} are not accepted (integers 0–255, or "
                           "floats in [0, 1] or 0–255)")
    if pixels.size == 0:
        return 255
    if kind == "f" and not np.all(np.isfinite(pixels)):
        raise DatasetError(f"{source}: the pixels include NaN or infinite values")
    low, high = pixels.min(), pixels.max()
    if kind == "f" and low >= 0 and high <= 1:
        return 1
    if low < 0 or high > 255:
        raise DatasetError(f"{source}: pixel values must lie in 0–255 (or, as floats, in [0, 1]), found "
                           f"{low}–{high}")
    if kind == "f" and not np.all(pixels == np.round(pixels)):
        raise DatasetError(f"{source}: float pixels must lie in [0, 1] (already scaled) or be whole numbers "
                           f"0–255; found fractional values up to {high}")
    return 255


def to_unit_pixels(pixels: np.ndarray, source: str) -> np.ndarray:
    """``pixels`` as float32 in [0, 1], by the rule of this module."""
    pixels = np.asarray(pixels)
    divisor = pixel_divisor(pixels, source)
    unit = pixels.astype(np.float32)
    return unit / np.float32(255) if divisor == 255 else unit


def to_uint8_pixels(pixels: np.ndarray, source: str) -> np.ndarray:
    """``pixels`` as uint8 0–255, by the rule of this module (floats in [0, 1] must be multiples of 1/255)."""
    pixels = np.asarray(pixels)
    if pixels.dtype == np.uint8:
        return pixels
    if pixel_divisor(pixels, source) == 255:
        return pixels.astype(np.uint8)
    steps = pixels.astype(np.float64) / _STEP
    if not np.all(np.abs(steps - np.rint(steps)) <= _STEP_TOLERANCE):
        raise DatasetError(f"{source}: float pixels in [0, 1] that are not multiples of 1/255 cannot be read as "
                           "8-bit pixels")
    return np.rint(steps).astype(np.uint8)
