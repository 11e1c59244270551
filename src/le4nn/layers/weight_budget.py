"""A bound on the weight memory layers may create: loading a model file builds its layers inside a
:func:`weight_budget`, so a hostile file cannot make them allocate more than the file could hold."""

from __future__ import annotations

import contextlib
import contextvars
import math

import numpy as np

from le4nn._numbers import ByteBudget


class WeightBudgetExceeded(ValueError):
    """A layer asked for more weight memory than the active :func:`weight_budget` allows."""


#: (bytes left, what the budget stands for) while a :func:`weight_budget` is active, else None.
_weight_budget: contextvars.ContextVar = contextvars.ContextVar("le4nn_weight_budget", default=None)


@contextlib.contextmanager
def weight_budget(max_bytes: int, source: str):
    """Within this block, layers may create weights of at most ``max_bytes`` in all; the layer that
    asks for more gets a :class:`WeightBudgetExceeded` (naming ``source``, e.g. "the 2 kB model file")
    before anything is allocated.  Loading a model file uses it: the file must hold every weight."""
    token = _weight_budget.set((ByteBudget(max_bytes), source))
    try:
        yield
    finally:
        _weight_budget.reset(token)


def reserve_weight(layer, name: str, shape: tuple, dtype) -> None:
    """Charge a weight of ``shape`` to the active :func:`weight_budget` (no-op without one)."""
    budget = _weight_budget.get()
    if budget is None:
        return
    bytes_left, source = budget
    nbytes = math.prod(shape) * np.dtype(dtype).itemsize
    if not bytes_left.charge(nbytes):
        raise WeightBudgetExceeded(
            f"{layer.describe()}: weight '{name}' of shape {shape} needs {nbytes:,} bytes, more than "
            f"{source} allows ({bytes_left.left:,} bytes of weights left)"
        )
