"""The ``activation=`` argument shared by Dense, Conv2D and the activation layers.

A layer computes its pre-activation z (the affine map for Dense/Conv2D, the input itself for the
activation layers) and then y = activation(z).  It keeps z and y for backward, and when the
activation is a softmax it exposes ``output_softmax = True`` and ``backward_from_logits(∂E/∂z)``, so that
a model can fuse softmax with cross-entropy and back-propagate (y − t)/B directly (handout eq. 12)
without forming the softmax Jacobian (docs/architecture.md).

The affine layers hand over z together with their bias: when z is the layer's own array, the bias is
added in place, and ReLU is fused with it into one pass (``ops.bias_relu_forward``); backward then
fuses ReLU's or the sigmoid's derivative with the bias gradient (``ops.relu_backward_bias``,
``ops.sigmoid_backward_bias``).  ReLU and sigmoid work
in place on the layer's own z, as their derivatives need only y.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from le4nn import ops
from le4nn._typing import ActivationLike, FloatArray
from le4nn.layers._arguments import get_activation

if TYPE_CHECKING:  # for the type checker, a mixin of Layer (at run time a plain mixin class)
    from le4nn.layers.base import Layer as _LayerBase
else:
    _LayerBase = object


class ActivationOutput(_LayerBase):
    """Mixin for a :class:`~le4nn.layers.base.Layer` whose output is ``activation(z)``.

    The layer calls :meth:`_init_activation` in its constructor, returns ``self._activate(z)`` from
    ``forward`` and implements the one hook :meth:`_pre_activation_backward`; the mixin provides
    ``backward``, ``backward_from_logits`` and the model's ``_backward_step`` (see
    :mod:`le4nn.layers.base`).  A layer whose bias runs along the last axis of z sets
    ``_bias_last_axis`` to True to get the fused bias passes.
    """

    @property
    def _bias_last_axis(self) -> bool:
        return False

    #: Set by a model for the duration of a training step when this layer's softmax output feeds a
    #: fused softmax + cross-entropy loss: forward then returns the logits and leaves the softmax
    #: to the loss (``loss.softmax_fused`` computes it anyway), so it is not computed twice.
    _defer_softmax = False

    def _init_activation(self, activation: ActivationLike, **params: Any) -> None:
        self.activation = get_activation(self, activation, **params)
        self._z: Any = None
        self._y: Any = None

    @property
    def output_softmax(self) -> bool:
        return self.activation.name == "softmax"

    @property
    def logits(self) -> FloatArray | None:
        """The pre-activation z of the last forward (the logits when ``output_softmax``), or None
        (when the activation was computed in place, as ReLU and sigmoid are in Dense and Conv2D)."""
        return self._z

    def _activate(self, z: np.ndarray, bias: np.ndarray | None = None, owned: bool = False) -> np.ndarray:
        """y = activation(z + bias).

        ``owned``: z belongs to the layer (a fresh result or a scratch buffer) and may be
        overwritten; ``bias`` (if any) must run along z's last axis.
        """
        name = self.activation.name
        if owned and name == "relu":
            if bias is not None:
                y = ops.bias_relu_forward(z, bias, out=z)
            else:
                y = ops.relu_forward(z, out=z)
            self._z, self._y = None, y
            return y
        if bias is not None:
            if owned:
                z += bias
            else:
                z = z + bias
        if owned and name == "sigmoid":
            y = ops.sigmoid_forward(z, out=z)
            self._z, self._y = None, y
            return y
        if self._defer_softmax and name == "softmax":
            self._z, self._y = z, None  # the model's loss computes the softmax (see _defer_softmax)
            return z
        y = self.activation.forward(z)
        self._z, self._y = z, y
        return y

    def backward(self, grad_out: FloatArray) -> np.ndarray:
        """∂E/∂inputs from ∂E/∂outputs; parameter gradients go to ``grads``."""
        return self._backward_step(grad_out, from_logits=False, need_input_grad=True)

    def backward_from_logits(self, grad_logits: FloatArray) -> np.ndarray:
        """Backward from ∂E/∂z, the gradient w.r.t. the pre-softmax logits (fused softmax + cross-entropy)."""
        self._require_softmax()
        return self._backward_step(grad_logits, from_logits=True, need_input_grad=True)

    def _require_softmax(self) -> None:
        if not self.output_softmax:
            raise NotImplementedError(
                f"{self.describe()} does not end in a softmax (activation {self.activation.name!r})"
            )

    def _backward_step(self, grad_out: FloatArray, *, from_logits: bool, need_input_grad: bool) -> Any:
        """∂E/∂z through the activation (skipped when ``from_logits``), then the layer's hook."""
        if from_logits:
            self._require_softmax()
            grad_z = self._prepare_grad(grad_out, self._z, "grad_logits")
            return self._pre_activation_backward(grad_z, need_input_grad, False)
        grad_y = self._prepare_grad(grad_out, self._y)
        grad_z, bias_done = self._activation_backward(grad_y)
        return self._pre_activation_backward(grad_z, need_input_grad, bias_done)

    def _activation_backward(self, grad_y: np.ndarray) -> tuple[np.ndarray, bool]:
        """(∂E/∂z, whether the bias gradient is done): ReLU's and the sigmoid's derivatives need only
        y, and are fused with the bias gradient where :meth:`_fused_bias_grad` allows."""
        name = self.activation.name
        if name == "linear":
            return grad_y, False
        if name not in ("relu", "sigmoid"):
            return self.activation.backward(grad_y, self._z, self._y), False
        grad_z = self._out("grad_z", grad_y.shape)
        fused = self._fused_bias_grad()
        if name == "relu" and fused:
            ops.relu_backward_bias(grad_y, self._y, out=grad_z, bias_grad_out=self.grads["bias"])
        elif name == "relu":
            ops.relu_backward(grad_y, self._y, out=grad_z)
        elif fused:
            ops.sigmoid_backward_bias(grad_y, self._y, out=grad_z, bias_grad_out=self.grads["bias"])
        else:
            ops.sigmoid_backward(grad_y, self._y, out=grad_z)
        return grad_z, fused

    def _fused_bias_grad(self) -> bool:
        """Whether the ReLU or sigmoid backward may also produce the bias gradient
        (``ops.relu_backward_bias``, ``ops.sigmoid_backward_bias``)."""
        return self._bias_last_axis and self.trainable and "bias" in self.grads

    def _pre_activation_backward(self, grad_z: np.ndarray, need_input_grad: bool, bias_done: bool) -> Any:
        """The hook a layer implements: from ∂E/∂z, fill ``grads`` (the bias gradient is already
        there when ``bias_done``; regularizer terms included) and return ∂E/∂inputs, or None when
        ``need_input_grad`` is False (the model discards it)."""
        raise NotImplementedError
