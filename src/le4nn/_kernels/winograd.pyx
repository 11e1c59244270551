# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The data transforms of Winograd F(2×2, 3×3) and F(4×4, 3×3) for NHWC batches (see
:mod:`le4nn.ops.reference_winograd`; the F(4×4, 3×3) kernels, ``*4``, are in le4nn_winograd4.h).

- input transform: V[ξν, t, c] = (Bᵀ d_t B)[ξ, ν] for the 4×4 input patch d_t of every 2×2 output tile;
- output transform: y (2×2 per tile) = Aᵀ m_t A, plus bias and an optional ReLU;
- gradient transform: Q[ξν, t, k] = (A g_t Aᵀ)[ξ, ν] for every 2×2 tile g_t of ∂E/∂Y.

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


include "team.pxi"
include "bias.pxi"


cdef int _check_planes(str what, Py_ssize_t n16, Py_ssize_t tiles, Py_ssize_t channels, Py_ssize_t Tn,
                       Py_ssize_t C, Py_ssize_t n=16) except -1:
    """The transform planes have shape (n, Tn, C) (n = 16, or 36 for F(4×4, 3×3)); ``what`` names them."""
    if n16 != n or tiles != Tn or channels != C:
        raise ValueError(f"{what} has the wrong shape")
    return 0


def input_transform(const floating[:, :, :, ::1] x, floating[:, :, ::1] V, int pt, int pl, int TH, int TW,
                    int num_threads):
    """V (16, B·TH·TW, C) = Bᵀ d B of every tile's 4×4 patch of x (B, H, W, C)."""
    cdef Py_ssize_t B = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3]
    cdef Py_ssize_t Tn = <Py_ssize_t>B * TH * TW, r, b, ty
    cdef int team = _team(16 * Tn * C, num_threads)
    _check_planes("winograd_input_transform: V", V.shape[0], V.shape[1], V.shape[2], Tn, C)
    if Tn * C == 0:
        return
    cdef floating[::1] zeros = np.zeros(C, dtype=np.asarray(V).dtype)
    cdef const floating* xp = &x[0, 0, 0, 0]
    cdef floating* vp = &V[0, 0, 0]
    cdef floating* zp = &zeros[0]
    with nogil:
        for r in prange(B * TH, schedule="static", num_threads=team):
            b = r // TH
            ty = r - b * TH
            if floating is float:
                le4nn_wino_in_row_f(xp + b * H * W * C, zp, vp, Tn, r * TW, H, W, C, ty, TW, pt, pl)
            else:
                le4nn_wino_in_row_d(xp + b * H * W * C, zp, vp, Tn, r * TW, H, W, C, ty, TW, pt, pl)


def output_transform(const floating[:, :, :] m, bias, floating[:, :, :, ::1] y, bint relu,
                     int num_threads):
    """y (B, OH, OW, K) = Aᵀ m A per tile (+ bias, ReLU); m (16, B·TH·TW, K), each plane C-contiguous
    (the planes may lie further apart: m's first stride is passed on, hence the strided view)."""
    cdef Py_ssize_t B = y.shape[0], OH = y.shape[1], OW = y.shape[2], K = y.shape[3]
    cdef Py_ssize_t TH = (OH + 1) // 2, TW = (OW + 1) // 2, Tn = B * TH * TW, r, b, ty
    cdef Py_ssize_t plane = m.strides[0] // <Py_ssize_t>sizeof(floating)
    cdef const floating[::1] bias_view
    cdef const floating* bp = NULL
    cdef int team = _team(16 * Tn * K, num_threads)
    _check_planes("winograd_output_transform: m", m.shape[0], m.shape[1], m.shape[2], Tn, K)
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
    cdef floating[:, ::1] scratch = np.empty((max(team, 1), 4 * K), dtype=np.asarray(y).dtype)
    cdef const floating* mp = &m[0, 0, 0]
    cdef floating* yp = &y[0, 0, 0, 0]
    cdef floating* sp = &scratch[0, 0]
    with nogil:
        for r in prange(B * TH, schedule="static", num_threads=team):
            b = r // TH
            ty = r - b * TH
            if floating is float:
                le4nn_wino_out_row_f(mp, bp, yp + b * OH * OW * K, plane, r * TW, OH, OW, K, ty, TW, relu,
                                     sp + threadid() * 4 * K)
            else:
                le4nn_wino_out_row_d(mp, bp, yp + b * OH * OW * K, plane, r * TW, OH, OW, K, ty, TW, relu,
                                     sp + threadid() * 4 * K)


def gradient_transform(const floating[:, :, :, ::1] dout, floating[:, :, ::1] Q, int num_threads):
    """Q (16, B·TH·TW, K) = A g Aᵀ of every 2×2 tile g of dout (B, OH, OW, K)."""
    cdef Py_ssize_t B = dout.shape[0], OH = dout.shape[1], OW = dout.shape[2], K = dout.shape[3]
    cdef Py_ssize_t TH = (OH + 1) // 2, TW = (OW + 1) // 2, Tn = B * TH * TW, r, b, ty
    cdef int team = _team(16 * Tn * K, num_threads)
    _check_planes("winograd_gradient_transform: Q", Q.shape[0], Q.shape[1], Q.shape[2], Tn, K)
    if Tn * K == 0:
        return
    cdef floating[::1] zeros = np.zeros(K, dtype=np.asarray(Q).dtype)
    cdef const floating* gp = &dout[0, 0, 0, 0]
    cdef floating* qp = &Q[0, 0, 0]
    cdef floating* zp = &zeros[0]
    with nogil:
        for r in prange(B * TH, schedule="static", num_threads=team):
            b = r // TH
            ty = r - b * TH
            if floating is float:
                le4nn_wino_grad_row_f(gp + b * OH * OW * K, zp, qp, Tn, r * TW, OH, OW, K, ty, TW)
            else:
                le4nn_wino_grad_row_d(gp + b * OH * OW * K, zp, qp, Tn, r * TW, OH, OW, K, ty, TW)


# --- F(4×4, 3×3): 36 planes, 4×4 output tiles; per thread a scratch row E of 6 row-transformed columns ---


def input_transform4(const floating[:, :, :, ::1] x, floating[:, :, ::1] V, int pt, int pl, int TH, int TW,
                     int num_threads):
    """V (36, B·TH·TW, C) = Bᵀ d B of every tile's 6×6 patch of x (B, H, W, C)."""
    cdef Py_ssize_t B = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3]
    cdef Py_ssize_t Tn = <Py_ssize_t>B * TH * TW, r, b, ty, es = 6 * (4 * TW + 2) * C
    cdef int team = _team(36 * Tn * C, num_threads)
    _check_planes("winograd4_input_transform: V", V.shape[0], V.shape[1], V.shape[2], Tn, C, 36)
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
            if floating is float:
                le4nn_wino4_in_row_f(xp + b * H * W * C, zp, vp, Tn, r * TW, H, W, C, ty, TW, pt, pl,
                                     sp + threadid() * es)
            else:
                le4nn_wino4_in_row_d(xp + b * H * W * C, zp, vp, Tn, r * TW, H, W, C, ty, TW, pt, pl,
                                     sp + threadid() * es)


def output_transform4(const floating[:, :, :] m, bias, floating[:, :, :, ::1] y, bint relu, int num_threads):
    """y (B, OH, OW, K) = Aᵀ m A per 4×4 tile (+ bias, ReLU); m (36, B·TH·TW, K), planes as in
    :func:`output_transform`."""
    cdef Py_ssize_t B = y.shape[0], OH = y.shape[1], OW = y.shape[2], K = y.shape[3]
    cdef Py_ssize_t TH = (OH + 3) // 4, TW = (OW + 3) // 4, Tn = B * TH * TW, r, b, ty
    cdef Py_ssize_t plane = m.strides[0] // <Py_ssize_t>sizeof(floating)
    cdef const floating[::1] bias_view
    cdef const floating* bp = NULL
    cdef int team = _team(36 * Tn * K, num_threads)
    _check_planes("winograd4_output_transform: m", m.shape[0], m.shape[1], m.shape[2], Tn, K, 36)
    if Tn * K and ((K > 1 and m.strides[2] != <Py_ssize_t>sizeof(floating))
                   or (Tn > 1 and m.strides[1] != K * <Py_ssize_t>sizeof(floating))
                   or plane < Tn * K or m.strides[0] % <Py_ssize_t>sizeof(floating)):
        raise ValueError("winograd4_output_transform: m's planes must each be C-contiguous, apart by "
                         "at least their size")
    if bias is not None:
        bias_view = bias
        bp = _bias_data(bias_view, K, "winograd4_output_transform")
    if Tn * K == 0:
        return
    cdef floating[:, ::1] scratch = np.empty((max(team, 1), K), dtype=np.asarray(y).dtype)
    cdef const floating* mp = &m[0, 0, 0]
    cdef floating* yp = &y[0, 0, 0, 0]
    cdef floating* sp = &scratch[0, 0]
    with nogil:
        for r in prange(B * TH, schedule="static", num_threads=team):
            b = r // TH
            ty = r - b * TH
            if floating is float:
                le4nn_wino4_out_row_f(mp, bp, yp + b * OH * OW * K, plane, r * TW, OH, OW, K, ty, TW, relu,
                                      sp + threadid() * K)
            else:
                le4nn_wino4_out_row_d(mp, bp, yp + b * OH * OW * K, plane, r * TW, OH, OW, K, ty, TW, relu,
                                      sp + threadid() * K)


def gradient_transform4(const floating[:, :, :, ::1] dout, floating[:, :, ::1] Q, int num_threads):
    """Q (36, B·TH·TW, K) = A g Aᵀ of every 4×4 tile g of dout (B, OH, OW, K)."""
    cdef Py_ssize_t B = dout.shape[0], OH = dout.shape[1], OW = dout.shape[2], K = dout.shape[3]
    cdef Py_ssize_t TH = (OH + 3) // 4, TW = (OW + 3) // 4, Tn = B * TH * TW, r, b, ty, es = 6 * 4 * TW * K
    cdef int team = _team(36 * Tn * K, num_threads)
    _check_planes("winograd4_gradient_transform: Q", Q.shape[0], Q.shape[1], Q.shape[2], Tn, K, 36)
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
            if floating is float:
                le4nn_wino4_grad_row_f(gp + b * OH * OW * K, zp, qp, Tn, r * TW, OH, OW, K, ty, TW,
                                       sp + threadid() * es)
            else:
                le4nn_wino4_grad_row_d(gp + b * OH * OW * K, zp, qp, Tn, r * TW, OH, OW, K, ty, TW,
                                       sp + threadid() * es)
