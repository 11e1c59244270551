# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The image layout transposes NCHW -> NHWC and back (float32 and float64).

Semantics are those of :func:`le4nn.ops.reference.nchw_to_nhwc` and ``nhwc_to_nchw`` (the wrappers in
:mod:`le4nn.ops.native` check the arguments and pass the arrays as batches of matrices): both are
:func:`transpose`, a batch of row-major (R, Q) matrices into (Q, R) — (C, H·W) -> (H·W, C) for NCHW ->
NHWC, (H·W, C) -> (C, H·W) for the way back.  NumPy's strided ``copyto`` of a transposed view reads or
writes one element per cache line in the inner loop; here each image is cut into tiles that stay in
L1 (:func:`_tile_shape`), transposed 8 × 8 in registers (le4nn_layout.h).

Work split, fixed by the shape: the (image, tile) pairs, in order, each written by one thread (static
schedule).  A transpose moves bits and computes nothing, so the result is the same for any split;
arrays below ``SERIAL_LIMIT`` elements run on the calling thread.
"""

from cython cimport floating
from cython.parallel cimport prange

cdef extern from "le4nn_layout.h":
    const Py_ssize_t LE4NN_LAYOUT_TILE_ELEMENTS
    const Py_ssize_t LE4NN_LAYOUT_TILE_SIDE
    void le4nn_layout_tile_f(const float* src, Py_ssize_t ld_src, float* dst, Py_ssize_t ld_dst, Py_ssize_t i0,
                             Py_ssize_t i1, Py_ssize_t j0, Py_ssize_t j1) noexcept nogil
    void le4nn_layout_tile_d(const double* src, Py_ssize_t ld_src, double* dst, Py_ssize_t ld_dst,
                             Py_ssize_t i0, Py_ssize_t i1, Py_ssize_t j0, Py_ssize_t j1) noexcept nogil

include "team.pxi"


cdef inline void _tile(const floating* src, floating* dst, Py_ssize_t R, Py_ssize_t Q, Py_ssize_t i0,
                       Py_ssize_t i1, Py_ssize_t j0, Py_ssize_t j1) noexcept nogil:
    if floating is float:
        le4nn_layout_tile_f(src, Q, dst, R, i0, i1, j0, j1)
    else:
        le4nn_layout_tile_d(src, Q, dst, R, i0, i1, j0, j1)


cdef inline Py_ssize_t _round8(Py_ssize_t n) noexcept nogil:
    return n if n <= 8 else n - n % 8


cdef (Py_ssize_t, Py_ssize_t) _tile_shape(Py_ssize_t R, Py_ssize_t Q) noexcept nogil:
    """(rows, columns) of a tile: the shorter side up to LE4NN_LAYOUT_TILE_SIDE, the longer side filling
    LE4NN_LAYOUT_TILE_ELEMENTS (measured: 256 × 16 tiles transpose a 128 × 1024 × 16 batch 10% faster
    than 64 × 16), both multiples of 8 where longer than 8."""
    cdef Py_ssize_t short = min(min(R, Q), LE4NN_LAYOUT_TILE_SIDE)
    cdef Py_ssize_t long = max(LE4NN_LAYOUT_TILE_ELEMENTS // short, LE4NN_LAYOUT_TILE_SIDE)
    if R <= Q:
        return _round8(short), _round8(min(long, Q))
    return _round8(min(long, R)), _round8(short)


def transpose(const floating[:, :, ::1] src, floating[:, :, ::1] dst, int num_threads):
    """dst[b] = src[b]ᵀ for every b: src (B, R, Q), dst (B, Q, R), C-contiguous, not overlapping."""
    cdef Py_ssize_t B = src.shape[0], R = src.shape[1], Q = src.shape[2]
    if dst.shape[0] != B or dst.shape[1] != Q or dst.shape[2] != R:
        raise ValueError(f"transpose: dst has shape {(dst.shape[0], dst.shape[1], dst.shape[2])}, expected {(B, Q, R)}")
    if B == 0 or R == 0 or Q == 0:
        return
    cdef Py_ssize_t TR, TQ
    TR, TQ = _tile_shape(R, Q)
    cdef Py_ssize_t row_tiles = (R + TR - 1) // TR, col_tiles = (Q + TQ - 1) // TQ
    cdef Py_ssize_t per_image = row_tiles * col_tiles, items = B * per_image, item, b, t, i0, j0
    cdef int team = _team(B * R * Q, num_threads)
    cdef const floating* sp = &src[0, 0, 0]
    cdef floating* dp = &dst[0, 0, 0]
    with nogil:
        for item in prange(items, schedule="static", num_threads=team):
            b = item // per_image
            t = item - b * per_image
            i0 = (t // col_tiles) * TR
            j0 = (t % col_tiles) * TQ
            _tile(sp + b * R * Q, dp + b * R * Q, R, Q, i0, min(i0 + TR, R), j0, min(j0 + TQ, Q))
