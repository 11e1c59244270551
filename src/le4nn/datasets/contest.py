"""The course contest file (``le4MNIST_X.dump``): a pickled NumPy uint8 array of N×784 or N×28×28 images.

Real course files were written by Python 2 (a py2 ``str`` of pixel bytes, ``numpy.core`` names); files
written by ``ndarray.dump`` under Python 3 (protocol 2, ``_codecs.encode``), by NumPy 2
(``numpy._core``) or with ``pickle.HIGHEST_PROTOCOL`` load too.  The pickle goes through a restricted
unpickler (:mod:`le4nn.datasets.safe_pickle`): anything but NumPy array reconstruction is refused before
it can run.  For convenience a gzipped dump, a ``.npy`` file or an idx file is accepted as well.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from le4nn.datasets.errors import DatasetError
from le4nn.datasets.idx import load_idx
from le4nn.datasets.limits import max_input_bytes, read_file_bounded
from le4nn.datasets.npy import NPY_MAGIC, read_npy_bytes
from le4nn.datasets.pixels import to_uint8_pixels
from le4nn.datasets.safe_pickle import restricted_loads

IMAGE_SHAPE = (28, 28)


def image_batch(array, source: str, image_shape: tuple[int, int] | None = IMAGE_SHAPE) -> np.ndarray:
    """``array`` as a batch of images (N, H, W) or (N, H, W, C); N×(H·W) rows are reshaped.

    ``image_shape`` (H, W) is required when given (contest files: 28×28); raises :class:`DatasetError`.
    """
    if not isinstance(array, np.ndarray):
        raise DatasetError(f"{source}: expected a NumPy array of images, found {type(array).__name__}")
    shape = "×".join(map(str, array.shape)) or "a single value (0-d)"
    if image_shape is not None:
        height, width = image_shape
        if array.ndim == 2 and array.shape[1] == height * width:
            array = array.reshape(-1, height, width)
        elif array.ndim == 4 and array.shape[1:] in ((1, height, width), (height, width, 1)):
            array = array.reshape(-1, height, width)
        elif not (array.ndim == 3 and array.shape[1:] == tuple(image_shape)):
            raise DatasetError(f"{source}: expected images of shape N×{height * width} or N×{height}×{width}, "
                               f"found {shape}")
    elif array.ndim not in (3, 4):
        raise DatasetError(f"{source}: expected a batch of images (N×H×W or N×H×W×C), found {shape}")
    if len(array) == 0:
        raise DatasetError(f"{source}: the file holds no images")
    return array


def read_contest_array(path: str | os.PathLike, max_bytes: int | None = None) -> np.ndarray:
    """The array a contest dump (or a gzipped dump, ``.npy`` or idx file) holds, as stored.

    At most ``max_bytes`` (default ``$LE4NN_MAX_INPUT_BYTES``) are read or decompressed.
    """
    path = Path(path)
    source = str(path)
    limit = max_input_bytes() if max_bytes is None else max_bytes
    data = read_file_bounded(path, limit)
    if not data:
        raise DatasetError(f"{source}: the file is empty")
    if data[:2] == b"\x00\x00":  # idx magic: 00 00 type ndim
        return load_idx(path, limit)
    if data.startswith(NPY_MAGIC):
        return read_npy_bytes(data, source, limit)
    array = restricted_loads(data, source=source, limit=limit)
    if not isinstance(array, np.ndarray):
        raise DatasetError(f"{source}: expected a NumPy array of images, found {type(array).__name__}")
    return array


def load_contest(path: str | os.PathLike) -> np.ndarray:
    """The images of a contest dump as uint8 (N, 28, 28).

    Raises :class:`DatasetError` naming the file when it cannot be read, is not a pickle (or .npy/idx),
    is truncated or larger than the limit, asks for anything but plain NumPy array reconstruction, or
    does not hold N×784 / N×28×28 pixels by the rule of :mod:`le4nn.datasets.pixels` (integers 0–255,
    floats 0–255 whole numbers or multiples of 1/255 in [0, 1]).
    """
    source = str(path)
    images = image_batch(read_contest_array(path), source)
    return np.ascontiguousarray(to_uint8_pixels(images, source))
