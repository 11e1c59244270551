"""Size limits for data read from files, checked before memory is allocated, and bounded reading.

A small file can declare or decompress to a huge amount of data (a 3 MB gzip of 3 GB of zeros, an idx
header declaring 4·10⁹ items, a 400 KB PNG of 20000×20000 pixels).  Every reader here refuses such a file
with a :class:`DatasetError` naming it, before allocating, when the data would exceed:

* ``LE4NN_MAX_INPUT_BYTES`` (default 1 GiB): the bytes of one file's data, after decompression;
* ``LE4NN_MAX_IMAGE_PIXELS`` (default 2²⁴ ≈ 16.8 million): width × height of one PNG image.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, cast

from le4nn._env import positive_int_from_env
from le4nn.datasets.errors import DatasetError

DEFAULT_MAX_INPUT_BYTES = 1 << 30
DEFAULT_MAX_IMAGE_PIXELS = 1 << 24
GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 1 << 22


def _positive_env(name: str, default: int) -> int:
    value = positive_int_from_env(name, default, error=DatasetError, what="a positive whole number of bytes or pixels")
    assert value is not None  # (a default is given)
    return value


def max_input_bytes() -> int:
    """The most bytes of data one input file may hold (after decompression): ``$LE4NN_MAX_INPUT_BYTES``."""
    return _positive_env("LE4NN_MAX_INPUT_BYTES", DEFAULT_MAX_INPUT_BYTES)


def max_image_pixels() -> int:
    """The most pixels (width × height) one PNG image may declare: ``$LE4NN_MAX_IMAGE_PIXELS``."""
    return _positive_env("LE4NN_MAX_IMAGE_PIXELS", DEFAULT_MAX_IMAGE_PIXELS)


def too_large(source: str, what: str, size: int, limit: int) -> DatasetError:
    return DatasetError(f"{source}: {what} of {size} bytes exceeds the limit of {limit} bytes "
                        "(raise LE4NN_MAX_INPUT_BYTES if the file is genuine)")


def read_up_to(stream, count: int) -> bytearray:
    """Read ``count`` bytes or up to the end of the stream, never allocating more than what arrived."""
    buffer = bytearray()
    while len(buffer) < count:
        chunk = stream.read(min(CHUNK, count - len(buffer)))
        if not chunk:
            break
        buffer += chunk
    return buffer


@contextlib.contextmanager
def open_input(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """``with open_input(path) as stream:`` the file's bytes, gunzipped when it starts with the gzip
    magic; failing reads (a missing file, a truncated or damaged gzip stream) become one
    :class:`DatasetError` naming the file."""
    path = Path(path)
    try:
        with open(path, "rb") as raw:
            gzipped = raw.read(2) == GZIP_MAGIC
            raw.seek(0)
            if not gzipped:
                yield raw
                return
            with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                yield cast(BinaryIO, stream)  # a GzipFile reads bytes as a binary file does
    except EOFError as exc:
        raise DatasetError(f"{path}: truncated gzip file (the compressed stream ends early)") from exc
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise DatasetError(f"{path}: corrupted gzip file: {exc}") from exc
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the file: {exc.strerror or exc}") from exc


def read_file_bounded(path: str | os.PathLike, limit: int | None = None) -> bytes:
    """The bytes of a file, gunzipped when it starts with the gzip magic; at most ``limit`` bytes.

    Reads at most ``limit + 1`` bytes (of the file, or of the decompressed stream), so a decompression
    bomb is refused after reading just past the limit.  Raises :class:`DatasetError` naming the file.
    """
    limit = max_input_bytes() if limit is None else limit
    with open_input(path) as stream:
        data = read_up_to(stream, limit + 1)
        gzipped = isinstance(stream, gzip.GzipFile)
    if len(data) > limit and not gzipped:
        raise too_large(str(path), "a file", os.stat(path).st_size, limit)
    if len(data) > limit:
        raise DatasetError(f"{path}: the gzip file decompresses to more than the limit of {limit} bytes "
                           "(raise LE4NN_MAX_INPUT_BYTES if the file is genuine)")
    return bytes(data)
