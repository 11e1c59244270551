"""Large matrix products cut into blocks fixed by their shape and shared among le4nn's threads.

BLAS gives other bits at other thread counts (OpenBLAS: e.g. (100 × 784) · (784 × 100) on 1 and 2
threads), so le4nn runs it on one thread while a step computes (:mod:`le4nn._threads`).  A large
product, such as a Dense layer's (100 × 3136) · (3136 × 128), would then use one core only.
:func:`matmul` cuts the result into blocks of rows (or of columns) whose number and sizes depend only
on the shapes, multiplies each block with one single-threaded BLAS call, and shares the blocks among
the threads (:func:`le4nn._threads.run_chunks`).  Every element of the result is computed by the same
call whatever the number of threads, so the bits do not depend on it.
"""

from __future__ import annotations

import numpy as np

from le4nn import _threads

#: Multiply-adds of the smallest block worth a call of its own (a few hundred µs on one core would
#: otherwise wait for a thread to wake; below twice this a product is one call).
MIN_BLOCK_WORK = 1 << 23
#: At most this many blocks (enough for 16 cores; more only adds calls).
MAX_BLOCKS = 16
#: Block sizes are multiples of this, so that BLAS's micro-kernels see whole panels.
BLOCK_ALIGN = 64


def block_bounds(length: int, work: int) -> list[tuple[int, int]]:
    """How :func:`matmul` cuts ``length`` rows (or columns) of a product of ``work`` multiply-adds:
    a function of the two numbers only (never of the thread count)."""
    blocks = min(MAX_BLOCKS, work // MIN_BLOCK_WORK, length // BLOCK_ALIGN)
    if blocks < 2:
        return [(0, length)]
    size = -(-length // blocks)
    size = -(-size // BLOCK_ALIGN) * BLOCK_ALIGN
    return [(start, min(start + size, length)) for start in range(0, length, size)]


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out[...] = a @ b`` for 2-D ``a`` (M, K) and ``b`` (K, N), large products in blocks of rows
    of ``out`` (when M ≥ N) or of columns, on the threads le4nn uses (see the module docstring)."""
    m, k = a.shape
    n = b.shape[1]
    bounds = block_bounds(max(m, n), m * n * k)
    if len(bounds) == 1 and _threads.blas_is_single_threaded():  # inside a step: no more to arrange
        return np.matmul(a, b, out=out)
    if m >= n:
        def block(i: int) -> None:
            start, stop = bounds[i]
            np.matmul(a[start:stop], b, out=out[start:stop])
    else:
        def block(i: int) -> None:
            start, stop = bounds[i]
            np.matmul(a, b[:, start:stop], out=out[:, start:stop])
    _threads.run_chunks(block, len(bounds))  # BLAS on one thread, even for a single block
    return out
