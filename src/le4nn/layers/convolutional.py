"""Conv2D: 2-D convolution as im2col + one matrix product over the whole mini-batch (handout 5.7.5)."""

from __future__ import annotations

import numpy as np

from le4nn import activations, ops
from le4nn.layers import _windows
from le4nn.layers._activated import ActivationOutput
from le4nn.layers._arguments import (
    check_data_format,
    get_initializer,
    get_regularizer,
    int_pair,
    positive_int,
    serialize_initializer,
    serialize_regularizer,
)
from le4nn.layers.base import Layer


class Conv2D(ActivationOutput, Layer):
    """2-D convolution (cross-correlation, as Keras and PyTorch) with ``filters`` output channels.

    Forward (handout eq. 59): ``ops.im2col`` unfolds every kh × kw window of the (padded) batch into a
    column of X' (C·kh·kw, B·OH·OW), and one GEMM Y = W X' computes all outputs, with W (K, C·kh·kw) the
    Keras-layout kernel (kh, kw, C, K) rearranged so that its columns follow X''s rows.  Then the bias
    and the activation.  Backward (handout eq. 60–62): ∂E/∂W = ∂E/∂Y X'ᵀ, ∂E/∂b = Σ ∂E/∂Y over batch and
    positions, ∂E/∂X' = Wᵀ ∂E/∂Y, and ``ops.col2im`` (the adjoint of im2col: overlapping windows add up)
    turns ∂E/∂X' into ∂E/∂x.

    Arguments as Keras: ``kernel_size`` and ``strides`` are an int or a pair; ``padding`` is "valid"
    (none), "same" (output ceil(n / stride); Keras's rule: the total padding k − 1 at stride 1 is split
    floor/ceil with the extra row/column at the bottom/right), an int, a pair (vertical, horizontal) or
    (top, bottom, left, right); ``data_format`` "channels_last" (B, H, W, C, the default) or
    "channels_first" (B, C, H, W).  The kernel starts normal(0, 1/(kh·kw·C)) ("handout_normal").

    With channels_last the GEMM is computed as X'ᵀ Wᵀ, whose (B·OH·OW, K) result already is the NHWC
    output, so only the input needs a transpose to NCHW for im2col.
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 activation=None, use_bias=True, kernel_initializer="handout_normal",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.filters = positive_int(self, "filters", filters)
        self.kernel_size = int_pair(self, "kernel_size", kernel_size)
        self.strides = int_pair(self, "strides", strides)
        self.padding = _windows.normalize_padding(self, padding)
        self.data_format = check_data_format(self, data_format)
        self._init_activation(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = get_initializer(self, "kernel_initializer", kernel_initializer)
        self.bias_initializer = get_initializer(self, "bias_initializer", bias_initializer)
        self.kernel_regularizer = get_regularizer(self, "kernel_regularizer", kernel_regularizer)
        self.bias_regularizer = get_regularizer(self, "bias_regularizer", bias_regularizer)
        self._cache = None

    # --- shapes and weights -------------------------------------------------------------------------

    def compute_output_shape(self, input_shape):
        channels, height, width = _windows.image_shape(self, input_shape, self.data_format)
        out_h, out_w = self._output_spatial(height, width)
        return _windows.image_output_shape(input_shape[0], self.filters, out_h, out_w, self.data_format)

    def _output_spatial(self, height, width):
        return _windows.output_spatial(self, self.padding, height, width, self.kernel_size, self.strides)

    def build(self, input_shape):
        channels, _, _ = _windows.image_shape(self, input_shape, self.data_format)
        channels = _windows.require_channels(self, channels, input_shape)
        kh, kw = self.kernel_size
        self.add_weight("kernel", (kh, kw, channels, self.filters), self.kernel_initializer,
                        self.kernel_regularizer)
        if self.use_bias:
            self.add_weight("bias", (self.filters,), self.bias_initializer, self.bias_regularizer)

    # --- forward / backward -------------------------------------------------------------------------

    def _kernel_matrix(self) -> np.ndarray:
        """W as (C·kh·kw, K): row c·kh·kw + i·kw + j holds kernel[i, j, c, :] (the row order of X')."""
        kh, kw, channels, filters = self.params["kernel"].shape
        return self.params["kernel"].transpose(2, 0, 1, 3).reshape(channels * kh * kw, filters)

    def forward(self, x, training=False):
        x = self._prepare_input(x)
        x_nchw = _windows.to_nchw(x, self.data_format)
        batch, channels, height, width = x_nchw.shape
        kh, kw = self.kernel_size
        pad = _windows.resolve_padding(self.padding, height, width, self.kernel_size, self.strides)
        out_h, out_w = self._output_spatial(height, width)
        cols = self._buffer("cols", (channels * kh * kw, batch * out_h * out_w))
        ops.im2col(x_nchw, kh, kw, stride=self.strides, pad=pad, out=cols)  # X', eq. 59
        w_t = self._kernel_matrix()  # Wᵀ: (C·kh·kw, K)

        if self.data_format == "channels_last":
            z = (cols.T @ w_t).reshape(batch, out_h, out_w, self.filters)  # (W X')ᵀ = X'ᵀ Wᵀ, NHWC
            if self.use_bias:
                z += self.params["bias"]
        else:
            y_mat = w_t.T @ cols  # Y = W X': (K, B·OH·OW)
            if self.use_bias:
                y_mat += self.params["bias"][:, None]
            z = np.ascontiguousarray(y_mat.reshape(self.filters, batch, out_h, out_w).transpose(1, 0, 2, 3))
        self._cache = (cols, w_t, x_nchw.shape, pad)
        return self._activate(z)

    def _pre_activation_backward(self, grad_z):
        cols, w_t, x_shape, pad = self._cache
        kh, kw = self.kernel_size
        batch, channels = x_shape[:2]
        if self.data_format == "channels_last":
            grad_y_t = grad_z.reshape(-1, self.filters)  # (∂E/∂Y)ᵀ: (B·OH·OW, K), a view of NHWC
        else:
            grad_y_t = np.ascontiguousarray(grad_z.transpose(0, 2, 3, 1)).reshape(-1, self.filters)

        if self.trainable:
            grad_w_t = cols @ grad_y_t  # (∂E/∂Y X'ᵀ)ᵀ = X' (∂E/∂Y)ᵀ: (C·kh·kw, K)
            self.grads["kernel"][...] = grad_w_t.reshape(channels, kh, kw, self.filters).transpose(1, 2, 0, 3)
            if self.use_bias:
                np.sum(grad_y_t, axis=0, out=self.grads["bias"])
            self._add_regularization_gradients()

        grad_cols = self._buffer("grad_cols", cols.shape)
        np.matmul(w_t, grad_y_t.T, out=grad_cols)  # ∂E/∂X' = Wᵀ ∂E/∂Y
        grad_x = ops.col2im(grad_cols, x_shape, kh, kw, stride=self.strides, pad=pad)  # ∂E/∂X' -> ∂E/∂x
        return _windows.from_nchw(grad_x, self.data_format)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "padding": _windows.padding_config(self.padding),
            "data_format": self.data_format,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": serialize_initializer(self.kernel_initializer),
            "bias_initializer": serialize_initializer(self.bias_initializer),
            "kernel_regularizer": serialize_regularizer(self.kernel_regularizer),
            "bias_regularizer": serialize_regularizer(self.bias_regularizer),
        }
