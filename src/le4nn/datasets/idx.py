"""The idx format of MNIST, Fashion-MNIST and KMNIST: reading (strictly validated) and writing.

An idx file is a 4-byte magic number ``00 00 TT DD`` (TT the element type, DD the number of dimensions),
DD big-endian 32-bit sizes, then the elements, big-endian, row-major.  The files are usually gzipped;
gzip is recognised by its magic bytes (1f 8b), not by the file name.
"""

from __future__ import annotations

import gzip
import io
import os
import struct
from pathlib import Path

import numpy as np

from le4nn._typing import ArrayLike
from le4nn.datasets.errors import DatasetError
from le4nn.datasets.limits import max_input_bytes, open_input, read_up_to, too_large
from le4nn.datasets.pickled_arrays import MAX_NDIM

#: idx element type code -> NumPy dtype (big-endian as stored in the file)
IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_TYPE_CODES = {dtype.newbyteorder("="): code for code, dtype in IDX_TYPES.items()}


def _hex(data: bytes | bytearray) -> str:
    return " ".join(f"{byte:02x}" for byte in data)


def _not_idx_hint(head: bytes) -> str:
    text = head.lstrip().lower()
    if text.startswith((b"<!doctype", b"<html", b"<?xml")):
        return " (it looks like an HTML page: a failed download?)"
    if head.startswith(b"\x80") or head.startswith(b"\x93NUMPY"):
        return " (it looks like a pickle or .npy file)"
    if head.startswith(b"PK\x03\x04"):
        return " (it looks like a zip archive)"
    return ""


def _parse(stream, name: str, limit: int) -> np.ndarray:
    magic = read_up_to(stream, 4)
    if len(magic) < 4:
        what = "empty" if not magic else f"only {len(magic)} bytes long"
        raise DatasetError(f"{name}: not an idx file: the file is {what}")
    if magic[0] != 0 or magic[1] != 0:
        raise DatasetError(
            f"{name}: not an idx file: it starts with {_hex(magic)}, an idx file starts with 00 00, "
            f"a type code and the number of dimensions{_not_idx_hint(bytes(magic) + stream.read(16))}"
        )
    type_code, ndim = magic[2], magic[3]
    if type_code not in IDX_TYPES:
        known = ", ".join(f"0x{code:02x} ({dtype.name})" for code, dtype in IDX_TYPES.items())
        raise DatasetError(f"{name}: unknown idx element type code 0x{type_code:02x} (known: {known})")
    if ndim == 0 or ndim > MAX_NDIM:
        raise DatasetError(f"{name}: the idx header declares {ndim} dimensions (an array has 1 to {MAX_NDIM})")
    header = read_up_to(stream, 4 * ndim)
    if len(header) < 4 * ndim:
        raise DatasetError(
            f"{name}: truncated idx header: {ndim} dimensions need {4 * ndim} bytes of sizes, found {len(header)}"
        )
    shape = struct.unpack(f">{ndim}I", header)
    dtype = IDX_TYPES[type_code]
    expected = int(np.prod(shape, dtype=object)) * dtype.itemsize
    shape_text = "×".join(map(str, shape))
    if expected > limit:
        raise too_large(name, f"the idx header declares {shape_text} {dtype.name}, data", expected, limit)
    payload = read_up_to(stream, expected)
    if len(payload) < expected:
        raise DatasetError(
            f"{name}: truncated: the header declares {shape_text} {dtype.name} = {expected} bytes of data, "
            f"the file holds only {len(payload)}"
        )
    if stream.read(1):  # one byte past the declared data, whatever follows (a gzip stream is not read on)
        raise DatasetError(
            f"{name}: unexpected bytes after the {expected} bytes of data ({shape_text} {dtype.name}) "
            "that the header declares"
        )
    array = np.frombuffer(payload, dtype=dtype).reshape(shape)  # bytearray: the array is writable
    if dtype.byteorder == ">" and dtype.itemsize > 1:
        array = array.astype(dtype.newbyteorder("="))
    return array


def load_idx(path: str | os.PathLike, max_bytes: int | None = None) -> np.ndarray:
    """Read an idx file, gzipped or not, into a NumPy array (native byte order, writable).

    Raises :class:`DatasetError` naming the file when it cannot be read, is not an idx file, has an
    unknown element type or more than 32 dimensions, declares more than ``max_bytes`` of data (default
    ``$LE4NN_MAX_INPUT_BYTES``, checked before reading the data), is truncated, has bytes after the
    declared data (at most one byte past it is read), or is a damaged gzip file (including a CRC mismatch).
    """
    path = Path(path)
    limit = max_input_bytes() if max_bytes is None else max_bytes
    with open_input(path) as stream:
        return _parse(stream, str(path), limit)


def encode_idx(array) -> bytes:
    """The idx encoding (not gzipped) of an array of one of the idx element types."""
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=") if array.dtype.byteorder in "<>" else array.dtype
    if native not in _TYPE_CODES:
        raise ValueError(
            f"the idx format cannot store dtype {array.dtype} (uint8, int8, int16, int32, float32, float64)"
        )
    if array.ndim == 0 or array.ndim > 255:
        raise ValueError("the idx format stores arrays of 1 to 255 dimensions")
    code = _TYPE_CODES[native]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=IDX_TYPES[code]).tobytes()


def gzip_bytes(data: bytes) -> bytes:
    """Deterministic gzip: no file name, modification time 0, level 9 (same bytes for the same zlib)."""
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as stream:
        stream.write(data)
    return buffer.getvalue()


def save_idx(path: str | os.PathLike, array: ArrayLike) -> Path:
    """Write ``array`` as an idx file; gzipped (deterministically) when the name ends with ``.gz``."""
    from le4nn._files import write_bytes

    path = Path(path)
    data = encode_idx(array)
    write_bytes(path, gzip_bytes(data) if path.name.endswith(".gz") else data)  # atomically
    return path
