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

Within a segment, at stride 1 an output row is a contiguous copy of an input row with zeros for the
padding; when additionally OW == W ("same" padding) a whole segment is one shifted contiguous copy
of the plane, after which the few entries that wrapped around a row edge are overwritten with zeros.
Column matrices of 16 MB or more (the CNN's is 90 MB) cannot stay in the cache anyway: there each
segment is built in a per-thread scratch segment (L1) and copied out with non-temporal stores, which
skips the read-for-ownership of the cold destination lines (≈ 1.5× faster).  col2im visits the
offsets in the reference's order, so its sums are bitwise those of the reference.
"""

from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.string cimport memcpy, memset

import numpy as np

cdef extern from "le4nn_im2col.h":
    void le4nn_stream_copy(char* dst, const char* src, Py_ssize_t nbytes) noexcept nogil
    void le4nn_store_fence() noexcept nogil
    void le4nn_gather_s2_f(float* dst, const float* src, Py_ssize_t n) noexcept nogil
    void le4nn_gather_s2_d(double* dst, const double* src, Py_ssize_t n) noexcept nogil
    void le4nn_scatter_add_s2_f(float* dst, const float* src, Py_ssize_t n) noexcept nogil
    void le4nn_scatter_add_s2_d(double* dst, const double* src, Py_ssize_t n) noexcept nogil


cdef inline void _gather_s2(floating* dst, const floating* src, Py_ssize_t n) noexcept nogil:
    if floating is float:
        le4nn_gather_s2_f(dst, src, n)
    else:
        le4nn_gather_s2_d(dst, src, n)


cdef inline void _scatter_add_s2(floating* dst, const floating* src, Py_ssize_t n) noexcept nogil:
    if floating is float:
        le4nn_scatter_add_s2_f(dst, src, n)
    else:
        le4nn_scatter_add_s2_d(dst, src, n)

# Column matrices at least this large are written with streaming stores (they cannot stay in the
# cache anyway); smaller ones are written normally so that the GEMM that follows finds them cached.
cdef Py_ssize_t STREAM_MIN_BYTES = 16 * 1024 * 1024
# ... unless the segments are short (planes of 8×8 outputs): then the per-segment staging and fence
# cost more than the streaming saves.
cdef Py_ssize_t STREAM_MIN_SEGMENT = 256


include "windows.pxi"


cdef void _im2col_segment(const floating* xp, floating* dst, Py_ssize_t H, Py_ssize_t W,
                          Py_ssize_t i, Py_ssize_t j, Py_ssize_t sh, Py_ssize_t sw,
                          Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t OH, Py_ssize_t OW) noexcept nogil:
    """The L = OH·OW entries of window offset (i, j) for one input plane; padding reads 0."""
    cdef Py_ssize_t oh_lo = _first_inside(pt, i, sh, OH)
    cdef Py_ssize_t oh_hi = _first_beyond(H, pt, i, sh, oh_lo, OH)
    cdef Py_ssize_t ow_lo = _first_inside(pl, j, sw, OW)
    cdef Py_ssize_t ow_hi = _first_beyond(W, pl, j, sw, ow_lo, OW)
    cdef Py_ssize_t oh, ow, t, start, end, n = ow_hi - ow_lo
    cdef floating* row
    cdef const floating* src
    cdef size_t item = sizeof(floating)
    if oh_lo == oh_hi or n == 0:  # the window offset only ever reads padding
        memset(dst, 0, OH * OW * item)
        return
    memset(dst, 0, oh_lo * OW * item)  # output rows above the input
    if sh == 1 and sw == 1 and OW == W:
        # Rows are consecutive in both the plane and the segment: one shifted copy, then zero the
        # border columns (they received the wrapped-around neighbouring row's elements).
        start = oh_lo * OW + ow_lo
        end = (oh_hi - 1) * OW + ow_hi
        memcpy(dst + start, xp + ((oh_lo - pt + i) * W + ow_lo - pl + j), (end - start) * item)
        if n != OW:
            for oh in range(oh_lo, oh_hi):
                row = dst + oh * OW
                for ow in range(ow_lo):
                    row[ow] = 0
                for ow in range(ow_hi, OW):
                    row[ow] = 0
    else:
        for oh in range(oh_lo, oh_hi):
            row = dst + oh * OW
            src = xp + ((oh * sh - pt + i) * W + ow_lo * sw - pl + j)
            for ow in range(ow_lo):
                row[ow] = 0
            if sw == 1:
                memcpy(row + ow_lo, src, n * item)
            elif sw == 2:
                _gather_s2(row + ow_lo, src, n)
            else:
                for t in range(n):
                    row[ow_lo + t] = src[t * sw]
            for ow in range(ow_hi, OW):
                row[ow] = 0
    memset(dst + oh_hi * OW, 0, (OH - oh_hi) * OW * item)  # output rows below the input


cdef void _im2col_plane(const floating* xp, floating* dst0, Py_ssize_t ld, floating* scratch,
                        Py_ssize_t H, Py_ssize_t W, Py_ssize_t kh, Py_ssize_t kw,
                        Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t pt, Py_ssize_t pl,
                        Py_ssize_t OH, Py_ssize_t OW) noexcept nogil:
    """Write the kh·kw segments (``ld`` apart) of one input plane.  With a ``scratch`` segment,
    each segment is built there (it stays in L1) and then streamed out whole."""
    cdef Py_ssize_t i, j, L = OH * OW
    cdef floating* dst
    for i in range(kh):
        for j in range(kw):
            dst = dst0 + (i * kw + j) * ld
            if scratch == NULL:
                _im2col_segment(xp, dst, H, W, i, j, sh, sw, pt, pl, OH, OW)
            else:
                _im2col_segment(xp, scratch, H, W, i, j, sh, sw, pt, pl, OH, OW)
                le4nn_stream_copy(<char*>dst, <const char*>scratch, L * <Py_ssize_t>sizeof(floating))
    if scratch != NULL:
        le4nn_store_fence()


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
                elif sw == 2:
                    _scatter_add_s2(row, src, n)
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
    if C * K * ld * <Py_ssize_t>sizeof(floating) >= STREAM_MIN_BYTES and L >= STREAM_MIN_SEGMENT:
        # One segment of scratch per thread, indexed by the OpenMP thread number.
        scratch = np.empty((max(num_threads, 1), L), dtype=np.float32 if floating is float else np.float64)
        sp = &scratch[0, 0]
    with nogil:
        # Plane order c-major (b fastest): consecutive planes continue the same kh·kw rows of
        # cols, so each thread writes kh·kw long sequential streams.
        for p in prange(B * C, schedule="static", num_threads=num_threads):
            c = p // B
            b = p - c * B
            _im2col_plane(xp + (b * C + c) * H * W, cp + c * K * ld + b * L, ld,
                          sp + threadid() * L if sp != NULL else NULL,
                          H, W, kh, kw, sh, sw, pt, pl, OH, OW)


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
    with nogil:
        # c-major plane order: each thread reads kh·kw long sequential streams of cols.
        for p in prange(B * C, schedule="static", num_threads=num_threads):
            c = p // B
            b = p - c * B
            _col2im_plane(cp + c * K * ld + b * L, xp + (b * C + c) * H * W, ld,
                          H, W, kh, kw, sh, sw, pt, pl, OH, OW)
