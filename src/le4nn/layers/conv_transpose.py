"""Conv2DTranspose: the transpose (adjoint) of a 2-D convolution, as col2im of one GEMM (handout 5.7.5)."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from le4nn import activations, ops
from le4nn._typing import ActivationLike, ArrayLike, InitializerLike, PartialShape, RegularizerLike
from le4nn.layers import _windows
from le4nn.layers._activated import ActivationOutput
from le4nn.layers._affine import AffineWeights
from le4nn.layers._arguments import (
    check_data_format,
    int_pair,
    positive_int,
)
from le4nn.layers.base import Layer


def deconv_output_length(length, kernel: int, stride: int, padding: str, output_padding) -> int | None:
    """Keras's ``deconv_output_length`` (dilation 1): the output size of a transposed convolution.

    - ``output_padding`` None: "valid" gives n·s + max(k − s, 0) (= (n − 1)·s + k when k >= s),
      "same" gives n·s;
    - with ``output_padding`` p: (n − 1)·s + k − 2·pad + p, pad = 0 ("valid") or k // 2 ("same").
    """
    if length is None:
        return None
    if output_padding is None:
        if padding == "valid":
            return length * stride + max(kernel - stride, 0)
        return length * stride
    pad = 0 if padding == "valid" else kernel // 2
    return (length - 1) * stride + kernel - 2 * pad + output_padding


def transpose_cropping(length: int, out_length: int, kernel: int, stride: int, padding: str) -> tuple[int, int]:
    """(before, after): the padding of the convolution whose adjoint the layer computes, along one axis.

    The uncropped transposed convolution has (n − 1)·s + k rows (input row i, kernel row a land on
    output row i·s + a).  Keras (TensorFlow's ``conv2d_transpose``: the gradient of a convolution of an
    input of ``out_length`` rows, padded as Keras pads it) keeps the rows from ``before`` on: 0 for
    "valid", and for "same" the top padding P // 2 of that convolution, P = max((n − 1)·s + k − out, 0).
    ``after`` is what then makes the convolution of ``out_length`` rows give exactly n rows (rows past
    the uncropped end are zeros).
    """
    full = (length - 1) * stride + kernel
    before = 0 if padding == "valid" else max(full - out_length, 0) // 2
    after = max(full - out_length - before, 0)
    return before, after


class NhwcTransposeCache(NamedTuple):
    """What the channels_last forward keeps for backward: the NHWC input and the adjoint
    convolution's (top, bottom, left, right) padding."""

    x: np.ndarray
    pad: tuple


class NchwTransposeCache(NamedTuple):
    """What the channels_first forward keeps: the NCHW input, the padding, the input as a (C, B·H·W)
    matrix and the (K·kh·kw, C) kernel matrix."""

    x: np.ndarray
    pad: tuple
    x_mat: np.ndarray
    w_mat: np.ndarray


class Conv2DTranspose(ActivationOutput, AffineWeights, Layer):
    """Transposed 2-D convolution ("deconvolution", fractionally strided convolution), as Keras's.

    It is the transpose (adjoint) of :class:`~le4nn.layers.Conv2D`: for the convolution Y = conv(X)
    of images of the output size with the same kernel, strides and padding rule, this layer maps
    images of Y's size to images of X's size by the transposed linear map, so that
    ⟨conv(X), Y⟩ = ⟨X, conv_transpose(Y)⟩ for all X, Y.  With stride s it upsamples by s, which is
    why DCGAN generators use it.

    The computation is Conv2D's backward pass turned around (handout eq. 59–62):

    - forward: one GEMM takes every input pixel's C channels to its kh·kw·K contributions, the columns
      X' = x W'ᵀ (in Conv2D's terms, the gradient ∂E/∂X' = ∂E/∂Y Wᵀ of eq. 61); then ``ops.col2im``
      (the scatter-add of eq. 62, the adjoint of im2col) adds the overlapping windows into the
      output image, and the bias and the activation follow;
    - backward: ``ops.im2col`` of ∂E/∂z (eq. 59) gives ∂E/∂X'; then ∂E/∂x = ∂E/∂X' W' (one GEMM, a
      convolution of ∂E/∂z) and ∂E/∂W' = ∂E/∂X'ᵀ x (one GEMM, as eq. 60); ∂E/∂b = Σ ∂E/∂z.

    channels_last uses ``ops.im2col_nhwc``/``col2im_nhwc`` (no transposes: the Keras kernel seen as
    (kh·kw·K, C) is W'); channels_first uses the NCHW ``ops.im2col``/``col2im``.

    Arguments as Keras: ``filters`` K output channels; ``kernel_size``, ``strides`` an int or a
    pair; ``padding`` "valid" or "same"; ``output_padding`` None, an int or a pair (each smaller than
    the stride); the kernel is stored as Keras stores it, (kh, kw, filters, in_channels).  Output
    size per axis (Keras's ``deconv_output_length``, :func:`deconv_output_length`): without
    ``output_padding``, "valid" gives (n − 1)·s + k (n·s if s > k) and "same" n·s; with it,
    (n − 1)·s + k − 2·pad + output_padding, pad = 0 ("valid") or k // 2 ("same").  Where the
    equivalent convolution pads unevenly, the extra row/column is at the bottom/right, as in Keras
    (TensorFlow); e.g. "same" with k = 4, s = 2 is PyTorch's ConvTranspose2d(padding=1).
    ``dilation_rate`` must be 1.  The kernel starts glorot_uniform (Keras's default: the handout has
    no transposed convolution).
    """

    def __init__(self, filters: int, kernel_size: int | tuple[int, int], strides: int | tuple[int, int] = (1, 1),
                 padding: str = "valid", output_padding: int | tuple[int, int] | None = None,
                 data_format: str | None = None, dilation_rate: int | tuple[int, int] = (1, 1),
                 activation: ActivationLike = None, use_bias: bool = True,
                 kernel_initializer: InitializerLike = "glorot_uniform", bias_initializer: InitializerLike = "zeros",
                 kernel_regularizer: RegularizerLike = None,
                 bias_regularizer: RegularizerLike = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.filters = positive_int(self, "filters", filters)
        self.kernel_size = int_pair(self, "kernel_size", kernel_size)
        self.strides = int_pair(self, "strides", strides)
        mode = padding.lower() if isinstance(padding, str) else padding
        if mode not in ("valid", "same"):
            raise ValueError(f"{self.describe()}: padding must be 'valid' or 'same', got {padding!r}")
        self.padding = mode
        if output_padding is None:
            self.output_padding = None
        else:
            self.output_padding = int_pair(self, "output_padding", output_padding, minimum=0)
            for axis, (p, s) in enumerate(zip(self.output_padding, self.strides, strict=True)):
                if p >= s:
                    raise ValueError(
                        f"{self.describe()}: output_padding {self.output_padding} must be smaller than the "
                        f"strides {self.strides} (axis {axis}: {p} >= {s})"
                    )
        if int_pair(self, "dilation_rate", dilation_rate) != (1, 1):
            raise ValueError(f"{self.describe()}: only dilation_rate 1 is supported, got {dilation_rate!r}")
        self.data_format = check_data_format(self, data_format)
        self._init_activation(activation)
        self._init_affine(use_bias, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer)
        self._cache: Any = None

    # --- shapes and weights -------------------------------------------------------------------------

    def _output_spatial(self, height, width) -> tuple:
        sizes = []
        for axis, n in enumerate((height, width)):
            out_padding = None if self.output_padding is None else self.output_padding[axis]
            size = deconv_output_length(n, self.kernel_size[axis], self.strides[axis], self.padding, out_padding)
            if size is not None and size < 1:
                raise ValueError(
                    f"{self.describe()}: inputs of spatial size {(height, width)} give an empty output "
                    f"(kernel {self.kernel_size}, strides {self.strides}, padding {self.padding!r}, "
                    f"output_padding {self.output_padding})"
                )
            sizes.append(size)
        return tuple(sizes)

    def compute_output_shape(self, input_shape: PartialShape) -> PartialShape:
        _, height, width = _windows.image_shape(self, input_shape, self.data_format)
        out_h, out_w = self._output_spatial(height, width)
        return _windows.image_output_shape(input_shape[0], self.filters, out_h, out_w, self.data_format)

    def build(self, input_shape: PartialShape) -> None:
        channels, _, _ = _windows.image_shape(self, input_shape, self.data_format)
        channels = _windows.require_channels(self, channels, input_shape)
        kh, kw = self.kernel_size
        self._add_affine_weights((kh, kw, self.filters, channels), self.filters)

    def _geometry(self, height: int, width: int):
        """(OH, OW) and the (top, bottom, left, right) padding of the adjoint convolution."""
        out_h, out_w = self._output_spatial(height, width)
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        pad = (*transpose_cropping(height, out_h, kh, sh, self.padding),
               *transpose_cropping(width, out_w, kw, sw, self.padding))
        return out_h, out_w, pad

    # --- forward / backward -------------------------------------------------------------------------

    @property
    def _bias_last_axis(self) -> bool:
        return self.data_format == "channels_last"

    def forward(self, x: ArrayLike, training: bool = False) -> np.ndarray:
        x = self._prepare_input(x)
        if self.data_format == "channels_last":
            return self._forward_nhwc(x)
        return self._forward_nchw(x)

    def _forward_nhwc(self, x):
        """Columns X' = x W'ᵀ (B·H·W, kh·kw·K), with W' the Keras kernel seen as (kh·kw·K, C) (the
        row order of ``im2col_nhwc``'s columns), then ``col2im_nhwc`` into the (B, OH, OW, K) output."""
        batch, height, width, channels = x.shape
        kh, kw = self.kernel_size
        out_h, out_w, pad = self._geometry(height, width)
        taps = kh * kw * self.filters
        kernel_2d = self.params["kernel"].reshape(taps, channels)
        cols = self._buffer("cols", (batch * height * width, taps))
        np.matmul(x.reshape(-1, channels), kernel_2d.T, out=cols)
        z = self._out("z", (batch, out_h, out_w, self.filters))
        ops.col2im_nhwc(cols, z.shape, kh, kw, stride=self.strides, pad=pad, out=z)
        self._cache = NhwcTransposeCache(x, pad)
        return self._activate(z, self.params["bias"] if self.use_bias else None, owned=True)

    def _kernel_matrix(self) -> np.ndarray:
        """W' as (K·kh·kw, C): row k·kh·kw + i·kw + j holds kernel[i, j, k, :] (the row order of
        ``ops.im2col``'s columns)."""
        kh, kw, filters, channels = self.params["kernel"].shape
        return self.params["kernel"].transpose(2, 0, 1, 3).reshape(filters * kh * kw, channels)

    def _forward_nchw(self, x):
        batch, channels, height, width = x.shape
        kh, kw = self.kernel_size
        out_h, out_w, pad = self._geometry(height, width)
        w_mat = self._kernel_matrix()
        x_mat = x.transpose(1, 0, 2, 3).reshape(channels, -1)  # (C, B·H·W)
        cols = self._buffer("cols", (w_mat.shape[0], x_mat.shape[1]))
        np.matmul(w_mat, x_mat, out=cols)
        z = self._out("z", (batch, self.filters, out_h, out_w))
        ops.col2im(cols, z.shape, kh, kw, stride=self.strides, pad=pad, out=z)
        if self.use_bias:
            z += self.params["bias"][:, None, None]
        self._cache = NchwTransposeCache(x, pad, x_mat, w_mat)
        return self._activate(z, owned=True)

    def _pre_activation_backward(self, grad_z, need_input_grad: bool, bias_done: bool):
        grad_z = np.ascontiguousarray(grad_z)
        if self.data_format == "channels_last":
            return self._backward_nhwc(grad_z, need_input_grad, bias_done)
        return self._backward_nchw(grad_z, need_input_grad)

    def _backward_nhwc(self, grad_z, need_input_grad, bias_done):
        x, pad = self._cache.x, self._cache.pad
        channels = x.shape[3]
        kh, kw = self.kernel_size
        taps = kh * kw * self.filters
        grad_cols = self._buffer("cols", (x.size // channels, taps))
        ops.im2col_nhwc(grad_z, kh, kw, stride=self.strides, pad=pad, out=grad_cols)  # ∂E/∂X'
        if self.trainable:
            if self.use_bias and not bias_done:
                np.sum(grad_z.reshape(-1, self.filters), axis=0, out=self.grads["bias"])
            np.matmul(grad_cols.T, x.reshape(-1, channels), out=self.grads["kernel"].reshape(taps, channels))
            self._add_regularization_gradients()
        if not need_input_grad:
            return None
        grad_x = self._out("grad_x", x.shape)
        np.matmul(grad_cols, self.params["kernel"].reshape(taps, channels), out=grad_x.reshape(-1, channels))
        return grad_x

    def _backward_nchw(self, grad_z, need_input_grad):
        x_mat, w_mat, x_shape, pad = self._cache.x_mat, self._cache.w_mat, self._cache.x.shape, self._cache.pad
        batch, channels, height, width = x_shape
        kh, kw = self.kernel_size
        grad_cols = self._buffer("cols", (w_mat.shape[0], x_mat.shape[1]))
        ops.im2col(grad_z, kh, kw, stride=self.strides, pad=pad, out=grad_cols)  # ∂E/∂X': (K·kh·kw, B·H·W)
        if self.trainable:
            if self.use_bias:
                np.sum(grad_z, axis=(0, 2, 3), out=self.grads["bias"])
            grad_w = grad_cols @ x_mat.T  # (K·kh·kw, C)
            self.grads["kernel"][...] = grad_w.reshape(self.filters, kh, kw, channels).transpose(1, 2, 0, 3)
            self._add_regularization_gradients()
        if not need_input_grad:
            return None
        grad_x_mat = w_mat.T @ grad_cols  # (C, B·H·W)
        grad_x = self._out("grad_x", x_shape)
        grad_x[...] = grad_x_mat.reshape(channels, batch, height, width).transpose(1, 0, 2, 3)
        return grad_x

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "output_padding": None if self.output_padding is None else list(self.output_padding),
            "data_format": self.data_format,
            "activation": activations.serialize(self.activation),
            **self._affine_config(),
        }


__all__ = ["Conv2DTranspose", "deconv_output_length", "transpose_cropping"]
