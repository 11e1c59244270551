# cython: language_level=3
"""Max and average pooling over NCHW batches (handout eq. 63–64 for max pooling).

Semantics are those of :mod:`le4nn.ops.reference` (the wrappers in :mod:`le4nn.ops.native` validate
the arguments): ``argmax`` is the int32 flat index h·W + w of the winner in its input plane; ties go
to the first maximum in row-major window order, the first NaN of a window wins, and padding never
wins (a window whose real elements are all −inf gives its first real element).  Results equal the
reference's bitwise, for any thread count.

Memory-access strategy.  Every (b, c) plane is independent work, split statically over OpenMP
threads; no output is written by two threads.

- 2×2 stride-2 unpadded pooling (the common case) has branch-free fast paths, explicit SSE2 (the
  x86-64 baseline) with a scalar fallback: the forward reads each input once and keeps the running
  max/argmax in registers, updated with compare masks and blends instead of branches (a branchy
  version mispredicts about half its comparisons on random data); the backward writes every element
  of dx exactly once, 0 or the gradient, so no memset and no scatter.  A ragged row end is done as
  one more vector block that overlaps the previous one, not as a scalar tail.
- float32 planes whose output rows are 4 wide (8×8 inputs) or a multiple of 8 take 8-wide vector
  steps (le4nn_pool_planes.h, x86-64-v3 clone and baseline) over groups of planes of about 256
  outputs (the rows of 4 of two output rows, possibly of two planes, share a step), with the same
  step rule and the same per-group fallback of the backward; the backward's range check runs per group.
- Any other geometry (overlapping windows, padding, odd strides) works one output row at a time:
  for each real window offset (i, j), in row-major order, one sweep over the output row updates the
  running max/argmax (or sum) kept in the output row itself (in L1).  The sweeps are unit- or
  constant-stride loops that GCC vectorizes, and the per-offset output ranges are computed once
  per call, so no index arithmetic but additions is left in them.
- Max-pool backward first checks every index against the plane (one flat pass) and raises before
  writing anything.  The direct-write path notices indices outside their 2×2 block (an argmax from
  another geometry) and redoes that plane with the general scatter-add, which sums float32
  gradients in float64 like the reference's ``np.bincount``.
"""

from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.math cimport INFINITY
from libc.string cimport memset

import numpy as np


include "windows.pxi"


cdef inline bint _is_2x2(int kh, int kw, int sh, int sw, int pt, int pl,
                         Py_ssize_t H, Py_ssize_t W, Py_ssize_t OH, Py_ssize_t OW) noexcept nogil:
    """2×2 windows at stride 2 that never touch the padding."""
    return (kh == 2 and kw == 2 and sh == 2 and sw == 2 and pt == 0 and pl == 0
            and 2 * OH <= H and 2 * OW <= W)


cdef inline bint _same4(const Py_ssize_t* a, const Py_ssize_t* b) noexcept:
    return a[0] == b[0] and a[1] == b[1] and a[2] == b[2] and a[3] == b[3]


cdef object _ranges(Py_ssize_t size, Py_ssize_t pad, Py_ssize_t k, Py_ssize_t stride,
                    Py_ssize_t n_out):
    """For each window offset t < k: the outputs [lo, hi) whose element at offset t is real (not
    padding), as an array [lo_0, hi_0, lo_1, hi_1, ...].  Computed once per call, so that no
    integer division is left in the per-row loops."""
    cdef Py_ssize_t[::1] r = np.empty(2 * k, dtype=np.intp)
    cdef Py_ssize_t t
    for t in range(k):
        r[2 * t] = _first_inside(pad, t, stride, n_out)
        r[2 * t + 1] = _first_beyond(size, pad, t, stride, r[2 * t], n_out)
    return r


cdef extern from "le4nn_pooling.h":
    void le4nn_max_row_f(float* o, int* a, const float* row, Py_ssize_t lo, Py_ssize_t hi,
                         Py_ssize_t sw, Py_ssize_t iw0, int idx_row) noexcept nogil
    void le4nn_max_row_d(double* o, int* a, const double* row, Py_ssize_t lo, Py_ssize_t hi,
                         Py_ssize_t sw, Py_ssize_t iw0, int idx_row) noexcept nogil
    void le4nn_sum_row_f(float* o, const float* row, Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t sw,
                         Py_ssize_t iw0) noexcept nogil
    void le4nn_sum_row_d(double* o, const double* row, Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t sw,
                         Py_ssize_t iw0) noexcept nogil
    void le4nn_spread_row_f(float* row, const float* s, Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t sw,
                            Py_ssize_t iw0) noexcept nogil
    void le4nn_spread_row_d(double* row, const double* s, Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t sw,
                            Py_ssize_t iw0) noexcept nogil
    void le4nn_maxpool_2x2_f(const float* xp, float* op, int* ap, Py_ssize_t W, Py_ssize_t OH,
                             Py_ssize_t OW) noexcept nogil
    void le4nn_maxpool_2x2_d(const double* xp, double* op, int* ap, Py_ssize_t W, Py_ssize_t OH,
                             Py_ssize_t OW) noexcept nogil
    int le4nn_maxpool_bwd_2x2_f(const float* dp, const int* ap, float* xp, Py_ssize_t H, Py_ssize_t W,
                                 Py_ssize_t OH, Py_ssize_t OW) noexcept nogil
    int le4nn_maxpool_bwd_2x2_d(const double* dp, const int* ap, double* xp, Py_ssize_t H, Py_ssize_t W,
                                 Py_ssize_t OH, Py_ssize_t OW) noexcept nogil


cdef extern from "le4nn_pool_planes.h":
    bint LE4NN_POOL_PLANES_OK(Py_ssize_t H, Py_ssize_t W, Py_ssize_t OH, Py_ssize_t OW) noexcept nogil
    void le4nn_maxpool_planes_f(const float* xp, float* op, int* ap, Py_ssize_t n, Py_ssize_t H, Py_ssize_t W,
                                Py_ssize_t OH, Py_ssize_t OW) noexcept nogil
    int le4nn_maxpool_bwd_planes_f(const float* dp, const int* ap, float* xp, Py_ssize_t n, Py_ssize_t H,
                                   Py_ssize_t W, Py_ssize_t OH, Py_ssize_t OW) noexcept nogil


cdef inline Py_ssize_t _group(Py_ssize_t L) noexcept nogil:
    """Planes per unit of work on the 8-wide 2×2 path: about 256 outputs (16 planes of 8×8 inputs,
    4 of 16×16), so that small planes share their loops.  A function of the shape only."""
    return 256 // L if 0 < L < 256 else 1


# --- max pooling ---------------------------------------------------------------------------------

cdef inline void _maxpool_plane_2x2(const floating* xp, floating* op, int* ap,
                                    Py_ssize_t W, Py_ssize_t OH, Py_ssize_t OW) noexcept nogil:
    if floating is float:
        le4nn_maxpool_2x2_f(xp, op, ap, W, OH, OW)
    else:
        le4nn_maxpool_2x2_d(xp, op, ap, W, OH, OW)


cdef void _maxpool_plane(const floating* xp, floating* op, int* ap, const Py_ssize_t* cr,
                         Py_ssize_t H, Py_ssize_t W, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh,
                         Py_ssize_t sw, Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t OH,
                         Py_ssize_t OW) noexcept nogil:
    """Any window, stride and padding, one output row at a time: for each real window row i and
    offset j (row-major order) one vectorized sweep updates the running best and its index, kept in
    the output row.  Index −1 marks "no real element seen yet", so the first real element always
    enters and padding is never considered.  ``cr`` holds the output range of each offset j."""
    cdef Py_ssize_t oh, ow, i, j, ih, ih0, i_lo, i_hi
    cdef floating* o
    cdef int* a
    for oh in range(OH):
        o = op + oh * OW
        a = ap + oh * OW
        for ow in range(OW):
            o[ow] = -INFINITY
            a[ow] = -1
        ih0 = oh * sh - pt
        i_lo = -ih0 if ih0 < 0 else 0
        i_hi = H - ih0 if H - ih0 < kh else kh
        for i in range(i_lo, i_hi):
            ih = ih0 + i
            for j in range(kw):
                if floating is float:
                    le4nn_max_row_f(o, a, xp + ih * W, cr[2 * j], cr[2 * j + 1], sw, j - pl, <int>(ih * W))
                else:
                    le4nn_max_row_d(o, a, xp + ih * W, cr[2 * j], cr[2 * j + 1], sw, j - pl, <int>(ih * W))


def maxpool2d_forward(const floating[:, :, :, ::1] x, floating[:, :, :, ::1] out,
                      int[:, :, :, ::1] argmax, int kh, int kw, int sh, int sw, int pt, int pl,
                      int num_threads):
    """Max pooling of ``x`` into ``out`` and ``argmax`` (their shape gives OH, OW)."""
    cdef Py_ssize_t B = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t OH = out.shape[2], OW = out.shape[3], HW = H * W, L = OH * OW, p
    cdef const floating* xp = &x[0, 0, 0, 0]
    cdef floating* op = &out[0, 0, 0, 0]
    cdef int* ap = &argmax[0, 0, 0, 0]
    cdef bint fast = _is_2x2(kh, kw, sh, sw, pt, pl, H, W, OH, OW)
    cdef Py_ssize_t[::1] ranges = _ranges(W, pl, kw, sw, OW)
    cdef const Py_ssize_t* cr = &ranges[0]
    if out.shape[0] != B or out.shape[1] != C or not _same4(argmax.shape, out.shape):
        raise ValueError("maxpool2d_forward: out/argmax have the wrong shape")
    cdef Py_ssize_t G = _group(L), g, p0
    if floating is float:
        if fast and L > 0 and LE4NN_POOL_PLANES_OK(H, W, OH, OW):
            with nogil:
                for g in prange((B * C + G - 1) // G, schedule="static", num_threads=num_threads):
                    p0 = g * G
                    le4nn_maxpool_planes_f(xp + p0 * HW, op + p0 * L, ap + p0 * L,
                                           G if p0 + G <= B * C else B * C - p0, H, W, OH, OW)
            return
    with nogil:
        for p in prange(B * C, schedule="static", num_threads=num_threads):
            if fast:
                _maxpool_plane_2x2(xp + p * HW, op + p * L, ap + p * L, W, OH, OW)
            else:
                _maxpool_plane(xp + p * HW, op + p * L, ap + p * L, cr, H, W,
                               kh, kw, sh, sw, pt, pl, OH, OW)


cdef inline bint _maxpool_backward_plane_2x2(const floating* dp, const int* ap, floating* xp,
                                             Py_ssize_t H, Py_ssize_t W, Py_ssize_t OH,
                                             Py_ssize_t OW) noexcept nogil:
    """Direct write assuming every index lies in its output's 2×2 block (rows 2·oh, 2·oh+1, columns
    2·ow, 2·ow+1); returns True when some index does not (then the plane must be redone)."""
    if floating is float:
        return le4nn_maxpool_bwd_2x2_f(dp, ap, xp, H, W, OH, OW)
    else:
        return le4nn_maxpool_bwd_2x2_d(dp, ap, xp, H, W, OH, OW)


cdef void _maxpool_backward_plane(const floating* dp, const int* ap, floating* xp, double* acc,
                                  Py_ssize_t HW, Py_ssize_t L) noexcept nogil:
    """General case (overlapping windows may share a winner): zero, then scatter-add in output
    order.  float32 gradients are summed in a float64 scratch plane ``acc`` and rounded once, as
    the reference's ``np.bincount`` does, so both backends agree exactly."""
    cdef Py_ssize_t k
    if floating is double:
        memset(xp, 0, HW * sizeof(double))
        for k in range(L):
            xp[ap[k]] += dp[k]
    else:
        memset(acc, 0, HW * sizeof(double))
        for k in range(L):
            acc[ap[k]] += dp[k]
        for k in range(HW):
            xp[k] = <floating>acc[k]


def maxpool2d_backward(const floating[:, :, :, ::1] dout, const int[:, :, :, ::1] argmax,
                       floating[:, :, :, ::1] dx, int num_threads):
    """Overwrite ``dx`` with the gradient of max pooling: ``dx[argmax] += dout`` per plane.

    Raises ValueError before writing anything if an index lies outside the H×W plane.  When the
    geometry allows 2×2 stride-2 windows, each plane is first written directly by the fast path;
    a plane whose indices turn out not to lie in their 2×2 blocks (other pooling geometry) is then
    redone by the general scatter-add.
    """
    cdef Py_ssize_t B = dx.shape[0], C = dx.shape[1], H = dx.shape[2], W = dx.shape[3]
    cdef Py_ssize_t OH = dout.shape[2], OW = dout.shape[3], HW = H * W, L = OH * OW, p
    cdef Py_ssize_t planes = B * C
    cdef const floating* dp = &dout[0, 0, 0, 0]
    cdef const int* ap = &argmax[0, 0, 0, 0]
    cdef floating* xp = &dx[0, 0, 0, 0]
    cdef Py_ssize_t G = _group(L), ngroups = (planes + G - 1) // G, g, p0, n, q
    cdef unsigned char[::1] flags = np.zeros(ngroups, dtype=np.uint8)
    cdef bint bad = False
    cdef bint fast = 2 * OH <= H and 2 * OW <= W
    cdef double[:, ::1] scratch
    cdef double* acc = NULL
    if dout.shape[0] != B or dout.shape[1] != C or not _same4(argmax.shape, dout.shape):
        raise ValueError("maxpool2d_backward: dout/argmax/dx shapes do not match")
    with nogil:
        for p in prange(ngroups, schedule="static", num_threads=num_threads):  # groups of planes
            flags[p] = _outside(ap + p * G * L, (G if (p + 1) * G <= planes else planes - p * G) * L, HW)
        for p in range(ngroups):
            bad |= flags[p]
    if bad:
        raise ValueError(f"maxpool2d_backward: argmax holds indices outside the {H}x{W} input plane")
    if floating is float:  # one float64 accumulation plane per thread for the general path
        scratch = np.empty((max(num_threads, 1), HW), dtype=np.float64)
        acc = &scratch[0, 0]
    if floating is float:
        if fast and L > 0 and LE4NN_POOL_PLANES_OK(H, W, OH, OW):
            with nogil:
                for g in prange(ngroups, schedule="static", num_threads=num_threads):
                    p0 = g * G
                    n = G if p0 + G <= planes else planes - p0
                    if le4nn_maxpool_bwd_planes_f(dp + p0 * L, ap + p0 * L, xp + p0 * HW, n, H, W, OH, OW):
                        for q in range(p0, p0 + n):  # indices of another geometry: the scatter-add
                            _maxpool_backward_plane(dp + q * L, ap + q * L, xp + q * HW,
                                                    acc + threadid() * HW, HW, L)
            return
    with nogil:
        for p in prange(planes, schedule="static", num_threads=num_threads):
            if not fast or _maxpool_backward_plane_2x2(dp + p * L, ap + p * L, xp + p * HW,
                                                       H, W, OH, OW):
                _maxpool_backward_plane(dp + p * L, ap + p * L, xp + p * HW,
                                        acc + threadid() * HW if acc != NULL else NULL, HW, L)


# --- average pooling -----------------------------------------------------------------------------

cdef void _divisors(floating* div, int kh, int kw, int sh, int sw, int pt, int pl,
                    Py_ssize_t H, Py_ssize_t W, Py_ssize_t OH, Py_ssize_t OW,
                    bint count_include_pad) noexcept nogil:
    """How many elements each window averages: kh·kw, or only its real (non-padding) ones."""
    cdef Py_ssize_t oh, ow, r0, r1, c0, c1
    for oh in range(OH):
        r0 = oh * sh - pt
        r1 = r0 + kh
        r0 = r0 if r0 > 0 else 0
        r1 = r1 if r1 < H else H
        for ow in range(OW):
            c0 = ow * sw - pl
            c1 = c0 + kw
            c0 = c0 if c0 > 0 else 0
            c1 = c1 if c1 < W else W
            if count_include_pad:
                div[oh * OW + ow] = <floating>(kh * kw)
            else:
                div[oh * OW + ow] = <floating>((r1 - r0) * (c1 - c0))


cdef void _avgpool_plane_2x2(const floating* xp, floating* op, Py_ssize_t W,
                             Py_ssize_t OH, Py_ssize_t OW) noexcept nogil:
    """2×2 stride 2, no padding: ((((0 + a) + b) + c) + d) / 4, the reference's order of sums."""
    cdef Py_ssize_t oh, ow
    cdef const floating* r0
    cdef const floating* r1
    cdef floating* o
    for oh in range(OH):
        r0 = xp + 2 * oh * W
        r1 = r0 + W
        o = op + oh * OW
        for ow in range(OW):
            o[ow] = (((<floating>0 + r0[2 * ow]) + r0[2 * ow + 1]) + r1[2 * ow] + r1[2 * ow + 1]) / 4


cdef void _avgpool_plane(const floating* xp, floating* op, const floating* div,
                         const Py_ssize_t* cr, Py_ssize_t H, Py_ssize_t W, Py_ssize_t kh,
                         Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t pt, Py_ssize_t pl,
                         Py_ssize_t OH, Py_ssize_t OW) noexcept nogil:
    """Any window: sum each output row over the real offsets (i, j) in row-major order, one
    vectorized sweep per offset (padding adds nothing), then divide."""
    cdef Py_ssize_t oh, ow, i, j, ih0, i_lo, i_hi
    cdef const floating* row
    cdef floating* o
    cdef const floating* dv
    for oh in range(OH):
        o = op + oh * OW
        dv = div + oh * OW
        for ow in range(OW):
            o[ow] = 0
        ih0 = oh * sh - pt
        i_lo = -ih0 if ih0 < 0 else 0
        i_hi = H - ih0 if H - ih0 < kh else kh
        for i in range(i_lo, i_hi):
            row = xp + (ih0 + i) * W
            for j in range(kw):
                if floating is float:
                    le4nn_sum_row_f(o, row, cr[2 * j], cr[2 * j + 1], sw, j - pl)
                else:
                    le4nn_sum_row_d(o, row, cr[2 * j], cr[2 * j + 1], sw, j - pl)
        for ow in range(OW):
            o[ow] = o[ow] / dv[ow]


def avgpool2d_forward(const floating[:, :, :, ::1] x, floating[:, :, :, ::1] out, int kh, int kw,
                      int sh, int sw, int pt, int pl, bint count_include_pad, int num_threads):
    """Average pooling of ``x`` into ``out`` (whose shape gives OH, OW); padding reads 0."""
    cdef Py_ssize_t B = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t OH = out.shape[2], OW = out.shape[3], HW = H * W, L = OH * OW, p
    cdef const floating* xp = &x[0, 0, 0, 0]
    cdef floating* op = &out[0, 0, 0, 0]
    cdef bint fast = _is_2x2(kh, kw, sh, sw, pt, pl, H, W, OH, OW)
    cdef floating[::1] div = np.empty(L, dtype=np.float32 if floating is float else np.float64)
    cdef floating* dv = &div[0]
    cdef Py_ssize_t[::1] ranges = _ranges(W, pl, kw, sw, OW)
    cdef const Py_ssize_t* cr = &ranges[0]
    if out.shape[0] != B or out.shape[1] != C:
        raise ValueError("avgpool2d_forward: out has the wrong shape")
    with nogil:
        _divisors(dv, kh, kw, sh, sw, pt, pl, H, W, OH, OW, count_include_pad)
        for p in prange(B * C, schedule="static", num_threads=num_threads):
            if fast:
                _avgpool_plane_2x2(xp + p * HW, op + p * L, W, OH, OW)
            else:
                _avgpool_plane(xp + p * HW, op + p * L, dv, cr, H, W, kh, kw, sh, sw, pt, pl, OH, OW)


cdef void _avgpool_backward_plane_2x2(const floating* dp, floating* xp, Py_ssize_t H, Py_ssize_t W,
                                      Py_ssize_t OH, Py_ssize_t OW) noexcept nogil:
    """2×2 stride 2, no padding: each element of dx gets 0 + dout/4 once, uncovered ones 0."""
    cdef Py_ssize_t oh, ow
    cdef floating* r0
    cdef floating* r1
    cdef const floating* d
    cdef floating g
    for oh in range(OH):
        r0 = xp + 2 * oh * W
        r1 = r0 + W
        d = dp + oh * OW
        for ow in range(OW):
            g = <floating>0 + d[ow] / 4
            r0[2 * ow] = g
            r0[2 * ow + 1] = g
            r1[2 * ow] = g
            r1[2 * ow + 1] = g
        for ow in range(2 * OW, W):
            r0[ow] = 0
            r1[ow] = 0
    if 2 * OH < H:
        memset(xp + 2 * OH * W, 0, (H - 2 * OH) * W * sizeof(floating))


cdef void _avgpool_backward_plane(const floating* dp, floating* xp, const floating* div,
                                  floating* share, const Py_ssize_t* rr, const Py_ssize_t* cr,
                                  Py_ssize_t H, Py_ssize_t W, Py_ssize_t kh, Py_ssize_t kw,
                                  Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t pt, Py_ssize_t pl,
                                  Py_ssize_t OH, Py_ssize_t OW) noexcept nogil:
    """Any window: share = dout / divisor, then for each offset (i, j) (outermost, as in the
    reference, so overlapping contributions are summed in the same order) add the shares of all
    windows to the elements they cover at that offset.  ``rr``/``cr``: output ranges per offset."""
    cdef Py_ssize_t oh, i, j, k
    cdef floating* row
    for k in range(OH * OW):
        share[k] = dp[k] / div[k]
    memset(xp, 0, H * W * sizeof(floating))
    for i in range(kh):
        for j in range(kw):
            for oh in range(rr[2 * i], rr[2 * i + 1]):
                row = xp + (oh * sh - pt + i) * W
                if floating is float:
                    le4nn_spread_row_f(row, share + oh * OW, cr[2 * j], cr[2 * j + 1], sw, j - pl)
                else:
                    le4nn_spread_row_d(row, share + oh * OW, cr[2 * j], cr[2 * j + 1], sw, j - pl)


def avgpool2d_backward(const floating[:, :, :, ::1] dout, floating[:, :, :, ::1] dx, int kh, int kw,
                       int sh, int sw, int pt, int pl, bint count_include_pad, int num_threads):
    """Overwrite ``dx`` with the gradient of average pooling (each window spreads dout/divisor)."""
    cdef Py_ssize_t B = dx.shape[0], C = dx.shape[1], H = dx.shape[2], W = dx.shape[3]
    cdef Py_ssize_t OH = dout.shape[2], OW = dout.shape[3], HW = H * W, L = OH * OW, p
    cdef const floating* dp = &dout[0, 0, 0, 0]
    cdef floating* xp = &dx[0, 0, 0, 0]
    cdef bint fast = _is_2x2(kh, kw, sh, sw, pt, pl, H, W, OH, OW)
    cdef object dtype = np.float32 if floating is float else np.float64
    cdef floating[::1] div = np.empty(L, dtype=dtype)
    # One scratch row of shares per thread (indexed by the OpenMP thread number).
    cdef floating[:, ::1] scratch = np.empty((1 if fast else max(num_threads, 1), L), dtype=dtype)
    cdef floating* dv = &div[0]
    cdef floating* sp = &scratch[0, 0]
    cdef Py_ssize_t[::1] row_ranges = _ranges(H, pt, kh, sh, OH)
    cdef Py_ssize_t[::1] col_ranges = _ranges(W, pl, kw, sw, OW)
    cdef const Py_ssize_t* rr = &row_ranges[0]
    cdef const Py_ssize_t* cr = &col_ranges[0]
    if dout.shape[0] != B or dout.shape[1] != C:
        raise ValueError("avgpool2d_backward: dout has the wrong shape")
    with nogil:
        _divisors(dv, kh, kw, sh, sw, pt, pl, H, W, OH, OW, count_include_pad)
        for p in prange(B * C, schedule="static", num_threads=num_threads):
            if fast:
                _avgpool_backward_plane_2x2(dp + p * L, xp + p * HW, H, W, OH, OW)
            else:
                _avgpool_backward_plane(dp + p * L, xp + p * HW, dv, sp + threadid() * L, rr, cr,
                                        H, W, kh, kw, sh, sw, pt, pl, OH, OW)
