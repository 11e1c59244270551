"""Conv2D (ReLU or no activation) fused with the channels_last MaxPooling2D that alone reads its output.

Inside a model step the graph (:class:`le4nn.models.graph.Graph`) offers each layer its sole consumer
through the fused pair protocol (``Layer._forward_through`` / ``Layer._backward_through``, see
:mod:`le4nn.layers.base`); Conv2D answers with the functions here, or ``NotImplemented`` to let the model
run the two layers one after the other.  The pool keeps its own cache: the channels_last one is
written only by ``MaxPooling2D._pool_nhwc``, which the fused forward calls with the fused kernel in
place of the pooling kernel, so that the pool's backward (plain or fused) finds the same record.

- Forward (:func:`forward`): a direct convolution (few input taps) and the pooling in one pass
  (``ops.conv2d_nhwc_pool_forward``): each image's convolution output stays in the cache and is
  never written in full.  Other convolutions run their own forward, then the pool's.
- Backward (:func:`backward`), from the pooled gradient: the ReLU's derivative at a window's winner is
  the sign of the pooled value, so the mask and the bias gradient need only the pooled arrays
  (``ops.relu_backward_bias`` on them), and ∂E/∂z is the pooling's backward of the masked gradient:
  one full-size pass fewer, and none over the convolution's output.  A first layer convolved directly
  goes further: its filter gradient straight from the pooled gradient
  (``ops.conv2d_nhwc_filter_grad_pooled``), image by image in the cache, without ∂E/∂z at all.
"""

from __future__ import annotations

from le4nn import ops
from le4nn._typing import FloatArray
from le4nn.layers import _windows
from le4nn.layers._conv_direct import DirectCache, bias_grad_out
from le4nn.layers.pooling import MaxPooling2D


def _fusable(conv, pool) -> bool:
    return (isinstance(pool, MaxPooling2D) and pool.data_format == "channels_last"
            and conv.data_format == "channels_last" and conv.activation.name in ("relu", "linear"))


def forward(conv, pool, x):
    """``(pooled output of pool(conv(x)), the DirectCache Conv2D keeps)``, or ``NotImplemented`` (not a
    direct convolution).  The pool's own cache is written by ``pool._pool_nhwc``."""
    if not _fusable(conv, pool):
        return NotImplemented
    x = conv._prepare_input(x)
    batch, height, width, channels = x.shape
    kh, kw = conv.kernel_size
    if channels * kh * kw > conv.DIRECT_MAX_TAPS:
        return NotImplemented
    pad = _windows.resolve_padding(conv.padding, height, width, conv.kernel_size, conv.strides)
    out_h, out_w = conv._output_spatial(height, width)
    conv_shape = (batch, out_h, out_w, conv.filters)
    pool.build((None, *conv_shape[1:]))
    bias = conv.params["bias"] if conv.use_bias else None
    relu = conv.activation.name == "relu"

    def conv_and_pool(pool_pad, out, argmax):
        pooled, _ = ops.conv2d_nhwc_pool_forward(x, conv.params["kernel"], bias, conv.strides, pad, relu,
                                                 pool.pool_size[0], pool.pool_size[1], pool.strides, pool_pad,
                                                 out=out, argmax_out=argmax)
        return pooled

    pooled = pool._pool_nhwc(conv_shape, conv_and_pool)
    return pooled, DirectCache(x, pad, pooled_by=pool)


def backward(conv, cache, pool, grad_out: FloatArray, need_input_grad: bool):
    """∂E/∂(conv's input) from ∂E/∂(pool's output), conv's ``grads`` filled; or ``NotImplemented``.

    ``cache`` is what conv's last forward kept; ``cache.pooled_by`` is ``pool`` when that forward was
    the fused one (the convolution's output ``conv._y`` was then never formed)."""
    if not _fusable(conv, pool) or cache is None or pool._cache is None:
        return NotImplemented
    pool_cache = pool._cache
    if getattr(cache, "pooled_by", None) is not pool and (conv._y is None or pool_cache.x_shape != conv._y.shape):
        return NotImplemented
    argmax, conv_shape, pooled_shape, pooled = pool_cache.argmax, pool_cache.x_shape, pool_cache.y_shape, pool_cache.y
    grad = pool._prepare_grad(grad_out, pooled_shape)
    relu = conv.activation.name == "relu"
    if isinstance(cache, DirectCache) and not need_input_grad:
        if not conv.trainable:
            return None
        kh, kw = conv.kernel_size
        ops.conv2d_nhwc_filter_grad_pooled(cache.x, grad, argmax, pooled if relu else None, kh, kw, conv.strides,
                                           cache.pad, out=conv.grads["kernel"], bias_grad_out=bias_grad_out(conv))
        conv._add_regularization_gradients()
        return None
    bias_done = False
    if relu:
        masked = conv._out("grad_pooled", pooled_shape)
        if conv._fused_bias_grad():
            ops.relu_backward_bias(grad, pooled, out=masked, bias_grad_out=conv.grads["bias"])
            bias_done = True
        else:
            ops.relu_backward(grad, pooled, out=masked)
        grad = masked
    grad_z = ops.maxpool2d_nhwc_backward(grad, argmax, conv_shape, out=conv._out("grad_z", conv_shape))
    return conv._pre_activation_backward(grad_z, need_input_grad, bias_done)
