"""A picture of one handwritten digit (a photo, a scan, a drawing, a PNG ``le4nn-predict --show`` wrote) made
into an MNIST-style image, the way MNIST's own digits were made.

LeCun et al. describe MNIST's preparation: each digit was size-normalized to fit a 20×20 box, keeping its
aspect ratio, with anti-aliasing (so the strokes become grey levels), then placed in a 28×28 field so that
its centre of mass lies at the centre.  The digits are white on black.  :func:`prepare_digit` does the same
to any grey picture:

1. polarity: ink is what differs from the paper; the paper is the picture's border, so a light border (dark
   ink on white paper, as people write) is inverted to MNIST's white on black;
2. the paper's level (the border's median) is subtracted and the rest scaled to [0, 1]; faint specks below
   :data:`INK_LEVEL` of the darkest ink do not count as ink;
3. the bounding box of the ink is cut out, padded to a square (the longer side fits the 20×20 box), and
   resized to 20×20 by area averaging (each output pixel the mean of the input area it covers: the
   anti-aliasing);
4. it is placed in the 28×28 field with its centre of mass at the centre (shifted by whole pixels, as far as
   the field allows).

Other sizes than 28×28 scale the 20-in-28 box in proportion.  This is a preparation for one digit per
picture, centred or not, of any size up to ``$LE4NN_MAX_IMAGE_PIXELS``; a picture with no ink raises an
error rather than give a guess.
"""

from __future__ import annotations

import numpy as np

from le4nn.datasets.errors import DatasetError

#: Pixels darker than this fraction of the ink's strongest (after the paper is subtracted) are paper.
INK_LEVEL = 0.2
#: The digit's box within the field: MNIST's 20 of 28 pixels.
BOX_FRACTION = 20 / 28


def area_resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """``image`` (h, w) resized to (height, width) by area averaging: output pixel (i, j) is the mean of the
    input area it covers, fractional pixels weighted by their overlap (R_h · image · R_wᵀ)."""
    return _area_weights(image.shape[0], height) @ image @ _area_weights(image.shape[1], width).T


def _area_weights(size: int, out: int) -> np.ndarray:
    """(out, size): row i averages input cells [i·size/out, (i + 1)·size/out), by overlap."""
    edges = np.arange(out + 1) * (size / out)
    lo, hi = edges[:-1, None], edges[1:, None]
    cells = np.arange(size)[None, :]
    overlap = np.clip(np.minimum(hi, cells + 1) - np.maximum(lo, cells), 0, None)
    return overlap / (size / out)


def prepare_digit(image: np.ndarray, shape: tuple[int, int] = (28, 28), source: str = "image") -> np.ndarray:
    """An MNIST-style (H, W) float32 image in [0, 1] from a grey picture (h, w) in [0, 1] of one digit (see
    the module docstring); ``source`` names the picture in errors."""
    picture = np.asarray(image, dtype=np.float64)
    if picture.ndim != 2 or min(picture.shape) < 1:
        raise DatasetError(f"{source}: a digit picture must be one grey image (h, w), got shape {picture.shape}")
    if not np.isfinite(picture).all():
        raise DatasetError(f"{source}: the picture holds NaN or infinite pixels")
    ink = _ink(picture, source)
    rows, cols = np.nonzero(ink >= INK_LEVEL)
    ink = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    side = max(ink.shape)
    square = np.zeros((side, side))
    top, left = (side - ink.shape[0]) // 2, (side - ink.shape[1]) // 2
    square[top : top + ink.shape[0], left : left + ink.shape[1]] = ink
    height, width = shape
    box = max(1, round(min(height, width) * BOX_FRACTION))
    digit = area_resize(square, box, box)
    return _centre_of_mass_placed(digit, height, width).astype(np.float32)


def _ink(picture: np.ndarray, source: str) -> np.ndarray:
    """The picture as ink in [0, 1] on a 0 background (steps 1 and 2)."""
    frame = max(1, min(picture.shape) // 20)
    border = np.concatenate([picture[:frame].ravel(), picture[-frame:].ravel(),
                             picture[:, :frame].ravel(), picture[:, -frame:].ravel()])
    paper = float(np.median(border))
    ink = paper - picture if paper > 0.5 else picture - paper  # light paper: dark ink becomes bright
    ink = np.clip(ink, 0, None)
    strongest = float(ink.max())
    if not strongest > 0.05:
        raise DatasetError(f"{source}: no digit found (the picture is one even shade: no ink against the "
                           "paper around it)")
    return ink / strongest


def _centre_of_mass_placed(digit: np.ndarray, height: int, width: int) -> np.ndarray:
    """``digit`` in a (height, width) field of zeros, its centre of mass at the field's centre (step 4)."""
    total = digit.sum()
    rows, cols = np.indices(digit.shape)
    centre_row, centre_col = (rows * digit).sum() / total, (cols * digit).sum() / total
    top = int(np.clip(round((height - 1) / 2 - centre_row), 0, height - digit.shape[0]))
    left = int(np.clip(round((width - 1) / 2 - centre_col), 0, width - digit.shape[1]))
    field = np.zeros((height, width))
    field[top : top + digit.shape[0], left : left + digit.shape[1]] = digit
    return field
