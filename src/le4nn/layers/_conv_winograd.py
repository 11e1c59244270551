"""Conv2D's Winograd paths: 3×3 stride-1 channels_last layers with enough input channels, F(4×4, 3×3)
on maps large enough for 4×4 tiles and F(2×2, 3×3) otherwise (``Conv2D.WINOGRAD_TILE``).

Y = Aᵀ [U ⊙ V] A per m×m output tile (see :mod:`le4nn.ops.reference_winograd`): the input transform V
(n², T, C), n = m + 2, n² GEMMs V[ξν] U[ξν] with the transformed kernel U = G g Gᵀ (n², C, K), and the
output transform with the bias and ReLU fused: 2.25× (m = 2) or 4× (m = 4) fewer multiplications than
im2col + GEMM.  A few images at a time (``Conv2D.WINOGRAD_CHUNK_BYTES``), so that V and the products M
stay in the cache, chunks shared out among the threads; the backward pass transforms each chunk's
input again.  The transforms are ops: of the data ``ops.winograd_*`` and ``ops.winograd4_*``, of the
kernel ``ops.winograd_kernel_transform`` and ``ops.winograd_filter_gradient`` (in float64, rounded
once, as F(4×4, 3×3)'s G holds thirds and fifteenths); the GEMMs are here.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from le4nn import _threads, ops
from le4nn.layers._conv_nhwc import image_chunks, worker_buffer


class WinogradCache(NamedTuple):
    """What the Winograd forward keeps: the NHWC input, its padding, the chunks' image bounds
    (``start, stop``) and the tile size m (2 or 4).  Not V: the backward pass transforms each chunk's
    input again, into a buffer that the GEMM then reads from the cache (the same bits; keeping every
    chunk's V cost n²·B·tiles·C values per layer, written to and read back from DRAM)."""

    x: np.ndarray
    pad: tuple
    chunks: list[tuple[int, int]]
    tiles_per_image: int
    tile: int = 2


#: The three data transforms per tile size.
_TRANSFORMS = {
    2: (ops.winograd_input_transform, ops.winograd_output_transform, ops.winograd_gradient_transform),
    4: (ops.winograd4_input_transform, ops.winograd4_output_transform, ops.winograd4_gradient_transform),
}


def transformed_kernel(conv, tile: int, flip: bool = False) -> np.ndarray:
    """U[ξν] = (G g Gᵀ)[ξ, ν] of the layer's (3, 3, C, K) kernel into its buffer: (n², C, K), n = tile + 2;
    with ``flip``, of the input gradient's kernel (rotated by 180°, channels swapped): (n², K, C)."""
    kernel = conv.params["kernel"]
    channels = kernel.shape[:1:-1] if flip else kernel.shape[2:]
    out = conv._buffer(f"wino_u{tile}{'f' if flip else ''}", ((tile + 2) ** 2, *channels))
    return ops.winograd_kernel_transform(kernel, tile, flip, out=out)


def tiles_per_image(height: int, width: int, tile: int) -> int:
    """Tiles of tile × tile outputs covering a height × width output (the last ones may stick out)."""
    return -(-height // tile) * -(-width // tile)


def best_tile(preferred: int, height: int, width: int) -> int:
    """4 (F(4×4, 3×3)) when ``preferred`` is 4 and its tiles of a height × width output hold fewer
    transformed values than F(2×2, 3×3)'s (36 per 4×4 tile against 16 per 2×2 tile: the GEMMs' work
    and the transforms' traffic scale with it), else 2.  F(4×4, 3×3) loses only where 4×4 tiles
    waste most (5 or 6 outputs a side: equal counts, so the more accurate F(2×2, 3×3)).  Measured
    (AMD EPYC Zen 4, batch 128, min of 12–15; forward and backward each): F(4×4, 3×3) takes 0.67–0.79×
    F(2×2, 3×3)'s time at 32×32×16, 16×16×32 and 8×8×64 (1 and 2 threads), 0.60–0.64× at 7×7×64,
    0.80–0.83× at 4×4×128, 0.96–1.00× at 6×6×64 and 5×5×64 (1 thread)."""
    if preferred != 4:
        return 2
    return 4 if 36 * tiles_per_image(height, width, 4) < 16 * tiles_per_image(height, width, 2) else 2


#: The fewest tiles per chunk, the rows of each of the chunk's n² GEMMs (T, C) · (C, K): fewer make
#: OpenBLAS pack each (C, K) plane of U for too few rows.  Measured (AMD EPYC Zen 4, batch 128, one
#: thread, forward + backward): 4×4×256 maps, 1 tile per image, went from chunks of 32 images to 64:
#: 46 → 39 ms; 7×7×128 (4 tiles) from 16 to 32: 32.6 → 31 ms; larger maps already have ≥ 128.
MIN_TILES_PER_CHUNK = 128


def chunk_images(conv, tiles_per_image: int, width: int, batch: int, tile: int = 2) -> int:
    """Images per chunk: the larger of V and M (n² · tiles · width per image) within
    ``conv.WINOGRAD_CHUNK_BYTES``, but at least :data:`MIN_TILES_PER_CHUNK` tiles."""
    per_image = (tile + 2) ** 2 * tiles_per_image * width * conv.dtype.itemsize
    by_bytes = conv.WINOGRAD_CHUNK_BYTES // max(per_image, 1)
    by_tiles = -(-MIN_TILES_PER_CHUNK // max(tiles_per_image, 1))
    return max(1, min(batch, max(by_bytes, by_tiles)))


#: One cache line (bytes): the planes of M start a whole number of lines apart.
_LINE = 64


def plane_stride(elements: int, itemsize: int) -> int:
    """The distance (elements) between the planes of M: ``elements`` rounded up to whole cache
    lines, then up by a line at a time until it is 64·j bytes with 8 ∤ j modulo 4 KiB.  Then planes
    0..15 start in 16 different L1 sets (64 sets of 64 B lines; likewise in L2), and F(4×4, 3×3)'s
    36 planes share a set at most 3 at a time (8 ways), so the output transform's read streams of a
    tile do not evict each other, as they did when the planes were a multiple of 4 KiB apart (6
    images of 32×32×16)."""
    line = _LINE // itemsize
    stride = -(-elements // line) * line
    while ((stride * itemsize // _LINE) % 64) % 8 == 0:
        stride += line
    return stride


def padded_planes(conv, tag: str, tiles: int, width: int, most: int, planes: int = 16) -> np.ndarray:
    """A (planes, tiles, width) view of this worker's buffer ``tag`` (``most`` tiles at most) whose
    planes are each C-contiguous, :func:`plane_stride` apart, for the GEMMs to write."""
    itemsize = conv.dtype.itemsize
    line = _LINE // itemsize
    capacity = -(-most * width // line) * line + 8 * line  # ≥ plane_stride of any tiles ≤ most
    stride = plane_stride(tiles * width, itemsize)
    buffer = worker_buffer(conv, tag, (planes * capacity,))
    return buffer[: planes * stride].reshape(planes, stride)[:, : tiles * width].reshape(planes, tiles, width)


def forward(conv, x: np.ndarray, pad: tuple, bias: np.ndarray | None, relu: bool,
            z: np.ndarray, tile: int = 2) -> WinogradCache:
    """The NHWC output ``z`` (bias added, ReLU applied when ``relu``), chunk by chunk."""
    batch, _, _, channels = x.shape
    filters = conv.filters
    per_image = tiles_per_image(z.shape[1], z.shape[2], tile)
    bounds = image_chunks(batch, chunk_images(conv, per_image, max(channels, filters), batch, tile))
    U = transformed_kernel(conv, tile)
    most = bounds[0][1] * per_image
    output_transform = _TRANSFORMS[tile][1]

    def chunk(i) -> None:
        start, stop = bounds[i]
        V = input_tiles(conv, x, pad, start, stop, per_image, most, tile)
        M = np.matmul(V, U, out=padded_planes(conv, "wino_m", V.shape[1], filters, most, len(U)))
        output_transform(M, (stop - start, *z.shape[1:]), bias, relu, out=z[start:stop])

    _threads.run_chunks(chunk, len(bounds))
    return WinogradCache(x, pad, bounds, per_image, tile)


def input_tiles(conv, x: np.ndarray, pad: tuple, start: int, stop: int, tiles_per_image: int,
                most: int, tile: int = 2) -> np.ndarray:
    """V (n², tiles, C) of images ``start:stop``, in this worker's buffer (``most`` tiles at most)."""
    tiles, channels, planes = (stop - start) * tiles_per_image, x.shape[3], (tile + 2) ** 2
    V = worker_buffer(conv, "wino_v", (planes * most * channels,))[: planes * tiles * channels]
    return _TRANSFORMS[tile][0](x[start:stop], pad, out=V.reshape(planes, tiles, channels))


def backward(conv, cache: WinogradCache, grad_z: np.ndarray, need_input_grad: bool) -> np.ndarray | None:
    """∂E/∂W = Gᵀ [Σ_t V_t ⊙ Q_t] G with Q = A ∂E/∂Y Aᵀ (n² GEMMs Vᵀ Q), and ∂E/∂x as the Winograd
    convolution of ∂E/∂z, padded by 2 − p, with the kernel rotated by 180° and transposed; chunk
    by chunk as in the forward pass.  Each chunk's Σ_t goes to its own partial sum, and the
    partial sums are added in chunk order: the same result for any number of threads.  The bias
    gradient is the caller's; regularizer terms are added here."""
    chunks, x, pad, tile = cache.chunks, cache.x, cache.pad, cache.tile
    batch, height, width, channels = x.shape
    filters, planes = conv.filters, (tile + 2) ** 2
    input_transform, output_transform, gradient_transform = _TRANSFORMS[tile]
    train = conv.trainable
    most = max(stop - start for start, stop in chunks) * cache.tiles_per_image
    if train:
        partial = conv._buffer(f"wino_p{tile}", (len(chunks), planes, channels, filters))
    if need_input_grad:
        pt, pb, pl, pr = pad
        back_pad = (2 - pt, 2 - pb, 2 - pl, 2 - pr)
        back_per_image = tiles_per_image(height, width, tile)
        most_back = max(stop - start for start, stop in chunks) * back_per_image
        U_back = transformed_kernel(conv, tile, flip=True)  # (n², K, C)
        grad_x = conv._out("grad_x", x.shape)
    else:
        grad_x = None

    def chunk(i) -> None:
        start, stop = chunks[i]
        g = grad_z[start:stop]
        if train:
            V = input_tiles(conv, x, pad, start, stop, cache.tiles_per_image, most, tile)
            Q = worker_buffer(conv, "wino_q", (planes * most * filters,))[: planes * V.shape[1] * filters]
            Q = gradient_transform(g, out=Q.reshape(planes, V.shape[1], filters))
            np.matmul(V.transpose(0, 2, 1), Q, out=partial[i])
        if need_input_grad:
            tiles = (stop - start) * back_per_image
            Vd = worker_buffer(conv, "wino_vd", (planes * most_back * filters,))[: planes * tiles * filters]
            Vd = input_transform(g, back_pad, out=Vd.reshape(planes, tiles, filters))
            Md = np.matmul(Vd, U_back, out=padded_planes(conv, "wino_md", tiles, channels, most_back, planes))
            output_transform(Md, (stop - start, height, width, channels), out=grad_x[start:stop])

    _threads.run_chunks(chunk, len(chunks))
    if train:  # Gᵀ [Σ over the chunks, in order] G
        ops.winograd_filter_gradient(partial, tile, out=conv.grads["kernel"])
        conv._add_regularization_gradients()
    return grad_x
