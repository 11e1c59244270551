# cython: language_level=3
"""im2col / col2im for NCHW batches (handout 5.7.5, eq. 59–62).

Semantics are those of :func:`le4nn.ops.reference.im2col` / ``col2im``: the column matrix has shape
(C·kh·kw, B·L) with L = OH·OW, row ``c·kh·kw + i·kw + j`` (channel c, window offset (i, j)) and column
``b·L + oh·OW + ow``.  Call these through :mod:`le4nn.ops`; the wrappers validate every argument.

Memory-access strategy: for one input plane (b, c) and one window offset (i, j), the L entries
``cols[c·kh·kw + i·kw + j, b·L : (b+1)·L]`` are one contiguous segment of the output.  So each
(b, c) plane is independent work: its H·W input stays in L1 while its kh·kw segments are streamed
out (im2col) or streamed in and accumulated into the plane (col2im).  OpenMP splits the B·C planes
statically across threads, c-major (b fastest), so that consecutive planes continue the same kh·kw
rows of ``cols`` and each thread reads or writes kh·kw long sequential streams that the hardware
prefetcher follows.  No output is written by two threads, so results do not depend on the thread
count.

im2col's planes are le4nn_im2col.h's C loops, every loop inline: a ResNet's
planes are small (8×8 outputs), so a call or a division per row or segment would cost more than the
data.  Where each window offset reads the input is computed once per call (``_bounds``), and each
plane prefetches the next one of its thread (C·H·W further on: a new page the hardware prefetcher
does not anticipate).  Within a segment, at stride 1 an output row is a contiguous copy of an input
row with zeros for the padding; when additionally OW == W ("same" padding) a whole segment is one
shifted contiguous copy of the plane, after which the few entries that wrapped around a row edge are
overwritten with zeros.  At strides up to 2 (3×3 stride 2 and the like), the plane is first split
into its sh·sw phase planes x[ph::sh, pw::sw] (on the stack), on which every window offset is a
stride-1 window again, with the same contiguous copies.  Larger strides and planes use strided
loops.  1×1 windows that read no padding (a ResNet's stride-2 projections) subsample the plane row by
row (vector shuffles at column stride 2), the thread's next plane prefetched, both ways.  col2im at
strides up to 2 adds its segments into the phase planes (contiguous runs), then writes each input
row once, interleaved from its phase rows (the strided read-modify-write on the plane itself cost one
scalar step per element); the thread's next plane and segments are prefetched.  At stride 1, planes
of up to 64 elements are summed the same way on the stack; larger ones stay Cython loops over each
plane's segments (they measured faster than the C version there).
Column matrices of 16 MB or more (the CNN's is 90 MB) cannot stay in the cache anyway: there each
segment is built in a per-thread scratch segment (L1) and copied out with non-temporal stores, which
skips the read-for-ownership of the cold destination lines (≈ 1.5× faster).  col2im visits the
offsets in the reference's order, so its sums are bitwise those of the reference.
"""

from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

import numpy as np

cdef extern from "le4nn_im2col.h":
    void le4nn_stream_copy(char* dst, const char* src, Py_ssize_t nbytes) noexcept nogil
    void le4nn_store_fence() noexcept nogil
    void le4nn_im2col_plane_f(const float* xp, float* dst0, Py_ssize_t ld, const float* nxt, float* scratch,
                              Py_ssize_t H,
                              Py_ssize_t W,
                              int kh, int kw, int sh, int sw, int pt, int pl, Py_ssize_t OH,
                              Py_ssize_t OW, const Py_ssize_t* bnd) noexcept nogil
    void le4nn_im2col_plane_d(const double* xp, double* dst0, Py_ssize_t ld, const double* nxt,
                              double* scratch,
                              Py_ssize_t H, Py_ssize_t W, int kh, int kw, int sh, int sw, int pt, int pl,
                              Py_ssize_t OH, Py_ssize_t OW, const Py_ssize_t* bnd) noexcept nogil
    bint LE4NN_PHASED(Py_ssize_t H, Py_ssize_t W, int kh, int kw, int sh, int sw) noexcept nogil
    void le4nn_col2im_phased_f(const float* src0, float* xp, Py_ssize_t ld, Py_ssize_t H, Py_ssize_t W,
                               int kh, int kw, int sh, int sw, int pt, int pl, Py_ssize_t OH, Py_ssize_t OW,
                               const Py_ssize_t* bnd, float* nxt) noexcept nogil
    void le4nn_col2im_phased_d(const double* src0, double* xp, Py_ssize_t ld, Py_ssize_t H, Py_ssize_t W,
                               int kh, int kw, int sh, int sw, int pt, int pl, Py_ssize_t OH, Py_ssize_t OW,
                               const Py_ssize_t* bnd, double* nxt) noexcept nogil
    void le4nn_pointwise_im2col_f(const float* xp, float* dst, Py_ssize_t W, int sh, int sw, Py_ssize_t OH,
                                  Py_ssize_t OW, const float* nxt) noexcept nogil
    void le4nn_pointwise_im2col_d(const double* xp, double* dst, Py_ssize_t W, int sh, int sw, Py_ssize_t OH,
                                  Py_ssize_t OW, const double* nxt) noexcept nogil
    void le4nn_pointwise_col2im_f(const float* seg, float* xp, Py_ssize_t H, Py_ssize_t W, int sh, int sw,
                                  Py_ssize_t OH, Py_ssize_t OW, float* nxt) noexcept nogil
    void le4nn_pointwise_col2im_d(const double* seg, double* xp, Py_ssize_t H, Py_ssize_t W, int sh, int sw,
                                  Py_ssize_t OH, Py_ssize_t OW, double* nxt) noexcept nogil

# Column matrices at least this large are written with streaming stores (they cannot stay in the
# cache anyway); smaller ones are written normally so that the GEMM that follows finds them cached.
cdef Py_ssize_t STREAM_MIN_BYTES = 16 * 1024 * 1024
# ... unless the segments are short (planes of 8×8 outputs): then the per-segment staging and fence
# cost more than the streaming saves.
cdef Py_ssize_t STREAM_MIN_SEGMENT = 256
# col2im at stride 1 sums planes of up to this many elements on the stack (le4nn_im2col.h) instead of
# the plain loops: on a ResNet's 8×8 planes the loops' per-row overhead was most of the time (2.6 →
# 2.1 ms on 128×64×8×8); on 16×16 and 32×32 planes the plain loops measured faster (3.0 vs 3.7–4.7 ms,
# 5.4 vs 16.9 ms, side by side in alternating processes).
cdef Py_ssize_t COL2IM_BUFFERED_MAX = 64


include "windows.pxi"


cdef void _bounds(Py_ssize_t* bnd, Py_ssize_t H, Py_ssize_t W, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh,
                  Py_ssize_t sw, Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t OH, Py_ssize_t OW) noexcept nogil:
    """Where each window offset reads the input, computed once per call (not per plane: the
    divisions cost as much as copying a small plane's segment), into bnd (2·(kh + kw)): entries
    2i, 2i + 1 hold (oh_lo, oh_hi), the output rows of offset row i inside the input; entries
    2(kh + j), 2(kh + j) + 1 hold (ow_lo, ow_hi) for offset column j."""
    cdef Py_ssize_t i, j
    for i in range(kh):
        bnd[2 * i] = _first_inside(pt, i, sh, OH)
        bnd[2 * i + 1] = _first_beyond(H, pt, i, sh, bnd[2 * i], OH)
    for j in range(kw):
        bnd[2 * (kh + j)] = _first_inside(pl, j, sw, OW)
        bnd[2 * (kh + j) + 1] = _first_beyond(W, pl, j, sw, bnd[2 * (kh + j)], OW)


cdef inline void _im2col_plane(const floating* xp, floating* dst0, Py_ssize_t ld, const floating* nxt,
                               floating* scratch,
                               Py_ssize_t H, Py_ssize_t W, int kh, int kw, int sh, int sw, int pt,
                               int pl, Py_ssize_t OH, Py_ssize_t OW, const Py_ssize_t* bnd) noexcept nogil:
    """Write the kh·kw segments (``ld`` apart) of one input plane (le4nn_im2col.h).  With a
    ``scratch`` segment, each segment is built there (it stays in L1) and then streamed out whole."""
    if floating is float:
        le4nn_im2col_plane_f(xp, dst0, ld, nxt, scratch, H, W, kh, kw, sh, sw, pt, pl, OH, OW, bnd)
    else:
        le4nn_im2col_plane_d(xp, dst0, ld, nxt, scratch, H, W, kh, kw, sh, sw, pt, pl, OH, OW, bnd)


cdef inline bint _pointwise_inside(Py_ssize_t H, Py_ssize_t W, int kh, int kw, int sh, int sw, int pt, int pl,
                                   Py_ssize_t OH, Py_ssize_t OW) noexcept nogil:
    """A 1×1 window that reads no padding (a ResNet's projections): the plane subsampled."""
    return kh == 1 and kw == 1 and pt == 0 and pl == 0 and (OH - 1) * sh < H and (OW - 1) * sw < W


cdef inline void _pointwise_im2col_plane(const floating* xp, floating* dst, Py_ssize_t W, int sh, int sw,
                                         Py_ssize_t OH, Py_ssize_t OW, const floating* nxt) noexcept nogil:
    if floating is float:
        le4nn_pointwise_im2col_f(xp, dst, W, sh, sw, OH, OW, nxt)
    else:
        le4nn_pointwise_im2col_d(xp, dst, W, sh, sw, OH, OW, nxt)


cdef inline void _pointwise_col2im_plane(const floating* seg, floating* xp, Py_ssize_t H, Py_ssize_t W,
                                         int sh, int sw, Py_ssize_t OH, Py_ssize_t OW, floating* nxt) noexcept nogil:
    if floating is float:
        le4nn_pointwise_col2im_f(seg, xp, H, W, sh, sw, OH, OW, nxt)
    else:
        le4nn_pointwise_col2im_d(seg, xp, H, W, sh, sw, OH, OW, nxt)


cdef inline void _col2im_phased_plane(const floating* src0, floating* xp, Py_ssize_t ld, Py_ssize_t H,
                                      Py_ssize_t W, int kh, int kw, int sh, int sw, int pt, int pl,
                                      Py_ssize_t OH, Py_ssize_t OW, const Py_ssize_t* bnd,
                                      floating* nxt) noexcept nogil:
    """Strides up to 2 (LE4NN_PHASED): sums on the phase planes, then one interleaved write
    (le4nn_im2col.h), bitwise the plain loops' and the reference's sums."""
    if floating is float:
        le4nn_col2im_phased_f(src0, xp, ld, H, W, kh, kw, sh, sw, pt, pl, OH, OW, bnd, nxt)
    else:
        le4nn_col2im_phased_d(src0, xp, ld, H, W, kh, kw, sh, sw, pt, pl, OH, OW, bnd, nxt)


cdef void _col2im_plane(const floating* src0, floating* xp, Py_ssize_t ld,
                        Py_ssize_t H, Py_ssize_t W, Py_ssize_t kh, Py_ssize_t kw,
                        Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t pt, Py_ssize_t pl,
                        Py_ssize_t OH, Py_ssize_t OW) noexcept nogil:
    """Overwrite one plane with the sum of its kh·kw segments (entries on the padding are dropped).

    The offsets (i, j) are visited in the reference's order, so each element is summed in the same
    order as there (exact equality with the reference, not only up to rounding).
    """
    cdef Py_ssize_t i, j, oh, t, n, oh_lo, oh_hi, ow_lo, ow_hi
    cdef const floating* seg
    cdef const floating* src
    cdef floating* row
    memset(xp, 0, H * W * sizeof(floating))
    for i in range(kh):
        oh_lo = _first_inside(pt, i, sh, OH)
        oh_hi = _first_beyond(H, pt, i, sh, oh_lo, OH)
        for j in range(kw):
            ow_lo = _first_inside(pl, j, sw, OW)
            ow_hi = _first_beyond(W, pl, j, sw, ow_lo, OW)
            n = ow_hi - ow_lo
            seg = src0 + (i * kw + j) * ld
            for oh in range(oh_lo, oh_hi):
                src = seg + oh * OW + ow_lo
                row = xp + ((oh * sh - pt + i) * W + ow_lo * sw - pl + j)
                if sw == 1:
                    for t in range(n):
                        row[t] += src[t]
                else:
                    for t in range(n):
                        row[t * sw] += src[t]


def im2col(const floating[:, :, :, ::1] x, floating[:, ::1] cols, int kh, int kw, int sh, int sw,
           int pt, int pl, int OH, int OW, int num_threads):
    """Fill ``cols`` (C·kh·kw, B·OH·OW) with the windows of ``x`` (B, C, H, W); padding reads 0."""
    cdef Py_ssize_t B = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t L = <Py_ssize_t>OH * OW, ld = cols.shape[1], K = <Py_ssize_t>kh * kw
    cdef Py_ssize_t p, b, c
    cdef const floating* xp = &x[0, 0, 0, 0]
    cdef floating* cp = &cols[0, 0]
    cdef floating[:, ::1] scratch
    cdef floating* sp = NULL
    if cols.shape[0] != C * K or ld != B * L:
        raise ValueError("im2col: cols has the wrong shape")
    cdef Py_ssize_t* bp
    if C * K * ld * <Py_ssize_t>sizeof(floating) >= STREAM_MIN_BYTES and L >= STREAM_MIN_SEGMENT:
        # One segment of scratch per thread, indexed by the OpenMP thread number.
        scratch = np.empty((max(num_threads, 1), L), dtype=np.float32 if floating is float else np.float64)
        sp = &scratch[0, 0]
    bp = <Py_ssize_t*>malloc(2 * (kh + kw) * sizeof(Py_ssize_t))  # freed below: no Python call between
    if bp == NULL:
        raise MemoryError()
    _bounds(bp, H, W, kh, kw, sh, sw, pt, pl, OH, OW)
    cdef bint pointwise = _pointwise_inside(H, W, kh, kw, sh, sw, pt, pl, OH, OW)
    with nogil:
        # Plane order c-major (b fastest): consecutive planes continue the same kh·kw rows of
        # cols, so each thread writes kh·kw long sequential streams.
        for p in prange(B * C, schedule="static", num_threads=num_threads):
            c = p // B
            b = p - c * B
            if pointwise:
                _pointwise_im2col_plane(xp + (b * C + c) * H * W, cp + c * ld + b * L, W, sh, sw, OH, OW,
                                        xp + (b + 1) * C * H * W + c * H * W if b + 1 < B else NULL)
            else:
                _im2col_plane(xp + (b * C + c) * H * W, cp + c * K * ld + b * L, ld,
                              xp + (b + 1) * C * H * W + c * H * W if b + 1 < B else NULL,
                              sp + threadid() * L if sp != NULL else NULL,
                              H, W, kh, kw, sh, sw, pt, pl, OH, OW, bp)
    free(bp)


def col2im(const floating[:, ::1] cols, floating[:, :, :, ::1] x, int kh, int kw, int sh, int sw,
           int pt, int pl, int OH, int OW, int num_threads):
    """Overwrite ``x`` (B, C, H, W) with the scatter-add of ``cols`` (C·kh·kw, B·OH·OW)."""
    cdef Py_ssize_t B = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t L = <Py_ssize_t>OH * OW, ld = cols.shape[1], K = <Py_ssize_t>kh * kw
    cdef Py_ssize_t p, b, c
    cdef const floating* cp = &cols[0, 0]
    cdef floating* xp = &x[0, 0, 0, 0]
    if cols.shape[0] != C * K or ld != B * L:
        raise ValueError("col2im: cols has the wrong shape")
    cdef bint pointwise = _pointwise_inside(H, W, kh, kw, sh, sw, pt, pl, OH, OW)
    # Strides up to 2, and small planes at stride 1: sums on a copy of the plane on the stack.
    cdef bint phased = LE4NN_PHASED(H, W, kh, kw, sh, sw) or (sh == 1 and sw == 1 and H * W <= COL2IM_BUFFERED_MAX)
    cdef floating* nxt
    cdef Py_ssize_t* bp = <Py_ssize_t*>malloc(2 * (kh + kw) * sizeof(Py_ssize_t))  # freed below
    if bp == NULL:
        raise MemoryError()
    _bounds(bp, H, W, kh, kw, sh, sw, pt, pl, OH, OW)
    with nogil:
        # c-major plane order: each thread reads kh·kw long sequential streams of cols.
        for p in prange(B * C, schedule="static", num_threads=num_threads):
            c = p // B
            b = p - c * B
            nxt = xp + (b + 1) * C * H * W + c * H * W if b + 1 < B else NULL
            if pointwise:
                _pointwise_col2im_plane(cp + c * ld + b * L, xp + (b * C + c) * H * W, H, W, sh, sw, OH, OW, nxt)
            elif phased:
                _col2im_phased_plane(cp + c * K * ld + b * L, xp + (b * C + c) * H * W, ld,
                                     H, W, kh, kw, sh, sw, pt, pl, OH, OW, bp, nxt)
            else:
                _col2im_plane(cp + c * K * ld + b * L, xp + (b * C + c) * H * W, ld,
                              H, W, kh, kw, sh, sw, pt, pl, OH, OW)
    free(bp)
