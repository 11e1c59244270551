"""The course contest file (``le4MNIST_X.dump``): a pickled NumPy uint8 array of N×784 or N×28×28 images.

Real course files were written by Python 2 (a py2 ``str`` of pixel bytes, ``numpy.core`` names); files
written by ``ndarray.dump`` under Python 3 (protocol 2, ``_codecs.encode``), by NumPy 2
(``numpy._core``) or with ``pickle.HIGHEST_PROTOCOL`` load too.  The pickle goes through a restricted
unpickler (:mod:`le4nn.datasets.safe_pickle`): anything but NumPy array reconstruction is refused before
it can run.  For convenience a gzipped dump, a ``.npy`` file or an idx file is accepted as well.
"""

from __future__ import annotations

import gzip
import io
import os
import zlib
from pathlib import Path

import numpy as np

from le4nn.datasets.errors import DatasetError
from le4nn.datasets.idx import GZIP_MAGIC, load_idx
from le4nn.datasets.safe_pickle import restricted_loads

IMAGE_SHAPE = (28, 28)


def _as_images(array, source: str) -> np.ndarray:
    if not isinstance(array, np.ndarray):
        raise DatasetError(f"{source}: expected a NumPy array of images, found {type(array).__name__}")
    shape = "×".join(map(str, array.shape))
    pixels = IMAGE_SHAPE[0] * IMAGE_SHAPE[1]
    if array.ndim == 2 and array.shape[1] == pixels:
        array = array.reshape(-1, *IMAGE_SHAPE)
    elif array.ndim == 4 and array.shape[1:] in ((1, *IMAGE_SHAPE), (*IMAGE_SHAPE, 1)):
        array = array.reshape(-1, *IMAGE_SHAPE)
    elif not (array.ndim == 3 and array.shape[1:] == IMAGE_SHAPE):
        raise DatasetError(f"{source}: expected images of shape N×784 or N×28×28, found {shape}")
    if len(array) == 0:
        raise DatasetError(f"{source}: the file holds no images")
    if array.dtype != np.uint8:
        kind = array.dtype.kind
        if kind not in "iuf":
            raise DatasetError(f"{source}: expected uint8 pixels, found dtype {array.dtype}")
        if kind == "f" and not (np.all(np.isfinite(array)) and np.all(array == np.round(array))):
            raise DatasetError(f"{source}: expected integer pixel values 0–255, found fractional values "
                               f"(dtype {array.dtype})")
        if array.min() < 0 or array.max() > 255:
            raise DatasetError(f"{source}: pixel values must lie in 0–255, found {array.min()}–{array.max()}")
        array = array.astype(np.uint8)
    return np.ascontiguousarray(array)


def load_contest(path: str | os.PathLike) -> np.ndarray:
    """The images of a contest dump as uint8 (N, 28, 28).

    Raises :class:`DatasetError` naming the file when it cannot be read, is not a pickle (or .npy/idx),
    is truncated, asks for anything but NumPy array reconstruction, or does not hold N×784 / N×28×28
    pixel values in 0–255.
    """
    path = Path(path)
    source = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"{source}: cannot read the file: {exc.strerror or exc}") from exc
    if data[:2] == GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise DatasetError(f"{source}: corrupted gzip file: {exc or 'truncated'}") from exc
    if not data:
        raise DatasetError(f"{source}: the file is empty")
    if data[:2] == b"\x00\x00":  # idx magic: 00 00 type ndim
        return _as_images(load_idx(path), source)
    if data.startswith(b"\x93NUMPY"):
        try:
            array = np.load(io.BytesIO(data), allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise DatasetError(f"{source}: unreadable .npy file: {exc}") from exc
        return _as_images(array, source)
    return _as_images(restricted_loads(data, source=source), source)
