"""Reading the input files of ``le4nn-predict``: images to classify and their true labels.

Every reader checks sizes before it allocates (:mod:`le4nn.datasets.limits`) and raises a
:class:`DatasetError` naming the file; pixels follow the one rule of :mod:`le4nn.datasets.pixels`.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from le4nn._numbers import all_whole_numbers
from le4nn.datasets.contest import image_batch, read_contest_array
from le4nn.datasets.digit_images import prepare_digit
from le4nn.datasets.errors import DatasetError
from le4nn.datasets.idx import load_idx
from le4nn.datasets.limits import GZIP_MAGIC, max_image_pixels, max_input_bytes, read_file_bounded
from le4nn.datasets.npy import NPY_MAGIC, read_npy_bytes
from le4nn.datasets.pixels import to_unit_pixels

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _existing_file(path: Path, what: str) -> None:
    if not path.exists():
        raise DatasetError(f"{what} not found: {path}")
    if path.is_dir():
        raise DatasetError(f"{path} is a folder; pass the {what}s themselves")


def _head(path: Path) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(8)
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the file: {exc.strerror or exc}") from None


def png_size(path: Path, head: bytes) -> tuple[int, int]:
    """(height, width) from a PNG's IHDR chunk, read without decoding the image."""
    if len(head) < 24 or head[:8] != PNG_MAGIC or head[12:16] != b"IHDR":
        raise DatasetError(f"{path}: not a readable PNG image (no IHDR header)")
    width, height = struct.unpack(">II", head[16:24])
    if width == 0 or height == 0:
        raise DatasetError(f"{path}: the PNG header declares an empty image ({width}×{height})")
    return height, width


def read_png(path: Path, image_shape: tuple[int, int] | None = None) -> np.ndarray:
    """A PNG image as grey pixels (H, W) in [0, 1] (colour is averaged), after checking its declared size.

    The header's width × height must not exceed ``$LE4NN_MAX_IMAGE_PIXELS`` (checked before the image is
    decoded).  When ``image_shape`` (H, W) is given and the PNG has another size, it is taken as a picture
    of one handwritten digit (a photo, a scan, a PNG of ``le4nn-predict --show``) and prepared the way
    MNIST's digits were (:func:`le4nn.datasets.digit_images.prepare_digit`: white on black, the digit in a
    20×20 box, centred by its centre of mass); a PNG of exactly that size is read as it is.
    """
    with open(path, "rb") as f:
        head = f.read(24)
    height, width = png_size(path, head)
    if height * width > max_image_pixels():
        raise DatasetError(f"{path}: the PNG image declares {width}×{height} pixels, more than the limit of "
                           f"{max_image_pixels()} (LE4NN_MAX_IMAGE_PIXELS)")
    try:
        from matplotlib.image import imread
    except ImportError:
        raise DatasetError(f'{path}: reading PNG images needs matplotlib: pip install "le4nn[plot]"') from None
    try:
        image = imread(path)
    except Exception as exc:  # Pillow raises many kinds (OSError, SyntaxError, DecompressionBombError, ...)
        raise DatasetError(f"{path}: not a readable PNG image ({type(exc).__name__}: {exc})") from None
    if image.ndim == 3:  # RGB(A) → grey
        image = image[..., :3].mean(axis=-1)
    if image.shape != (height, width):
        raise DatasetError(f"{path}: the decoded PNG image has shape {image.shape}, its header says {height}×{width}")
    image = to_unit_pixels(image, str(path))
    if image_shape is not None and (height, width) != tuple(image_shape):
        image = prepare_digit(image, (int(image_shape[0]), int(image_shape[1])), str(path))
    return image


def read_images(path: str | os.PathLike, image_shape: tuple[int, int] | None = None) -> np.ndarray:
    """The images of one input file as float32 in [0, 1], (N, H, W) or (N, H, W, C).

    The file is a contest dump (a pickled array, possibly gzipped), an idx file, an ``.npy`` file or a
    PNG image (detected by content).  ``image_shape`` (H, W) of the model, when known, is checked too.
    """
    path = Path(path)
    _existing_file(path, "input file")
    head = _head(path)
    source = str(path)
    if head.startswith(PNG_MAGIC):
        return read_png(path, image_shape)[None]
    if head.startswith(NPY_MAGIC):
        array = read_npy_bytes(read_file_bounded(path), source, max_input_bytes())
    elif head[:2] == b"\x00\x00":
        array = load_idx(path)
    else:
        try:
            array = read_contest_array(path)
        except DatasetError as exc:
            if head[:2] == GZIP_MAGIC or head[:1] == b"\x80":
                raise
            raise DatasetError(f"{path}: not a contest dump, idx, .npy or PNG file ({exc})") from None
    rows_shape = (image_shape or (28, 28)) if array.ndim == 2 else None  # N×(H·W) rows need H and W
    return to_unit_pixels(image_batch(array, source, rows_shape), source)


INT64_MIN, INT64_MAX = int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max)


def _text_labels(data: bytes, path: Path) -> np.ndarray:
    labels = []
    for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), start=1):
        for token in line.split():
            try:
                labels.append(int(token))
            except ValueError:
                raise DatasetError(f"{path}: line {number}: {token[:20]!r} is not an integer label "
                                   "(labels are integers, one per line)") from None
            if not INT64_MIN <= labels[-1] <= INT64_MAX:
                raise DatasetError(f"{path}: line {number}: label {token[:20]} is out of range")
    return np.array(labels, dtype=np.int64)


def _read_text(path: Path, count: int) -> bytes:
    """A text file of ``count`` labels: at most 32 bytes a line (a longer file is refused unread)."""
    limit = min(max_input_bytes(), 32 * count + 4096)
    if path.stat().st_size > limit:
        raise DatasetError(f"{path}: {path.stat().st_size} bytes is too long for {count} labels, one per line")
    return read_file_bounded(path, limit)


def _as_label_array(array: np.ndarray, path: Path) -> np.ndarray:
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise DatasetError(f"{path}: expected one label per image (a vector), found shape {array.shape}")
    if array.dtype.kind == "f" and not all_whole_numbers(array):
        raise DatasetError(f"{path}: labels must be integers, found non-integer values")
    if array.dtype.kind not in "iuf":
        raise DatasetError(f"{path}: labels must be integers, found dtype {array.dtype}")
    return array


def read_labels(path: str | os.PathLike, count: int, num_classes: int) -> np.ndarray:
    """``count`` integer labels in 0..num_classes-1 from an idx file, an ``.npy`` file or a text file.

    Raises :class:`DatasetError` naming the file when it holds anything else: non-integers, another
    number of labels, or labels out of range for the model's ``num_classes`` classes.
    """
    path = Path(path)
    _existing_file(path, "labels file")
    head = _head(path)
    if head[:2] == b"\x00\x00" or head[:2] == GZIP_MAGIC:
        array = load_idx(path)
    elif head.startswith(NPY_MAGIC):
        array = read_npy_bytes(read_file_bounded(path), str(path), max_input_bytes())
    else:
        array = _text_labels(_read_text(path, count), path)
    array = _as_label_array(array, path)
    if len(array) != count:
        raise DatasetError(f"{path} has {len(array)} labels for {count} images")
    bad = np.flatnonzero((array < 0) | (array >= num_classes))
    if bad.size:
        raise DatasetError(f"{path}: label {array[bad[0]].item()} (number {bad[0] + 1}) is out of range: the model has "
                           f"{num_classes} classes, 0–{num_classes - 1}")
    return array.astype(np.int64)
