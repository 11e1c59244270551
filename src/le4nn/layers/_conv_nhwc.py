"""Conv2D's default path (channels_last): im2col + GEMM on NHWC arrays, a few images at a time.

``ops.im2col_nhwc`` gives X' with one row per output pixel (B·OH·OW, kh·kw·C), whose columns follow the
Keras kernel (kh, kw, C, K) reshaped to (kh·kw·C, K); so X' W is the NHWC output and X'ᵀ ∂E/∂Y the
kernel gradient in the Keras layout, without copies or transposes (handout eq. 59–62, transposed:
see :class:`~le4nn.layers.convolutional.Conv2D` for the handout's own layout).

X' is built and multiplied a few images at a time (``Conv2D.CHUNK_BYTES`` of X' per chunk), so that it
is still in the cache when the GEMM reads it; the chunks are shared out among the threads
(:func:`le4nn._threads.run_chunks`).  The chunk size is fixed, so the results do not depend on the
thread count.  A pointwise layer (1×1, stride 1, no padding) multiplies the input itself, seen as
(B·H·W, C): no X' in forward, no col2im in backward.  The chunk helpers here also serve
:mod:`le4nn.layers._conv_winograd`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from le4nn import _threads, ops


class GemmCache(NamedTuple):
    """What the channels_last im2col + GEMM forward keeps: the NHWC input, its (top, bottom, left,
    right) padding, and X' when it was built in one chunk on one thread (else None: the backward
    rebuilds it chunk by chunk)."""

    x: np.ndarray
    pad: tuple
    cols: np.ndarray | None


def image_chunks(batch: int, step: int) -> list[tuple[int, int]]:
    """[(start, stop), ...]: the batch cut into runs of at most ``step`` images, as equal as they can be
    and an even number of them (two threads then finish together: 128 images in runs of 42 were
    42, 42, 42, 2, three runs for one thread and one short run for the other).  Fixed by ``batch`` and
    ``step`` only, never by the thread count, so that results do not depend on it."""
    count = -(-batch // max(step, 1))
    if count % 2 and count < batch:
        count += 1
    base, extra = divmod(batch, count)
    bounds, start = [], 0
    for k in range(count):
        stop = start + base + (k < extra)
        bounds.append((start, stop))
        start = stop
    return bounds


def worker_buffer(conv, tag: str, shape) -> np.ndarray:
    """A scratch array of this thread's worker in ``run_chunks`` (one per worker and tag)."""
    return conv._buffer(f"{tag}/{_threads.worker_index()}", shape)


def chunk_images(conv, rows: int, taps: int, batch: int) -> int:
    """Images per chunk: X' of a chunk (rows · taps per image) within ``conv.CHUNK_BYTES``."""
    per_image = rows * taps * conv.dtype.itemsize
    return max(1, min(batch, conv.CHUNK_BYTES // max(per_image, 1)))


def pointwise(conv, pad: tuple) -> bool:
    """A 1×1 stride-1 convolution without padding: X' is the input itself, (B·H·W, C)."""
    return conv.kernel_size == (1, 1) and conv.strides == (1, 1) and not any(pad)


def forward(conv, x: np.ndarray, pad: tuple, bias: np.ndarray | None, relu: bool, z: np.ndarray) -> GemmCache:
    """Z = X' W (+ b, ReLU fused when ``relu``) into the NHWC output ``z``, chunk by chunk.  A pointwise
    (1×1 stride-1) convolution is one GEMM on the input itself: no X' is built."""
    batch, _, _, channels = x.shape
    kh, kw = conv.kernel_size
    rows = z.shape[1] * z.shape[2]
    taps = channels * kh * kw
    bounds = image_chunks(batch, chunk_images(conv, rows, taps, batch))
    kernel_2d = conv.params["kernel"].reshape(taps, conv.filters)
    z_2d = z.reshape(-1, conv.filters)
    direct = pointwise(conv, pad)

    def chunk(i) -> None:
        start, stop = bounds[i]
        if direct:
            cols = x[start:stop].reshape(-1, taps)
        else:
            cols = worker_buffer(conv, "cols", (bounds[0][1] * rows, taps))[: (stop - start) * rows]
            ops.im2col_nhwc(x[start:stop], kh, kw, stride=conv.strides, pad=pad, out=cols)  # X', eq. 59
        z_chunk = z_2d[start * rows : stop * rows]
        np.matmul(cols, kernel_2d, out=z_chunk)
        if relu:
            assert bias is not None  # ReLU is fused here only after a bias (Conv2D._convolve_nhwc)
            ops.bias_relu_forward(z_chunk, bias, out=z_chunk)
        elif bias is not None:
            z_chunk += bias

    workers = _threads.run_chunks(chunk, len(bounds))
    if direct:  # the backward reads X' from x
        return GemmCache(x, pad, None)
    # One chunk on one thread: keep X' for the backward pass; else it is rebuilt chunk by chunk.
    keep = len(bounds) == 1 and workers == 1
    return GemmCache(x, pad, worker_buffer(conv, "cols", (batch * rows, taps)) if keep else None)


def backward(conv, x: np.ndarray, pad: tuple, cols: np.ndarray | None, grad_z: np.ndarray,
             need_input_grad: bool, filter_grad: bool) -> np.ndarray | None:
    """∂E/∂W = Σ X'ᵀ ∂E/∂Y (eq. 60 in the Keras layout (kh·kw·C, K); a partial sum per chunk, added
    in chunk order) when ``filter_grad``, and ∂E/∂X' = ∂E/∂Y Wᵀ (eq. 61) then col2im (eq. 62) while
    X' is in the cache.  The bias gradient is the caller's; regularizer terms are added here."""
    kh, kw = conv.kernel_size
    filters = conv.filters
    batch = x.shape[0]
    grad_z_2d = grad_z.reshape(-1, filters)  # (∂E/∂Y)ᵀ: (B·OH·OW, K)
    taps = kh * kw * x.shape[3]
    rows = grad_z_2d.shape[0] // batch
    direct = pointwise(conv, pad)  # X' is the input itself (no copy to rebuild)
    bounds = [(0, batch)] if cols is not None else image_chunks(batch, chunk_images(conv, rows, taps, batch))
    kernel_2d = conv.params["kernel"].reshape(taps, filters)
    partial: Any = conv._buffer("grad_w_chunks", (len(bounds), taps, filters)) if filter_grad else None
    grad_x: Any = conv._out("grad_x", x.shape) if need_input_grad else None  # (arrays where used)

    def chunk(i) -> None:
        start, stop = bounds[i]
        g = grad_z_2d[start * rows : stop * rows]
        if filter_grad:
            if direct:
                chunk_cols = x[start:stop].reshape(-1, taps)
            elif cols is None:
                chunk_cols = worker_buffer(conv, "cols", (bounds[0][1] * rows, taps))[: (stop - start) * rows]
                ops.im2col_nhwc(x[start:stop], kh, kw, stride=conv.strides, pad=pad, out=chunk_cols)
            else:
                chunk_cols = cols
            np.matmul(chunk_cols.T, g, out=partial[i])
        if need_input_grad and direct:  # pointwise: ∂E/∂X' is ∂E/∂x (no col2im)
            np.matmul(g, kernel_2d.T, out=grad_x[start:stop].reshape(-1, taps))
        elif need_input_grad:
            gc = worker_buffer(conv, "grad_cols", (bounds[0][1] * rows, taps))[: (stop - start) * rows]
            np.matmul(g, kernel_2d.T, out=gc)
            ops.col2im_nhwc(gc, (stop - start, *x.shape[1:]), kh, kw, stride=conv.strides, pad=pad,
                            out=grad_x[start:stop])

    _threads.run_chunks(chunk, len(bounds))
    if filter_grad:
        grad_w = conv.grads["kernel"].reshape(taps, filters)
        np.copyto(grad_w, partial[0])
        for k in range(1, len(bounds)):
            grad_w += partial[k]
    if conv.trainable:
        conv._add_regularization_gradients()
    return grad_x
