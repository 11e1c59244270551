"""Weight regularizers: ``regularizer(w) -> float`` (the penalty added to the loss) and
``regularizer.gradient(w) -> ndarray`` (its derivative, added to the parameter's gradient in backward).

Keras semantics: L1 penalty l1·Σ|w| (gradient l1·sign(w), 0 at w = 0), L2 penalty l2·Σw² (gradient
2·l2·w; note the factor 2: Keras's ``l2`` is not the "λ/2·‖w‖²" convention), L1L2 their sum.

Weight decay is not a regularizer here: *decoupled* weight decay (w ← w − η·λ·w, applied by the optimizer
and not through the loss) is the ``weight_decay`` argument of the optimizers (AdamW, and SGD etc. as in
Keras 3).  For plain SGD, L2(l2) is equivalent to weight_decay = 2·l2; for adaptive optimizers they differ.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from le4nn._numbers import is_real
from le4nn._registry import Configurable, Registry
from le4nn._typing import Config


def _factor(value: Any, owner: str, name: str) -> float:
    if not is_real(value):
        raise TypeError(f"{owner}: {name} must be a real number, got {value!r}")
    value = float(value)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{owner}: {name} must be a finite number >= 0, got {value}")
    return value


class Regularizer(Configurable):
    """Base class: ``__call__(w) -> float``, ``gradient(w) -> ndarray`` (same shape and dtype as w)."""

    def __call__(self, w: np.ndarray) -> float:
        raise NotImplementedError

    def gradient(self, w: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class L1L2(Regularizer):
    """penalty = l1·Σ|w| + l2·Σw²;  gradient = l1·sign(w) + 2·l2·w."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        name = type(self).__name__
        self.l1 = _factor(l1, name, "l1")
        self.l2 = _factor(l2, name, "l2")

    def __call__(self, w: np.ndarray) -> float:
        w = np.asarray(w)
        penalty = 0.0
        if self.l1:
            penalty += self.l1 * float(np.abs(w).sum(dtype=np.float64))
        if self.l2:
            penalty += self.l2 * float(np.square(w, dtype=np.float64).sum())
        return penalty

    def gradient(self, w: np.ndarray) -> np.ndarray:
        w = np.asarray(w)
        grad = np.zeros_like(w)
        if self.l1:
            grad += (self.l1 * np.sign(w)).astype(w.dtype, copy=False)
        if self.l2:
            grad += (2 * self.l2 * w).astype(w.dtype, copy=False)
        return grad

    def get_config(self) -> Config:
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """penalty = l1·Σ|w|;  gradient = l1·sign(w) (0 where w = 0).  Keras default l1 = 0.01."""

    def __init__(self, l1: float = 0.01) -> None:
        super().__init__(l1=l1, l2=0.0)

    def get_config(self) -> Config:
        return {"l1": self.l1}


class L2(L1L2):
    """penalty = l2·Σw²;  gradient = 2·l2·w.  Keras default l2 = 0.01."""

    def __init__(self, l2: float = 0.01) -> None:
        super().__init__(l1=0.0, l2=l2)

    def get_config(self) -> Config:
        return {"l2": self.l2}


_NAMES: dict[str, type[Regularizer]] = {"l1": L1, "l2": L2, "l1l2": L1L2, "l1_l2": L1L2}
_REGISTRY = Registry("regularizer", "regularizers", Regularizer, _NAMES)


def l1_l2(l1: float = 0.01, l2: float = 0.01) -> L1L2:
    """Keras's shortcut ``regularizers.l1_l2`` (both factors default to 0.01)."""
    return L1L2(l1=l1, l2=l2)


def serialize(regularizer: Regularizer) -> Config:
    """``{"class_name": ..., "config": {...}}`` of a regularizer."""
    return _REGISTRY.serialize(regularizer)


def deserialize(config: dict) -> Regularizer:
    """The regularizer that :func:`serialize` described (the inverse of :func:`serialize`)."""
    return _REGISTRY.deserialize(config)


def get(identifier: Any) -> Regularizer | Callable[..., Any] | None:
    """A regularizer from a name ("l1", "l2", "l1_l2"), an instance, a config dict or a callable.

    ``None`` returns ``None``.
    """
    if identifier is None:
        return None
    return _REGISTRY.get(identifier, accepts=callable)
