"""Dense: the fully connected layer of handout 4.2."""

from __future__ import annotations

import numpy as np

from le4nn import activations
from le4nn.layers._activated import ActivationOutput
from le4nn.layers._arguments import (
    get_initializer,
    get_regularizer,
    positive_int,
    serialize_initializer,
    serialize_regularizer,
)
from le4nn.layers.base import Layer


class Dense(ActivationOutput, Layer):
    """Fully connected layer: y = activation(x W + b) for a mini-batch x of shape (B, in).

    The handout writes one sample as a column, y = W x + b with W of shape (units, in) (handout 4.2);
    here a mini-batch is a stack of rows and the kernel is stored in Keras's layout (in, units), so the
    product is x W.  Backward, with ∂E/∂z the gradient before the activation:
    ∂E/∂W = xᵀ ∂E/∂z, ∂E/∂b = Σ_batch ∂E/∂z, ∂E/∂x = ∂E/∂z Wᵀ.

    The kernel starts normal(0, 1/in) by default (``kernel_initializer="handout_normal"``, handout
    4.2.2), the bias at zero.  ``kernel_regularizer``/``bias_regularizer`` (e.g. "l2") add their penalty
    to :meth:`regularization_loss` and their gradient to ``grads``.  With ``activation="softmax"`` the
    layer offers the fused softmax + cross-entropy backward (``backward_from_logits``).
    """

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="handout_normal",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, input_dim=None,
                 **kwargs):
        if input_dim is not None and "input_shape" not in kwargs:
            kwargs["input_shape"] = (input_dim,)
        super().__init__(**kwargs)
        self.units = positive_int(self, "units", units)
        self._init_activation(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = get_initializer(self, "kernel_initializer", kernel_initializer)
        self.bias_initializer = get_initializer(self, "bias_initializer", bias_initializer)
        self.kernel_regularizer = get_regularizer(self, "kernel_regularizer", kernel_regularizer)
        self.bias_regularizer = get_regularizer(self, "bias_regularizer", bias_regularizer)
        self._x = None

    def compute_output_shape(self, input_shape):
        shape = self._require_rank(input_shape, 2, "(batch, features)", "put a Flatten layer before it")
        return (shape[0], self.units)

    def build(self, input_shape):
        in_features = input_shape[-1]
        if in_features is None:
            raise ValueError(
                f"{self.describe()}: the number of input features must be known, got {input_shape}"
            )
        self.add_weight("kernel", (in_features, self.units), self.kernel_initializer, self.kernel_regularizer)
        if self.use_bias:
            self.add_weight("bias", (self.units,), self.bias_initializer, self.bias_regularizer)

    _bias_last_axis = True  # z is (B, units): the bias and ReLU passes can be fused

    def forward(self, x, training=False):
        x = self._prepare_input(x)
        self._x = x
        kernel = self.params["kernel"]
        z = np.matmul(x, kernel, out=self._out("z", (x.shape[0], kernel.shape[1])))
        return self._activate(z, self.params["bias"] if self.use_bias else None, owned=True)

    def _pre_activation_backward(self, grad_z, need_input_grad=True, bias_done=False):
        kernel = self.params["kernel"]
        if self.trainable:
            np.matmul(self._x.T, grad_z, out=self.grads["kernel"])
            if self.use_bias and not bias_done:
                np.sum(grad_z, axis=0, out=self.grads["bias"])
            self._add_regularization_gradients()
        if not need_input_grad:
            return None
        return np.matmul(grad_z, kernel.T, out=self._out("grad_x", self._x.shape))

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": serialize_initializer(self.kernel_initializer),
            "bias_initializer": serialize_initializer(self.bias_initializer),
            "kernel_regularizer": serialize_regularizer(self.kernel_regularizer),
            "bias_regularizer": serialize_regularizer(self.bias_regularizer),
        }
