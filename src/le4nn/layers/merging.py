"""Layers that merge several inputs (branching models): Add, Average and Concatenate.

``forward`` takes a list of arrays and ``backward`` returns a list of gradients, one per input.
Inside a model, an Add whose output only a ReLU reads runs with it in one pass (:mod:`le4nn.layers._add_relu`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from le4nn._numbers import is_integer
from le4nn._typing import ArrayLike, FloatArray, PartialShape
from le4nn.layers import _add_relu
from le4nn.layers.base import Layer
from le4nn.layers.shapes import format_shape, shapes_compatible


class _Merge(Layer):
    _multi_input = True

    def _check_count(self, input_shape: list[PartialShape]) -> None:
        if len(input_shape) < 2:
            raise ValueError(f"{self.describe()} takes a list of at least 2 inputs, got {len(input_shape)}")


class _Elementwise(_Merge):
    """A merge of inputs of one shape into one of that shape, element by element."""

    def compute_output_shape(self, input_shape: list[PartialShape]) -> PartialShape:
        self._check_count(input_shape)
        out = tuple(input_shape[0])
        for shape in input_shape[1:]:
            if not shapes_compatible(out, tuple(shape)):
                raise ValueError(
                    f"{self.describe()}: inputs must have the same shape, "
                    f"got {format_shape(list(input_shape))}"
                )
            out = tuple(a if a is not None else b for a, b in zip(out, shape, strict=True))
        return out

    def _check_same_shapes(self, xs: Sequence[np.ndarray]) -> None:
        if len({x.shape for x in xs}) > 1:
            raise ValueError(
                f"{self.describe()}: inputs must have the same shape, "
                f"got {format_shape([x.shape for x in xs])}"
            )

    def _sum(self, inputs: Any) -> np.ndarray:
        """The checked inputs' element-wise sum (a new array), remembering the shape and count."""
        xs = self._prepare_inputs(inputs)
        self._check_same_shapes(xs)
        y = xs[0].copy()
        for x in xs[1:]:
            y += x
        self._out_shape, self._count = y.shape, len(xs)
        return y


class Add(_Elementwise):
    """The element-wise sum of inputs of one shape; backward passes ∂E/∂y to every input."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._out_shape: Any = None
        self._count = 0
        self._fused_with: Any = None  # the ReLU of the last forward, when it was fused (_add_relu)

    def forward(self, inputs: Sequence[ArrayLike], training: bool = False) -> np.ndarray:
        y = self._sum(inputs)
        self._fused_with = None
        return y

    def _forward_through(self, consumer: Layer, x: Any, training: bool) -> Any:
        return _add_relu.forward(self, consumer, x)

    def _backward_through(self, consumer: Layer, grad_out: FloatArray, need_input_grad: bool) -> Any:
        return _add_relu.backward(self, consumer, grad_out, need_input_grad)

    def backward(self, grad_out: FloatArray) -> list[np.ndarray]:
        grad = self._prepare_grad(grad_out, self._out_shape)
        return [grad] + [grad.copy() for _ in range(self._count - 1)]


class Average(_Elementwise):
    """The element-wise mean y = (x_1 + … + x_n)/n of n ≥ 2 inputs of one shape (``keras.layers.Average``);
    backward passes ∂E/∂y / n to every input (∂y/∂x_i = 1/n).

    Averaging the softmax outputs of several trained networks makes an ensemble that is one model
    (``le4nn-train --members N``).  The sum is taken in input order and then divided by n, in the
    layer's dtype; Keras and PyTorch (``torch.stack(xs).mean(0)``) compute the same mean, up to rounding.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._out_shape: Any = None
        self._count = 0

    def forward(self, inputs: Sequence[ArrayLike], training: bool = False) -> np.ndarray:
        y = self._sum(inputs)
        y /= self._count
        return y

    def backward(self, grad_out: FloatArray) -> list[np.ndarray]:
        grad = self._prepare_grad(grad_out, self._out_shape) / self._count
        return [grad] + [grad.copy() for _ in range(self._count - 1)]


class Concatenate(_Merge):
    """Joins inputs along ``axis`` (default -1: features, or channels for channels_last images); the
    other sizes must agree.  Backward splits ∂E/∂y into the inputs' parts."""

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not is_integer(axis):
            raise ValueError(f"{self.describe()}: axis must be an int, got {axis!r}")
        self.axis = int(axis)
        self._cache: Any = None

    def compute_output_shape(self, input_shape: list[PartialShape]) -> PartialShape:
        self._check_count(input_shape)
        shapes = [tuple(s) for s in input_shape]
        ndim = len(shapes[0])
        if any(len(s) != ndim for s in shapes) or not -ndim <= self.axis < ndim or self.axis % ndim == 0:
            raise ValueError(
                f"{self.describe()}: cannot concatenate inputs of shapes {format_shape(shapes)} "
                f"on axis {self.axis}"
            )
        axis = self.axis % ndim
        out = list(shapes[0])
        for shape in shapes[1:]:
            for i, (a, b) in enumerate(zip(out, shape, strict=True)):
                if i == axis:
                    out[i] = None if a is None or b is None else a + b
                elif a is not None and b is not None and a != b:
                    raise ValueError(
                        f"{self.describe()}: inputs must agree on every axis but {self.axis}, got shapes "
                        f"{format_shape(shapes)}"
                    )
                elif a is None:
                    out[i] = b
        return tuple(out)

    def forward(self, inputs: Sequence[ArrayLike], training: bool = False) -> np.ndarray:
        xs = self._prepare_inputs(inputs)
        self.compute_output_shape([x.shape for x in xs])
        axis = self.axis % xs[0].ndim
        y = np.concatenate(xs, axis=axis)
        self._cache = (np.cumsum([x.shape[axis] for x in xs])[:-1], axis, y.shape)
        return y

    def backward(self, grad_out: FloatArray) -> list[np.ndarray]:
        grad = self._prepare_grad(grad_out, None if self._cache is None else self._cache[2])
        splits, axis, _ = self._cache
        return [np.ascontiguousarray(part) for part in np.split(grad, splits, axis=axis)]

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}
