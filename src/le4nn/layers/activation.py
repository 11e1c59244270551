"""Activation layers: ``Activation(name)`` and the classes ReLU, Sigmoid, Tanh, Softmax, LeakyReLU, ELU.

Each applies an element-wise (softmax: per-row) function from :mod:`le4nn.activations` to its input and
back-propagates through its derivative.  A softmax layer exposes the fused softmax + cross-entropy hooks
(``output_softmax``, ``backward_from_logits``), see :mod:`le4nn.layers._activated`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from le4nn import activations, ops
from le4nn._typing import ActivationLike, ArrayLike, FloatArray, PartialShape
from le4nn.layers._activated import ActivationOutput
from le4nn.layers.base import Layer


class _ActivationLayer(ActivationOutput, Layer):
    """y = f(x) with f from :mod:`le4nn.activations`; no weights."""

    def forward(self, x: ArrayLike, training: bool = False) -> np.ndarray:
        x = self._prepare_input(x)
        return self._activate(x)

    def _pre_activation_backward(self, grad_z: np.ndarray, need_input_grad: bool, bias_done: bool) -> Any:
        return grad_z


class Activation(_ActivationLayer):
    """Applies the activation ``activation`` ('sigmoid', 'relu', 'tanh', 'softmax', 'linear',
    'leaky_relu', 'elu'); an unknown name raises a ``ValueError`` listing the valid ones."""

    def __init__(self, activation: ActivationLike, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._init_activation(activation)

    def get_config(self) -> dict:
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


class ReLU(_ActivationLayer):
    """max(0, x); the derivative at 0 is 0."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._init_activation("relu")


class Sigmoid(_ActivationLayer):
    """1 / (1 + exp(−x)), computed without overflow (handout 4.2)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._init_activation("sigmoid")


class Tanh(_ActivationLayer):
    """tanh(x)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._init_activation("tanh")


class LeakyReLU(_ActivationLayer):
    """x for x > 0, ``negative_slope``·x otherwise (default 0.3, as ``keras.layers.LeakyReLU``;
    ``alpha`` is accepted as Keras 2's name for it)."""

    def __init__(self, negative_slope: float = 0.3, **kwargs: Any) -> None:
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")
        super().__init__(**kwargs)
        self.negative_slope = _finite_float(self, "negative_slope", negative_slope)
        self._init_activation("leaky_relu", negative_slope=self.negative_slope)

    def get_config(self) -> dict:
        return {**super().get_config(), "negative_slope": self.negative_slope}


class ELU(_ActivationLayer):
    """x for x > 0, ``alpha``·(exp(x) − 1) otherwise."""

    def __init__(self, alpha: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.alpha = _finite_float(self, "alpha", alpha)
        self._init_activation("elu", alpha=self.alpha)

    def get_config(self) -> dict:
        return {**super().get_config(), "alpha": self.alpha}


class Softmax(_ActivationLayer):
    """Softmax over ``axis`` (default the last, with the max subtraction of handout eq. 5–6).

    Over the last axis it is the fused-with-cross-entropy output of docs/architecture.md
    (``output_softmax`` is True); over another axis it moves that axis last for the kernel.
    """

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise ValueError(f"{self.describe()}: axis must be an int, got {axis!r}")
        self.axis = int(axis)
        if self.axis == -1:
            self._init_activation("softmax")
        else:
            self._init_activation(_softmax_along(self.axis))

    def compute_output_shape(self, input_shape: PartialShape) -> PartialShape:
        if not -len(input_shape) <= self.axis < len(input_shape) or self.axis % len(input_shape) == 0:
            raise ValueError(
                f"{self.describe()}: axis {self.axis} is not a feature axis of inputs of shape {input_shape}"
            )
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}


def _softmax_along(axis: int) -> activations.ActivationFunction:
    """Softmax over any axis (the kernel works on the last one)."""

    def forward(x: FloatArray) -> np.ndarray:
        moved = np.ascontiguousarray(np.moveaxis(x, axis, -1))
        return np.ascontiguousarray(np.moveaxis(ops.softmax_forward(moved), -1, axis))

    def backward(grad_y: FloatArray, x: ArrayLike, y: FloatArray) -> np.ndarray:
        return y * (grad_y - np.sum(grad_y * y, axis=axis, keepdims=True))

    return activations.ActivationFunction(f"softmax(axis={axis})", forward, backward, {"axis": axis})


def _finite_float(layer: Layer, argument: str, value: Any) -> float:
    try:
        result = float(value)
    except (TypeError, ValueError):
        result = float("nan")
    if not np.isfinite(result):
        raise ValueError(f"{layer.describe()}: {argument} must be a finite number, got {value!r}")
    return result
