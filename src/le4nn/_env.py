"""Settings read from environment variables (``LE4NN_NUM_THREADS``, ``LE4NN_MAX_INPUT_BYTES``, ...).

This module imports nothing but the standard library: :mod:`le4nn._threads` reads its settings before
NumPy is loaded (see its docstring), so nothing here may import NumPy or le4nn.
"""

from __future__ import annotations

import os


def positive_int_from_env(name: str, default: int | None, *, error: type[Exception] = ValueError,
                          what: str = "a positive integer", maximum: int | None = None) -> int | None:
    """The positive integer in environment variable ``name``, or ``default`` when it is unset or blank.

    Anything else (not an integer, or below 1) raises ``error`` with "``name`` must be ``what``, got
    '...'", naming the variable and quoting its text; so does a value above ``maximum`` (when given),
    with "must be at most ``maximum``".
    """
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise error(f"{name} must be {what}, got {text!r}")
    if maximum is not None and value > maximum:
        raise error(f"{name} must be at most {maximum}, got {text!r}")
    return value
