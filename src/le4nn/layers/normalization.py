"""BatchNormalization (handout eq. 28–38)."""

from __future__ import annotations

from typing import Any, NamedTuple, cast

import numpy as np

from le4nn import ops
from le4nn._numbers import is_integer, is_real
from le4nn._typing import ArrayLike, FloatArray, InitializerLike, PartialShape, RegularizerLike
from le4nn.layers._arguments import (
    get_initializer,
    get_regularizer,
    serialize_initializer,
    serialize_regularizer,
)
from le4nn.layers.activation import Activation, ReLU
from le4nn.layers.base import Layer
from le4nn.layers.shapes import format_shape


class _Cache(NamedTuple):
    """What the backward pass needs: the input, the statistics used, the mode, and whether a ReLU was fused."""

    x: np.ndarray
    mean: np.ndarray
    inv_std: np.ndarray
    training: bool
    relu: bool


def is_plain_relu(layer) -> bool:
    """Whether ``layer`` is ReLU or Activation('relu'): max(x, 0), nothing else."""
    return isinstance(layer, (ReLU, Activation)) and layer.activation.name == "relu"


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

    def __init__(self, axis: int = -1, momentum: float = 0.99, epsilon: float = 1e-3, center: bool = True,
                 scale: bool = True,
                 beta_initializer: InitializerLike = "zeros", gamma_initializer: InitializerLike = "ones",
                 moving_mean_initializer: InitializerLike = "zeros",
                 moving_variance_initializer: InitializerLike = "ones", beta_regularizer: RegularizerLike = None,
                 gamma_regularizer: RegularizerLike = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not is_integer(axis):
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
        self._cache: Any = None

    def _feature_axis(self, input_shape) -> int:
        ndim = len(input_shape)
        if ndim < 2 or not -ndim <= self.axis < ndim or self.axis % ndim == 0:
            raise ValueError(
                f"{self.describe()}: axis {self.axis} is not a feature axis of inputs of shape "
                f"{format_shape(input_shape)}"
            )
        return self.axis % ndim

    def compute_output_shape(self, input_shape: PartialShape) -> PartialShape:
        axis = self._feature_axis(input_shape)
        if input_shape[axis] is None:
            raise ValueError(
                f"{self.describe()}: the size of axis {self.axis} must be known, "
                f"got {format_shape(input_shape)}"
            )
        return input_shape

    def build(self, input_shape: PartialShape) -> None:
        features = (cast(int, input_shape[self._feature_axis(input_shape)]),)  # (known: compute_output_shape checks)
        if self.scale:
            self.add_weight("gamma", features, self.gamma_initializer, self.gamma_regularizer)
        if self.center:
            self.add_weight("beta", features, self.beta_initializer, self.beta_regularizer)
        self.add_weight("moving_mean", features, self.moving_mean_initializer, trainable=False)
        self.add_weight("moving_variance", features, self.moving_variance_initializer, trainable=False)

    def forward(self, x: ArrayLike, training: bool = False) -> np.ndarray:
        return self._normalize(self._prepare_input(x), training, relu=False)

    def _normalize(self, x: np.ndarray, training, relu: bool) -> np.ndarray:
        """y = BN(x) (then ReLU with ``relu``) by ``ops.batchnorm_forward``; sets the cache and, in
        training, updates the moving statistics."""
        axis = self.axis % x.ndim
        training = bool(training) and self.trainable
        gamma = self.params["gamma"] if self.scale else None
        beta = self.params["beta"] if self.center else None
        out = self._out("out", x.shape)
        if training:  # eq. 28–31, the batch's statistics
            y, mean, var, inv_std = ops.batchnorm_forward(x, gamma, beta, self.epsilon, axis, relu, out=out)
            m = self.dtype.type(self.momentum)
            for name, batch_value in (("moving_mean", mean), ("moving_variance", var)):
                self.state[name] *= m
                self.state[name] += (1 - m) * batch_value
        else:  # eq. 38, the moving averages
            mean = self.state["moving_mean"].copy()  # as used now, whatever an optimizer does later
            y, _, _, inv_std = ops.batchnorm_forward(x, gamma, beta, self.epsilon, axis, relu, mean,
                                                     self.state["moving_variance"], out=out)
        # x itself, not x̂: the previous layer's output stays alive (and unchanged) until this
        # layer's backward, so the cache costs no copy and the backward reads x once per pass.
        self._cache = _Cache(x, mean, inv_std, training, relu)
        return y

    def backward(self, grad_out: FloatArray) -> np.ndarray:
        return self._gradient(grad_out, relu=False)

    def _gradient(self, grad_out: FloatArray, relu: bool):
        cache = self._cache
        if cache is not None and cache.relu != relu:
            raise RuntimeError(f"{self.describe()}: backward does not match the last forward (fused with a ReLU: "
                               f"{cache.relu})")
        grad = self._prepare_grad(grad_out, None if cache is None else cache.x.shape)
        x = cache.x
        learn = self.trainable
        dx, _, _ = ops.batchnorm_backward(
            grad, x, self.params["gamma"] if self.scale else None, self.params["beta"] if self.center else None,
            cache.mean, cache.inv_std, self.axis % x.ndim, relu, cache.training, out=self._out("grad", x.shape),
            gamma_grad_out=self.grads["gamma"] if learn and self.scale else None,  # ∂E/∂γ
            beta_grad_out=self.grads["beta"] if learn and self.center else None)  # ∂E/∂β
        if learn:
            self._add_regularization_gradients()
        return dx

    # --- BatchNormalization + ReLU in one pass each way (the fused pair protocol, see layers/base.py) ---

    def _forward_through(self, consumer, x, training):
        if not is_plain_relu(consumer) or consumer.dtype != self.dtype:
            return NotImplemented
        x = self._prepare_input(x)
        if not consumer.built:
            consumer.build((None, *x.shape[1:]))
        return self._normalize(x, training, relu=True)

    def _backward_through(self, consumer, grad_out: FloatArray, need_input_grad):
        if self._cache is None or not self._cache.relu or not is_plain_relu(consumer):
            return NotImplemented  # the forward ran the two layers apart
        dx = self._gradient(grad_out, relu=True)
        return dx if need_input_grad else None

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


def _number_in(layer, argument, value, low, high, closed_low: bool = True, closed_high: bool = False) -> float:
    ok = is_real(value)
    if ok:
        value = float(value)
        above = value >= low if closed_low else value > low
        ok = above and (value <= high if closed_high else value < high)
    if not ok:
        bounds = f"{'[' if closed_low else '('}{low}, {high}{']' if closed_high else ')'}"
        raise ValueError(f"{layer.describe()}: {argument} must be a number in {bounds}, got {value!r}")
    return value
