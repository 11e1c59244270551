"""Conv2D's Winograd F(2×2, 3×3) path: 3×3 stride-1 channels_last layers with enough input channels.

Y = Aᵀ [U ⊙ V] A per 2×2 output tile (see :mod:`le4nn.ops.reference`, Winograd): the input transform V
(16, T, C), 16 GEMMs V[ξν] U[ξν] with the transformed kernel U = G g Gᵀ (16, C, K), and the output
transform with the bias and ReLU fused: 2.25× fewer multiplications than im2col + GEMM.  A few images
at a time (``Conv2D.WINOGRAD_CHUNK_BYTES``), so that V and the products M stay in the cache, chunks
shared out among the threads; the backward pass transforms each chunk's input again.  The data
transforms are ops (``ops.winograd_*``); the kernel side is here (tiny).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from le4nn import _threads, ops
from le4nn.layers._conv_nhwc import image_chunks, worker_buffer


class WinogradCache(NamedTuple):
    """What the Winograd forward keeps: the NHWC input, its padding and the chunks' image bounds
    (``start, stop``).  Not V: the backward pass transforms each chunk's input again, into a buffer
    that the GEMM then reads from the cache (the same bits; keeping every chunk's V cost 16·B·tiles·C
    values per layer, written to and read back from DRAM)."""

    x: np.ndarray
    pad: tuple
    chunks: list[tuple[int, int]]
    tiles_per_image: int


#: (G ⊗ G): row ξ·4 + ν, column i·3 + j holds G[ξ, i] G[ν, j], so that U = G g Gᵀ for every channel
#: pair at once is one product (16, 9) · (9, C·K).
_G2 = np.kron(ops.reference.WINOGRAD_G, ops.reference.WINOGRAD_G)


def transformed_kernel(kernel: np.ndarray) -> np.ndarray:
    """U[ξν] = (G g Gᵀ)[ξ, ν] for a (3, 3, C, K) kernel: (16, C, K)."""
    _, _, channels, filters = kernel.shape
    g2 = _G2.astype(kernel.dtype)
    return (g2 @ kernel.reshape(9, channels * filters)).reshape(16, channels, filters)


def filter_gradient(P: np.ndarray, out: np.ndarray) -> np.ndarray:
    """∂E/∂W[i, j] = Σ_{ξν} G[ξ, i] G[ν, j] P[ξν]: (Gᵀ P G) for every channel pair, into ``out`` (3, 3, C, K)."""
    g2 = _G2.astype(P.dtype)
    np.matmul(g2.T, P.reshape(16, -1), out=out.reshape(9, -1))
    return out


def chunk_images(conv, tiles_per_image: int, width: int, batch: int) -> int:
    """Images per chunk: the larger of V and M (16 · tiles · width per image) within
    ``conv.WINOGRAD_CHUNK_BYTES``."""
    per_image = 16 * tiles_per_image * width * conv.dtype.itemsize
    return max(1, min(batch, conv.WINOGRAD_CHUNK_BYTES // max(per_image, 1)))


#: One cache line (bytes): the planes of M start a whole number of lines apart.
_LINE = 64


def plane_stride(elements: int, itemsize: int) -> int:
    """The distance (elements) between the 16 planes of M: ``elements`` rounded up to whole cache
    lines, then up by a line at a time until it is 64·j bytes with 8 ∤ j modulo 4 KiB.  Then planes
    0..15 start in 16 different L1 sets (64 sets of 64 B lines; likewise in L2), so the output
    transform's 16 read streams of a tile do not evict each other, as they did when the planes were
    a multiple of 4 KiB apart (6 images of 32×32×16)."""
    line = _LINE // itemsize
    stride = -(-elements // line) * line
    while ((stride * itemsize // _LINE) % 64) % 8 == 0:
        stride += line
    return stride


def padded_planes(conv, tag: str, tiles: int, width: int, most: int) -> np.ndarray:
    """A (16, tiles, width) view of this worker's buffer ``tag`` (``most`` tiles at most) whose planes
    are each C-contiguous, :func:`plane_stride` apart, for the 16 GEMMs to write."""
    itemsize = conv.dtype.itemsize
    line = _LINE // itemsize
    capacity = -(-most * width // line) * line + 8 * line  # ≥ plane_stride of any tiles ≤ most
    stride = plane_stride(tiles * width, itemsize)
    buffer = worker_buffer(conv, tag, (16 * capacity,))
    return buffer[: 16 * stride].reshape(16, stride)[:, : tiles * width].reshape(16, tiles, width)


def forward(conv, x: np.ndarray, pad: tuple, bias: np.ndarray | None, relu: bool,
            z: np.ndarray) -> WinogradCache:
    """The NHWC output ``z`` (bias added, ReLU applied when ``relu``), chunk by chunk."""
    batch, _, _, channels = x.shape
    filters = conv.filters
    tiles_per_image = ((z.shape[1] + 1) // 2) * ((z.shape[2] + 1) // 2)
    bounds = image_chunks(batch, chunk_images(conv, tiles_per_image, max(channels, filters), batch))
    U = transformed_kernel(conv.params["kernel"])
    most = bounds[0][1] * tiles_per_image

    def chunk(i):
        start, stop = bounds[i]
        V = input_tiles(conv, x, pad, start, stop, tiles_per_image, most)
        M = np.matmul(V, U, out=padded_planes(conv, "wino_m", V.shape[1], filters, most))
        ops.winograd_output_transform(M, (stop - start, *z.shape[1:]), bias, relu, out=z[start:stop])

    _threads.run_chunks(chunk, len(bounds))
    return WinogradCache(x, pad, bounds, tiles_per_image)


def input_tiles(conv, x: np.ndarray, pad: tuple, start: int, stop: int, tiles_per_image: int,
                most: int) -> np.ndarray:
    """V (16, tiles, C) of images ``start:stop``, in this worker's buffer (``most`` tiles at most)."""
    tiles, channels = (stop - start) * tiles_per_image, x.shape[3]
    V = worker_buffer(conv, "wino_v", (16 * most * channels,))[: 16 * tiles * channels]
    return ops.winograd_input_transform(x[start:stop], pad, out=V.reshape(16, tiles, channels))


def backward(conv, cache: WinogradCache, grad_z: np.ndarray, need_input_grad: bool) -> np.ndarray | None:
    """∂E/∂W = Gᵀ [Σ_t V_t ⊙ Q_t] G with Q = A ∂E/∂Y Aᵀ (16 GEMMs Vᵀ Q), and ∂E/∂x as the Winograd
    convolution of ∂E/∂z, padded by 2 − p, with the kernel rotated by 180° and transposed; chunk
    by chunk as in the forward pass.  Each chunk's Σ_t goes to its own partial sum, and the
    partial sums are added in chunk order: the same result for any number of threads.  The bias
    gradient is the caller's; regularizer terms are added here."""
    chunks, x, pad = cache.chunks, cache.x, cache.pad
    batch, height, width, channels = x.shape
    filters = conv.filters
    train = conv.trainable
    most = max(stop - start for start, stop in chunks) * cache.tiles_per_image
    if train:
        partial = conv._buffer("wino_p", (len(chunks), 16, channels, filters))
    if need_input_grad:
        pt, pb, pl, pr = pad
        back_pad = (2 - pt, 2 - pb, 2 - pl, 2 - pr)
        back_tiles_per_image = ((height + 1) // 2) * ((width + 1) // 2)
        most_back = max(stop - start for start, stop in chunks) * back_tiles_per_image
        U_back = transformed_kernel(conv.params["kernel"][::-1, ::-1].transpose(0, 1, 3, 2))  # (3, 3, K, C)
        grad_x = conv._out("grad_x", x.shape)
    else:
        grad_x = None

    def chunk(i):
        start, stop = chunks[i]
        g = grad_z[start:stop]
        if train:
            V = input_tiles(conv, x, pad, start, stop, cache.tiles_per_image, most)
            Q = worker_buffer(conv, "wino_q", (16 * most * filters,))[: 16 * V.shape[1] * filters]
            Q = ops.winograd_gradient_transform(g, out=Q.reshape(16, V.shape[1], filters))
            np.matmul(V.transpose(0, 2, 1), Q, out=partial[i])
        if need_input_grad:
            tiles = (stop - start) * back_tiles_per_image
            Vd = worker_buffer(conv, "wino_vd", (16 * most_back * filters,))[: 16 * tiles * filters]
            Vd = ops.winograd_input_transform(g, back_pad, out=Vd.reshape(16, tiles, filters))
            Md = np.matmul(Vd, U_back, out=padded_planes(conv, "wino_md", tiles, channels, most_back))
            ops.winograd_output_transform(Md, (stop - start, height, width, channels), out=grad_x[start:stop])

    _threads.run_chunks(chunk, len(chunks))
    if train:
        P = partial[0]
        for k in range(1, len(chunks)):
            P += partial[k]
        filter_gradient(P, out=conv.grads["kernel"])
        conv._add_regularization_gradients()
    return grad_x
