"""Flatten and Reshape: change the shape of each sample, keep the data (row-major order)."""

from __future__ import annotations

import math
import numbers

from le4nn.layers.base import Layer, format_shape, known_size


class Flatten(Layer):
    """(B, d1, d2, ...) -> (B, d1·d2·...), in row-major order (so channels_last images flatten as
    Keras's do).  Backward reshapes the gradient back."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._x_shape = None
        self._y_shape = None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], known_size(input_shape[1:]))

    def forward(self, x, training=False):
        x = self._prepare_input(x)
        self._x_shape = x.shape
        y = x.reshape(x.shape[0], math.prod(x.shape[1:]))
        self._y_shape = y.shape
        return y

    def backward(self, grad_out):
        grad = self._prepare_grad(grad_out, self._y_shape)
        return grad.reshape(self._x_shape)


class Reshape(Layer):
    """Reshape each sample to ``target_shape`` (without the batch dimension; one entry may be -1)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        dims = tuple(target_shape) if isinstance(target_shape, (list, tuple)) else (target_shape,)
        if not dims or not all(
            isinstance(d, numbers.Integral) and not isinstance(d, bool) and (d > 0 or d == -1) for d in dims
        ) or dims.count(-1) > 1:
            raise ValueError(
                f"{self.describe()}: target_shape must be positive ints with at most one -1, "
                f"got {target_shape!r}"
            )
        self.target_shape = tuple(int(d) for d in dims)
        self._x_shape = None
        self._y_shape = None

    def compute_output_shape(self, input_shape):
        size = known_size(input_shape[1:])
        target = self.target_shape
        known = math.prod(d for d in target if d != -1)
        if -1 in target:
            if size is None:
                return (input_shape[0], *(None if d == -1 else d for d in target))
            if size % known:
                self._mismatch(input_shape)
            return (input_shape[0], *(size // known if d == -1 else d for d in target))
        if size is not None and size != known:
            self._mismatch(input_shape)
        return (input_shape[0], *target)

    def _mismatch(self, input_shape):
        raise ValueError(
            f"{self.describe()}: cannot reshape inputs of shape {format_shape(input_shape)} "
            f"to target_shape {self.target_shape}"
        )

    def forward(self, x, training=False):
        x = self._prepare_input(x)
        self._x_shape = x.shape
        y = x.reshape(x.shape[0], *self.compute_output_shape((None, *x.shape[1:]))[1:])
        self._y_shape = y.shape
        return y

    def backward(self, grad_out):
        grad = self._prepare_grad(grad_out, self._y_shape)
        return grad.reshape(self._x_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "target_shape": list(self.target_shape)}
