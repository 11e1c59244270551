"""Digit sets for judging a digit classifier on handwriting and print unlike MNIST's (issue 19), built on
the fly and never used in training:

- :func:`font_digits`: every digit 0–9 in the TrueType fonts matplotlib ships (DejaVu Sans, Sans Mono and
  Serif with their bold and oblique/italic variants, STIX General in four styles, Computer Modern
  roman, bold, sans, typewriter and italic), at 4 stroke widths (thinned, regular, thickened, very
  thick), 3 slants and 2 widths (the font's own, condensed to 70%): 21 × 10 × 4 × 3 × 2 = 5040 images,
  rendered with Pillow (a matplotlib dependency) at 112 pixels per em, deterministic for a given
  Pillow/FreeType;
- :func:`sklearn_digits`: scikit-learn's ``load_digits`` (1797 8×8 digits with 17 grey levels, from the
  UCI "optical recognition of handwritten digits" set), an optional extra (``pip install "le4nn[eval]"``).

Both are normalised "the MNIST way" (:func:`mnist_normalize`): as LeCun et al. did for the NIST
digits, each digit is cropped to its ink, fitted into a 20×20 box keeping its aspect ratio
(anti-aliased), and placed in a 28×28 frame so that its centre of mass lies at the frame's centre;
white ink on black, float32 in [0, 1], shape (N, 28, 28, 1).
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np

from le4nn.datasets.errors import DatasetError

#: The frame and the box the ink is fitted into (MNIST's 28 and 20 pixels).
FRAME, BOX = 28, 20
#: Pixels at or below this are background when cropping to the ink.
INK_THRESHOLD = 0.05

#: The fonts of :func:`font_digits` (file names in matplotlib's mpl-data/fonts/ttf); the ones left out
#: have no ordinary digits (symbol, size-variant and math-italic fonts) or duplicate these.
FONT_FILES = (
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSans-BoldOblique.ttf",
    "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSansMono-Oblique.ttf",
    "DejaVuSansMono-BoldOblique.ttf", "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf",
    "DejaVuSerif-BoldItalic.ttf", "STIXGeneral.ttf", "STIXGeneralBol.ttf", "STIXGeneralItalic.ttf",
    "STIXGeneralBolIta.ttf", "cmr10.ttf", "cmb10.ttf", "cmss10.ttf", "cmtt10.ttf", "cmti10.ttf",
)
#: Stroke variants in pixels of the rendering: -1 thins by a 3×3 grey erosion (1 pixel off each side of
#: every stroke), a positive value thickens by a stroke of that width, 0 is the font itself.
STROKES = (-1, 0, 4, 8)
#: Horizontal shear (slant) factors: x += slant · (height − y), so positive slants lean right.
SLANTS = (-0.2, 0.0, 0.3)
#: Horizontal scale factors (1: the font's own width; below 1: condensed): the MNIST normalisation keeps
#: the aspect ratio, so these give other shapes in the 20×20 box.
WIDTHS = (1.0, 0.7)
#: Font size in pixels the digits are rendered at before the normalisation.
RENDER_SIZE = 112


def _resize_matrix(source: int, target: int) -> np.ndarray:
    """The (target, source) matrix of a 1-D resampling with a triangle (bilinear) filter widened by the
    shrink factor when shrinking, so that every source pixel contributes (anti-aliased, as Pillow's
    BILINEAR resize); each row sums to 1."""
    scale = source / target
    support = max(scale, 1.0)
    centres = (np.arange(target) + 0.5) * scale - 0.5
    weights = np.maximum(0.0, 1.0 - np.abs(np.arange(source)[None, :] - centres[:, None]) / support)
    return weights / weights.sum(axis=1, keepdims=True)


def mnist_normalize(image, threshold: float = INK_THRESHOLD) -> np.ndarray:
    """One digit (a 2-D array, white ink on black, values in [0, 1], any size) normalised the MNIST way:
    cropped to the pixels above ``threshold``, resized (anti-aliased) so that its larger side is 20
    pixels keeping the aspect ratio, and placed in a 28×28 frame with its centre of mass (the
    intensity-weighted mean pixel position) at the frame's centre, 13.5, rounded to whole pixels and
    kept inside the frame.  Returns a (28, 28) float32 array in [0, 1]; an image without ink is a
    ValueError."""
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2 or not np.all(np.isfinite(image)):
        raise ValueError(f"mnist_normalize: image must be a finite 2-D array, got shape {image.shape}")
    rows, cols = np.nonzero(image > threshold)
    if len(rows) == 0:
        raise ValueError(f"mnist_normalize: the image has no pixel above {threshold} (no ink)")
    ink = image[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    h, w = ink.shape
    new_h, new_w = (BOX, max(1, round(BOX * w / h))) if h >= w else (max(1, round(BOX * h / w)), BOX)
    fitted = np.clip(_resize_matrix(h, new_h) @ ink @ _resize_matrix(w, new_w).T, 0.0, 1.0)
    total = fitted.sum()
    centre_r = (fitted.sum(axis=1) @ np.arange(new_h)) / total
    centre_c = (fitted.sum(axis=0) @ np.arange(new_w)) / total
    top = int(np.clip(np.floor((FRAME - 1) / 2 - centre_r + 0.5), 0, FRAME - new_h))
    left = int(np.clip(np.floor((FRAME - 1) / 2 - centre_c + 0.5), 0, FRAME - new_w))
    out = np.zeros((FRAME, FRAME), dtype=np.float32)
    out[top:top + new_h, left:left + new_w] = fitted
    return out


def font_folder() -> Path:
    """matplotlib's folder of TrueType fonts; DatasetError when matplotlib is not installed."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or spec.origin is None:
        raise DatasetError('the font digits need matplotlib\'s fonts: pip install "le4nn[plot]"')
    return Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf"


def _render(font, text: str, stroke: int, slant: float, width: float) -> np.ndarray:
    """One glyph rendered white on black as floats in [0, 1] (before normalisation)."""
    from PIL import Image, ImageDraw, ImageFilter

    size = RENDER_SIZE
    canvas = Image.new("L", (3 * size, 3 * size), 0)
    ImageDraw.Draw(canvas).text((size, size // 2), text, fill=255, font=font, stroke_width=max(stroke, 0),
                                stroke_fill=255)
    if stroke < 0:
        canvas = canvas.filter(ImageFilter.MinFilter(2 * -stroke + 1))
    if slant or width != 1:
        # Pillow's AFFINE maps output (x, y) to input (a x + b y + c, ...): output x = width·(input x −
        # slant·(y − centre)) around the canvas centre, so the ink leans right for slant > 0.
        c = canvas.size[0] / 2
        canvas = canvas.transform(canvas.size, Image.Transform.AFFINE,
                                  (1 / width, slant, c - c / width - slant * c, 0, 1, 0),
                                  resample=Image.Resampling.BILINEAR)
    return np.asarray(canvas, dtype=np.float64) / 255.0


@lru_cache(maxsize=2)
def _font_digits(folder: str, fonts: tuple, strokes: tuple, slants: tuple, widths: tuple):
    from PIL import ImageFont

    images, labels = [], []
    for name in fonts:
        path = Path(folder) / name
        if not path.is_file():
            raise DatasetError(f"font digits: {path} is missing (matplotlib's fonts changed?)")
        font = ImageFont.truetype(str(path), RENDER_SIZE)
        for stroke in strokes:
            for slant in slants:
                for width in widths:
                    for digit in range(10):
                        images.append(mnist_normalize(_render(font, str(digit), stroke, slant, width)))
                        labels.append(digit)
    x = np.stack(images)[..., None]
    y = np.asarray(labels, dtype=np.uint8)
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def font_digits(fonts=FONT_FILES, strokes=STROKES, slants=SLANTS, widths=WIDTHS) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)``: the digits 0–9 rendered in every font × stroke × slant × width (in that nesting order,
    digits innermost), normalised the MNIST way: x float32 (N, 28, 28, 1) in [0, 1], y uint8.  The
    arrays are cached and read-only.  DatasetError when matplotlib (its fonts) is missing."""
    folder = font_folder()
    if importlib.util.find_spec("PIL") is None:  # pragma: no cover - matplotlib depends on Pillow
        raise DatasetError("the font digits need Pillow: pip install pillow")
    return _font_digits(str(folder), tuple(fonts), tuple(strokes), tuple(slants), tuple(widths))


def sklearn_available() -> bool:
    """Whether scikit-learn (the ``eval`` extra) is installed."""
    return importlib.util.find_spec("sklearn") is not None


@lru_cache(maxsize=1)
def sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)``: scikit-learn's 1797 ``load_digits`` images (8×8, grey levels 0–16, scaled by 1/16)
    upsampled and normalised the MNIST way: x float32 (1797, 28, 28, 1), y uint8; cached, read-only.
    DatasetError naming the extra when scikit-learn is not installed."""
    if not sklearn_available():
        raise DatasetError('scikit-learn is not installed (pip install "le4nn[eval]" or scikit-learn)')
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = np.stack([mnist_normalize(image / 16.0) for image in digits.images])[..., None]
    y = np.asarray(digits.target, dtype=np.uint8)
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y
