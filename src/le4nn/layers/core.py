"""Dense: the fully connected layer of handout 4.2."""

from __future__ import annotations

from typing import Any

import numpy as np

from le4nn import _gemm, activations, ops
from le4nn._typing import ActivationLike, ArrayLike, InitializerLike, PartialShape, RegularizerLike
from le4nn.layers._activated import ActivationOutput
from le4nn.layers._affine import AffineWeights
from le4nn.layers._arguments import positive_int
from le4nn.layers.base import Layer


class Dense(ActivationOutput, AffineWeights, Layer):
    """Fully connected layer: y = activation(x W + b) for a mini-batch x of shape (B, in).

    The handout writes one sample as a column, y = W x + b with W of shape (units, in) (handout 4.2);
    here a mini-batch is a stack of rows and the kernel is stored in Keras's layout (in, units), so the
    product is x W.  Backward, with ∂E/∂z the gradient before the activation:
    ∂E/∂W = xᵀ ∂E/∂z, ∂E/∂b = Σ_batch ∂E/∂z, ∂E/∂x = ∂E/∂z Wᵀ.

    The kernel starts normal(0, 1/in) by default (``kernel_initializer="handout_normal"``, handout
    4.2.2), the bias at zero.  ``kernel_regularizer``/``bias_regularizer`` (e.g. "l2") add their penalty
    to :meth:`regularization_loss` and their gradient to ``grads``.  With ``activation="softmax"`` the
    layer offers the fused softmax + cross-entropy backward (``backward_from_logits``).

    When the input is mostly zeros (the pixels of an image batch feeding the first layer: ≈ 80 % of an
    MNIST image), x W and xᵀ ∂E/∂z go through :func:`le4nn.ops.sparse_matmul` and ``sparse_matmul_tn``,
    which on the native backend skip the zero pixels; the density is measured on the first batch and
    every ``_DENSITY_EVERY`` batches after it.  Large dense products are cut into blocks fixed by
    their shapes and shared among the threads (:mod:`le4nn._gemm`), so their bits do not depend on
    the thread count.
    """

    #: Inputs with at most this fraction of nonzero entries take the sparse products.  Measured on
    #: MNIST (density 0.19, batch 100, 784 → 100): 66 µs instead of BLAS's 103 µs forward, 59 instead of
    #: 96 µs for the kernel gradient; the kernel's work grows with the nonzeros of four samples at a time,
    #: so it stops paying at about 0.3.
    _SPARSE_DENSITY = 0.25
    _DENSITY_EVERY = 64

    def __init__(self, units: int, activation: ActivationLike = None, use_bias: bool = True,
                 kernel_initializer: InitializerLike = "handout_normal",
                 bias_initializer: InitializerLike = "zeros", kernel_regularizer: RegularizerLike = None,
                 bias_regularizer: RegularizerLike = None, input_dim: int | None = None,
                 **kwargs: Any) -> None:
        if input_dim is not None and "input_shape" not in kwargs:
            kwargs["input_shape"] = (input_dim,)
        super().__init__(**kwargs)
        self.units = positive_int(self, "units", units)
        self._init_activation(activation)
        self._init_affine(use_bias, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer)
        self._x: Any = None
        self._sparse_input = False  # whether the last forward took the sparse product
        self._density_countdown = 0  # batches until the input's density is measured again
        self._sparse_density = 1.0

    def compute_output_shape(self, input_shape: PartialShape) -> PartialShape:
        shape = self._require_rank(input_shape, 2, "(batch, features)", "put a Flatten layer before it")
        return (shape[0], self.units)

    def build(self, input_shape: PartialShape) -> None:
        in_features = input_shape[-1]
        if in_features is None:
            raise ValueError(
                f"{self.describe()}: the number of input features must be known, got {input_shape}"
            )
        self._add_affine_weights((in_features, self.units), self.units)

    _bias_last_axis = True  # z is (B, units): the bias and ReLU passes can be fused

    def forward(self, x: ArrayLike, training: bool = False) -> np.ndarray:
        x = self._prepare_input(x)
        self._x = x
        kernel = self.params["kernel"]
        z = self._out("z", (x.shape[0], kernel.shape[1]))
        bias = self.params["bias"] if self.use_bias else None
        self._sparse_input = self._input_is_sparse(x)
        if self._sparse_input:
            name = self.activation.name
            if name in ("relu", "sigmoid"):  # y = σ(xW + b) in one kernel (eq. of handout 4.2)
                y = ops.sparse_matmul(x, kernel, bias=bias, activation=name, out=z)
                self._z, self._y = None, y  # as _activate: the derivative needs y only
                return y
            ops.sparse_matmul(x, kernel, out=z)
        else:
            _gemm.matmul(x, kernel, z)
        return self._activate(z, bias, owned=True)

    def _input_is_sparse(self, x: np.ndarray) -> bool:
        """Whether x is sparse enough for the sparse products (only the native backend has a faster
        kernel for them; the density is re-measured every ``_DENSITY_EVERY`` calls)."""
        if x.ndim != 2 or x.shape[1] < 64 or not x.flags.c_contiguous or ops.get_backend() != "native":
            return False
        if self._density_countdown <= 0:
            self._density_countdown = self._DENSITY_EVERY
            self._sparse_density = np.count_nonzero(x) / max(x.size, 1)
        self._density_countdown -= 1
        return self._sparse_density <= self._SPARSE_DENSITY

    def _pre_activation_backward(self, grad_z: np.ndarray, need_input_grad: bool, bias_done: bool) -> Any:
        kernel = self.params["kernel"]
        if self.trainable:
            if self._sparse_input and grad_z.dtype == self._x.dtype and grad_z.flags.c_contiguous:
                ops.sparse_matmul_tn(self._x, grad_z, out=self.grads["kernel"])
            else:
                _gemm.matmul(self._x.T, grad_z, self.grads["kernel"])
            if self.use_bias and not bias_done:
                np.add.reduce(grad_z, axis=0, out=self.grads["bias"])  # Σ over the batch (np.sum, leaner)
            self._add_regularization_gradients()
        if not need_input_grad:
            return None
        return _gemm.matmul(grad_z, kernel.T, self._out("grad_x", self._x.shape))

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            **self._affine_config(),
        }
