"""Add fused with the ReLU that alone reads its output: the end of a residual block in one pass.

Inside a model step the graph (:class:`le4nn.models.graph.Graph`) offers Add its sole consumer
through the fused pair protocol (``Layer._forward_through`` / ``Layer._backward_through``, see
:mod:`le4nn.layers.base`); Add answers with the functions here when that consumer is a ReLU layer
(``ReLU()`` or ``Activation("relu")``) of its dtype, or ``NotImplemented`` to let the model run the two
layers one after the other.

- Forward (:func:`forward`): y = max(0, x₀ + x₁ + …) (``ops.add_relu_forward``; the ReLU of handout
  4.2), without the sum ever written on its own.  The ReLU keeps y as if it had run itself.
- Backward (:func:`backward`): ∂E/∂xᵢ = ∂E/∂y · [y > 0] for every input (``ops.relu_backward``), one
  pass; the same array serves every input, as the graph only reads gradients (it adds those of a
  tensor read twice into a new array).  Keras and PyTorch run the add and the ReLU as two ops.
"""

from __future__ import annotations

from le4nn import ops
from le4nn._typing import FloatArray
from le4nn.layers.activation import Activation, ReLU


def _fusable(add, relu) -> bool:
    return (isinstance(relu, (ReLU, Activation)) and relu.activation.name == "relu" and relu.dtype == add.dtype
            and not relu._defer_softmax)


def forward(add, relu, inputs):
    """``relu(add(inputs))`` in one pass, both layers' records set for :func:`backward`; or
    ``NotImplemented``."""
    if not _fusable(add, relu):
        return NotImplemented
    xs = add._prepare_inputs(inputs)
    add._check_same_shapes(xs)
    y = ops.add_relu_forward(xs, out=add._out("y", xs[0].shape))
    relu._prepare_input(y)  # builds the ReLU (and checks the shape) as its own forward would
    add._out_shape, add._count, add._fused_with = y.shape, len(xs), relu
    relu._z, relu._y = None, y
    return y


def backward(add, relu, grad_out: FloatArray, need_input_grad: bool):
    """One ∂E/∂input per input of ``add`` from ∂E/∂(relu's output) (None when not needed); or
    ``NotImplemented`` when the last forward was not the fused one."""
    if add._fused_with is not relu or relu._y is None:
        return NotImplemented
    add._fused_with = None  # one backward per fused forward
    if not need_input_grad:
        return None
    grad = relu._prepare_grad(grad_out, relu._y)
    grad_in = ops.relu_backward(grad, relu._y, out=add._out("grad", grad.shape))
    return [grad_in] * add._count
