# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Channels-last (NHWC) im2col / col2im (handout eq. 59 and its adjoint, eq. 62).

Semantics are those of :mod:`le4nn.ops.reference`; the wrappers in :mod:`le4nn.ops.native`
validate every argument.  Keras's layout (B, H, W, C) keeps the C channels of a pixel contiguous,
so every inner loop here runs over channels (or filters): a unit-stride loop that GCC vectorizes.
Arrays too small to pay for an OpenMP team run on the calling thread (team.pxi).

- im2col_nhwc: one row of the column matrix per output pixel; for each window row i the kw·C
  inputs are one contiguous run of the input row, copied at once (zeros for padding).  Each thread
  gets whole output rows (b, oh).
- col2im_nhwc: each input row (b, h) is one task; each of its pixels gathers its <= kh·kw
  contributions (C-long runs) in registers, window offsets (i, j) in row-major order from 0 as the
  reference, so the sums are bitwise the reference's for any thread count, and is written once
  (le4nn_nhwc_im2col.h's C loops, compiled for x86-64-v3 and the baseline).
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.string cimport memcpy

cdef extern from "le4nn_nhwc_im2col.h":
    int LE4NN_COL2IM_MAX_SIDE
    void LE4NN_PREFETCH_RUN(const void* p, Py_ssize_t nbytes) noexcept nogil  # a hint (a macro)
    void le4nn_col2im_gather_row_f(const float* cb, float* xr, Py_ssize_t W, Py_ssize_t C, int kh,
                                   int kw, int sh, int sw, int pt, int pl, Py_ssize_t h, Py_ssize_t OH,
                                   Py_ssize_t OW) noexcept nogil
    void le4nn_col2im_gather_row_d(const double* cb, double* xr, Py_ssize_t W, Py_ssize_t C, int kh,
                                   int kw, int sh, int sw, int pt, int pl, Py_ssize_t h, Py_ssize_t OH,
                                   Py_ssize_t OW) noexcept nogil
    void le4nn_col2im_scatter_row_f(const float* cb, float* xr, Py_ssize_t W, Py_ssize_t C, int kh,
                                    int kw, int sh, int sw, int pt, int pl, Py_ssize_t h, Py_ssize_t OH,
                                    Py_ssize_t OW) noexcept nogil
    void le4nn_col2im_scatter_row_d(const double* cb, double* xr, Py_ssize_t W, Py_ssize_t C, int kh,
                                    int kw, int sh, int sw, int pt, int pl, Py_ssize_t h, Py_ssize_t OH,
                                    Py_ssize_t OW) noexcept nogil


include "team.pxi"
include "copy.pxi"


cdef void _im2col_row(const floating* xb, floating* dst, Py_ssize_t H, Py_ssize_t W, Py_ssize_t C,
                      int kh, int kw, int sh, int sw, int pt, int pl, Py_ssize_t oh,
                      Py_ssize_t OW) noexcept nogil:
    """The OW rows of the column matrix for output row oh of one image (xb: its H·W·C inputs)."""
    cdef Py_ssize_t ow, h, w0, w, K = kh * kw * C, run = kw * C
    cdef int i, j
    cdef floating* d
    for ow in range(OW):
        w0 = ow * sw - pl
        for i in range(kh):
            d = dst + ow * K + i * run
            h = oh * sh - pt + i
            if h < 0 or h >= H:
                _zero(d, run)
            elif w0 >= 0 and w0 + kw <= W:
                _copy(d, xb + (h * W + w0) * C, run)  # the window row is one contiguous run
            else:
                for j in range(kw):
                    w = w0 + j
                    if w < 0 or w >= W:
                        _zero(d + j * C, C)
                    else:
                        _copy(d + j * C, xb + (h * W + w) * C, C)


cdef void _pointwise_row(const floating* xr, floating* dst, Py_ssize_t C, int sw, Py_ssize_t OW,
                         const floating* nxt, Py_ssize_t nxt_bytes) noexcept nogil:
    """A 1×1 window that reads no padding: the OW rows of the column matrix for one output row are
    the C-long pixels of input row xr at column stride sw.  The input row of the thread's next
    output row (sh rows further, often a new page) is prefetched first: without it every row
    started with a run of cache misses (the kernel was slower than NumPy's strided copy)."""
    cdef Py_ssize_t ow
    if nxt != NULL:
        LE4NN_PREFETCH_RUN(nxt, nxt_bytes)
    for ow in range(OW):
        _copy(dst + ow * C, xr + ow * sw * C, C)


def im2col_nhwc(const floating[:, :, :, ::1] x, floating[:, ::1] cols, int kh, int kw, int sh, int sw,
                int pt, int pl, int OH, int OW, int num_threads):
    """Fill ``cols`` (B·OH·OW, kh·kw·C) with the windows of ``x`` (B, H, W, C); padding reads 0."""
    cdef Py_ssize_t B = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3]
    cdef Py_ssize_t K = <Py_ssize_t>kh * kw * C, r, b, oh
    cdef int team = _team(cols.shape[0] * K, num_threads)
    if cols.shape[0] != B * OH * OW or cols.shape[1] != K:
        raise ValueError("im2col_nhwc: cols has the wrong shape")
    if cols.shape[0] == 0 or K == 0:
        return
    cdef const floating* xp = &x[0, 0, 0, 0]
    cdef floating* cp = &cols[0, 0]
    cdef bint pointwise = (kh == 1 and kw == 1 and pt == 0 and pl == 0 and (OH - 1) * sh < H
                           and (OW - 1) * sw < W)
    cdef Py_ssize_t row_bytes = ((OW - 1) * sw + 1) * C * <Py_ssize_t>sizeof(floating), b1, oh1
    if pointwise:
        with nogil:
            for r in prange(B * OH, schedule="static", num_threads=team):
                b = r // OH
                oh = r - b * OH
                b1 = (r + 1) // OH
                oh1 = r + 1 - b1 * OH
                _pointwise_row(xp + (b * H + oh * sh) * W * C, cp + r * OW * K, C, sw, OW,
                               xp + (b1 * H + oh1 * sh) * W * C if r + 1 < B * OH else NULL, row_bytes)
        return
    with nogil:
        for r in prange(B * OH, schedule="static", num_threads=team):
            b = r // OH
            oh = r - b * OH
            _im2col_row(xp + b * H * W * C, cp + r * OW * K, H, W, C, kh, kw, sh, sw, pt, pl, oh, OW)


cdef inline void _col2im_row(const floating* cb, floating* xr, Py_ssize_t W, Py_ssize_t C, int kh, int kw,
                             int sh, int sw, int pt, int pl, Py_ssize_t h, Py_ssize_t OH,
                             Py_ssize_t OW) noexcept nogil:
    """Input row h of one image (xr: W·C) as the sum of its window contributions (cb: the image's
    rows of the column matrix), offsets (i, j) in row-major order as the reference: a gather per
    pixel where windows overlap (le4nn_nhwc_im2col.h), else (no overlap, e.g. 1×1 at stride 2: a
    sequential pass) or for windows beyond LE4NN_COL2IM_MAX_SIDE the scatter."""
    if (kh > sh or kw > sw) and kh <= LE4NN_COL2IM_MAX_SIDE and kw <= LE4NN_COL2IM_MAX_SIDE:
        if floating is float:
            le4nn_col2im_gather_row_f(cb, xr, W, C, kh, kw, sh, sw, pt, pl, h, OH, OW)
        else:
            le4nn_col2im_gather_row_d(cb, xr, W, C, kh, kw, sh, sw, pt, pl, h, OH, OW)
    elif floating is float:
        le4nn_col2im_scatter_row_f(cb, xr, W, C, kh, kw, sh, sw, pt, pl, h, OH, OW)
    else:
        le4nn_col2im_scatter_row_d(cb, xr, W, C, kh, kw, sh, sw, pt, pl, h, OH, OW)


def col2im_nhwc(const floating[:, ::1] cols, floating[:, :, :, ::1] x, int kh, int kw, int sh, int sw,
                int pt, int pl, int OH, int OW, int num_threads):
    """Overwrite ``x`` (B, H, W, C) with the scatter-add of ``cols`` (B·OH·OW, kh·kw·C)."""
    cdef Py_ssize_t B = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3]
    cdef Py_ssize_t K = <Py_ssize_t>kh * kw * C, r, b, h
    cdef int team = _team(cols.shape[0] * K, num_threads)
    if cols.shape[0] != B * OH * OW or cols.shape[1] != K:
        raise ValueError("col2im_nhwc: cols has the wrong shape")
    if B * H * W * C == 0:
        return
    cdef const floating* cp = &cols[0, 0] if cols.shape[0] * K else NULL
    cdef floating* xp = &x[0, 0, 0, 0]
    with nogil:
        for r in prange(B * H, schedule="static", num_threads=team):
            b = r // H
            h = r - b * H
            _col2im_row(cp + b * OH * OW * K, xp + r * W * C, W, C, kh, kw, sh, sw, pt, pl, h, OH, OW)
