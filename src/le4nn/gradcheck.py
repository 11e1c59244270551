"""Numerical gradient checking of layers and small models.

Back-propagation code is easy to get subtly wrong; a gradient check compares it with finite
differences, which need nothing but the forward pass.  To check a whole layer with one scalar
function, the output y is projected on a fixed random tensor R (standard normal, shape of y):

    E(x, θ) = Σ y(x, θ) · R   (+ the layers' regularization penalties)

so that ∂E/∂y = R is a generic upstream gradient that exercises every output.  The analytic gradients
are then ``backward(R)`` (∂E/∂x) and the layers' ``grads`` (∂E/∂θ).  The numerical ones are central
differences, entry by entry:

    ∂E/∂v ≈ (E(v + ε) − E(v − ε)) / (2ε)

whose error is O(ε²) from truncation plus O(u·|E|/ε) from rounding (u ≈ 1e-16 in float64).  With the
default ε = 1e-6 both are far below 1e-6, so the computation always runs in **float64**: a float32 layer
is checked through a float64 copy (same config and weights), and the input is converted.  With a
``loss`` (and targets ``y``), E = loss(y, output) instead; when the last layer ends in a softmax and the
loss offers the fused softmax + cross-entropy, the analytic side takes the fused path the models use
(``softmax_fused``, ``backward_from_logits``; handout eq. 12) while the numerical side evaluates the plain
loss on the probabilities — an independent check of the fusion.

The error reported per tensor is the largest deviation relative to the tensor's scale,

    max_i |a_i − n_i| / max(max_i |a_i|, max_i |n_i|, floor)

which does not blow up on entries that are zero up to rounding.  ``floor`` is 1 % of the largest
gradient entry of the whole check, so that a tensor whose exact gradient is 0 (e.g. a bias followed by
BatchNormalization) is judged by its absolute error instead of by its rounding noise.  Correct code
typically gives 1e-10 to 1e-8; ``assert_gradients_close`` fails above ``tol=1e-6``.
Functions with kinks (ReLU at 0, max-pooling ties) can show a large error when an entry lies within ε of
a kink; random inputs make that unlikely.

Stochastic layers are made deterministic during a check: every layer with a ``fixed_mask`` attribute
(Dropout) reuses one mask.  The layers' weights and state (e.g. BatchNormalization's moving averages,
which a training-mode forward updates) are restored afterwards.

>>> from le4nn import gradcheck, layers
>>> errors = gradcheck.check_layer(layers.Conv2D(4, 3, padding="same"), x)   # x: (2, 6, 6, 3)
>>> errors
{'input': 3.1e-10, 'kernel': 2.2e-10, 'bias': 1.4e-10}
>>> gradcheck.assert_gradients_close([dense1, dense2], x, y, loss=losses.CategoricalCrossentropy())
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from le4nn._typing import ArrayLike
from le4nn.layers.base import Layer
from le4nn.losses import Loss

DEFAULT_EPS = 1e-6
DEFAULT_TOL = 1e-6


class GradientCheck(dict):
    """The per-tensor relative errors (a dict: "input" or "input_0", ..., then parameters), with the
    gradients compared in ``analytic`` and ``numeric`` (entries that were not checked are NaN)."""

    def __init__(self, errors: dict[str, float], analytic: dict[str, np.ndarray] | np.ndarray,
                 numeric: dict[str, np.ndarray] | np.ndarray) -> None:
        super().__init__(errors)
        self.analytic = analytic
        self.numeric = numeric

    @property
    def max_error(self) -> float:
        return max(self.values(), default=0.0)

    def report(self) -> str:
        width = max((len(k) for k in self), default=0)
        return "\n".join(f"  {name:<{width}}  {err:.3e}" for name, err in self.items())


def relative_error(analytic: dict[str, np.ndarray] | np.ndarray, numeric: dict[str, np.ndarray] | np.ndarray,
                   floor: float = 0.0) -> float:
    """max |a − n| / max(max |a|, max |n|, floor): the largest deviation relative to the tensor's scale
    (0 when both gradients and ``floor`` are 0)."""
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    if a.size == 0:
        return 0.0
    scale = max(_scale(a), _scale(n), floor)
    if scale == 0:
        return 0.0
    return float(np.max(np.abs(a - n)) / scale)


def _scale(a: np.ndarray) -> float:
    return float(np.max(np.abs(a))) if np.size(a) else 0.0


def numerical_gradient(f: Callable[[], float], array: np.ndarray, eps: float = DEFAULT_EPS,
                       indices: Iterable[tuple[int, ...]] | None = None) -> np.ndarray:
    """Central differences (f(v + ε) − f(v − ε)) / 2ε of the scalar function ``f()`` w.r.t. the entries of
    ``array`` (a C-contiguous array that ``f`` reads; perturbed in place and restored).

    ``indices`` (flat) limits the entries; the others are NaN in the result.
    """
    if not array.flags.c_contiguous:
        raise ValueError("numerical_gradient: array must be C-contiguous (it is perturbed in place)")
    flat = array.reshape(-1)
    grad = np.full(array.size, np.nan if indices is not None else 0.0)
    for i in range(array.size) if indices is None else indices:
        saved = flat[i]
        flat[i] = saved + eps
        f_plus = f()
        flat[i] = saved - eps
        f_minus = f()
        flat[i] = saved
        grad[i] = (f_plus - f_minus) / (2 * eps)
    return grad.reshape(array.shape)


# --------------------------------------------------------------------------------------------------
# Checking layers and models
# --------------------------------------------------------------------------------------------------


def check_layer(layer: Layer, x: ArrayLike, *, training: bool = True, eps: float = DEFAULT_EPS, seed: int = 0,
                max_entries: int | None = None) -> GradientCheck:
    """Gradient check of one layer on input ``x`` (a list of arrays for Add/Concatenate).

    Returns the relative error of ∂E/∂x ("input", or "input_0", "input_1", ...) and of every trainable
    parameter (by name).  ``training`` is passed to ``forward``; ``max_entries`` checks only that many
    randomly chosen entries per tensor (for big tensors); ``seed`` fixes R and that choice.
    """
    if not isinstance(layer, Layer):
        raise TypeError(f"check_layer expects a Layer, got {type(layer).__name__}")
    return _check([layer], x, None, None, training, eps, seed, max_entries, prefix_params=False)


def check_model(layers: Layer | Sequence[Layer], x: ArrayLike, y: ArrayLike | None = None,
                loss: Loss | str | None = None, *, training: bool = True, eps: float = DEFAULT_EPS, seed: int = 0,
                max_entries: int | None = None) -> GradientCheck:
    """Gradient check of a list of layers applied in sequence (the first may take a list of inputs).

    Without ``loss``, E = Σ output · R; with a loss object (``loss(y, output)``, ``loss.gradient``, and
    optionally the fused ``softmax_fused``/``softmax_fused_gradient``), E = loss(y, output).  Keys:
    "input" and "<layer name>/<param name>".
    """
    layers = [layers] if isinstance(layers, Layer) else list(layers)
    if not layers or not all(isinstance(layer, Layer) for layer in layers):
        raise TypeError("check_model expects a non-empty list of layers")
    if (loss is None) != (y is None):
        raise ValueError("check_model: give both y and loss, or neither")
    return _check(layers, x, y, loss, training, eps, seed, max_entries, prefix_params=True)


def assert_gradients_close(layers: Layer | Sequence[Layer], x: ArrayLike, y: ArrayLike | None = None,
                           loss: Loss | str | None = None, *, tol: float = DEFAULT_TOL, **kwargs: Any) -> GradientCheck:
    """Run :func:`check_layer` (one layer) or :func:`check_model` (a list) and raise an ``AssertionError``
    listing every tensor's error when one exceeds ``tol``.  Returns the check on success."""
    if isinstance(layers, Layer) and loss is None:
        result = check_layer(layers, x, **kwargs)
    else:
        result = check_model(layers, x, y, loss, **kwargs)
    failed = [name for name, err in result.items() if not err <= tol]
    if failed:
        raise AssertionError(
            f"gradient check failed for {', '.join(failed)} (tolerance {tol:g}):\n{result.report()}"
        )
    return result


def _check(layers: Sequence[Layer], x: Any, y: Any, loss: Any, training: bool, eps: float, seed: int,
           max_entries: int | None, prefix_params: bool) -> GradientCheck:
    layers = [_float64_version(layer) for layer in layers]
    multi = isinstance(x, (list, tuple))
    inputs = [np.array(xi, dtype=np.float64, order="C", copy=True) for xi in (x if multi else [x])]
    rng = np.random.default_rng(seed)

    with _deterministic(layers):
        out = _forward(layers, inputs, multi, training)
        projection = rng.standard_normal(np.shape(out)) if loss is None else None
        grad_inputs = _backward(layers, out, y, loss, projection)
        grad_inputs = grad_inputs if multi else [grad_inputs]

        def objective() -> float:
            result = _forward(layers, inputs, multi, training)
            value = float(np.sum(result * projection)) if loss is None else float(loss(y, result))
            return value + sum(layer.regularization_loss() for layer in layers)

        tensors = {}  # name -> (array perturbed, analytic gradient)
        for i, (xi, gi) in enumerate(zip(inputs, grad_inputs, strict=True)):
            tensors[f"input_{i}" if multi else "input"] = (xi, np.array(gi, dtype=np.float64))
        for layer in layers:
            if not layer.trainable:
                continue
            for name, param in layer.params.items():
                key = f"{layer.name}/{name}" if prefix_params else name
                tensors[key] = (param, np.array(layer.grads[name], dtype=np.float64))

        analytic, numeric, checked = {}, {}, {}
        for key, (array, grad) in tensors.items():
            indices = None
            if max_entries is not None and array.size > max_entries:
                indices = rng.choice(array.size, size=max_entries, replace=False)
            numeric[key] = numerical_gradient(objective, array, eps, indices)
            analytic[key] = grad
            checked[key] = ~np.isnan(numeric[key])

    floor = 0.01 * max(max(_scale(analytic[k][checked[k]]), _scale(numeric[k][checked[k]])) for k in tensors)
    errors = {k: relative_error(analytic[k][checked[k]], numeric[k][checked[k]], floor) for k in tensors}
    return GradientCheck(errors, analytic, numeric)


def _forward(layers: Sequence[Layer], inputs: Any, multi: bool, training: bool) -> Any:
    out = inputs if multi else inputs[0]
    for layer in layers:
        out = layer.forward(out, training=training)
    return out


def _backward(layers: Sequence[Layer], out: np.ndarray, y: Any, loss: Any, projection: Any) -> Any:
    """Back-propagate through all layers; returns ∂E/∂input (a list for a multi-input first layer)."""
    last = layers[-1]
    if loss is None:
        grad = last.backward(projection)
    elif last.output_softmax and hasattr(loss, "softmax_fused") and not getattr(loss, "from_logits", False):
        _, probs = loss.softmax_fused(y, last.logits)
        grad = last.backward_from_logits(loss.softmax_fused_gradient(y, probs))
    else:
        grad = last.backward(loss.gradient(y, out))
    for layer in reversed(layers[:-1]):
        grad = layer.backward(grad)
    return grad


def _float64_version(layer: Layer) -> Layer:
    """The layer itself if it computes in float64, else a float64 copy with the same config and weights."""
    if layer.dtype == np.float64:
        return layer
    try:
        copy = type(layer).from_config({**layer.get_config(), "dtype": "float64"})
    except Exception as exc:
        raise TypeError(
            f"gradcheck: cannot make a float64 copy of {layer.describe()} ({exc}); create it with "
            f"dtype='float64' to check it"
        ) from exc
    if layer.built:
        copy.build(layer.input_shape)
        copy.set_weights(layer.get_weights())
    return copy


@contextlib.contextmanager
def _deterministic(layers: Sequence[Layer]) -> Iterator[None]:
    """Fix random masks and restore every layer's weights and state afterwards."""
    saved = [(layer, layer.get_weights() if layer.built else None) for layer in layers]
    masks = [(layer, layer.fixed_mask) for layer in layers if hasattr(layer, "fixed_mask")]
    for layer, _ in masks:
        layer.fixed_mask = True
    try:
        yield
    finally:
        for layer, flag in masks:
            layer.fixed_mask = flag
        for layer, weights in saved:
            if weights is not None:
                layer.set_weights(weights)


__all__ = [
    "GradientCheck",
    "assert_gradients_close",
    "check_layer",
    "check_model",
    "numerical_gradient",
    "relative_error",
]
