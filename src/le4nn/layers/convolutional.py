"""Conv2D: 2-D convolution as im2col + one matrix product over the whole mini-batch (handout 5.7.5).

This file holds the handout's algorithm (eq. 59–62, :meth:`Conv2D._forward_im2col` and
:meth:`Conv2D._backward_im2col`) and the choice of path; each fast path has its own module beside it:

- :mod:`le4nn.layers._conv_nhwc`: channels_last im2col + GEMM, chunked (the default path);
- :mod:`le4nn.layers._conv_winograd`: Winograd F(4×4, 3×3) / F(2×2, 3×3) for 3×3 stride-1 layers;
- :mod:`le4nn.layers._conv_direct`: the direct convolution of layers with few input taps;
- :mod:`le4nn.layers._conv_pool`: a convolution fused with the MaxPooling2D after it, in a model;
- :mod:`le4nn.layers._conv_bn`: a convolution folded with the BatchNormalization after it, for inference.

From here to the equation and the kernel: ``ops.im2col``/``ops.col2im`` are written out in NumPy in
:mod:`le4nn.ops.reference` (the handout's eq. 59 and its adjoint), and compiled in
``le4nn/_kernels/im2col.pyx``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from le4nn import activations, ops
from le4nn._typing import ActivationLike, ArrayLike, FloatArray, InitializerLike, PartialShape, RegularizerLike
from le4nn.layers import _conv_bn, _conv_direct, _conv_nhwc, _conv_pool, _conv_winograd, _shared_scratch, _windows
from le4nn.layers._activated import ActivationOutput
from le4nn.layers._affine import AffineWeights
from le4nn.layers._arguments import (
    check_data_format,
    int_pair,
    positive_int,
)
from le4nn.layers._conv_direct import DirectCache
from le4nn.layers._conv_winograd import WinogradCache
from le4nn.layers.base import Layer
from le4nn.layers.normalization import BatchNormalization


class Im2colCache(NamedTuple):
    """What the handout's path (channels_first) keeps: the NCHW input, its (top, bottom, left, right)
    padding, X' (C·kh·kw, B·OH·OW) and the kernel as the (C·kh·kw, K) matrix Wᵀ."""

    x: np.ndarray
    pad: tuple
    cols: np.ndarray
    kernel_matrix: np.ndarray


class TransposedCache(NamedTuple):
    """A channels_first layer run on the channels_last fast paths: the NHWC path's own cache."""

    inner: Any  # DirectCache, WinogradCache or GemmCache


class Conv2D(ActivationOutput, AffineWeights, Layer):
    """2-D convolution (cross-correlation, as Keras and PyTorch) with ``filters`` output channels.

    Arguments as Keras: ``kernel_size`` and ``strides`` are an int or a pair; ``padding`` is "valid"
    (none), "same" (output ceil(n / stride); Keras's rule: the total padding k − 1 at stride 1 is split
    floor/ceil with the extra row/column at the bottom/right), an int, a pair (vertical, horizontal) or
    (top, bottom, left, right); ``data_format`` "channels_last" (B, H, W, C, the default) or
    "channels_first" (B, C, H, W).  The kernel starts normal(0, 1/(kh·kw·C)) ("handout_normal").

    channels_last (the default): everything stays NHWC, no transpose anywhere.
    :mod:`~le4nn.layers._conv_nhwc` builds X' with one row per output pixel (B·OH·OW, kh·kw·C)
    (``ops.im2col_nhwc``), whose columns follow the Keras kernel reshaped to (kh·kw·C, K): the GEMM
    X' W is the NHWC output and X'ᵀ ∂E/∂Y the kernel gradient in the Keras layout, a few images at a
    time, the chunks shared out among the threads.  Two shapes of layer take another path:

    - 3×3 stride-1 layers with 8 or more input channels: Winograd F(4×4, 3×3) (F(2×2, 3×3) on
      outputs of 5 or 6 rows and columns) (:mod:`~le4nn.layers._conv_winograd`, 4× or 2.25× fewer
      multiplications; ``WINOGRAD_TILE``), chunked the same way;
    - layers with few input taps (C·kh·kw ≤ 27, e.g. a first layer on gray images): convolved
      directly (:mod:`~le4nn.layers._conv_direct`, bias and ReLU fused); when nothing before the
      layer needs a gradient (a model's first layer), its backward is one pass, without ∂E/∂x.

    Inside a model, a ReLU (or linear) convolution followed by a MaxPooling2D is fused with it
    (:mod:`~le4nn.layers._conv_pool`): forward in one pass for a direct convolution, and backward from
    the pooled gradient.  In inference, a linear convolution followed by a BatchNormalization is
    folded into one convolution (:mod:`~le4nn.layers._conv_bn`).

    channels_first: the layer transposes its input to NHWC, takes the channels_last paths above
    (Winograd, direct or chunked im2col + GEMM), and transposes the output back (∂E/∂y and ∂E/∂x the
    same way in backward, :meth:`_forward_transposed`; ``ops.nchw_to_nhwc``/``nhwc_to_nchw``, the NHWC
    output and gradients in scratch arrays shared by the thread's layers): four transposes of about a
    copy's cost each buy the Winograd and direct convolutions, which have no NCHW twin.  With
    ``CHANNELS_FIRST_VIA_NHWC`` False a channels_first layer takes the handout's algorithm as written
    (:meth:`_forward_im2col`), which the tests use as the reference.  Forward (eq. 59):
    ``ops.im2col`` unfolds every kh × kw window of the (padded) batch into a column of X'
    (C·kh·kw, B·OH·OW), and one GEMM Y = W X' computes all outputs, with W (K, C·kh·kw) the
    Keras-layout kernel (kh, kw, C, K) rearranged so that its columns follow X''s rows; then the bias
    and the activation.  Backward (eq. 60–62, :meth:`_backward_im2col`): ∂E/∂W = ∂E/∂Y X'ᵀ,
    ∂E/∂b = Σ ∂E/∂Y over batch and positions, ∂E/∂X' = Wᵀ ∂E/∂Y, and ``ops.col2im`` (the adjoint of
    im2col: overlapping windows add up) turns ∂E/∂X' into ∂E/∂x.  The fast paths compute the same
    products in another layout or order.
    """

    def __init__(self, filters: int, kernel_size: int | tuple[int, int], strides: int | tuple[int, int] = (1, 1),
                 padding: str = "valid", data_format: str | None = None,
                 activation: ActivationLike = None, use_bias: bool = True,
                 kernel_initializer: InitializerLike = "handout_normal",
                 bias_initializer: InitializerLike = "zeros", kernel_regularizer: RegularizerLike = None,
                 bias_regularizer: RegularizerLike = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.filters = positive_int(self, "filters", filters)
        self.kernel_size = int_pair(self, "kernel_size", kernel_size)
        self.strides = int_pair(self, "strides", strides)
        self.padding = _windows.normalize_padding(self, padding)
        self.data_format = check_data_format(self, data_format)
        self._init_activation(activation)
        self._init_affine(use_bias, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer)
        self._cache: Any = None

    # --- shapes and weights -------------------------------------------------------------------------

    def compute_output_shape(self, input_shape: PartialShape) -> PartialShape:
        channels, height, width = _windows.image_shape(self, input_shape, self.data_format)
        out_h, out_w = self._output_spatial(height, width)
        return _windows.image_output_shape(input_shape[0], self.filters, out_h, out_w, self.data_format)

    def _output_spatial(self, height, width):
        return _windows.output_spatial(self, self.padding, height, width, self.kernel_size, self.strides)

    def build(self, input_shape: PartialShape) -> None:
        channels, _, _ = _windows.image_shape(self, input_shape, self.data_format)
        channels = _windows.require_channels(self, channels, input_shape)
        kh, kw = self.kernel_size
        self._add_affine_weights((kh, kw, channels, self.filters), self.filters)

    # --- the choice of path -------------------------------------------------------------------------

    #: First layers on gray or colour images (C·kh·kw up to this) are convolved directly
    #: (``ops.conv2d_nhwc_forward``): a GEMM with so short an inner dimension runs far below peak,
    #: and the direct kernel needs no column matrix and fuses the bias and ReLU.
    DIRECT_MAX_TAPS = 27

    #: 3×3 stride-1 convolutions with at least this many input channels use Winograd
    #: (``ops.winograd_*``, ``ops.winograd4_*``): GEMMs with 2.25× (F(2×2, 3×3)) or 4× (F(4×4, 3×3))
    #: fewer multiplications than im2col + GEMM.
    WINOGRAD_MIN_CHANNELS = 8

    #: The Winograd output tile: 4 = F(4×4, 3×3) (36 GEMMs, 0.56× the multiplications of F(2×2, 3×3),
    #: 2.25× instead of 4× the data through the transforms; ~5× its float32 rounding error, see
    #: ``ops.reference_winograd``) on the output sizes where its tiles waste less than F(2×2, 3×3)'s
    #: gain (all but 5 and 6: :func:`~le4nn.layers._conv_winograd.best_tile`), else 2 = F(2×2, 3×3);
    #: 2 everywhere when set to 2.
    WINOGRAD_TILE = 4

    #: Bytes of the larger of V and M per chunk of images in the Winograd path: measured best
    #: between 1 and 1.5 MB for F(2×2, 3×3) (the transformed tiles are 4× the input and 2× the output
    #: tiles) and alike between 1 and 2 MB for F(4×4, 3×3) (2.25×).
    WINOGRAD_CHUNK_BYTES = 1536 * 1024

    #: Bytes of X' per chunk of images (channels_last im2col + GEMM): about half the L2 + L3 share
    #: of a core on the development machine; measured best between 2 and 4 MB.  A fixed size, so
    #: that the results do not depend on the thread count.
    CHUNK_BYTES = 3 * 1024 * 1024

    #: channels_first layers take the channels_last paths between transposes (see the class
    #: docstring); False: the handout's path (eq. 59–62 as written, on NCHW arrays).
    CHANNELS_FIRST_VIA_NHWC = True

    @property
    def _bias_last_axis(self) -> bool:
        return self.data_format == "channels_last"

    def _use_direct(self, channels: int) -> bool:
        kh, kw = self.kernel_size
        return channels * kh * kw <= self.DIRECT_MAX_TAPS

    def _use_winograd(self, channels, pad) -> bool:
        return (self.kernel_size == (3, 3) and self.strides == (1, 1) and max(pad) <= 2
                and channels >= self.WINOGRAD_MIN_CHANNELS and channels * 9 > self.DIRECT_MAX_TAPS)

    def forward(self, x: ArrayLike, training: bool = False) -> np.ndarray:
        x = self._prepare_input(x)
        if self.data_format == "channels_last":
            return self._forward_nhwc(x)
        if self.CHANNELS_FIRST_VIA_NHWC:
            return self._forward_transposed(x)
        return self._forward_im2col(x)

    def _forward_nhwc(self, x):
        """channels_last: a direct, Winograd or im2col + GEMM convolution into the NHWC output z, the
        bias (and ReLU, where the path fuses it) included."""
        batch, height, width, _ = x.shape
        out_h, out_w = self._output_spatial(height, width)
        z = self._out("z", (batch, out_h, out_w, self.filters))
        if self._convolve_nhwc(x, z):  # the ReLU applied with the bias
            self._z, self._y = None, z
            return z
        return self._activate(z, owned=True)

    def _convolve_nhwc(self, x, z) -> bool:
        """The channels_last paths: z = x * W (+ b) into the NHWC array z, the ReLU fused where the
        path can (returns whether it did); sets the cache."""
        height, width, channels = x.shape[1:]
        pad = _windows.resolve_padding(self.padding, height, width, self.kernel_size, self.strides)
        bias = self.params["bias"] if self.use_bias else None
        relu = self.activation.name == "relu"
        if self._use_direct(channels):
            self._cache = _conv_direct.forward(self, x, pad, bias, relu, z)
        elif self._use_winograd(channels, pad):
            tile = _conv_winograd.best_tile(self.WINOGRAD_TILE, *z.shape[1:3])
            self._cache = _conv_winograd.forward(self, x, pad, bias, relu, z, tile)
        else:
            relu = relu and bias is not None
            self._cache = _conv_nhwc.forward(self, x, pad, bias, relu, z)
        return relu

    def _forward_transposed(self, x_nchw):
        """channels_first on the channels_last paths: x to NHWC (``ops.nchw_to_nhwc``, into a buffer
        the backward reads), convolve (ReLU fused) into a scratch array shared by the thread's layers,
        the result back to NCHW, then the activation (unless fused)."""
        batch, _, height, width = x_nchw.shape
        out_h, out_w = self._output_spatial(height, width)
        x = ops.nchw_to_nhwc(x_nchw, out=self._buffer("x_nhwc", (batch, height, width, x_nchw.shape[1])))
        z_nhwc = _shared_scratch.scratch("conv/nhwc", (batch, out_h, out_w, self.filters), self.dtype,
                                         self._buffers)
        relu = self._convolve_nhwc(x, z_nhwc)
        self._cache = TransposedCache(self._cache)
        z = ops.nhwc_to_nchw(z_nhwc, out=self._out("z", (batch, self.filters, out_h, out_w)))
        if relu:
            self._z, self._y = None, z
            return z
        return self._activate(z, owned=True)

    def _backward_step(self, grad_out: FloatArray, *, from_logits: bool, need_input_grad: bool):
        if (not need_input_grad and not from_logits and self.trainable and isinstance(self._cache, DirectCache)
                and self.activation.name in ("relu", "linear")):
            return _conv_direct.backward_filter_only(self, self._cache, grad_out)
        return super()._backward_step(grad_out, from_logits=from_logits, need_input_grad=need_input_grad)

    def _pre_activation_backward(self, grad_z, need_input_grad: bool, bias_done: bool):
        cache = self._cache
        if isinstance(cache, Im2colCache):
            return self._backward_im2col(grad_z, need_input_grad)
        if isinstance(cache, TransposedCache):
            return self._backward_transposed(cache, grad_z, need_input_grad)
        return self._backward_nhwc(cache, grad_z, need_input_grad, bias_done)

    def _backward_transposed(self, cache: TransposedCache, grad_z, need_input_grad: bool):
        """∂E/∂z to NHWC, the channels_last backward, ∂E/∂x back to NCHW.  The NHWC ∂E/∂z and ∂E/∂x
        are scratch arrays shared by the thread's layers (the paths' own ``grad_x`` buffer is lent
        the shared one for the call)."""
        batch, filters, out_h, out_w = grad_z.shape
        g = _shared_scratch.scratch("conv/nhwc", (batch, out_h, out_w, filters), self.dtype, self._buffers)
        ops.nchw_to_nhwc(np.ascontiguousarray(grad_z), out=g)
        x_shape = cache.inner.x.shape
        if self._scratch and need_input_grad:
            self._buffers["grad_x"] = _shared_scratch.scratch("conv/grad_x_nhwc", x_shape, self.dtype,
                                                              self._buffers)
        try:
            grad_x = self._backward_nhwc(cache.inner, g, need_input_grad, False)
        finally:
            self._buffers.pop("grad_x", None)
        if grad_x is None:
            return None
        return ops.nhwc_to_nchw(grad_x, out=self._out("grad_x_nchw", (batch, x_shape[3], *x_shape[1:3])))

    def _backward_nhwc(self, cache, grad_z, need_input_grad: bool, bias_done: bool):
        """The channels_last paths' backward from the NHWC ∂E/∂z."""
        if self.trainable and self.use_bias and not bias_done:
            np.sum(grad_z.reshape(-1, self.filters), axis=0, out=self.grads["bias"])
        if isinstance(cache, WinogradCache):
            return _conv_winograd.backward(self, cache, grad_z, need_input_grad)
        if isinstance(cache, DirectCache):
            return _conv_direct.backward(self, cache, grad_z, need_input_grad)
        # a GemmCache: the default channels_last path
        return _conv_nhwc.backward(self, cache.x, cache.pad, cache.cols, grad_z, need_input_grad,
                                   filter_grad=self.trainable)

    def _forward_through(self, consumer, x, training):
        if isinstance(consumer, BatchNormalization):  # folded for inference, else NotImplemented
            return _conv_bn.forward(self, consumer, x, training)
        fused = _conv_pool.forward(self, consumer, x)
        if fused is NotImplemented:
            return NotImplemented
        pooled, self._cache = fused
        self._z, self._y = None, None  # the convolution's own output was never formed
        return pooled

    def _forward_through_two(self, consumer, then, x):
        if isinstance(consumer, BatchNormalization):  # folded, the ReLU fused (inference only)
            return _conv_bn.forward(self, consumer, x, False, relu=then)
        return NotImplemented

    def _backward_through(self, consumer, grad_out: FloatArray, need_input_grad):
        if isinstance(consumer, BatchNormalization):  # folded only in inference: nothing to fuse
            return NotImplemented
        cache = self._cache
        if getattr(cache, "pooled_by", None) is not None:
            self._cache = cache._replace(pooled_by=None)  # one backward per fused forward
        return _conv_pool.backward(self, cache, consumer, grad_out, need_input_grad)

    # --- the handout's path (channels_first): eq. 59–62 ----------------------------------------------

    def _kernel_matrix(self) -> np.ndarray:
        """W as (C·kh·kw, K): row c·kh·kw + i·kw + j holds kernel[i, j, c, :] (the row order of X')."""
        kh, kw, channels, filters = self.params["kernel"].shape
        return self.params["kernel"].transpose(2, 0, 1, 3).reshape(channels * kh * kw, filters)

    def _forward_im2col(self, x_nchw):
        """Y = W X' + b (eq. 59) on an NCHW batch, then the activation."""
        batch, channels, height, width = x_nchw.shape
        kh, kw = self.kernel_size
        pad = _windows.resolve_padding(self.padding, height, width, self.kernel_size, self.strides)
        out_h, out_w = self._output_spatial(height, width)
        cols = self._buffer("cols", (channels * kh * kw, batch * out_h * out_w))
        ops.im2col(x_nchw, kh, kw, stride=self.strides, pad=pad, out=cols)  # X', eq. 59
        w_t = self._kernel_matrix()  # Wᵀ: (C·kh·kw, K)
        y_mat = w_t.T @ cols  # Y = W X': (K, B·OH·OW)
        if self.use_bias:
            y_mat += self.params["bias"][:, None]
        z = np.ascontiguousarray(y_mat.reshape(self.filters, batch, out_h, out_w).transpose(1, 0, 2, 3))
        self._cache = Im2colCache(x_nchw, pad, cols, w_t)
        return self._activate(z, owned=True)

    def _backward_im2col(self, grad_z, need_input_grad):
        """∂E/∂W = ∂E/∂Y X'ᵀ (eq. 60), ∂E/∂b, ∂E/∂X' = Wᵀ ∂E/∂Y (eq. 61) and col2im (eq. 62)."""
        cols, w_t, x_shape, pad = self._cache.cols, self._cache.kernel_matrix, self._cache.x.shape, self._cache.pad
        kh, kw = self.kernel_size
        batch, channels = x_shape[:2]
        grad_y_t = np.ascontiguousarray(grad_z.transpose(0, 2, 3, 1)).reshape(-1, self.filters)

        if self.trainable:
            grad_w_t = cols @ grad_y_t  # (∂E/∂Y X'ᵀ)ᵀ = X' (∂E/∂Y)ᵀ: (C·kh·kw, K)
            self.grads["kernel"][...] = grad_w_t.reshape(channels, kh, kw, self.filters).transpose(1, 2, 0, 3)
            if self.use_bias:
                np.sum(grad_y_t, axis=0, out=self.grads["bias"])
            self._add_regularization_gradients()
        if not need_input_grad:
            return None
        grad_cols = self._buffer("grad_cols", cols.shape)
        np.matmul(w_t, grad_y_t.T, out=grad_cols)  # ∂E/∂X' = Wᵀ ∂E/∂Y
        return ops.col2im(grad_cols, x_shape, kh, kw, stride=self.strides, pad=pad)  # ∂E/∂X' -> ∂E/∂x

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "padding": _windows.padding_config(self.padding),
            "data_format": self.data_format,
            "activation": activations.serialize(self.activation),
            **self._affine_config(),
        }
