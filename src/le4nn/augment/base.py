"""The base of every transform: :class:`Transform` (the per-image probability ``p`` and the
(N, H, W, C) batch convention), :class:`Compose`, :class:`Timed`, :class:`Lambda`, and :func:`get`
(which also takes preset names)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np
from numpy.random import Generator

from le4nn._numbers import is_integer, is_real
from le4nn.augment._params import as_batch
from le4nn.utils import get_rng


def as_rng(rng: int | Generator | None = None) -> np.random.Generator:
    """A Generator from a Generator, an int seed, or None (le4nn's global generator)."""
    if rng is None:
        return get_rng()
    if isinstance(rng, np.random.Generator):
        return rng
    if is_integer(rng):
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be a numpy Generator, an int seed or None, got {rng!r}")


class Transform:
    """Base class.  ``t(x, rng=None)`` returns the transformed batch; ``t(x, y, rng=None)`` returns
    ``(x', y')``.  Subclasses implement :meth:`apply` (every image of a (N, H, W, C) batch)."""

    #: Whether the transform changes the labels (only MixUp does).
    changes_labels = False

    def __init__(self, p: float = 1.0) -> None:
        if not is_real(p) or not 0 <= float(p) <= 1:
            raise ValueError(f"{type(self).__name__}: p must be a probability in [0, 1], got {p!r}")
        self.p = float(p)

    def __call__(self, x: np.ndarray, y: np.ndarray | None = None,
                 rng: Generator | None = None) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        rng = as_rng(rng)
        batch, squeezed = as_batch(x, type(self).__name__)
        out, y_out = self._transform(batch, y, rng)
        if squeezed:
            out = out[..., 0]
        return out if y is None else (out, y_out)

    def _transform(self, x: np.ndarray, y: Any, rng: np.random.Generator) -> tuple[np.ndarray, Any]:
        """Apply to each image with probability p; returns (x', y)."""
        if self.changes_labels and y is None:
            raise ValueError(f"{type(self).__name__} changes the labels: call it as t(x, y)")
        n = len(x)
        selected = None if self.p >= 1.0 or n == 0 else np.flatnonzero(rng.random(n) < self.p)
        if self.changes_labels:
            return self.apply_with_labels(x, y, rng, selected)
        if selected is not None and len(selected) == 0:
            return x.copy(), y
        if selected is None:
            return self.apply(x, rng).astype(x.dtype, copy=False), y
        out = x.copy()
        out[selected] = self.apply(x[selected], rng)
        return out, y

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Transform every image of ``x`` (N, H, W, C); return a new array (x is not modified)."""
        raise NotImplementedError

    def apply_with_labels(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator,  # pragma: no cover
                          selected: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:  # (label transforms only)
        raise NotImplementedError

    def _params(self) -> dict:
        return {k: v for k, v in vars(self).items() if not k.startswith("_") and k != "p"}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        p = "" if self.p == 1.0 else f"{', ' if args else ''}p={self.p:g}"
        return f"{type(self).__name__}({args}{p})"


class Compose(Transform):
    """Apply ``transforms`` in order (the whole pipeline with probability ``p`` per image)."""

    def __init__(self, transforms: Sequence[Transform | str | Callable[..., Any]], p: float = 1.0) -> None:
        super().__init__(p)
        self.transforms = cast("list[Transform]", [get(t) for t in transforms])  # None refused below
        for t in self.transforms:
            if t is None:
                raise ValueError("Compose: None is not a transform")

    @property
    def changes_labels(self) -> bool:  # type: ignore[override]
        return any(t.changes_labels for t in self.transforms)

    def _transform(self, x: np.ndarray, y: Any, rng: np.random.Generator) -> tuple[np.ndarray, Any]:
        if self.p >= 1.0 or not len(x):
            return self._chain(x, y, rng)
        selected = np.flatnonzero(rng.random(len(x)) < self.p)
        if self.changes_labels:
            raise ValueError("Compose: a pipeline containing MixUp must have p=1 (give MixUp its own p)")
        out = x.copy()
        if len(selected):
            out[selected] = self._chain(x[selected], None, rng)[0]
        return out, y

    def _chain(self, x: np.ndarray, y: Any, rng: np.random.Generator) -> tuple[np.ndarray, Any]:
        for t in self.transforms:
            x, y = t._transform(x, y, rng)
        return (x if self.transforms else x.copy()), y

    def __repr__(self) -> str:
        inner = ",\n".join(f"    {t!r}" for t in self.transforms)
        p = "" if self.p == 1.0 else f", p={self.p:g}"
        return f"Compose([\n{inner}\n]{p})" if self.transforms else f"Compose([]{p})"


class Timed(Transform):
    """Wrap a transform and add up the seconds spent in it (``.seconds``, ``.calls``): what
    ``le4nn-train`` uses to report the share of the training time that augmentation takes."""

    def __init__(self, transform: Transform | str) -> None:
        super().__init__()
        self.transform = cast(Transform, get(transform))
        self.seconds = 0.0
        self.calls = 0

    @property
    def changes_labels(self) -> bool:  # type: ignore[override]
        return self.transform.changes_labels

    def _transform(self, x: np.ndarray, y: Any, rng: np.random.Generator) -> tuple[np.ndarray, Any]:
        start = time.perf_counter()
        try:
            return self.transform._transform(x, y, rng)
        finally:
            self.seconds += time.perf_counter() - start
            self.calls += 1

    def __repr__(self) -> str:
        return f"Timed({self.transform!r})"


class Lambda(Transform):
    """Wrap a function ``f(batch) -> batch`` (or ``f(batch, rng)`` with ``takes_rng=True``)."""

    def __init__(self, function: Callable[..., np.ndarray], takes_rng: bool = False, p: float = 1.0) -> None:
        super().__init__(p)
        if not callable(function):
            raise TypeError(f"Lambda: {function!r} is not callable")
        self.function = function
        self.takes_rng = bool(takes_rng)

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = self.function(x, rng) if self.takes_rng else self.function(x)
        out = np.asarray(out)
        if out.shape != x.shape:
            raise ValueError(f"Lambda: the function changed the batch shape from {x.shape} to {out.shape}")
        return out.astype(x.dtype, copy=False)


#: Preset name -> a function building a fresh pipeline.  :mod:`le4nn.augment.presets` fills it (the
#: package imports that module), so that :class:`Compose` here can take preset names without importing it.
PRESETS: dict[str, Callable[[], Compose]] = {}


def preset(name: str) -> Compose:
    """A fresh pipeline of preset ``name`` (see :data:`PRESET_HELP`)."""
    try:
        return PRESETS[name]()
    except KeyError:
        raise ValueError(f"unknown augmentation preset {name!r}; choose one of {', '.join(PRESETS)}") from None


def get(identifier: Any) -> Transform | None:
    """A transform from a preset name, a Transform (returned as is), a function ``f(batch) -> batch``
    (wrapped in :class:`Lambda`), or None (no augmentation)."""
    if identifier is None or isinstance(identifier, Transform):
        return identifier
    if isinstance(identifier, str):
        return preset(identifier)
    if callable(identifier):
        return Lambda(identifier)
    raise TypeError(f"augment must be a preset name, a le4nn.augment.Transform or a function, got {identifier!r}")
