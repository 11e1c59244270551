"""Reading a ``.npy`` header without trusting it: the one parser for input files and model files.

``np.load`` believes the header: a 100-byte file may declare 10¹² items, an object array (a pickle), a
structured or string dtype.  :func:`read_header` runs NumPy's own header parsers (``read_magic``,
``read_array_header_1_0`` / ``_2_0``) and turns every way they fail on damaged bytes into one
:class:`NpyHeaderError`; :func:`is_plain` says whether a dtype is plain numbers of the allowed kinds.
The callers check the shape and size against what they expect before they read any data.
"""

from __future__ import annotations

import tokenize
from typing import IO

import numpy as np
from numpy.lib import format as npy_format

#: The longest header read (NumPy's own default limit).
MAX_HEADER_SIZE = 10000
#: NumPy kind letters of plain numbers: booleans, integers, unsigned integers, floats, complex numbers.
NUMBER_KINDS = "biufc"

# What NumPy's parser raises on damaged headers (it tokenizes and literal-evals the header text).
_PARSE_ERRORS = (ValueError, SyntaxError, TypeError, OverflowError, UnicodeError, EOFError, tokenize.TokenError,
                 RecursionError, NotImplementedError)


class NpyHeaderError(ValueError):
    """A ``.npy`` header that cannot be read (the message says why, the caller names the file)."""


def read_header(stream: IO[bytes], max_header_size: int = MAX_HEADER_SIZE) -> tuple[tuple, bool, np.dtype]:
    """``(shape, fortran_order, dtype)`` of the ``.npy`` data at ``stream``'s position, which is left
    at the first byte of the data."""
    try:
        version = npy_format.read_magic(stream)
        if version == (1, 0):
            return npy_format.read_array_header_1_0(stream, max_header_size=max_header_size)
        if version in ((2, 0), (3, 0)):
            return npy_format.read_array_header_2_0(stream, max_header_size=max_header_size)
    except _PARSE_ERRORS as exc:
        raise NpyHeaderError(f"unreadable .npy header: {exc}") from None
    raise NpyHeaderError(f"unknown .npy format version {version[0]}.{version[1]}")


def is_plain(dtype: np.dtype, kinds: str = NUMBER_KINDS) -> bool:
    """Whether ``dtype`` is a plain number of one of ``kinds``: no objects, fields or sub-arrays."""
    return dtype.kind in kinds and not dtype.hasobject and dtype.names is None and dtype.subdtype is None
