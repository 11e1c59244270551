"""Small checks on numbers that several packages share: float arrays that must hold whole numbers
(class labels, embedding indices), byte budgets charged as data is read or allocated, and the checks
that an argument is a real number or an integer (bool excluded).

This module imports nothing from le4nn, so every layer (ops, layers, models, datasets) may use it.
"""

from __future__ import annotations

import numbers

import numpy as np


def whole_number_mask(values: np.ndarray) -> np.ndarray:
    """True where the float array ``values`` holds a finite whole number (NaN and ±inf are not)."""
    return np.isfinite(values) & (values == np.floor(values))


def all_whole_numbers(values: np.ndarray) -> bool:
    """Whether every entry of the float array ``values`` is a finite whole number (True when empty)."""
    return bool(whole_number_mask(values).all())


class ByteBudget:
    """How many more bytes may be read or allocated: :meth:`charge` takes ``nbytes`` from what is
    left, or refuses (returns False, leaving it unchanged) when that is more than what is left."""

    def __init__(self, limit: int) -> None:
        self.left = int(limit)

    def charge(self, nbytes: int) -> bool:
        if nbytes > self.left:
            return False
        self.left -= nbytes
        return True


def is_real(value: object) -> bool:
    """Whether ``value`` is a real number (``numbers.Real``: int, float, NumPy scalars, Fraction, ...) and not a
    bool.  A function of ``object``, so that a type checker does not narrow the caller's argument: to mypy a
    ``float`` is not a ``numbers.Real``."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_integer(value: object) -> bool:
    """Whether ``value`` is an integer (``numbers.Integral``: int, NumPy integers) and not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)
