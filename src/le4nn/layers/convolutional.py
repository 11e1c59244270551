"""Conv2D: 2-D convolution as im2col + one matrix product over the whole mini-batch (handout 5.7.5)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from le4nn import _threads, activations, ops
from le4nn.layers import _windows
from le4nn.layers._activated import ActivationOutput
from le4nn.layers._affine import AffineWeights
from le4nn.layers._arguments import (
    check_data_format,
    int_pair,
    positive_int,
)
from le4nn.layers.base import Layer


class ConvCache(NamedTuple):
    """What a Conv2D forward pass keeps for its backward pass, tagged with the path that made it.

    ``kind`` is "direct" (few input taps, convolved directly), "gemm" (channels_last im2col + GEMM),
    "winograd" or "nchw" (channels_first im2col + GEMM); ``x`` is the input (NHWC, or NCHW for
    "nchw") and ``pad`` its (top, bottom, left, right) padding.  ``cols`` is the kept column matrix
    X' (None when it is rebuilt chunk by chunk), ``chunks`` the Winograd chunks with their
    transformed inputs, ``kernel_matrix`` the (C·kh·kw, K) kernel of the "nchw" path.
    """

    kind: str
    x: np.ndarray
    pad: tuple
    cols: np.ndarray | None = None
    chunks: list | None = None
    kernel_matrix: np.ndarray | None = None


class Conv2D(ActivationOutput, AffineWeights, Layer):
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

    Speed (channels_last, the default: everything stays NHWC, no transpose anywhere):

    - ``ops.im2col_nhwc`` gives X' with one row per output pixel (B·OH·OW, kh·kw·C), whose columns
      follow the Keras kernel reshaped to (kh·kw·C, K), so the GEMM X' W is the NHWC output and
      X'ᵀ ∂E/∂Y the kernel gradient in the Keras layout, without copies.  X' is built a few images
      at a time (it stays in the cache), the chunks shared out among the threads.
    - 3×3 stride-1 layers with 8 or more input channels use Winograd F(2×2, 3×3) instead
      (``ops.winograd_*``, 2.25× fewer multiplications), chunked the same way.
    - Layers with few input taps (C·kh·kw ≤ 27, e.g. a first layer on gray images) are convolved
      directly (``ops.conv2d_nhwc_forward``, bias and ReLU fused).  When nothing before the layer
      needs a gradient (a model's first layer), its backward is one pass, without ∂E/∂x.
    - Inside a model, a ReLU convolution followed by a MaxPooling2D is fused with it: forward in
      one pass for a direct convolution, and backward from the pooled gradient (see
      ``_forward_through``/``_backward_through``).
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
        self._init_affine(use_bias, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer)
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
        self._add_affine_weights((kh, kw, channels, self.filters), self.filters)

    # --- forward / backward -------------------------------------------------------------------------

    #: First layers on gray or colour images (C·kh·kw up to this) are convolved directly
    #: (``ops.conv2d_nhwc_forward``): a GEMM with so short an inner dimension runs far below peak,
    #: and the direct kernel needs no column matrix and fuses the bias and ReLU.
    DIRECT_MAX_TAPS = 27

    @property
    def _bias_last_axis(self) -> bool:
        return self.data_format == "channels_last"

    def _kernel_matrix(self) -> np.ndarray:
        """W as (C·kh·kw, K): row c·kh·kw + i·kw + j holds kernel[i, j, c, :] (the row order of X')."""
        kh, kw, channels, filters = self.params["kernel"].shape
        return self.params["kernel"].transpose(2, 0, 1, 3).reshape(channels * kh * kw, filters)

    def forward(self, x, training=False):
        x = self._prepare_input(x)
        if self.data_format == "channels_last":
            return self._forward_nhwc(x)
        return self._forward_nchw(x)

    def _forward_nhwc(self, x):
        """channels_last: the ops work on NHWC directly, so there is no transpose anywhere.  The
        column matrix X' (B·OH·OW, kh·kw·C) times the Keras kernel seen as (kh·kw·C, K) gives the
        NHWC output (B·OH·OW, K); small first layers are convolved directly instead."""
        batch, height, width, channels = x.shape
        kh, kw = self.kernel_size
        pad = _windows.resolve_padding(self.padding, height, width, self.kernel_size, self.strides)
        out_h, out_w = self._output_spatial(height, width)
        kernel = self.params["kernel"]
        bias = self.params["bias"] if self.use_bias else None
        out_shape = (batch, out_h, out_w, self.filters)
        z = self._out("z", out_shape)
        if channels * kh * kw <= self.DIRECT_MAX_TAPS:
            relu = self.activation.name == "relu"
            ops.conv2d_nhwc_forward(x, kernel, bias, self.strides, pad, relu=relu, out=z)
            self._cache = ConvCache("direct", x, pad)
            if relu:
                self._z, self._y = None, z
                return z
            return self._activate(z, owned=True)
        if self._use_winograd(channels, pad):
            return self._forward_winograd(x, z, pad, bias)
        # X' (eq. 59) is built and multiplied a few images at a time, so that it is still in the
        # cache when the GEMM reads it (the whole X' of a batch is tens of MB); the chunks are
        # shared out among the threads (le4nn._threads.run_chunks).
        rows = out_h * out_w
        taps = channels * kh * kw
        bounds = self._chunks(batch, self._chunk_images(rows, taps, batch))
        kernel_2d = kernel.reshape(taps, self.filters)
        z_2d = z.reshape(-1, self.filters)
        relu = self.activation.name == "relu" and bias is not None

        def chunk(i):
            start, stop = bounds[i]
            cols = self._worker_buffer("cols", (bounds[0][1] * rows, taps))[: (stop - start) * rows]
            ops.im2col_nhwc(x[start:stop], kh, kw, stride=self.strides, pad=pad, out=cols)
            z_chunk = z_2d[start * rows : stop * rows]
            np.matmul(cols, kernel_2d, out=z_chunk)
            if relu:
                ops.bias_relu_forward(z_chunk, bias, out=z_chunk)
            elif bias is not None:
                z_chunk += bias

        workers = _threads.run_chunks(chunk, len(bounds))
        # One chunk on one thread: keep X' for the backward pass; else it is rebuilt chunk by chunk.
        keep = len(bounds) == 1 and workers == 1
        kept_cols = self._worker_buffer("cols", (batch * rows, taps)) if keep else None
        self._cache = ConvCache("gemm", x, pad, cols=kept_cols)
        if relu:
            self._z, self._y = None, z
            return z
        return self._activate(z, owned=True)

    @staticmethod
    def _chunks(batch: int, step: int) -> list[tuple[int, int]]:
        return [(start, min(start + step, batch)) for start in range(0, batch, step)]

    def _worker_buffer(self, tag: str, shape) -> np.ndarray:
        """A scratch array of this thread's worker in ``run_chunks`` (one per worker and tag)."""
        return self._buffer(f"{tag}/{_threads.worker_index()}", shape)

    #: 3×3 stride-1 convolutions with at least this many input channels use Winograd F(2×2, 3×3)
    #: (``ops.winograd_*``): 16 GEMMs with 2.25× fewer multiplications than im2col + GEMM.
    WINOGRAD_MIN_CHANNELS = 8

    def _use_winograd(self, channels, pad) -> bool:
        return (self.kernel_size == (3, 3) and self.strides == (1, 1) and max(pad) <= 2
                and channels >= self.WINOGRAD_MIN_CHANNELS and channels * 9 > self.DIRECT_MAX_TAPS)

    def _forward_winograd(self, x, z, pad, bias):
        """Y = Aᵀ [U ⊙ V] A per 2×2 output tile (see :mod:`le4nn.ops.reference`, Winograd): the input
        transform V (16, T, C), 16 GEMMs V[ξν] U[ξν] with the transformed kernel U (16, C, K), and
        the output transform with the bias and ReLU fused.  A few images at a time, so that V and
        the products M stay in the cache, chunks shared out among the threads; the V of every
        chunk is kept for the backward pass."""
        batch, _, _, channels = x.shape
        tiles_per_image = ((z.shape[1] + 1) // 2) * ((z.shape[2] + 1) // 2)
        bounds = self._chunks(batch, self._winograd_chunk(tiles_per_image, max(channels, self.filters), batch))
        U = _winograd_kernel(self.params["kernel"])
        V_all = self._buffer("wino_v", (16 * batch * tiles_per_image * channels,))
        chunks = []
        for start, stop in bounds:
            tiles = (stop - start) * tiles_per_image
            offset = 16 * start * tiles_per_image * channels
            chunks.append((start, stop, V_all[offset : offset + 16 * tiles * channels].reshape(16, tiles, channels)))
        most = bounds[0][1] * tiles_per_image
        relu = self.activation.name == "relu"

        def chunk(i):
            start, stop, V = chunks[i]
            ops.winograd_input_transform(x[start:stop], pad, out=V)
            M = self._worker_buffer("wino_m", (16 * most * self.filters,))[: 16 * V.shape[1] * self.filters]
            M = np.matmul(V, U, out=M.reshape(16, V.shape[1], self.filters))
            ops.winograd_output_transform(M, (stop - start, *z.shape[1:]), bias, relu, out=z[start:stop])

        _threads.run_chunks(chunk, len(chunks))
        self._cache = ConvCache("winograd", x, pad, chunks=chunks)
        if relu:
            self._z, self._y = None, z
            return z
        return self._activate(z, owned=True)

    def _backward_winograd(self, grad_z, need_input_grad):
        """∂E/∂W = Gᵀ [Σ_t V_t ⊙ Q_t] G with Q = A ∂E/∂Y Aᵀ (16 GEMMs Vᵀ Q), and ∂E/∂x as the Winograd
        convolution of ∂E/∂z, padded by 2 − p, with the kernel rotated by 180° and transposed; chunk
        by chunk as in the forward pass.  Each chunk's Σ_t goes to its own partial sum, and the
        partial sums are added in chunk order: the same result for any number of threads."""
        chunks, x, pad = self._cache.chunks, self._cache.x, self._cache.pad
        batch, height, width, channels = x.shape
        filters = self.filters
        train = self.trainable
        most = max(V.shape[1] for _, _, V in chunks)
        if train:
            partial = self._buffer("wino_p", (len(chunks), 16, channels, filters))
        if need_input_grad:
            pt, pb, pl, pr = pad
            back_pad = (2 - pt, 2 - pb, 2 - pl, 2 - pr)
            back_tiles_per_image = ((height + 1) // 2) * ((width + 1) // 2)
            most_back = max(stop - start for start, stop, _ in chunks) * back_tiles_per_image
            U_back = _winograd_kernel(self.params["kernel"][::-1, ::-1].transpose(0, 1, 3, 2))  # (3, 3, K, C)
            grad_x = self._out("grad_x", x.shape)
        else:
            grad_x = None

        def chunk(i):
            start, stop, V = chunks[i]
            g = grad_z[start:stop]
            if train:
                Q = self._worker_buffer("wino_q", (16 * most * filters,))[: 16 * V.shape[1] * filters]
                Q = ops.winograd_gradient_transform(g, out=Q.reshape(16, V.shape[1], filters))
                np.matmul(V.transpose(0, 2, 1), Q, out=partial[i])
            if need_input_grad:
                tiles = (stop - start) * back_tiles_per_image
                Vd = self._worker_buffer("wino_vd", (16 * most_back * filters,))[: 16 * tiles * filters]
                Vd = ops.winograd_input_transform(g, back_pad, out=Vd.reshape(16, tiles, filters))
                Md = self._worker_buffer("wino_md", (16 * most_back * channels,))[: 16 * tiles * channels]
                Md = np.matmul(Vd, U_back, out=Md.reshape(16, tiles, channels))
                ops.winograd_output_transform(Md, (stop - start, height, width, channels), out=grad_x[start:stop])

        _threads.run_chunks(chunk, len(chunks))
        if train:
            P = partial[0]
            for k in range(1, len(chunks)):
                P += partial[k]
            _winograd_filter_gradient(P, out=self.grads["kernel"])
            self._add_regularization_gradients()
        return grad_x

    #: Bytes of the larger of V and M per chunk of images in the Winograd path: measured best
    #: between 1 and 1.5 MB (the transformed tiles are 4× the input and 2× the output tiles).
    WINOGRAD_CHUNK_BYTES = 1536 * 1024

    def _winograd_chunk(self, tiles_per_image: int, width: int, batch: int) -> int:
        per_image = 16 * tiles_per_image * width * self.dtype.itemsize
        return max(1, min(batch, self.WINOGRAD_CHUNK_BYTES // max(per_image, 1)))

    #: Bytes of X' per chunk of images (see ``_forward_nhwc``): about half the L2 + L3 share of a
    #: core on the development machine; measured best between 2 and 4 MB.  A fixed size, so that
    #: the results do not depend on the thread count.
    CHUNK_BYTES = 3 * 1024 * 1024

    def _chunk_images(self, rows: int, taps: int, batch: int) -> int:
        per_image = rows * taps * self.dtype.itemsize
        return max(1, min(batch, self.CHUNK_BYTES // max(per_image, 1)))

    def _forward_nchw(self, x_nchw):
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
        self._cache = ConvCache("nchw", x_nchw, pad, cols=cols, kernel_matrix=w_t)
        return self._activate(z, owned=True)

    def _backward(self, grad_out, from_logits, need_input_grad):
        # A first convolution with ReLU computed directly: the ReLU's backward, the filter and the
        # bias gradient in one pass over ∂E/∂y (no ∂E/∂z array, no column matrix).
        cache = self._cache
        if (not need_input_grad and not from_logits and self.trainable and cache is not None
                and cache.kind == "direct" and self.activation.name in ("relu", "linear")):
            grad_y = self._prepare_grad(grad_out, self._y)
            kh, kw = self.kernel_size
            x, pad = cache.x, cache.pad
            bias_grad = self.grads["bias"] if self.use_bias else self._buffer("bias_grad", (self.filters,))
            ops.conv2d_nhwc_filter_grad(x, grad_y, kh, kw, self.strides, pad,
                                        self._y if self.activation.name == "relu" else None,
                                        out=self.grads["kernel"], bias_grad_out=bias_grad)
            self._add_regularization_gradients()
            return None
        return super()._backward(grad_out, from_logits, need_input_grad)

    def _forward_through(self, consumer, x, training):
        """A convolution computed directly (few input taps, e.g. a first layer), with ReLU or none,
        followed by a channels_last MaxPooling2D: both in one pass (``ops.conv2d_nhwc_pool_forward``),
        each image's convolution output kept in the cache and never written in full.  The backward
        needs only the pooled output and its argmax (``_backward_through``)."""
        from le4nn.layers.pooling import MaxPoolCache, MaxPooling2D

        if (not isinstance(consumer, MaxPooling2D) or consumer.data_format != "channels_last"
                or self.data_format != "channels_last" or self.activation.name not in ("relu", "linear")):
            return NotImplemented
        x = self._prepare_input(x)
        batch, height, width, channels = x.shape
        kh, kw = self.kernel_size
        if channels * kh * kw > self.DIRECT_MAX_TAPS:
            return NotImplemented
        pad = _windows.resolve_padding(self.padding, height, width, self.kernel_size, self.strides)
        out_h, out_w = self._output_spatial(height, width)
        conv_shape = (batch, out_h, out_w, self.filters)
        consumer.build((None, *conv_shape[1:]))
        pool_pad = _windows.resolve_padding(consumer.padding, out_h, out_w, consumer.pool_size, consumer.strides)
        pool_h, pool_w = _windows.output_spatial(consumer, consumer.padding, out_h, out_w, consumer.pool_size,
                                                 consumer.strides)
        pooled_shape = (batch, pool_h, pool_w, self.filters)
        argmax = consumer._buffer("argmax", pooled_shape, np.int32)
        pooled, _ = ops.conv2d_nhwc_pool_forward(
            x, self.params["kernel"], self.params["bias"] if self.use_bias else None, self.strides, pad,
            self.activation.name == "relu", *consumer.pool_size, consumer.strides, pool_pad,
            out=consumer._out("out", pooled_shape), argmax_out=argmax)
        self._cache = ConvCache("direct", x, pad)
        self._z, self._y = None, None
        self._pooled_by = consumer  # the conv output was never formed: backward goes through the pool
        consumer._cache = MaxPoolCache(argmax, conv_shape, pooled_shape, pooled)
        return pooled

    def _backward_through(self, consumer, grad_out, need_input_grad):
        """Conv2D + ReLU (or no activation) followed by a channels_last MaxPooling2D, from the pooled
        gradient.  The ReLU's derivative at a window's winner is the sign of the pooled value, so
        the mask and the bias gradient need only the pooled arrays (``ops.relu_backward_bias`` on
        them), and ∂E/∂z is the pooling's backward of the masked gradient: one full-size pass fewer,
        and none over the convolution's output.  A first layer convolved directly goes further:
        its filter gradient straight from the pooled gradient (``ops.conv2d_nhwc_filter_grad_pooled``),
        image by image in the cache, without ∂E/∂z at all."""
        from le4nn.layers.pooling import MaxPooling2D

        cache = self._cache
        activation = self.activation.name
        pooled_by = getattr(self, "_pooled_by", None)
        self._pooled_by = None
        if (not isinstance(consumer, MaxPooling2D) or consumer.data_format != "channels_last"
                or self.data_format != "channels_last" or cache is None or activation not in ("relu", "linear")
                or consumer._cache is None):
            return NotImplemented
        if pooled_by is not consumer and (self._y is None or consumer._cache.x_shape != self._y.shape):
            return NotImplemented
        argmax, conv_shape, pooled_shape, pooled = consumer._cache
        grad = consumer._prepare_grad(grad_out, pooled_shape)
        relu = activation == "relu"
        if cache.kind == "direct" and not need_input_grad:
            if not self.trainable:
                return None
            kh, kw = self.kernel_size
            x, pad = cache.x, cache.pad
            bias_grad = self.grads["bias"] if self.use_bias else self._buffer("bias_grad", (self.filters,))
            ops.conv2d_nhwc_filter_grad_pooled(x, grad, argmax, pooled if relu else None, kh, kw, self.strides,
                                               pad, out=self.grads["kernel"], bias_grad_out=bias_grad)
            self._add_regularization_gradients()
            return None
        bias_done = False
        if relu:
            masked = self._out("grad_pooled", pooled_shape)
            if self._fused_bias_grad():
                ops.relu_backward_bias(grad, pooled, out=masked, bias_grad_out=self.grads["bias"])
                bias_done = True
            else:
                ops.relu_backward(grad, pooled, out=masked)
            grad = masked
        grad_z = ops.maxpool2d_nhwc_backward(grad, argmax, conv_shape, out=self._out("grad_z", conv_shape))
        return self._pre_backward(grad_z, need_input_grad, bias_done=bias_done)

    def _pre_activation_backward(self, grad_z, need_input_grad=True, bias_done=False):
        if self.data_format == "channels_last":
            return self._backward_nhwc(grad_z, need_input_grad, bias_done)
        return self._backward_nchw(grad_z, need_input_grad)

    def _backward_nhwc(self, grad_z, need_input_grad, bias_done):
        mode, x, pad, cols = self._cache.kind, self._cache.x, self._cache.pad, self._cache.cols
        kh, kw = self.kernel_size
        kernel = self.params["kernel"]
        batch = x.shape[0]
        grad_z_2d = grad_z.reshape(-1, self.filters)  # (∂E/∂Y)ᵀ: (B·OH·OW, K)
        train = self.trainable
        if train:
            bias_grad = self.grads["bias"] if self.use_bias and not bias_done else None
            if bias_grad is not None:
                np.sum(grad_z_2d, axis=0, out=bias_grad)
            if mode == "direct":
                ops.conv2d_nhwc_filter_grad(x, grad_z, kh, kw, self.strides, pad, out=self.grads["kernel"],
                                            bias_grad_out=self._buffer("bias_grad", (self.filters,)))
                train = False  # done
        if mode == "winograd":
            return self._backward_winograd(grad_z, need_input_grad)
        if mode == "direct" and not need_input_grad:
            self._add_regularization_gradients()
            return None

        # Chunk by chunk as in the forward pass: ∂E/∂W = Σ X'ᵀ ∂E/∂Y (eq. 60, in the Keras layout
        # (kh·kw·C, K); a partial sum per chunk, added in chunk order), ∂E/∂X' = ∂E/∂Y Wᵀ (eq. 61)
        # and col2im (eq. 62) while X' is in the cache.
        taps = kh * kw * x.shape[3]
        rows = grad_z_2d.shape[0] // batch
        bounds = [(0, batch)] if cols is not None else self._chunks(batch, self._chunk_images(rows, taps, batch))
        kernel_2d = kernel.reshape(taps, self.filters)
        partial = self._buffer("grad_w_chunks", (len(bounds), taps, self.filters)) if train else None
        grad_x = self._out("grad_x", x.shape) if need_input_grad else None

        def chunk(i):
            start, stop = bounds[i]
            g = grad_z_2d[start * rows : stop * rows]
            if train:
                if cols is None:
                    chunk_cols = self._worker_buffer("cols", (bounds[0][1] * rows, taps))[: (stop - start) * rows]
                    ops.im2col_nhwc(x[start:stop], kh, kw, stride=self.strides, pad=pad, out=chunk_cols)
                else:
                    chunk_cols = cols
                np.matmul(chunk_cols.T, g, out=partial[i])
            if need_input_grad:
                gc = self._worker_buffer("grad_cols", (bounds[0][1] * rows, taps))[: (stop - start) * rows]
                np.matmul(g, kernel_2d.T, out=gc)
                ops.col2im_nhwc(gc, (stop - start, *x.shape[1:]), kh, kw, stride=self.strides, pad=pad,
                                out=grad_x[start:stop])

        _threads.run_chunks(chunk, len(bounds))
        if train:
            grad_w = self.grads["kernel"].reshape(taps, self.filters)
            np.copyto(grad_w, partial[0])
            for k in range(1, len(bounds)):
                grad_w += partial[k]
        if self.trainable:
            self._add_regularization_gradients()
        return grad_x

    def _backward_nchw(self, grad_z, need_input_grad):
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


# --- Winograd F(2×2, 3×3): the kernel side (tiny; the data transforms are ops) ---------------------

#: (G ⊗ G): row ξ·4 + ν, column i·3 + j holds G[ξ, i] G[ν, j], so that U = G g Gᵀ for every channel
#: pair at once is one product (16, 9) · (9, C·K).
_G2 = np.kron(ops.reference.WINOGRAD_G, ops.reference.WINOGRAD_G)


def _winograd_kernel(kernel: np.ndarray) -> np.ndarray:
    """U[ξν] = (G g Gᵀ)[ξ, ν] for a (3, 3, C, K) kernel: (16, C, K)."""
    _, _, channels, filters = kernel.shape
    g2 = _G2.astype(kernel.dtype)
    return (g2 @ kernel.reshape(9, channels * filters)).reshape(16, channels, filters)


def _winograd_filter_gradient(P: np.ndarray, out: np.ndarray) -> np.ndarray:
    """∂E/∂W[i, j] = Σ_{ξν} G[ξ, i] G[ν, j] P[ξν]: (Gᵀ P G) for every channel pair, into ``out`` (3, 3, C, K)."""
    g2 = _G2.astype(P.dtype)
    np.matmul(g2.T, P.reshape(16, -1), out=out.reshape(9, -1))
    return out
