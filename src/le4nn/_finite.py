"""Whether arrays hold only finite numbers, in one fast pass (the check every input and weight gets).

``np.isfinite(a).all()`` writes a boolean array as large as ``a`` and reads it again.  The sum of
squares Σ a² — one BLAS dot product, reading ``a`` once — is infinite or NaN whenever an entry is; it
also overflows for huge finite entries (beyond about 1e19 in float32), and only then does the exact
test decide.  Integer arrays are always finite.
"""

from __future__ import annotations

import math

import numpy as np

_BLAS_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def all_finite(a: np.ndarray) -> bool:
    """Whether every entry of ``a`` is finite (see the module docstring)."""
    if a.dtype.kind not in "fc":
        return True
    if a.dtype not in _BLAS_FLOATS or a.size == 0:
        return bool(np.isfinite(a).all())
    flat = a.reshape(-1)  # a copy only for a non-contiguous a
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow only sends us to the exact test
        squares = float(np.dot(flat, flat))
    return math.isfinite(squares) or bool(np.isfinite(flat).all())


def first_non_finite_row(a: np.ndarray, chunk_entries: int = 1 << 20) -> int | None:
    """The index of the first row (sample) of ``a`` holding a NaN or an infinity, or None; chunks of
    about ``chunk_entries`` entries are checked with :func:`all_finite`, only a failing one row by row."""
    if a.dtype.kind not in "fc" or a.size == 0:
        return None
    rows = max(1, chunk_entries // max(1, a.size // len(a)))
    for start in range(0, len(a), rows):
        chunk = a[start : start + rows]
        if all_finite(chunk):
            continue
        finite = np.isfinite(chunk).reshape(len(chunk), -1).all(axis=1)
        return start + int(np.argmin(finite))
    return None
