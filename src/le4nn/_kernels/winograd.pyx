# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The data transforms of Winograd F(2×2, 3×3) and F(4×4, 3×3) for NHWC batches (see
:mod:`le4nn.ops.reference_winograd`; the F(4×4, 3×3) kernels, ``*4``, are in le4nn_winograd4.h).

- input transform: V[ξν, t, c] = (Bᵀ d_t B)[ξ, ν] for the 4×4 input patch d_t of every 2×2 output tile;
- output transform: y (2×2 per tile) = Aᵀ m_t A, plus bias and an optional ReLU;
- gradient transform: Q[ξν, t, k] = (A g_t Aᵀ)[ξ, ν] for every 2×2 tile g_t of ∂E/∂Y.

Each transform takes the tile size m (2 or 4) and picks the row kernel of that size and dtype.
The wrappers in :mod:`le4nn.ops.native` validate the arguments.  Every tile is independent: threads
take whole rows of tiles (image, tile row), statically, and no output is written by two threads, so
results do not depend on the thread count.  The matrices Bᵀ, Aᵀ hold only 0 and ±1, so each
transform is a few additions per element; the loops run over the channels (contiguous in NHWC) and
are written so that GCC vectorizes them, compiled for x86-64-v3 (AVX2) and the baseline with the
loader choosing by CPU.  Patch elements outside the input read a row of zeros, so the inner loops
have no branches.
"""

from cython cimport floating
from cython.parallel cimport prange, threadid

import numpy as np

cdef extern from "le4nn_winograd.h":
    void le4nn_wino_in_row_f(const float* xb, const float* zeros, float* V, Py_ssize_t Tn, Py_ssize_t t0,
                             Py_ssize_t H, Py_ssize_t W, Py_ssize_t C, Py_ssize_t ty, Py_ssize_t TW,
                             int pt, int pl) noexcept nogil
    void le4nn_wino_in_row_d(const double* xb, const double* zeros, double* V, Py_ssize_t Tn,
                             Py_ssize_t t0, Py_ssize_t H, Py_ssize_t W, Py_ssize_t C, Py_ssize_t ty,
                             Py_ssize_t TW, int pt, int pl) noexcept nogil
    void le4nn_wino_out_row_f(const float* m, const float* bias, float* yb, Py_ssize_t plane, Py_ssize_t t0,
                              Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t K, Py_ssize_t ty, Py_ssize_t TW,
                              int relu, float* scratch) noexcept nogil
    void le4nn_wino_out_row_d(const double* m, const double* bias, double* yb, Py_ssize_t plane,
                              Py_ssize_t t0, Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t K, Py_ssize_t ty,
                              Py_ssize_t TW, int relu, double* scratch) noexcept nogil
    void le4nn_wino_grad_row_f(const float* gb, const float* zeros, float* Q, Py_ssize_t Tn,
                               Py_ssize_t t0, Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t K, Py_ssize_t ty,
                               Py_ssize_t TW) noexcept nogil
    void le4nn_wino_grad_row_d(const double* gb, const double* zeros, double* Q, Py_ssize_t Tn,
                               Py_ssize_t t0, Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t K, Py_ssize_t ty,
                               Py_ssize_t TW) noexcept nogil

cdef extern from "le4nn_winograd4.h":
    void le4nn_wino4_in_row_f(const float* xb, const float* zeros, float* V, Py_ssize_t Tn, Py_ssize_t t0,
                              Py_ssize_t H, Py_ssize_t W, Py_ssize_t C, Py_ssize_t ty, Py_ssize_t TW,
                              int pt, int pl, float* E) noexcept nogil
    void le4nn_wino4_in_row_d(const double* xb, const double* zeros, double* V, Py_ssize_t Tn,
                              Py_ssize_t t0, Py_ssize_t H, Py_ssize_t W, Py_ssize_t C, Py_ssize_t ty,
                              Py_ssize_t TW, int pt, int pl, double* E) noexcept nogil
    void le4nn_wino4_out_row_f(const float* m, const float* bias, float* yb, Py_ssize_t plane,
                               Py_ssize_t t0, Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t K, Py_ssize_t ty,
                               Py_ssize_t TW, int relu, float* scratch) noexcept nogil
    void le4nn_wino4_out_row_d(const double* m, const double* bias, double* yb, Py_ssize_t plane,
                               Py_ssize_t t0, Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t K, Py_ssize_t ty,
                               Py_ssize_t TW, int relu, double* scratch) noexcept nogil
    void le4nn_wino4_grad_row_f(const float* gb, const float* zeros, float* Q, Py_ssize_t Tn,
                                Py_ssize_t t0, Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t K, Py_ssize_t ty,
                                Py_ssize_t TW, float* E) noexcept nogil
    void le4nn_wino4_grad_row_d(const double* gb, const double* zeros, double* Q, Py_ssize_t Tn,
                                Py_ssize_t t0, Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t K, Py_ssize_t ty,
                                Py_ssize_t TW, double* E) noexcept nogil


cdef extern from "le4nn_winograd_kernel.h":
    void le4nn_wino_kernel_rows_f(const float* W, float* U, Py_ssize_t C, Py_ssize_t K, Py_ssize_t c0,
                                  Py_ssize_t cb, int n, int flip, void* scratch) noexcept nogil
    void le4nn_wino_kernel_rows_d(const double* W, double* U, Py_ssize_t C, Py_ssize_t K, Py_ssize_t c0,
                                  Py_ssize_t cb, int n, int flip, void* scratch) noexcept nogil
    void le4nn_wino_filter_grad_row_f(const float* partials, float* dW, Py_ssize_t S, Py_ssize_t C,
                                      Py_ssize_t K, Py_ssize_t c, int n, void* scratch) noexcept nogil
    void le4nn_wino_filter_grad_row_d(const double* partials, double* dW, Py_ssize_t S, Py_ssize_t C,
                                      Py_ssize_t K, Py_ssize_t c, int n, void* scratch) noexcept nogil
    Py_ssize_t le4nn_wino_kernel_scratch_bytes(int n, Py_ssize_t K, Py_ssize_t itemsize) noexcept nogil
    enum: LE4NN_WK_CB


include "team.pxi"
include "bias.pxi"


cdef int _check_planes(str what, Py_ssize_t planes, Py_ssize_t tiles, Py_ssize_t channels, Py_ssize_t Tn,
                       Py_ssize_t C, int tile) except -1:
    """The transform planes have shape ((tile + 2)², Tn, C); ``what`` names them."""
    if planes != (tile + 2) * (tile + 2) or tiles != Tn or channels != C:
        raise ValueError(f"{what} has the wrong shape")
    return 0


cdef int _check_tile(int tile) except -1:
    if tile != 2 and tile != 4:
        raise ValueError(f"winograd: the tile must be 2 or 4, got {tile}")
    return 0


# --- one row of tiles (image b, tile row ty) of each transform, by tile size and dtype; E: the F(4×4, 3×3)
# kernels' per-thread scratch (6 row-transformed columns) ---

cdef inline void _in_row(const floating* xb, const floating* zp, floating* vp, Py_ssize_t Tn, Py_ssize_t t0,
                         Py_ssize_t H, Py_ssize_t W, Py_ssize_t C, Py_ssize_t ty, Py_ssize_t TW, int pt,
                         int pl, int tile, floating* E) noexcept nogil:
    if floating is float:
        if tile == 4:
            le4nn_wino4_in_row_f(xb, zp, vp, Tn, t0, H, W, C, ty, TW, pt, pl, E)
        else:
            le4nn_wino_in_row_f(xb, zp, vp, Tn, t0, H, W, C, ty, TW, pt, pl)
    else:
        if tile == 4:
            le4nn_wino4_in_row_d(xb, zp, vp, Tn, t0, H, W, C, ty, TW, pt, pl, E)
        else:
            le4nn_wino_in_row_d(xb, zp, vp, Tn, t0, H, W, C, ty, TW, pt, pl)


cdef inline void _out_row(const floating* mp, const floating* bp, floating* yb, Py_ssize_t plane,
                          Py_ssize_t t0, Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t K, Py_ssize_t ty,
                          Py_ssize_t TW, bint relu, int tile, floating* scratch) noexcept nogil:
    if floating is float:
        if tile == 4:
            le4nn_wino4_out_row_f(mp, bp, yb, plane, t0, OH, OW, K, ty, TW, relu, scratch)
        else:
            le4nn_wino_out_row_f(mp, bp, yb, plane, t0, OH, OW, K, ty, TW, relu, scratch)
    else:
        if tile == 4:
            le4nn_wino4_out_row_d(mp, bp, yb, plane, t0, OH, OW, K, ty, TW, relu, scratch)
        else:
            le4nn_wino_out_row_d(mp, bp, yb, plane, t0, OH, OW, K, ty, TW, relu, scratch)


cdef inline void _grad_row(const floating* gb, const floating* zp, floating* qp, Py_ssize_t Tn, Py_ssize_t t0,
                           Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t K, Py_ssize_t ty, Py_ssize_t TW, int tile,
                           floating* E) noexcept nogil:
    if floating is float:
        if tile == 4:
            le4nn_wino4_grad_row_f(gb, zp, qp, Tn, t0, OH, OW, K, ty, TW, E)
        else:
            le4nn_wino_grad_row_f(gb, zp, qp, Tn, t0, OH, OW, K, ty, TW)
    else:
        if tile == 4:
            le4nn_wino4_grad_row_d(gb, zp, qp, Tn, t0, OH, OW, K, ty, TW, E)
        else:
            le4nn_wino_grad_row_d(gb, zp, qp, Tn, t0, OH, OW, K, ty, TW)


def input_transform(const floating[:, :, :, ::1] x, floating[:, :, ::1] V, int pt, int pl, int TH, int TW,
                    int tile, int num_threads):
    """V ((tile + 2)², B·TH·TW, C) = Bᵀ d B of every tile's (tile + 2)² patch of x (B, H, W, C)."""
    _check_tile(tile)
    cdef Py_ssize_t B = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3]
    cdef Py_ssize_t Tn = <Py_ssize_t>B * TH * TW, r, b, ty, n = tile + 2
    cdef Py_ssize_t es = 6 * (4 * TW + 2) * C if tile == 4 else 1
    cdef int team = _team(n * n * Tn * C, num_threads)
    _check_planes("winograd_input_transform: V", V.shape[0], V.shape[1], V.shape[2], Tn, C, tile)
    if Tn * C == 0:
        return
    cdef floating[::1] zeros = np.zeros(C, dtype=np.asarray(V).dtype)
    cdef floating[:, ::1] scratch = np.empty((max(team, 1), es), dtype=np.asarray(V).dtype)
    cdef const floating* xp = &x[0, 0, 0, 0]
    cdef floating* vp = &V[0, 0, 0]
    cdef floating* zp = &zeros[0]
    cdef floating* sp = &scratch[0, 0]
    with nogil:
        for r in prange(B * TH, schedule="static", num_threads=team):
            b = r // TH
            ty = r - b * TH
            _in_row(xp + b * H * W * C, zp, vp, Tn, r * TW, H, W, C, ty, TW, pt, pl, tile, sp + threadid() * es)


def output_transform(const floating[:, :, :] m, bias, floating[:, :, :, ::1] y, bint relu, int tile,
                     int num_threads):
    """y (B, OH, OW, K) = Aᵀ m A per tile × tile output tile (+ bias, ReLU); m ((tile + 2)², B·TH·TW, K),
    each plane C-contiguous (the planes may lie further apart: m's first stride is passed on, hence the
    strided view)."""
    _check_tile(tile)
    cdef Py_ssize_t B = y.shape[0], OH = y.shape[1], OW = y.shape[2], K = y.shape[3], n = tile + 2
    cdef Py_ssize_t TH = (OH + tile - 1) // tile, TW = (OW + tile - 1) // tile, Tn = B * TH * TW, r, b, ty
    cdef Py_ssize_t plane = m.strides[0] // <Py_ssize_t>sizeof(floating)
    cdef Py_ssize_t es = 4 * K if tile == 2 else K  # the F(2×2, 3×3) kernel stages a tile here
    cdef const floating[::1] bias_view
    cdef const floating* bp = NULL
    cdef int team = _team(n * n * Tn * K, num_threads)
    _check_planes("winograd_output_transform: m", m.shape[0], m.shape[1], m.shape[2], Tn, K, tile)
    if Tn * K and ((K > 1 and m.strides[2] != <Py_ssize_t>sizeof(floating))
                   or (Tn > 1 and m.strides[1] != K * <Py_ssize_t>sizeof(floating))
                   or plane < Tn * K or m.strides[0] % <Py_ssize_t>sizeof(floating)):
        raise ValueError("winograd_output_transform: m's planes must each be C-contiguous, apart by "
                         "at least their size")
    if bias is not None:
        bias_view = bias
        bp = _bias_data(bias_view, K, "winograd_output_transform")
    if Tn * K == 0:
        return
    cdef floating[:, ::1] scratch = np.empty((max(team, 1), es), dtype=np.asarray(y).dtype)
    cdef const floating* mp = &m[0, 0, 0]
    cdef floating* yp = &y[0, 0, 0, 0]
    cdef floating* sp = &scratch[0, 0]
    with nogil:
        for r in prange(B * TH, schedule="static", num_threads=team):
            b = r // TH
            ty = r - b * TH
            _out_row(mp, bp, yp + b * OH * OW * K, plane, r * TW, OH, OW, K, ty, TW, relu, tile,
                     sp + threadid() * es)


def gradient_transform(const floating[:, :, :, ::1] dout, floating[:, :, ::1] Q, int tile, int num_threads):
    """Q ((tile + 2)², B·TH·TW, K) = A g Aᵀ of every tile × tile tile g of dout (B, OH, OW, K)."""
    _check_tile(tile)
    cdef Py_ssize_t B = dout.shape[0], OH = dout.shape[1], OW = dout.shape[2], K = dout.shape[3], n = tile + 2
    cdef Py_ssize_t TH = (OH + tile - 1) // tile, TW = (OW + tile - 1) // tile, Tn = B * TH * TW, r, b, ty
    cdef Py_ssize_t es = 6 * 4 * TW * K if tile == 4 else 1
    cdef int team = _team(n * n * Tn * K, num_threads)
    _check_planes("winograd_gradient_transform: Q", Q.shape[0], Q.shape[1], Q.shape[2], Tn, K, tile)
    if Tn * K == 0:
        return
    cdef floating[::1] zeros = np.zeros(K, dtype=np.asarray(Q).dtype)
    cdef floating[:, ::1] scratch = np.empty((max(team, 1), es), dtype=np.asarray(Q).dtype)
    cdef const floating* gp = &dout[0, 0, 0, 0]
    cdef floating* qp = &Q[0, 0, 0]
    cdef floating* zp = &zeros[0]
    cdef floating* sp = &scratch[0, 0]
    with nogil:
        for r in prange(B * TH, schedule="static", num_threads=team):
            b = r // TH
            ty = r - b * TH
            _grad_row(gp + b * OH * OW * K, zp, qp, Tn, r * TW, OH, OW, K, ty, TW, tile, sp + threadid() * es)


cdef inline char* _aligned(char* p) noexcept:
    """``p`` rounded up to a multiple of 64 bytes (the scratch rows hold doubles)."""
    return p + (-(<size_t>p)) % 64


# --- the kernel side: U = G g Gᵀ of every channel pair, and ∂E/∂W = Gᵀ P G (double inside, rounded once) ---


def kernel_transform(const floating[:, :, :, ::1] kernel, floating[:, :, ::1] U, int tile, bint flip,
                     int num_threads):
    """U ((tile + 2)², C, K) = G g Gᵀ of every (c, k) of the 3×3 kernel (3, 3, C, K); with ``flip``, of
    the input gradient's kernel (rotated by 180°, channels swapped): U ((tile + 2)², K, C).  Threads take
    blocks of input channels."""
    _check_tile(tile)
    cdef Py_ssize_t C = kernel.shape[2], K = kernel.shape[3], n = tile + 2, blk, c0
    cdef Py_ssize_t rows = K if flip else C, cols = C if flip else K
    if kernel.shape[0] != 3 or kernel.shape[1] != 3 or U.shape[0] != n * n or U.shape[1] != rows or U.shape[2] != cols:
        raise ValueError("winograd_kernel_transform: shapes do not match")
    if C * K == 0:
        return
    cdef Py_ssize_t per = LE4NN_WK_CB if flip else 1, blocks = (C + per - 1) // per
    cdef int team = _team(n * n * C * K, num_threads)
    cdef Py_ssize_t es = le4nn_wino_kernel_scratch_bytes(<int>n, K, sizeof(floating))
    cdef char[:, ::1] scratch = np.empty((max(team, 1), es + 64), dtype=np.int8)
    cdef char* sp = _aligned(&scratch[0, 0])
    cdef const floating* wp = &kernel[0, 0, 0, 0]
    cdef floating* up = &U[0, 0, 0]
    with nogil:
        for blk in prange(blocks, schedule="static", num_threads=team):
            c0 = blk * per
            if floating is float:
                le4nn_wino_kernel_rows_f(wp, up, C, K, c0, min(per, C - c0), <int>n, flip, sp + threadid() * es)
            else:
                le4nn_wino_kernel_rows_d(wp, up, C, K, c0, min(per, C - c0), <int>n, flip, sp + threadid() * es)


def filter_gradient(const floating[:, :, :, ::1] partials, floating[:, :, :, ::1] dW, int tile, int num_threads):
    """dW (3, 3, C, K) = Gᵀ P G with P = Σ_s partials[s] ((tile + 2)², C, K), s in order; threads take
    input channels."""
    _check_tile(tile)
    cdef Py_ssize_t S = partials.shape[0], C = partials.shape[2], K = partials.shape[3], c, n = tile + 2
    if (partials.shape[1] != n * n or dW.shape[0] != 3 or dW.shape[1] != 3 or dW.shape[2] != C
            or dW.shape[3] != K):
        raise ValueError("winograd_filter_gradient: shapes do not match")
    if C * K == 0:
        return
    cdef int team = _team(S * n * n * C * K, num_threads)
    cdef Py_ssize_t es = le4nn_wino_kernel_scratch_bytes(<int>n, K, sizeof(floating))
    cdef char[:, ::1] scratch = np.empty((max(team, 1), es + 64), dtype=np.int8)
    cdef char* sp = _aligned(&scratch[0, 0])
    cdef const floating* pp = &partials[0, 0, 0, 0] if S else NULL
    cdef floating* dp = &dW[0, 0, 0, 0]
    with nogil:
        for c in prange(C, schedule="static", num_threads=team):
            if floating is float:
                le4nn_wino_filter_grad_row_f(pp, dp, S, C, K, c, <int>n, sp + threadid() * es)
            else:
                le4nn_wino_filter_grad_row_d(pp, dp, S, C, K, c, <int>n, sp + threadid() * es)
