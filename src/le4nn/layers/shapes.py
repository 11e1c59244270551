"""Shape helpers shared by the layers and the models: a shape is a tuple of ints and ``None`` (unknown size,
e.g. the batch dimension)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

#: A shape: sizes (int) and ``None`` for unknown ones.
Shape = tuple


def format_shape(shape: Sequence[Any]) -> str:
    """``(None, 28, 28, 1)`` as written in messages; a list of shapes (multi-input layers) as ``[..., ...]``."""
    if isinstance(shape, list):
        return "[" + ", ".join(format_shape(s) for s in shape) + "]"
    return str(tuple(shape))


def normalize_shape(shape: int | Iterable, what: str = "shape") -> Shape:
    """A shape as a tuple of ints and ``None`` (unknown size)."""
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    try:
        dims = tuple(shape)
    except TypeError:
        raise TypeError(f"{what} must be a tuple of sizes, got {shape!r}") from None
    out: list[int | None] = []
    for d in dims:
        if d is None:
            out.append(None)
        elif isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 0:
            out.append(int(d))
        else:
            raise ValueError(f"{what} must hold non-negative ints or None, got {shape!r}")
    return tuple(out)


def shapes_compatible(expected: Shape, actual: Shape) -> bool:
    """Same rank, and the same size wherever both are known (``None`` matches anything)."""
    return len(expected) == len(actual) and all(
        e is None or a is None or e == a for e, a in zip(expected, actual, strict=True)
    )


def known_size(dims: Iterable) -> int | None:
    """The product of the sizes, or ``None`` when one is unknown."""
    return None if any(d is None for d in dims) else math.prod(dims)
