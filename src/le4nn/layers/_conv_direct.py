"""Conv2D's direct path: channels_last layers with few input taps (C·kh·kw ≤ ``Conv2D.DIRECT_MAX_TAPS``,
e.g. a first layer on gray or colour images).

A GEMM with so short an inner dimension runs far below peak, so the convolution is computed directly
(``ops.conv2d_nhwc_forward``, bias and ReLU fused), without a column matrix.  Its filter gradient is
``ops.conv2d_nhwc_filter_grad``; ∂E/∂x, when needed, is the im2col path's col2im
(:func:`le4nn.layers._conv_nhwc.backward`).  When nothing before the layer needs a gradient (a model's
first layer), the whole backward is one pass over ∂E/∂y (:func:`backward_filter_only`).  Followed by a
MaxPooling2D inside a model, the forward is fused with the pool (:mod:`le4nn.layers._conv_pool`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from le4nn import ops
from le4nn._typing import FloatArray
from le4nn.layers import _conv_nhwc


class DirectCache(NamedTuple):
    """What the direct forward keeps: the NHWC input and its (top, bottom, left, right) padding.
    ``pooled_by`` is the MaxPooling2D whose forward was fused with this one (the convolution's
    output was never formed: its backward goes through the pool), until that backward ran."""

    x: np.ndarray
    pad: tuple
    pooled_by: object = None


def forward(conv, x: np.ndarray, pad: tuple, bias: np.ndarray | None, relu: bool, z: np.ndarray) -> DirectCache:
    """The NHWC output ``z`` (bias added, ReLU applied when ``relu``) in one pass."""
    ops.conv2d_nhwc_forward(x, conv.params["kernel"], bias, conv.strides, pad, relu=relu, out=z)
    return DirectCache(x, pad)


def bias_grad_out(conv) -> np.ndarray:
    """Where the fused filter-gradient kernels write the bias gradient (a scratch array without a bias)."""
    return conv.grads["bias"] if conv.use_bias else conv._buffer("bias_grad", (conv.filters,))


def backward_filter_only(conv, cache: DirectCache, grad_out: FloatArray) -> None:
    """A first convolution with ReLU (or none): the ReLU's backward, the filter and the bias gradient
    in one pass over ∂E/∂y (no ∂E/∂z array, no column matrix); no ∂E/∂x."""
    grad_y = conv._prepare_grad(grad_out, conv._y)
    kh, kw = conv.kernel_size
    ops.conv2d_nhwc_filter_grad(cache.x, grad_y, kh, kw, conv.strides, cache.pad,
                                conv._y if conv.activation.name == "relu" else None,
                                out=conv.grads["kernel"], bias_grad_out=bias_grad_out(conv))
    conv._add_regularization_gradients()


def backward(conv, cache: DirectCache, grad_z: np.ndarray, need_input_grad: bool) -> np.ndarray | None:
    """From ∂E/∂z: the filter gradient directly, ∂E/∂x (if needed) by col2im.  The bias gradient is
    the caller's; regularizer terms are added here."""
    if conv.trainable:
        kh, kw = conv.kernel_size
        ops.conv2d_nhwc_filter_grad(cache.x, grad_z, kh, kw, conv.strides, cache.pad, out=conv.grads["kernel"],
                                    bias_grad_out=conv._buffer("bias_grad", (conv.filters,)))
    if not need_input_grad:
        conv._add_regularization_gradients()
        return None
    return _conv_nhwc.backward(conv, cache.x, cache.pad, None, grad_z, need_input_grad, filter_grad=False)
