"""BatchNormalization (handout eq. 28–38)."""

from __future__ import annotations

import numbers

import numpy as np

from le4nn.layers._arguments import (
    get_initializer,
    get_regularizer,
    serialize_initializer,
    serialize_regularizer,
)
from le4nn.layers.base import Layer
from le4nn.layers.shapes import format_shape


class BatchNormalization(Layer):
    """Normalize each feature (``axis``) over the mini-batch, then scale by γ and shift by β.

    ``axis`` is the feature axis: -1 (default) normalizes per feature after Dense and per channel after a
    channels_last Conv2D; use ``axis=1`` after a channels_first Conv2D.  Statistics are taken over all
    the other axes (batch and spatial positions, m values per feature).

    Training (handout eq. 28–31): μ = mean x, σ² = mean (x − μ)² (the biased variance),
    x̂ = (x − μ) / √(σ² + ε), y = γ x̂ + β.  Backward (eq. 32–37), in the compact form
    ∂E/∂x = (1/√(σ² + ε)) (g − mean g − x̂ mean(g x̂)) with g = γ ∂E/∂y, ∂E/∂γ = Σ ∂E/∂y x̂,
    ∂E/∂β = Σ ∂E/∂y.  Each training step also updates the running estimates (Keras's convention):
    moving_mean ← momentum · moving_mean + (1 − momentum) · μ, and the same for moving_variance with σ².

    Inference (eq. 38): y = γ (x − E[x]) / √(Var[x] + ε) + β with E[x], Var[x] the moving averages.

    Defaults as Keras: ``momentum=0.99``, ``epsilon=1e-3``, ``center``/``scale`` for β/γ.  PyTorch's
    ``BatchNorm`` differs in two conventions: its ``momentum`` is 1 − Keras's (0.1 there is 0.9 here),
    and its running variance averages the unbiased batch variance (m/(m − 1) σ²), where this layer and
    Keras average σ² itself.  As in Keras, a layer with ``trainable = False`` runs in inference mode.
    """

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", moving_mean_initializer="zeros",
                 moving_variance_initializer="ones", beta_regularizer=None, gamma_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
            raise ValueError(f"{self.describe()}: axis must be an int, got {axis!r}")
        self.axis = int(axis)
        self.momentum = _number_in(self, "momentum", momentum, 0, 1, closed_high=True)
        self.epsilon = _number_in(self, "epsilon", epsilon, 0, np.inf, closed_low=False)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = get_initializer(self, "beta_initializer", beta_initializer)
        self.gamma_initializer = get_initializer(self, "gamma_initializer", gamma_initializer)
        self.moving_mean_initializer = get_initializer(
            self, "moving_mean_initializer", moving_mean_initializer
        )
        self.moving_variance_initializer = get_initializer(
            self, "moving_variance_initializer", moving_variance_initializer
        )
        self.beta_regularizer = get_regularizer(self, "beta_regularizer", beta_regularizer)
        self.gamma_regularizer = get_regularizer(self, "gamma_regularizer", gamma_regularizer)
        self._cache = None

    def _feature_axis(self, input_shape) -> int:
        ndim = len(input_shape)
        if ndim < 2 or not -ndim <= self.axis < ndim or self.axis % ndim == 0:
            raise ValueError(
                f"{self.describe()}: axis {self.axis} is not a feature axis of inputs of shape "
                f"{format_shape(input_shape)}"
            )
        return self.axis % ndim

    def compute_output_shape(self, input_shape):
        axis = self._feature_axis(input_shape)
        if input_shape[axis] is None:
            raise ValueError(
                f"{self.describe()}: the size of axis {self.axis} must be known, "
                f"got {format_shape(input_shape)}"
            )
        return input_shape

    def build(self, input_shape):
        features = (input_shape[self._feature_axis(input_shape)],)
        if self.scale:
            self.add_weight("gamma", features, self.gamma_initializer, self.gamma_regularizer)
        if self.center:
            self.add_weight("beta", features, self.beta_initializer, self.beta_regularizer)
        self.add_weight("moving_mean", features, self.moving_mean_initializer, trainable=False)
        self.add_weight("moving_variance", features, self.moving_variance_initializer, trainable=False)

    def _broadcast(self, ndim: int, vector: np.ndarray) -> np.ndarray:
        """A per-feature vector shaped to broadcast against the input (features on ``axis``)."""
        shape = [1] * ndim
        shape[self.axis % ndim] = vector.shape[0]
        return vector.reshape(shape)

    def forward(self, x, training=False):
        x = self._prepare_input(x)
        axis = self.axis % x.ndim
        reduce = tuple(a for a in range(x.ndim) if a != axis)
        training = bool(training) and self.trainable
        if training:
            mean = x.mean(axis=reduce, keepdims=True)  # μ
            centered = x - mean
            var = np.mean(centered * centered, axis=reduce, keepdims=True)  # σ² (biased)
            inv_std = 1 / np.sqrt(var + self.dtype.type(self.epsilon))
            x_hat = centered * inv_std  # x̂
            m = self.dtype.type(self.momentum)
            self.state["moving_mean"] *= m
            self.state["moving_mean"] += (1 - m) * mean.reshape(-1)
            self.state["moving_variance"] *= m
            self.state["moving_variance"] += (1 - m) * var.reshape(-1)
        else:
            mean = self._broadcast(x.ndim, self.state["moving_mean"])
            var = self._broadcast(x.ndim, self.state["moving_variance"])
            inv_std = 1 / np.sqrt(var + self.dtype.type(self.epsilon))
            x_hat = (x - mean) * inv_std  # eq. 38 (with the scale and shift below)
        y = x_hat
        if self.scale:
            y = y * self._broadcast(x.ndim, self.params["gamma"])  # y = γ x̂ + β
        if self.center:
            y = y + self._broadcast(x.ndim, self.params["beta"])
        self._cache = (x_hat, inv_std, reduce, training)
        return y

    def backward(self, grad_out):
        grad = self._prepare_grad(grad_out, None if self._cache is None else self._cache[0])
        x_hat, inv_std, reduce, training = self._cache
        if self.trainable:
            if self.scale:
                np.sum(grad * x_hat, axis=reduce, out=self.grads["gamma"])  # ∂E/∂γ
            if self.center:
                np.sum(grad, axis=reduce, out=self.grads["beta"])  # ∂E/∂β
            self._add_regularization_gradients()
        grad_hat = grad * self._broadcast(grad.ndim, self.params["gamma"]) if self.scale else grad  # ∂E/∂x̂
        if not training:
            return grad_hat * inv_std
        # eq. 32–37 folded together: the mean and variance depend on every x of the feature.
        return inv_std * (
            grad_hat
            - grad_hat.mean(axis=reduce, keepdims=True)
            - x_hat * np.mean(grad_hat * x_hat, axis=reduce, keepdims=True)
        )

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": serialize_initializer(self.beta_initializer),
            "gamma_initializer": serialize_initializer(self.gamma_initializer),
            "moving_mean_initializer": serialize_initializer(self.moving_mean_initializer),
            "moving_variance_initializer": serialize_initializer(self.moving_variance_initializer),
            "beta_regularizer": serialize_regularizer(self.beta_regularizer),
            "gamma_regularizer": serialize_regularizer(self.gamma_regularizer),
        }


def _number_in(layer, argument, value, low, high, closed_low=True, closed_high=False) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok:
        value = float(value)
        above = value >= low if closed_low else value > low
        ok = above and (value <= high if closed_high else value < high)
    if not ok:
        bounds = f"{'[' if closed_low else '('}{low}, {high}{']' if closed_high else ')'}"
        raise ValueError(f"{layer.describe()}: {argument} must be a number in {bounds}, got {value!r}")
    return value
