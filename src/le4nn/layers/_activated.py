"""The ``activation=`` argument shared by Dense, Conv2D and the activation layers.

A layer computes its pre-activation z (the affine map for Dense/Conv2D, the input itself for the
activation layers) and then y = activation(z).  It keeps z and y for backward, and when the
activation is a softmax it exposes ``output_softmax = True`` and ``backward_from_logits(∂E/∂z)``, so that
a model can fuse softmax with cross-entropy and back-propagate (y − t)/B directly (handout eq. 12)
without forming the softmax Jacobian (docs/architecture.md).
"""

from __future__ import annotations

import numpy as np

from le4nn.layers._arguments import get_activation


class ActivationOutput:
    """Mixin for a :class:`~le4nn.layers.base.Layer` whose output is ``activation(z)``.

    The layer calls :meth:`_init_activation` in its constructor, returns ``self._activate(z)`` from
    ``forward`` and implements ``_pre_activation_backward(grad_z) -> grad_in``.
    """

    def _init_activation(self, activation, **params) -> None:
        self.activation = get_activation(self, activation, **params)
        self._z = None
        self._y = None

    @property
    def output_softmax(self) -> bool:
        return self.activation.name == "softmax"

    @property
    def logits(self):
        """The pre-activation z of the last forward (the logits when ``output_softmax``), or None."""
        return self._z

    def _activate(self, z: np.ndarray) -> np.ndarray:
        y = self.activation.forward(z)
        self._z, self._y = z, y
        return y

    def backward(self, grad_out):
        """∂E/∂inputs from ∂E/∂outputs; parameter gradients go to ``grads``."""
        grad_y = self._prepare_grad(grad_out, self._y)
        if self.activation.name == "linear":
            grad_z = grad_y
        else:
            grad_z = self.activation.backward(grad_y, self._z, self._y)
        return self._pre_activation_backward(grad_z)

    def backward_from_logits(self, grad_logits):
        """Backward from ∂E/∂z, the gradient w.r.t. the pre-softmax logits (fused softmax + cross-entropy)."""
        if not self.output_softmax:
            raise NotImplementedError(
                f"{self.describe()} does not end in a softmax (activation {self.activation.name!r})"
            )
        return self._pre_activation_backward(self._prepare_grad(grad_logits, self._z, "grad_logits"))

    def _pre_activation_backward(self, grad_z):
        raise NotImplementedError
