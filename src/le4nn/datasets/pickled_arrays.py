"""NumPy arrays rebuilt from a pickle's parts, interpreted here instead of handed to NumPy.

How NumPy pickles an array (all protocols up to 4, and protocol 5 for non-contiguous arrays)::

    _reconstruct(ndarray, (0,), b"b")                   # REDUCE: an empty array
    BUILD (1, shape, dtype, is_fortran, rawdata)        # ndarray.__setstate__
    dtype("u1", False, True)                            # REDUCE (align=False, copy=True)
    BUILD (3, "|", None, None, None, -1, -1, 0)         # dtype.__setstate__ (version 4 adds metadata)

and with protocol 5, ``_frombuffer(buffer, dtype, shape, order)``.  Handing the states to NumPy lets a
pickle give a dtype sub-arrays, fields at any offset or metadata, so that the array's dtype no longer
matches its buffer (a segmentation fault later).  Here each global is a stand-in that records its
arguments; only plain numeric dtypes (version-3 states with no fields, sub-array, metadata or flags) and
arrays whose buffer holds exactly ``itemsize × prod(shape)`` bytes are accepted, and the real arrays are
built by :func:`materialize` from validated pieces (native byte order, C order, a private copy).
"""

from __future__ import annotations

import math
from typing import Any, cast

import numpy as np

from le4nn._numbers import ByteBudget

#: the dtypes a pickled array may have: plain booleans, integers, floats and complex numbers
PLAIN_DTYPES = frozenset({"b1", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8", "c8", "c16"})
#: NumPy 1 allows 32 dimensions (NumPy 2: 64); images need 4
MAX_NDIM = 32
#: containers nested deeper than this in a pickle are refused
MAX_DEPTH = 64
#: The most objects (arrays and containers) a pickle may hold.
MAX_NODES = 1_000_000
_SCALARS = (bytes, bytearray, str, int, float, bool, type(None))


class PickleRefused(Exception):
    """The pickle asks for something outside what these stand-ins accept (the message says what)."""


def _is_int(value) -> bool:
    return type(value) is int or type(value) is bool


def text_arg(value, what: str) -> str:
    """A short str or (Python 2 pickles read with ``encoding="bytes"``) ASCII bytes, as str."""
    if isinstance(value, bytes) and len(value) <= 16:
        try:
            return value.decode("ascii")
        except UnicodeDecodeError:
            pass
    if isinstance(value, str) and len(value) <= 16:
        return value
    raise PickleRefused(f"{what} must be a short string, found {type(value).__name__}")


class DtypeSpec:
    """What ``numpy.dtype(name, align, copy)`` followed by a BUILD asked for; a plain dtype only."""

    __slots__ = ("name", "byteorder", "built", "used")

    def __init__(self, name: str) -> None:
        self.name = name
        self.byteorder = "="
        self.built = False
        self.used = False

    def __setstate__(self, state):
        if self.built or self.used:
            raise PickleRefused("the pickle sets a dtype's state twice, or after an array used the dtype")
        if not isinstance(state, tuple) or len(state) != 8 or not _is_int(state[0]) or state[0] != 3:
            raise PickleRefused(
                "only version-3 dtype states of 8 items are accepted (no metadata, no older layouts)"
            )
        _, byteorder, subarray, names, fields, elsize, alignment, flags = state
        if subarray is not None or names is not None or fields is not None:
            raise PickleRefused(f"the dtype {self.name} is given fields or a sub-array; only plain dtypes are accepted")
        if not all(_is_int(v) for v in (elsize, alignment, flags)) or (elsize, alignment, flags) != (-1, -1, 0):
            raise PickleRefused(
                f"the dtype {self.name} is given element size, alignment or flags ({elsize!r}, {alignment!r}, "
                f"{flags!r}); a plain dtype has (-1, -1, 0)"
            )
        byteorder = text_arg(byteorder, "a dtype's byte order")
        allowed = ("|",) if np.dtype(self.name).itemsize == 1 else ("<", ">")
        if byteorder not in allowed:
            raise PickleRefused(f"the dtype {self.name} is given the byte order {byteorder!r} (expected "
                                f"{' or '.join(map(repr, allowed))})")
        self.byteorder = byteorder
        self.built = True

    def numpy_dtype(self) -> np.dtype:
        self.used = True
        dtype = np.dtype(self.name)
        return dtype if self.byteorder in "|=" else dtype.newbyteorder(cast(Any, self.byteorder))  # "<" or ">"


class ArraySpec:
    """An array a pickle asked for: the validated read-only view of its buffer, or None before BUILD."""

    __slots__ = ("view",)

    def __init__(self, view: np.ndarray | None = None) -> None:
        self.view = view

    def __setstate__(self, state):
        if self.view is not None:
            raise PickleRefused("the pickle sets an array's state twice")
        if not isinstance(state, tuple) or len(state) != 5 or not _is_int(state[0]) or state[0] != 1:
            raise PickleRefused("only version-1 array states (version, shape, dtype, is_fortran, data) are accepted")
        _, shape, dtype, is_fortran, rawdata = state
        if not _is_int(is_fortran) or is_fortran not in (0, 1):
            raise PickleRefused(f"an array's is_fortran flag must be True or False, found {is_fortran!r}")
        self.view = array_view(shape, dtype, rawdata, "F" if is_fortran else "C")


def array_view(shape, dtype, rawdata, order: str) -> np.ndarray:
    """The array ``rawdata`` holds, after checking shape, dtype and buffer length against each other."""
    if not isinstance(shape, tuple) or len(shape) > MAX_NDIM:
        raise PickleRefused(f"an array's shape must be a tuple of at most {MAX_NDIM} sizes, found {_brief(shape)}")
    if not all(type(n) is int and n >= 0 for n in shape):
        raise PickleRefused(f"an array's shape must hold non-negative integers, found {_brief(shape)}")
    if not isinstance(dtype, DtypeSpec):
        raise PickleRefused(f"an array's dtype must be a numpy.dtype, found {type(dtype).__name__}")
    if not isinstance(rawdata, (bytes, bytearray)):
        raise PickleRefused(f"an array's data must be bytes, found {type(rawdata).__name__} (object arrays "
                            "are refused)")
    numpy_dtype = dtype.numpy_dtype()
    count = math.prod(shape)  # Python integers: no overflow
    needed = count * numpy_dtype.itemsize
    if needed != len(rawdata):
        raise PickleRefused(f"an array of shape {shape} and dtype {dtype.name} needs {needed} bytes, its data "
                            f"holds {len(rawdata)}")
    flat = np.frombuffer(rawdata, dtype=numpy_dtype, count=count) if count else np.empty(0, numpy_dtype)
    return flat.reshape(shape, order=cast(Any, order))  # "C" or "F", checked by the caller


def _brief(value) -> str:
    text = repr(value) if isinstance(value, (tuple, list, int, str, bytes)) else type(value).__name__
    return text if len(text) <= 60 else text[:57] + "..."


class _Walk:
    """What :func:`materialize` has left to spend, and what it has already rebuilt."""

    def __init__(self, byte_limit: int) -> None:
        self.bytes = ByteBudget(byte_limit)
        self.nodes_left = MAX_NODES
        self.done: dict[int, object] = {}  # id(pickled object) -> its rebuilt value (shared parts once)
        self.active: set[int] = set()  # the containers being rebuilt (a cycle comes back to one)


def materialize(value, byte_limit: int):
    """``value`` with every :class:`ArraySpec` replaced by a private native-order C-contiguous array.

    The arrays may take ``byte_limit`` bytes in all; containers must be plain dicts, lists and tuples,
    not cyclic, nor deeper than :data:`MAX_DEPTH`, nor more than :data:`MAX_NODES` objects.  A part the
    pickle shares (one list referenced twice) is rebuilt once and shared again, so a few bytes of
    pickle that reference a list from itself over and over cannot make the walk exponential.
    """
    return _rebuild(value, _Walk(byte_limit), 0)


def _rebuild(value, walk: _Walk, depth: int):
    if isinstance(value, _SCALARS):
        return value
    key = id(value)
    if key in walk.done:
        return walk.done[key]
    walk.nodes_left -= 1
    if walk.nodes_left < 0:
        raise PickleRefused(f"the pickle holds more than {MAX_NODES} objects")
    if isinstance(value, ArraySpec):
        result = _rebuild_array(value, walk)
    elif type(value) not in (dict, list, tuple):
        raise PickleRefused(f"the pickle holds a {type(value).__name__}; only arrays and plain containers are accepted")
    else:
        if depth >= MAX_DEPTH or key in walk.active:
            raise PickleRefused(f"the pickle's containers are cyclic or nested more than {MAX_DEPTH} deep")
        walk.active.add(key)
        try:
            result = _rebuild_container(value, walk, depth)
        finally:
            walk.active.discard(key)
    walk.done[key] = result
    return result


def _rebuild_array(spec: ArraySpec, walk: _Walk) -> np.ndarray:
    if spec.view is None:
        raise PickleRefused("the pickle creates an array but never gives it its data")
    if not walk.bytes.charge(spec.view.nbytes):
        raise PickleRefused("the arrays of the pickle take more memory than the size limit allows")
    native = spec.view.dtype.newbyteorder("=")
    return np.array(spec.view, dtype=native, order="C", copy=True)


def _rebuild_container(value, walk: _Walk, depth: int):
    if type(value) is dict:
        if not all(isinstance(key, (str, bytes, int)) for key in value):
            raise PickleRefused("the pickle holds a dict whose keys are not strings or integers")
        return {key: _rebuild(item, walk, depth + 1) for key, item in value.items()}
    return type(value)(_rebuild(item, walk, depth + 1) for item in value)
