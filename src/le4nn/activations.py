"""Activation functions as forward/backward pairs, looked up by name.

Each activation is an :class:`ActivationFunction` with

- ``forward(x) -> y`` and
- ``backward(grad_y, x, y) -> grad_x`` (∂E/∂x from ∂E/∂y; it may use the input x or the output y,
  whichever gives the simpler and more accurate formula),

so that a layer can apply it after its affine map and back-propagate through it.  Sigmoid, ReLU and
softmax run on the kernels of :mod:`le4nn.ops` (compiled or NumPy, whichever backend is in force);
the others are short NumPy expressions.  Arrays must be float32 or float64; the result keeps the dtype.

>>> from le4nn import activations
>>> relu = activations.get("relu")
>>> y = relu(x)                                  # same as relu.forward(x)
>>> grad_x = relu.backward(grad_y, x, y)

Names: ``sigmoid``, ``relu``, ``tanh``, ``softmax``, ``linear`` (identity; also ``None``),
``leaky_relu`` (``negative_slope``, default 0.2 as ``keras.activations.leaky_relu``) and ``elu``
(``alpha``, default 1.0).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from le4nn import ops
from le4nn._typing import FloatArray


@dataclass(frozen=True)
class ActivationFunction:
    """An activation function and its derivative.

    ``forward(x) -> y``; ``backward(grad_y, x, y) -> grad_x``.  ``config`` holds its parameters
    (e.g. ``{"negative_slope": 0.2}``); ``name`` is what :func:`get` accepts and :func:`serialize`
    returns.
    """

    name: str
    forward: Callable[[np.ndarray], np.ndarray] = field(repr=False)
    backward: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] = field(repr=False)
    config: dict = field(default_factory=dict)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)


# --- the functions ----------------------------------------------------------------------------------


def sigmoid(x: FloatArray) -> FloatArray:
    """σ(x) = 1 / (1 + exp(−x)) (handout 4.2), overflow-free (the ``ops.sigmoid_forward`` kernel)."""
    return ops.sigmoid_forward(x)


def sigmoid_backward(grad_y: FloatArray, x: FloatArray, y: FloatArray) -> FloatArray:
    """∂E/∂x = ∂E/∂y · y (1 − y)."""
    return ops.sigmoid_backward(grad_y, y)


def relu(x: FloatArray) -> FloatArray:
    """ReLU a(x) = max(0, x) (the ``ops.relu_forward`` kernel)."""
    return ops.relu_forward(x)


def relu_backward(grad_y: FloatArray, x: FloatArray, y: FloatArray) -> FloatArray:
    """∂E/∂x = ∂E/∂y where x > 0, else 0 (the derivative at 0 is 0, docs/design.md §3 "The handout's semantics")."""
    return ops.relu_backward(grad_y, y)


def tanh(x: FloatArray) -> FloatArray:
    """Hyperbolic tangent."""
    return np.tanh(x)


def tanh_backward(grad_y: FloatArray, x: FloatArray, y: FloatArray) -> FloatArray:
    """∂E/∂x = ∂E/∂y · (1 − y²)."""
    return grad_y * (1 - y * y)


def softmax(x: FloatArray) -> FloatArray:
    """Softmax over the last axis with the max subtraction of handout eq. (5)–(6);
    the ``ops.softmax_forward`` kernel."""
    return ops.softmax_forward(x)


def softmax_backward(grad_y: FloatArray, x: FloatArray, y: FloatArray) -> FloatArray:
    """Vector–Jacobian product of the softmax: ∂E/∂x_k = y_k (∂E/∂y_k − Σ_j ∂E/∂y_j y_j).

    When softmax meets cross-entropy, models skip this and use the fused gradient (y − t)/B of
    handout eq. (12) instead (see ``Layer.backward_from_logits``).
    """
    return y * (grad_y - np.sum(grad_y * y, axis=-1, keepdims=True))


def linear(x: FloatArray) -> FloatArray:
    """The identity (no activation)."""
    return x


def linear_backward(grad_y: FloatArray, x: FloatArray, y: FloatArray) -> FloatArray:
    return grad_y


def leaky_relu(x: FloatArray, negative_slope: float = 0.2) -> FloatArray:
    """x for x > 0, ``negative_slope``·x otherwise."""
    return np.where(x > 0, x, x * x.dtype.type(negative_slope))


def leaky_relu_backward(grad_y: FloatArray, x: FloatArray, y: FloatArray, negative_slope: float = 0.2) -> FloatArray:
    """∂E/∂y where x > 0, ``negative_slope``·∂E/∂y otherwise (at 0: the slope, as PyTorch)."""
    return np.where(x > 0, grad_y, grad_y * grad_y.dtype.type(negative_slope))


def elu(x: FloatArray, alpha: float = 1.0) -> FloatArray:
    """x for x > 0, α (exp(x) − 1) otherwise (exp is taken of min(x, 0) only, so it never overflows)."""
    return np.where(x > 0, x, x.dtype.type(alpha) * np.expm1(np.minimum(x, 0)))


def elu_backward(grad_y: FloatArray, x: FloatArray, y: FloatArray, alpha: float = 1.0) -> FloatArray:
    """∂E/∂y where x > 0, ∂E/∂y · α exp(x) = ∂E/∂y · (y + α) otherwise."""
    return np.where(x > 0, grad_y, grad_y * (y + y.dtype.type(alpha)))


# --- lookup -----------------------------------------------------------------------------------------

_FUNCTIONS: dict[str, tuple[Callable, Callable, dict]] = {
    "sigmoid": (sigmoid, sigmoid_backward, {}),
    "relu": (relu, relu_backward, {}),
    "tanh": (tanh, tanh_backward, {}),
    "softmax": (softmax, softmax_backward, {}),
    "linear": (linear, linear_backward, {}),
    "leaky_relu": (leaky_relu, leaky_relu_backward, {"negative_slope": 0.2}),
    "elu": (elu, elu_backward, {"alpha": 1.0}),
}

NAMES = tuple(_FUNCTIONS)


def get(identifier: Any = None, **params: Any) -> ActivationFunction:
    """The activation called ``identifier``: a name, ``None`` (linear), an :class:`ActivationFunction`
    (returned as is) or what :func:`serialize` returns (``{"class_name": name, "config": params}``).
    ``params`` set the parameters of ``leaky_relu`` (``negative_slope``) and ``elu`` (``alpha``).

    An unknown name raises a ``ValueError`` that lists the valid names.
    """
    if isinstance(identifier, dict):
        if set(identifier) != {"class_name", "config"}:
            raise ValueError(
                f"an activation config must be {{'class_name': ..., 'config': ...}}, got {identifier}"
            )
        return get(identifier["class_name"], **{**identifier["config"], **params})
    if isinstance(identifier, ActivationFunction):
        if params:
            return get(identifier.name, **{**identifier.config, **params})
        return identifier
    if identifier is None:
        identifier = "linear"
    if not isinstance(identifier, str):
        raise TypeError(
            f"activation must be a name ({', '.join(NAMES)}) or an ActivationFunction, "
            f"got {type(identifier).__name__}"
        )
    key = identifier.strip().lower()
    if key not in _FUNCTIONS:
        raise ValueError(f"unknown activation {identifier!r}; valid names: {', '.join(NAMES)}")
    forward, backward, defaults = _FUNCTIONS[key]
    unknown = set(params) - set(defaults)
    if unknown:
        raise TypeError(f"activation {key!r} has no parameter(s) {', '.join(sorted(unknown))}")
    if not defaults:
        return ActivationFunction(key, forward, backward)
    config = {name: float(params.get(name, value)) for name, value in defaults.items()}
    return ActivationFunction(
        key, functools.partial(forward, **config), functools.partial(backward, **config), config
    )


def serialize(activation: ActivationFunction | str) -> str | dict:
    """What layer configs store: the name, or ``{"class_name": name, "config": params}`` when the
    parameters differ from the defaults (e.g. ``leaky_relu`` with another slope)."""
    activation = get(activation)
    defaults = _FUNCTIONS[activation.name][2]
    if activation.config == defaults:
        return activation.name
    return {"class_name": activation.name, "config": dict(activation.config)}


__all__ = [
    "NAMES",
    "ActivationFunction",
    "elu",
    "get",
    "leaky_relu",
    "linear",
    "relu",
    "serialize",
    "sigmoid",
    "softmax",
    "tanh",
]
