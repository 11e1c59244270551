"""``.npy`` files of plain numbers, read only after their header has been checked.

``np.load`` trusts the header: a 100-byte file may declare a shape of 10¹² items, an object array (a
pickle), a structured or string dtype.  :func:`read_npy` reads the header with NumPy's own parsers
(``read_magic``, ``read_array_header_1_0`` / ``_2_0``), refuses anything but booleans, integers, floats
and complex numbers of at most 32 dimensions, checks the declared size against the limit and against the
bytes the file holds, and only then reads the data.
"""

from __future__ import annotations

import io
import math

import numpy as np

from le4nn._npy import NpyHeaderError, is_plain, read_header
from le4nn.datasets.errors import DatasetError
from le4nn.datasets.limits import read_up_to, too_large
from le4nn.datasets.pickled_arrays import MAX_NDIM

NPY_MAGIC = b"\x93NUMPY"


def _header(stream, source: str) -> tuple[tuple, bool, np.dtype]:
    try:
        return read_header(stream)
    except NpyHeaderError as exc:
        raise DatasetError(f"{source}: {exc}") from None


def check_header(shape: tuple, dtype: np.dtype, source: str) -> None:
    """Refuse dtypes other than plain numbers, and shapes with negative sizes or too many dimensions."""
    if dtype.hasobject:
        raise DatasetError(f"{source}: the .npy file holds Python objects (dtype {dtype}), which are refused "
                           "(they would be unpickled)")
    if not is_plain(dtype):
        raise DatasetError(f"{source}: the .npy file holds dtype {dtype}; only plain numbers are accepted")
    if len(shape) > MAX_NDIM or not all(type(n) is int and n >= 0 for n in shape):
        raise DatasetError(f"{source}: the .npy header declares an invalid shape {shape}")


def read_npy(stream, source: str, limit: int, available: int) -> np.ndarray:
    """The array of the ``.npy`` data in ``stream`` (``available`` bytes from its current position).

    Raises :class:`DatasetError` naming ``source`` for a bad header, a refused dtype, a declared size
    above ``limit`` bytes, a truncated file or bytes after the data.
    """
    start = stream.tell()
    shape, fortran_order, dtype = _header(stream, source)
    check_header(shape, dtype, source)
    count = math.prod(shape)
    expected = count * dtype.itemsize
    if expected > limit:
        raise too_large(source, f"the .npy header declares {shape} {dtype}, data", expected, limit)
    remaining = available - (stream.tell() - start)
    if remaining != expected:
        what = "truncated" if remaining < expected else "unexpected bytes after the data"
        raise DatasetError(f"{source}: {what}: the .npy header declares {shape} {dtype} = {expected} bytes, "
                           f"the file holds {remaining}")
    data = read_up_to(stream, expected)
    if len(data) != expected:
        raise DatasetError(f"{source}: truncated .npy file")
    array = np.frombuffer(data, dtype=dtype, count=count).reshape(shape, order="F" if fortran_order else "C")
    return np.array(array, dtype=dtype.newbyteorder("="), order="C")


def read_npy_bytes(data: bytes, source: str, limit: int) -> np.ndarray:
    """:func:`read_npy` of a ``.npy`` file held in memory."""
    return read_npy(io.BytesIO(data), source, limit, len(data))
